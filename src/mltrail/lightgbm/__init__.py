"""``mltrail.lightgbm``: the LightGBM flavor, in MLflow's ``mlflow.lightgbm`` layout, plus autologging.

A Booster is saved as LightGBM's text model (``model.lgb``); a LightGBM
scikit-learn model (``LGBMClassifier`` …) is pickled with cloudpickle
(``model.pkl``), as MLflow does. The ``lightgbm`` flavor records the model
class; the ``python_function`` flavor (``loader_module: mlflow.lightgbm``) lets
mlflow and mltrail load each other's models. lightgbm is imported only when a
model is saved or loaded, or autologging is enabled.

Example::

    booster = lightgbm.train(params, train_set)
    info = mltrail.lightgbm.log_model(booster, name="model")
    same = mltrail.lightgbm.load_model(info.model_uri)
"""

from mltrail.lightgbm._autolog import autolog as autolog  # the library is imported only when enabled
from mltrail.lightgbm._flavor import (  # noqa: F401 (the flavor's names, and the pyfunc loader entry point)
    _BOOSTER_CLASS,
    FLAVOR_NAME,
    _load_from_dir,
    _load_pyfunc,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)
