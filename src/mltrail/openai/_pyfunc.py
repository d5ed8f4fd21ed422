"""A saved OpenAI model as a pyfunc model: one API request per input row (MLflow's ``_OpenAIWrapper``).

``chat.completions``: each row fills the ``{placeholders}`` of the saved messages
(a template without placeholders gets a ``{content}`` user message appended) and
the answer is the reply's text. ``completions`` fills the prompt; ``embeddings``
embeds the first string column. ``params`` (``temperature``, ``max_tokens`` …)
go to the request; ``max_retries``, ``timeout`` and ``batch_size`` configure the
client. Requests run a few at a time; answers keep the rows' order.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mltrail.exceptions import invalid
from mltrail.openai._templates import PYFUNC_TASKS, template_variables

_PARALLEL = 8


def _frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str):
        return pd.DataFrame({0: [data]})
    if isinstance(data, dict):
        return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in data.items()})
    if isinstance(data, list):
        if data and all(isinstance(r, dict) for r in data):
            return pd.DataFrame.from_records(data)
        return pd.DataFrame({0: list(data)})
    raise invalid(f"Unsupported input of type {type(data).__name__}: use a DataFrame, dict, list or string")


def _first_string_column(df: Any) -> Any:
    if len(df) == 0:
        raise invalid("The input has no rows")
    for col, value in df.iloc[0].items():
        if isinstance(value, str):
            return col
    raise invalid(f"Could not find a string column in the input data: {df.dtypes.to_dict()}")


def _format(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**args)
    if isinstance(value, list):
        return [_format(v, args) for v in value]
    if isinstance(value, dict):
        return {k: _format(v, args) for k, v in value.items()}
    return value


class OpenAIModelWrapper:
    """``predict(DataFrame | dict | list | str) -> list`` for the saved OpenAI model."""

    def __init__(self, model: dict[str, Any]) -> None:
        model = dict(model)
        self.task = model.pop("task")
        if self.task not in PYFUNC_TASKS:
            raise invalid(f"Unsupported task: {self.task}. Supported tasks: {PYFUNC_TASKS}.")
        self.model = model
        if self.task == "chat.completions":
            self.template = list(model.get("messages") or [])
            self.variables = template_variables(self.task, self.template)
            if not self.variables:
                self.template.append({"role": "user", "content": "{content}"})
                self.variables = ["content"]
        elif self.task == "completions":
            self.template = model.get("prompt") or "{prompt}"
            self.variables = template_variables(self.task, self.template)

    def get_raw_model(self) -> dict[str, Any]:
        return {"task": self.task, **self.model}

    def _client(self, params: dict[str, Any]) -> Any:
        import openai

        options = {k: params.pop(k) for k in ("max_retries", "timeout") if k in params}
        if os.environ.get("OPENAI_API_TYPE", "").lower() in ("azure", "azure_ad", "azuread"):
            return openai.AzureOpenAI(
                api_version=os.environ.get("OPENAI_API_VERSION"),
                azure_endpoint=os.environ.get("OPENAI_API_BASE"),
                azure_deployment=os.environ.get("OPENAI_DEPLOYMENT_NAME"),
                **options,
            )
        base = os.environ.get("OPENAI_API_BASE")  # MLflow's variable; OPENAI_BASE_URL works as usual
        return openai.OpenAI(base_url=base, **options) if base else openai.OpenAI(**options)

    def _rows(self, df: Any) -> list[dict[str, Any]]:
        if len(self.variables) == 1:
            var = self.variables[0]
            col = var if var in df.columns else _first_string_column(df)
            return [{var: v} for v in df[col].tolist()]
        missing = [v for v in self.variables if v not in df.columns]
        if missing:
            raise invalid(f"Expected parameters {self.variables} to be provided, {missing} are missing.")
        return df[self.variables].to_dict(orient="records")

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> list[Any]:
        params = dict(params or {})
        batch_size = int(params.pop("batch_size", 20))
        client = self._client(params)
        df = _frame(data)
        request = {k: v for k, v in self.model.items() if k not in ("messages", "prompt")} | params
        if self.task == "embeddings":
            texts = df[_first_string_column(df)].tolist()
            out: list[Any] = []
            for i in range(0, len(texts), batch_size):
                res = client.embeddings.create(input=texts[i : i + batch_size], **request)
                out += [row.embedding for row in res.data]
            return out
        rows = self._rows(df)
        if self.task == "completions":
            prompts = [self.template.format(**r) for r in rows]
            out = []
            for i in range(0, len(prompts), batch_size):
                res = client.completions.create(prompt=prompts[i : i + batch_size], **request)
                out += [c.text for c in res.choices]
            return out

        def ask(row: dict[str, Any]) -> str:
            messages = [
                {"role": _format(m["role"], row), "content": _format(m["content"], row)}
                for m in self.template
            ]
            return client.chat.completions.create(messages=messages, **request).choices[0].message.content

        if len(rows) == 1:
            return [ask(rows[0])]
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(rows))) as pool:
            return list(pool.map(ask, rows))
