"""LLM prices per model and token kind, and the cost of a span's token usage.

The table ships as data (``prices.json`` next to this module: USD per million
tokens for input, cached input, cache writes and output of common OpenAI,
Anthropic and Google models, with the date it was taken). A user changes it
with a JSON file named by ``MLTRAIL_PRICES_FILE`` (same shape: either
``{"models": {...}}`` or the ``{...}`` mapping itself, merged over the shipped
table) or in code with :func:`set_prices`. Both the SDK (at span end) and the
server (for spans sent by other clients or over OTLP) price spans with it.

Token kinds follow OpenAI's counting, which MLflow's keys keep:
``input_tokens`` includes ``cache_read_input_tokens`` (priced at
``cached_input``) and ``cache_creation_input_tokens`` (priced at
``cache_write``); each falls back to the ``input`` price.

Example::

    set_prices({"my-model": {"input": 1.0, "output": 2.0}})
    span_cost("my-model", {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500})
    # {"input_cost": 0.001, "output_cost": 0.001, "total_cost": 0.002}
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mltrail.entities.trace import SpanAttributeKey as K
from mltrail.entities.trace_usage import (
    CostKey,
    TokenUsageKey,
    cost_total,
    otel_model,
    otel_provider,
    otel_usage,
    usage_total,
)

PRICES_FILE_ENV = "MLTRAIL_PRICES_FILE"
_SHIPPED = Path(__file__).with_name("prices.json")
_PRICE_KINDS = ("input", "output", "cached_input", "cache_write")

_lock = threading.Lock()
_table: dict[str, dict[str, float]] | None = None
_table_source: str | None = None  # the env value the table was loaded with
_overrides: dict[str, dict[str, float]] = {}
_replaced = False


def _models(doc: Any, where: str) -> dict[str, dict[str, float]]:
    models = doc.get("models", doc) if isinstance(doc, Mapping) else None
    if not isinstance(models, Mapping):
        raise ValueError(f'{where}: expected a JSON object of models, e.g. {{"gpt-4o": {{"input": 2.5}}}}')
    out: dict[str, dict[str, float]] = {}
    for name, entry in models.items():
        if str(name).startswith("_"):
            continue
        out[str(name).lower()] = check_price(name, entry, where)
    return out


def check_price(name: Any, entry: Any, where: str = "price table") -> dict[str, float]:
    """One model's prices as ``{"input": ..., "output": ...}`` floats, or ``ValueError`` saying what is wrong."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a model name must be a non-empty string, got {name!r}")
    if not isinstance(entry, Mapping):
        raise ValueError(
            f'{where}: the prices of {name!r} must be an object like {{"input": 2.5, "output": 10}}'
        )
    out: dict[str, float] = {}
    for kind in _PRICE_KINDS:
        value = entry.get(kind)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise ValueError(
                f"{where}: price {kind!r} of {name!r} must be a non-negative number, got {value!r}"
            )
        out[kind] = float(value)
    if "input" not in out and "output" not in out:
        raise ValueError(f"{where}: {name!r} needs at least an 'input' or 'output' price (USD per 1M tokens)")
    return out


def _load() -> dict[str, dict[str, float]]:
    global _table, _table_source
    source = os.environ.get(PRICES_FILE_ENV) or None
    with _lock:
        if _table is not None and _table_source == source:
            return _table
        table = {} if _replaced else _models(json.loads(_SHIPPED.read_text("utf-8")), str(_SHIPPED))
        if source:
            table.update(_models(json.loads(Path(source).read_text("utf-8")), source))
        table.update(_overrides)
        _table, _table_source = table, source
        return table


def set_prices(prices: Mapping[str, Mapping[str, float]], replace: bool = False) -> None:
    """Set prices (USD per 1M tokens) for models, over the shipped table (or instead of it with ``replace``).

    Example::

        mltrail.tracing.set_prices({"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10.0}})
    """
    global _table, _replaced
    checked = {str(name).lower(): check_price(name, entry, "set_prices") for name, entry in prices.items()}
    with _lock:
        if replace:
            _overrides.clear()
        _overrides.update(checked)
        _replaced = _replaced or replace
        _table = None


def reset_prices() -> None:
    """Back to the shipped table (plus ``MLTRAIL_PRICES_FILE``): forget :func:`set_prices`."""
    global _table, _replaced
    with _lock:
        _overrides.clear()
        _replaced = False
        _table = None


def get_prices() -> dict[str, dict[str, float]]:
    """The price table in use, ``{model: {"input": ..., "output": ..., ...}}`` (a copy)."""
    return {k: dict(v) for k, v in _load().items()}


def model_price(model: str | None) -> dict[str, float] | None:
    """The prices of ``model``: exact name, then without a ``provider/`` prefix, then the longest
    known name it extends with ``-`` (``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``)."""
    if not model or not isinstance(model, str):
        return None
    table = _load()
    name = model.strip().lower()
    for candidate in (name, name.rsplit("/", 1)[-1], name.rsplit(":", 1)[-1]):
        if candidate in table:
            return table[candidate]
        best = None
        for known in table:
            if candidate.startswith(known + "-") and (best is None or len(known) > len(best)):
                best = known
        if best is not None:
            return table[best]
    return None


def span_cost(model: str | None, usage: Mapping[str, Any] | None) -> dict[str, float] | None:
    """``{"input_cost", "output_cost", "total_cost"}`` in USD for a usage of ``model``, or None when unpriced."""
    price = model_price(model)
    if price is None or not isinstance(usage, Mapping):
        return None

    def count(key: str) -> int:
        value = usage.get(key)
        return (
            int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0
        )

    inputs, outputs = count(TokenUsageKey.INPUT_TOKENS), count(TokenUsageKey.OUTPUT_TOKENS)
    if inputs == 0 and outputs == 0:
        return None
    cached = min(count(TokenUsageKey.CACHE_READ_INPUT_TOKENS), inputs)
    written = min(count(TokenUsageKey.CACHE_CREATION_INPUT_TOKENS), inputs - cached)
    base = price.get("input", 0.0)
    input_cost = (
        (inputs - cached - written) * base
        + cached * price.get("cached_input", base)
        + written * price.get("cache_write", base)
    ) / 1_000_000
    output_cost = outputs * price.get("output", 0.0) / 1_000_000
    return {
        CostKey.INPUT_COST: round(input_cost, 10),
        CostKey.OUTPUT_COST: round(output_cost, 10),
        CostKey.TOTAL_COST: round(input_cost + output_cost, 10),
    }


def _decoded(raw: Mapping[str, str], key: str) -> Any:
    text = raw.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def enrich_span_attributes(raw: dict[str, str]) -> bool:
    """Fill in a span's MLflow usage, model and cost attributes in place; True if it changed.

    ``raw`` holds JSON-encoded attribute values (:attr:`Span.raw_attributes`).
    OTel GenAI attributes (``gen_ai.usage.*``, ``gen_ai.response.model``...)
    become ``mlflow.chat.tokenUsage`` / ``mlflow.llm.model`` when those are
    missing; a span with usage and a priced model gets ``mlflow.llm.cost``
    unless it already has one (an explicit cost, even null, is kept, as in MLflow).
    """
    changed = False
    if K.CHAT_USAGE not in raw and any(k.startswith(("gen_ai.usage.", "llm.usage.")) for k in raw):
        otel = {k: _decoded(raw, k) for k in raw if k.startswith(("gen_ai.", "llm."))}
        if usage := otel_usage(otel):
            raw[K.CHAT_USAGE] = json.dumps(usage)
            changed = True
        if K.MODEL not in raw and (model := otel_model(otel)):
            raw[K.MODEL] = json.dumps(model)
        if K.MODEL_PROVIDER not in raw and (provider := otel_provider(otel)):
            raw[K.MODEL_PROVIDER] = json.dumps(provider)
    if K.LLM_COST not in raw and K.CHAT_USAGE in raw:
        model = _decoded(raw, K.MODEL)
        if not isinstance(model, str):
            model = otel_model({k: _decoded(raw, k) for k in raw if k.startswith(("gen_ai.", "llm."))})
        cost = span_cost(model, _decoded(raw, K.CHAT_USAGE)) if model else None
        if cost:
            raw[K.LLM_COST] = json.dumps(cost)
            changed = True
    return changed


def price_spans(spans: Any) -> tuple[dict[str, int] | None, dict[str, float] | None]:
    """Enrich every span (:func:`enrich_span_attributes`) and return the trace's ``(usage, cost)`` totals.

    ``spans`` are :class:`~mltrail.entities.trace.Span` objects (their ``raw_attributes`` change in place).
    """
    usage_nodes, cost_nodes = [], []
    for span in spans:
        enrich_span_attributes(span.raw_attributes)
        usage_nodes.append((span.span_id, span.parent_id, _decoded(span.raw_attributes, K.CHAT_USAGE)))
        cost_nodes.append((span.span_id, span.parent_id, _decoded(span.raw_attributes, K.LLM_COST)))
    return usage_total(usage_nodes), cost_total(cost_nodes)
