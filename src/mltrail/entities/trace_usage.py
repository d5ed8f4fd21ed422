"""Token usage and cost of LLM spans and traces, with MLflow 3.17's keys (pure: no I/O).

A span's usage is its ``mlflow.chat.tokenUsage`` attribute
(``{"input_tokens", "output_tokens", "total_tokens"}`` plus the optional cache
counts), its cost the ``mlflow.llm.cost`` attribute
(``{"input_cost", "output_cost", "total_cost"}``, USD). A trace's totals are
the trace metadata ``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost``: the
sum over its spans, where a span whose ancestor already carries usage is not
counted again (MLflow's rule, so an agent span that reports the total of its
LLM calls is not added on top of them).

OpenTelemetry GenAI spans (``gen_ai.usage.input_tokens``, ...) are read into
the same keys by :func:`otel_usage`.

Example::

    usage_total([("a", None, {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7})])
    # {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class TokenUsageKey:
    """Keys of ``mlflow.chat.tokenUsage`` / ``mlflow.trace.tokenUsage`` (MLflow's ``TokenUsageKey``)."""

    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOTAL_TOKENS = "total_tokens"
    CACHE_READ_INPUT_TOKENS = "cache_read_input_tokens"
    CACHE_CREATION_INPUT_TOKENS = "cache_creation_input_tokens"

    MAIN = (INPUT_TOKENS, OUTPUT_TOKENS, TOTAL_TOKENS)
    CACHE = (CACHE_READ_INPUT_TOKENS, CACHE_CREATION_INPUT_TOKENS)


class CostKey:
    """Keys of ``mlflow.llm.cost`` / ``mlflow.trace.cost`` (MLflow's ``CostKey``), in USD."""

    INPUT_COST = "input_cost"
    OUTPUT_COST = "output_cost"
    TOTAL_COST = "total_cost"

    ALL = (INPUT_COST, OUTPUT_COST, TOTAL_COST)


#: (span_id, parent_id, data) — one span's usage or cost dict, or None.
SpanNode = tuple[str, "str | None", "Mapping[str, Any] | None"]


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _aggregate(
    nodes: Iterable[SpanNode], keys: tuple[str, ...], optional: tuple[str, ...], default: int | float
) -> dict[str, Any] | None:
    nodes = list(nodes)
    ids = {n[0] for n in nodes}
    children: dict[str, list[SpanNode]] = {}
    roots: list[SpanNode] = []
    for node in nodes:
        if node[1] and node[1] in ids:
            children.setdefault(node[1], []).append(node)
        else:
            roots.append(node)
    totals: dict[str, Any] = dict.fromkeys(keys, default)
    found = False
    stack = [(root, False) for root in roots]  # iterative: deep traces must not overflow the stack
    while stack:
        (span_id, _parent, data), counted_above = stack.pop()
        has = isinstance(data, Mapping)
        if has and not counted_above:
            found = True
            for key in keys:
                totals[key] += _number(data.get(key)) or default
            for key in optional:
                if (value := _number(data.get(key))) is not None:
                    totals[key] = totals.get(key, default) + value
        stack.extend((child, counted_above or has) for child in children.get(span_id, []))
    return totals if found else None


def usage_total(nodes: Iterable[SpanNode]) -> dict[str, int] | None:
    """A trace's token usage from its spans' usage (None when no span has any)."""
    return _aggregate(nodes, TokenUsageKey.MAIN, TokenUsageKey.CACHE, 0)


def cost_total(nodes: Iterable[SpanNode]) -> dict[str, float] | None:
    """A trace's cost from its spans' costs (None when no span has one)."""
    totals = _aggregate(nodes, CostKey.ALL, (), 0.0)
    return None if totals is None else {k: round(v, 10) for k, v in totals.items()}


def normalize_usage(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """``usage`` with MLflow's keys only, ``total_tokens`` filled in; None if it counts nothing."""
    if not isinstance(usage, Mapping):
        return None
    out: dict[str, int] = {}
    for key in (*TokenUsageKey.MAIN, *TokenUsageKey.CACHE):
        value = _number(usage.get(key))
        if value is not None:
            out[key] = int(value)
    if not out:
        return None
    if TokenUsageKey.TOTAL_TOKENS not in out:
        out[TokenUsageKey.TOTAL_TOKENS] = out.get(TokenUsageKey.INPUT_TOKENS, 0) + out.get(
            TokenUsageKey.OUTPUT_TOKENS, 0
        )
    out.setdefault(TokenUsageKey.INPUT_TOKENS, 0)
    out.setdefault(TokenUsageKey.OUTPUT_TOKENS, 0)
    return out


# OpenTelemetry GenAI semantic conventions (current and earlier names), and Traceloop's.
_OTEL_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
_OTEL_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
_OTEL_TOTAL = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
_OTEL_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_OTEL_CACHE_WRITE = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
#: Where an OTel GenAI span names its model (the response's model first, as MLflow reads it).
OTEL_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.response.model", "llm.request.model")
OTEL_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")
#: OpenTelemetry's session and user attributes (MLflow copies them to/from trace metadata).
OTEL_SESSION_KEY = "session.id"
OTEL_USER_KEY = "user.id"


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    number = _number(value)
    return None if number is None else int(number)


def otel_usage(attributes: Mapping[str, Any]) -> dict[str, int] | None:
    """MLflow token usage from a span's decoded OTel GenAI attributes (None when it has none)."""
    found = {
        TokenUsageKey.INPUT_TOKENS: _int(_first(attributes, _OTEL_INPUT)),
        TokenUsageKey.OUTPUT_TOKENS: _int(_first(attributes, _OTEL_OUTPUT)),
        TokenUsageKey.TOTAL_TOKENS: _int(_first(attributes, _OTEL_TOTAL)),
        TokenUsageKey.CACHE_READ_INPUT_TOKENS: _int(_first(attributes, _OTEL_CACHE_READ)),
        TokenUsageKey.CACHE_CREATION_INPUT_TOKENS: _int(_first(attributes, _OTEL_CACHE_WRITE)),
    }
    return normalize_usage({k: v for k, v in found.items() if v is not None})


def otel_model(attributes: Mapping[str, Any]) -> str | None:
    """The model an OTel GenAI span names, or None."""
    value = _first(attributes, OTEL_MODEL_KEYS)
    return value if isinstance(value, str) else None


def otel_provider(attributes: Mapping[str, Any]) -> str | None:
    """The provider an OTel GenAI span names (``openai``, ``anthropic``...), or None."""
    value = _first(attributes, OTEL_PROVIDER_KEYS)
    return value if isinstance(value, str) else None
