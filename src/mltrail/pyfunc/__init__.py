"""``mltrail.pyfunc``: the generic Python model flavor (MLflow's ``mlflow.pyfunc``).

Light at import: numpy, pandas and cloudpickle load only when a model is saved,
loaded or scored.
"""

from mltrail.pyfunc._api import (
    FLAVOR_NAME,
    EnvType,
    add_to_model,
    get_default_conda_env,
    get_default_pip_requirements,
    get_model_dependencies,
    load_model,
    load_pyfunc,
    log_model,
    save_model,
)
from mltrail.pyfunc.agents import ChatAgent, ResponsesAgent
from mltrail.pyfunc.chat_model import ChatModel
from mltrail.pyfunc.model import PythonModel, PythonModelContext
from mltrail.pyfunc.pyfunc_model import PyFuncModel
from mltrail.pyfunc.spark import spark_udf

__all__ = [
    "FLAVOR_NAME",
    "ChatAgent",
    "ChatModel",
    "EnvType",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "ResponsesAgent",
    "add_to_model",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "get_model_dependencies",
    "load_model",
    "load_pyfunc",
    "log_model",
    "save_model",
    "spark_udf",
]
