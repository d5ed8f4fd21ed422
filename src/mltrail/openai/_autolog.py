"""Patching the OpenAI client's resource classes to trace each call.

Patched (sync and async): ``chat.completions.create`` (CHAT_MODEL span),
``embeddings.create`` (EMBEDDING) and ``responses.create`` (CHAT_MODEL).
Each span records the call's keyword arguments as inputs, the response as
outputs, the model and the token usage (``mlflow.chat.tokenUsage``). With
``stream=True`` the span stays open until the stream is consumed or closed,
and its output is the completion rebuilt from the chunks.

``autolog()`` is idempotent (patching twice wraps once) and reversible
(``autolog(disable=True)`` puts the original methods back).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from typing import Any

from mltrail.entities.trace import SpanAttributeKey, SpanType
from mltrail.tracing import _manager
from mltrail.tracing.span import LiveSpan

_log = logging.getLogger(__name__)

# (module, class, method, span type)
_TARGETS = [
    ("openai.resources.chat.completions", "Completions", "create", SpanType.CHAT_MODEL),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", SpanType.CHAT_MODEL),
    ("openai.resources.embeddings", "Embeddings", "create", SpanType.EMBEDDING),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", SpanType.EMBEDDING),
    ("openai.resources.responses", "Responses", "create", SpanType.CHAT_MODEL),
    ("openai.resources.responses", "AsyncResponses", "create", SpanType.CHAT_MODEL),
]
_originals: dict[tuple[type, str], Any] = {}
_config = {"log_traces": True}


def autolog(disable: bool = False, log_traces: bool = True, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False, **_ignored: Any) -> None:
    """Trace OpenAI calls (``disable=True`` or ``log_traces=False`` undoes it).

    The other MLflow arguments (``log_models``, ``extra_tags`` …) are accepted and ignored.
    """
    if disable or not log_traces:
        _unpatch()
        return
    _config["log_traces"] = True
    for module_name, class_name, method, span_type in _TARGETS:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            if not silent:
                _log.debug("openai has no %s.%s: not traced", module_name, class_name)
            continue
        key = (cls, method)
        if key in _originals:
            continue
        original = getattr(cls, method)
        _originals[key] = original
        setattr(cls, method, _wrap(original, class_name, span_type))


def _unpatch() -> None:
    for (cls, method), original in list(_originals.items()):
        setattr(cls, method, original)
    _originals.clear()


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    prompt = get("prompt_tokens") if get("prompt_tokens") is not None else get("input_tokens")
    completion = get("completion_tokens") if get("completion_tokens") is not None else get("output_tokens")
    total = get("total_tokens")
    out = {}
    if isinstance(prompt, int):
        out["input_tokens"] = prompt
    if isinstance(completion, int):
        out["output_tokens"] = completion
    if isinstance(total, int):
        out["total_tokens"] = total
    elif out:
        out["total_tokens"] = sum(out.values())
    # Cached prompt tokens (priced lower): chat's prompt_tokens_details, the Responses API's input_tokens_details.
    details = get("prompt_tokens_details") or get("input_tokens_details")
    if details is not None and out:
        cached = details.get("cached_tokens") if isinstance(details, dict) else getattr(details, "cached_tokens", None)
        if isinstance(cached, int) and cached > 0:
            out["cache_read_input_tokens"] = cached
    return out or None


def _begin(name: str, span_type: str, kwargs: dict[str, Any]) -> LiveSpan:
    inputs = {k: v for k, v in kwargs.items() if k not in ("extra_headers", "extra_query", "extra_body", "timeout")}
    span = _manager.start_span(name, span_type, inputs=inputs)
    span.set_attribute(SpanAttributeKey.MESSAGE_FORMAT, "openai")
    if kwargs.get("model"):
        span.set_attribute(SpanAttributeKey.MODEL, kwargs["model"])
    for param in ("temperature", "max_tokens", "max_completion_tokens", "top_p", "n", "stop"):
        if kwargs.get(param) is not None:
            span.set_attribute(param, kwargs[param])
    return span


def _finish(span: LiveSpan, response: Any) -> None:
    usage = _usage(getattr(response, "usage", None))
    if usage:
        span.set_attribute(SpanAttributeKey.CHAT_USAGE, usage)
    model = getattr(response, "model", None)
    if model:
        span.set_attribute(SpanAttributeKey.MODEL, model)
    dump = getattr(response, "model_dump", None)
    try:
        outputs = dump(mode="json") if callable(dump) else response
    except Exception:  # an odd response object must not fail the user's call
        outputs = str(response)
    span.end(outputs=outputs)


def _fail(span: LiveSpan, exc: BaseException) -> None:
    span.record_exception(exc)
    span.end()


def _is_stream(obj: Any) -> bool:
    try:
        from openai import AsyncStream, Stream
    except ImportError:
        return False
    return isinstance(obj, (Stream, AsyncStream))


def _wrap(original: Any, name: str, span_type: str) -> Any:
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def async_create(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not _manager.is_enabled():
                return await original(self, *args, **kwargs)
            span = _begin(name, span_type, kwargs)
            token = _manager.set_current(span)
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                _manager.reset_current(token)
                _fail(span, exc)
                raise
            _manager.reset_current(token)
            if _is_stream(result):
                return _TracedAsyncStream(result, span)
            _finish(span, result)
            return result

        async_create.__mltrail_patched__ = True  # type: ignore[attr-defined]
        return async_create

    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _manager.is_enabled():
            return original(self, *args, **kwargs)
        span = _begin(name, span_type, kwargs)
        token = _manager.set_current(span)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _manager.reset_current(token)
            _fail(span, exc)
            raise
        _manager.reset_current(token)
        if _is_stream(result):
            return _TracedStream(result, span)
        _finish(span, result)
        return result

    create.__mltrail_patched__ = True  # type: ignore[attr-defined]
    return create


class _StreamRecorder:
    """Collects chunks; when the stream ends, rebuilds the completion as the span's output."""

    def __init__(self, stream: Any, span: LiveSpan) -> None:
        self._stream = stream
        self._span = span
        self._chunks: list[Any] = []

    def _record(self, chunk: Any) -> None:
        self._chunks.append(chunk)

    def _done(self, exc: BaseException | None = None) -> None:
        if self._span.is_ended:
            return
        if exc is not None:
            _fail(self._span, exc)
            return
        text: list[str] = []
        finish = None
        usage = None
        model = None
        completion_id = None
        for chunk in self._chunks:
            model = getattr(chunk, "model", None) or model
            completion_id = getattr(chunk, "id", None) or completion_id
            usage = getattr(chunk, "usage", None) or usage
            for choice in getattr(chunk, "choices", None) or []:
                delta = getattr(choice, "delta", None)
                if delta is not None and getattr(delta, "content", None):
                    text.append(delta.content)
                finish = getattr(choice, "finish_reason", None) or finish
        counted = _usage(usage)
        if counted:
            self._span.set_attribute(SpanAttributeKey.CHAT_USAGE, counted)
        if model:
            self._span.set_attribute(SpanAttributeKey.MODEL, model)
        output: dict[str, Any] = {
            "id": completion_id, "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(text)},
                         "finish_reason": finish}],
        }
        if counted:
            output["usage"] = {"prompt_tokens": counted.get("input_tokens"),
                               "completion_tokens": counted.get("output_tokens"),
                               "total_tokens": counted.get("total_tokens")}
        self._span.set_attribute("chunk_count", len(self._chunks))
        self._span.end(outputs=output)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _TracedStream(_StreamRecorder):
    def __iter__(self) -> Any:
        try:
            for chunk in self._stream:
                self._record(chunk)
                yield chunk
        except GeneratorExit:
            self._done()
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._done()

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._done()
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._record(chunk)
        return chunk

    def __enter__(self) -> _TracedStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self._done()


class _TracedAsyncStream(_StreamRecorder):
    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                self._record(chunk)
                yield chunk
        except GeneratorExit:
            self._done()
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._done()

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._done()
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._record(chunk)
        return chunk

    async def __aenter__(self) -> _TracedAsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stream.close()
        self._done()
