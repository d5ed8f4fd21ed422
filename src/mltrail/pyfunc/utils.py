"""``mltrail.pyfunc.utils``: the ``@pyfunc`` decorator (MLflow's ``mlflow.pyfunc.utils.pyfunc``).

Example::

    from mltrail.pyfunc.utils import pyfunc

    @pyfunc
    def predict(model_input: list[str]) -> list[str]:
        return [s.upper() for s in model_input]

    predict(["a"])   # ["A"]
    predict([1])     # INVALID_PARAMETER_VALUE: invalid elements ...
"""

from mltrail.pyfunc.model import pyfunc

__all__ = ["pyfunc"]
