"""``to_predict_fn``: a served endpoint as a ``predict_fn`` for ``genai.evaluate``.

MLflow 3.17 turns ``endpoints:/<name>`` (a Databricks serving endpoint) and
``apps:/<name>`` (a Databricks App) into a function that takes the row's
inputs as keyword arguments. Here ``endpoints:/<name>`` is an endpoint of the
MLflow deployments server (AI Gateway) at ``MLFLOW_DEPLOYMENTS_TARGET``, the
same endpoints ``endpoints:/`` judges use: the keyword arguments are the JSON
body of ``POST /endpoints/<name>/invocations`` and each call is a ``predict``
span. ``apps:/`` needs Databricks and is refused.

Example::

    predict_fn = mlflow.genai.to_predict_fn("endpoints:/chat")
    mlflow.genai.evaluate(data=[{"inputs": {"messages": [{"role": "user", "content": "Hi"}]}}],
                          predict_fn=predict_fn, scorers=[...])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from mltrail.exceptions import invalid

_TIMEOUT_S = 120


def to_predict_fn(endpoint_uri: str) -> Callable[..., Any]:
    """A ``predict_fn`` calling the deployments-server endpoint ``endpoints:/<name>``."""
    scheme, _, name = str(endpoint_uri).partition(":/")
    name = name.strip("/")
    if scheme not in ("endpoints", "apps") or not name:
        raise ValueError(f"Invalid endpoint URI: {endpoint_uri}. The endpoint URI must be a valid model "
                         "deployment endpoint URI or Databricks App URI (endpoints:/<name> or apps:/<name>).")
    if scheme == "apps":
        raise invalid(f"{endpoint_uri}: Databricks Apps need a Databricks workspace, which mltrail does not "
                      "reach; serve the app behind the deployments server and use endpoints:/<name>.")
    target = os.environ.get("MLFLOW_DEPLOYMENTS_TARGET")
    if not target:
        raise invalid(f"{endpoint_uri}: set MLFLOW_DEPLOYMENTS_TARGET to the deployments server's URL.")
    # The judges' helpers: the same invocation path and the same credentials as endpoints:/ judges.
    from mltrail.evaluation.providers import endpoint_path, tracking_credentials

    url = target.rstrip("/") + endpoint_path(name)

    def predict_fn(**kwargs: Any) -> Any:
        import httpx

        from mltrail.tracing.fluent import start_span

        with start_span("predict", span_type="LLM") as span:
            span.set_inputs(kwargs)
            resp = httpx.post(url, json=kwargs, headers=tracking_credentials(None), timeout=_TIMEOUT_S)
            if resp.status_code != 200:
                raise invalid(f"{endpoint_uri} answered {resp.status_code}: {resp.text[:500]}")
            result = resp.json()
            span.set_outputs(result)
        return result

    predict_fn.__doc__ = f"Invoke the deployments-server endpoint {endpoint_uri!r} with the row's inputs as the body."
    return predict_fn
