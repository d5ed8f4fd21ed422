"""OpenAI autologging: every ``chat.completions.create()`` call becomes a traced span.

Example::

    import mltrail as mlflow
    import openai

    mlflow.openai.autolog()
    client = openai.OpenAI()
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())  # a CHAT_MODEL span with token usage

``openai`` is imported only when :func:`autolog` is called.
"""

from __future__ import annotations

from mltrail.openai._autolog import autolog

__all__ = ["autolog"]
