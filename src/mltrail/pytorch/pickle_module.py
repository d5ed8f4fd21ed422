"""A ``pickle_module`` for ``torch.save`` / ``torch.load`` that pickles with cloudpickle.

Same role as ``mlflow.pytorch.pickle_module``: cloudpickle's ``Pickler`` captures
classes defined in ``__main__`` (a notebook's model class) by value, and plain
``pickle.Unpickler`` reads the result back. Saved models name
``mlflow.pytorch.pickle_module`` so MLflow loads them; mltrail maps that name here.
"""

from pickle import Unpickler  # noqa: F401

from cloudpickle import *  # noqa: F403
from cloudpickle import CloudPickler as Pickler  # noqa: F401
