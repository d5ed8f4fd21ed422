"""``mltrail.xgboost``: the XGBoost flavor, in MLflow's ``mlflow.xgboost`` layout, plus autologging.

A Booster or an XGBoost scikit-learn model is saved with its own ``save_model``
(``model.ubj`` by default; ``json`` and ``xgb`` too). The ``xgboost`` flavor
records the model class, so :func:`load_model` gives back a Booster or an
``XGBClassifier``…; the ``python_function`` flavor (``loader_module:
mlflow.xgboost``) lets mlflow and mltrail load each other's models. xgboost is
imported only when a model is saved or loaded, or autologging is enabled.

Example::

    booster = xgboost.train(params, dtrain)
    info = mltrail.xgboost.log_model(booster, name="model")
    same = mltrail.xgboost.load_model(info.model_uri)
"""

from mltrail.xgboost._autolog import autolog as autolog  # the library is imported only when enabled
from mltrail.xgboost._flavor import (  # noqa: F401 (the flavor's names, and the pyfunc loader entry point)
    _FORMATS,
    FLAVOR_NAME,
    _load_from_dir,
    _load_pyfunc,
    _predict,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)
