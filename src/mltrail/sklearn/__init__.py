"""``mltrail.sklearn``: the scikit-learn flavor, in MLflow's ``mlflow.sklearn`` layout.

``model.pkl`` (cloudpickle or pickle; ``skops`` when the skops package is
installed) plus a ``python_function`` flavor with ``loader_module:
mlflow.sklearn``, so mlflow and mltrail load each other's models. scikit-learn
is imported only when a model is saved or loaded.

Example::

    mltrail.sklearn.log_model(clf, name="model", input_example=X[:2])
    clf2 = mltrail.sklearn.load_model("models:/Iris/1")

``mltrail.sklearn.autolog()`` logs params, training metrics and the model on every ``fit``
(see :mod:`mltrail.sklearn._autolog`).
"""

from mltrail.sklearn._autolog import autolog as autolog  # the library is imported only when enabled
from mltrail.sklearn._flavor import (  # noqa: F401 (the flavor's names, and the pyfunc loader entry point)
    _MODEL_FILE,
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    _load_pyfunc,
    load_model,
    log_model,
    save_model,
)
