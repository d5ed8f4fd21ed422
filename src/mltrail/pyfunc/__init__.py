"""``mltrail.pyfunc``: the generic Python model flavor (MLflow's ``mlflow.pyfunc``).

Light at import: numpy, pandas and cloudpickle load only when a model is saved,
loaded or scored.
"""

from mltrail.pyfunc._api import FLAVOR_NAME, get_model_dependencies, load_model, log_model, save_model
from mltrail.pyfunc.model import PythonModel, PythonModelContext
from mltrail.pyfunc.pyfunc_model import PyFuncModel

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "get_model_dependencies",
    "load_model",
    "log_model",
    "save_model",
]
