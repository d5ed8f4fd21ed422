"""A LangChain callback handler that turns runs into spans.

LangChain reports every step (chain, prompt, chat model, parser, retriever,
tool) to its callback handlers with a ``run_id`` and a ``parent_run_id``; the
handler keeps one span per run and nests spans the same way. A run with no
parent becomes a child of the current mltrail span (so ``@mlflow.trace``
around ``chain.invoke`` nests), else the root of a new trace.

The handler is registered once with ``langchain_core``'s configure hook, so
every ``invoke``/``stream``/``batch`` in any thread gets it without passing
callbacks; turning autolog off makes the hook hand out no handler.
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from mltrail.entities.trace import SpanAttributeKey, SpanType
from mltrail.tracing import _manager
from mltrail.tracing.span import LiveSpan

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
          "chat": "user", "AIMessageChunk": "assistant"}


def _message(m: Any) -> dict[str, Any]:
    """A LangChain message in OpenAI's chat format."""
    out: dict[str, Any] = {"role": _ROLES.get(getattr(m, "type", ""), getattr(m, "type", "user")),
                           "content": getattr(m, "content", str(m))}
    tool_calls = getattr(m, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = tool_calls
    return out


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


class MltrailTracer(BaseCallbackHandler):
    """Spans for LangChain runs (see the module docstring)."""

    run_inline = True  # keep callbacks on the caller's thread: spans nest in call order
    raise_error = False

    def __init__(self) -> None:
        super().__init__()
        self._spans: dict[UUID, tuple[LiveSpan, LiveSpan | None]] = {}
        self._lock = threading.Lock()

    # -- bookkeeping
    def _start(self, run_id: UUID, parent_run_id: UUID | None, name: str, span_type: str, inputs: Any,
               attributes: dict[str, Any] | None = None) -> None:
        with self._lock:
            entry = self._spans.get(parent_run_id) if parent_run_id else None
        parent = entry[0] if entry else None
        span = _manager.start_span(name, span_type, parent=parent, inputs=inputs, attributes=attributes)
        # While the run works, its span is the current one, so spans made inside it (an OpenAI
        # call under ChatOpenAI, a @trace function in a RunnableLambda) nest under it.
        previous = _manager.current_span()
        _manager.set_current(span)
        with self._lock:
            self._spans[run_id] = (span, previous)

    def _pop(self, run_id: UUID) -> LiveSpan | None:
        with self._lock:
            entry = self._spans.pop(run_id, None)
        if entry is None:
            return None
        span, previous = entry
        # Only undo our own change, or an ended child's left behind (callbacks may hop contexts: a
        # context with nothing set is left alone), and never back to a span that has ended meanwhile.
        if _manager.left_current(span):
            _manager.set_current(None if previous is None or previous.is_ended else previous)
        return span

    def _end(self, run_id: UUID, outputs: Any = None, attributes: dict[str, Any] | None = None) -> None:
        span = self._pop(run_id)
        if span is not None:
            span.end(outputs=outputs, attributes=attributes)

    def _error(self, run_id: UUID, error: BaseException) -> None:
        span = self._pop(run_id)
        if span is not None:
            span.record_exception(error)
            span.end()

    # -- chains (also prompts and output parsers, which LangChain runs as chains)
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        name = _name(serialized, kwargs, "Chain")
        span_type = SpanType.PARSER if "Parser" in name else SpanType.CHAIN
        self._start(run_id, parent_run_id, name, span_type, inputs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    # -- models
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        params = kwargs.get("invocation_params") or {}
        batch = [[_message(m) for m in group] for group in messages]
        attributes = {"invocation_params": params, SpanAttributeKey.MESSAGE_FORMAT: "langchain"}
        model = params.get("model") or params.get("model_name")
        if model:
            attributes[SpanAttributeKey.MODEL] = model
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "ChatModel"), SpanType.CHAT_MODEL,
                    batch[0] if len(batch) == 1 else batch, attributes)

    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        params = kwargs.get("invocation_params") or {}
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "LLM"), SpanType.LLM,
                    {"prompts": prompts}, {"invocation_params": params})

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        attributes: dict[str, Any] = {}
        usage = _usage(response)
        if usage:
            attributes[SpanAttributeKey.CHAT_USAGE] = usage
            model = _model_name(response)  # what priced the call (the span may only have the requested name)
            if model:
                attributes[SpanAttributeKey.MODEL] = model
        self._end(run_id, response, attributes)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    # -- tools and retrievers
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "Tool"), SpanType.TOOL,
                    inputs if inputs is not None else input_str)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    def on_retriever_start(self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "Retriever"), SpanType.RETRIEVER,
                    {"query": query})

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        docs = [{"page_content": getattr(d, "page_content", str(d)), "metadata": getattr(d, "metadata", {}),
                 "id": getattr(d, "id", None)} for d in documents or []]
        self._end(run_id, docs)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)


def _usage(response: Any) -> dict[str, int] | None:
    """Token usage of an ``LLMResult``: the provider's ``token_usage``, else the message's usage_metadata."""
    llm_output = getattr(response, "llm_output", None) or {}
    raw = llm_output.get("token_usage") or llm_output.get("usage")
    if isinstance(raw, dict) and raw:
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            out = {"input_tokens": prompt, "output_tokens": completion,
                   "total_tokens": raw.get("total_tokens") or prompt + completion}
            cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens")
            if isinstance(cached, int) and cached > 0:
                out["cache_read_input_tokens"] = cached
            return out
    for group in getattr(response, "generations", None) or []:
        for gen in group:
            meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
            if meta:
                out = {k: int(meta[k]) for k in ("input_tokens", "output_tokens", "total_tokens") if k in meta}
                details = meta.get("input_token_details") or {}
                for theirs, ours in (("cache_read", "cache_read_input_tokens"),
                                     ("cache_creation", "cache_creation_input_tokens")):
                    if isinstance(details.get(theirs), int) and details[theirs] > 0:
                        out[ours] = int(details[theirs])
                return out
    return None


def _model_name(response: Any) -> str | None:
    """The model that answered (``llm_output['model_name']``, else a message's response metadata)."""
    llm_output = getattr(response, "llm_output", None) or {}
    name = llm_output.get("model_name") or llm_output.get("model")
    if isinstance(name, str) and name:
        return name
    for group in getattr(response, "generations", None) or []:
        for gen in group:
            meta = getattr(getattr(gen, "message", None), "response_metadata", None) or {}
            name = meta.get("model_name") or meta.get("model")
            if isinstance(name, str) and name:
                return name
    return None


class _Hook:
    """Stands in for the ContextVar LangChain's configure hook reads: the handler while enabled."""

    def __init__(self) -> None:
        self.handler: MltrailTracer | None = None

    def get(self) -> MltrailTracer | None:
        return self.handler


_hook = _Hook()
_registered = False
_register_lock = threading.Lock()


def set_enabled(enabled: bool) -> None:
    """Register the hook once; enabling twice keeps one handler (autolog is idempotent)."""
    global _registered
    with _register_lock:
        if not _registered:
            register_configure_hook(_hook, inheritable=True)  # type: ignore[arg-type]
            _registered = True
        if enabled and _hook.handler is None:
            _hook.handler = MltrailTracer()
        elif not enabled:
            _hook.handler = None
