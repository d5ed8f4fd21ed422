"""OpenAI autologging and model flavor: every ``chat.completions.create()`` call becomes a traced span.

Example::

    import mltrail as mlflow
    import openai

    mlflow.openai.autolog()
    client = openai.OpenAI()
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())  # a CHAT_MODEL span with token usage

``save_model`` / ``log_model`` / ``load_model`` are MLflow's OpenAI model flavor
(``_flavor.py``). ``openai`` is imported only when :func:`autolog` is called or a
saved model calls the API.
"""

from __future__ import annotations

from mltrail.openai._autolog import autolog
from mltrail.openai._flavor import FLAVOR_NAME, load_model, log_model, save_model
from mltrail.openai._flavor import _load_pyfunc as _load_pyfunc  # the pyfunc loader entry point

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
