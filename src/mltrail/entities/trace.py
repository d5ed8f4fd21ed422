"""Traces and spans (MLflow 3's trace model on OpenTelemetry's span model).

A :class:`Trace` is a :class:`TraceInfo` (ids, timing, state, metadata, tags)
plus :class:`TraceData` (its spans). A :class:`Span` is an OpenTelemetry span:
trace id, span id, parent id, name, start/end in nanoseconds, status, events
and attributes. Like MLflow, attribute values are kept JSON-encoded
(``{"mlflow.spanInputs": '{"x": 1}'}``) so a span reads back exactly as it
was written, whatever the value's type; :attr:`Span.inputs`,
:attr:`Span.outputs` and :meth:`Span.get_attribute` decode them.

Ids: a trace id is ``"tr-"`` + the 32 hex digits of the OpenTelemetry trace
id, a span id is 16 hex digits. ``Span.to_dict()`` writes MLflow's
``traces.json`` shape (ids base64-encoded bytes, as protobuf JSON does).

Example::

    trace = mltrail.get_trace(trace_id)
    root = trace.data.spans[0]
    print(root.span_type, root.inputs, root.outputs)
    llm_spans = trace.search_spans(span_type=SpanType.CHAT_MODEL)
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.assessment import Assessment
from mltrail.entities.timestamps import ms_to_rfc3339 as _ms_to_rfc3339
from mltrail.entities.timestamps import rfc3339_to_ms as _rfc3339_to_ms
from mltrail.exceptions import MltrailException

TRACE_ID_PREFIX = "tr-"


class SpanType:
    """The kinds of span MLflow knows (any other string is allowed too)."""

    LLM = "LLM"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    CHAT_MODEL = "CHAT_MODEL"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    MEMORY = "MEMORY"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    UNKNOWN = "UNKNOWN"


class SpanAttributeKey:
    """Attribute names MLflow uses for its own span fields."""

    REQUEST_ID = "mlflow.traceRequestId"
    INPUTS = "mlflow.spanInputs"
    OUTPUTS = "mlflow.spanOutputs"
    SPAN_TYPE = "mlflow.spanType"
    FUNCTION_NAME = "mlflow.spanFunctionName"
    CHAT_USAGE = "mlflow.chat.tokenUsage"
    LLM_COST = "mlflow.llm.cost"
    MESSAGE_FORMAT = "mlflow.message.format"
    MODEL = "mlflow.llm.model"
    MODEL_PROVIDER = "mlflow.llm.provider"


class TraceMetadataKey:
    """Trace metadata keys (``trace_metadata``)."""

    SOURCE_RUN = "mlflow.sourceRun"
    INPUTS = "mlflow.traceInputs"
    OUTPUTS = "mlflow.traceOutputs"
    SCHEMA_VERSION = "mlflow.trace_schema.version"
    TOKEN_USAGE = "mlflow.trace.tokenUsage"
    COST = "mlflow.trace.cost"
    TRACE_USER = "mlflow.trace.user"  # the application's end user (not mlflow.user, who ran the code)
    TRACE_SESSION = "mlflow.trace.session"
    USER = "mlflow.user"
    SOURCE_NAME = "mlflow.source.name"
    SOURCE_TYPE = "mlflow.source.type"
    MODEL_ID = "mlflow.modelId"  # the LoggedModel active when the trace started


class TraceTagKey:
    """Trace tag keys."""

    TRACE_NAME = "mlflow.traceName"
    SPANS_LOCATION = "mlflow.trace.spansLocation"
    ARTIFACT_LOCATION = "mlflow.artifactLocation"


class TraceState:
    """A trace's state (MLflow 3's ``TraceInfoV3.State``)."""

    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    ALL = (OK, ERROR, IN_PROGRESS, STATE_UNSPECIFIED)


class SpanStatusCode:
    """A span's status code (OpenTelemetry's)."""

    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"


# Request/response previews are cut to this many characters (MLflow's limit).
PREVIEW_MAX_CHARS = 1000
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def dump_json(value: Any) -> str:
    """A value as JSON text (unknown objects become their ``str``), as span attributes are stored."""
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)


def _json_default(obj: Any) -> Any:
    # Pydantic models (OpenAI and LangChain objects), dataclasses, then anything else as text.
    for attr in ("model_dump", "dict", "to_dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                continue
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    return str(obj)


def load_json(text: str | None) -> Any:
    """The value of a JSON-encoded attribute; text that is not JSON comes back as is."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def hex_to_b64(hex_id: str) -> str:
    """``"0a1b…"`` -> base64 of its bytes (protobuf JSON's form for ``bytes`` ids)."""
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def id_to_hex(value: str | None, width: int) -> str | None:
    """An id given as hex (``0x``-prefixed too) or as base64 bytes, as ``width`` hex digits (``None`` for empty)."""
    if not value:
        return None
    if value[:2] in ("0x", "0X") and len(value) == width + 2:  # MLflow 2's span JSON: "0x" + hex
        value = value[2:]
    if len(value) == width and _HEX.match(value):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex().rjust(width, "0")
    except ValueError:
        return value


def trace_id_from_hex(otel_hex: str) -> str:
    """MLflow's trace id for an OpenTelemetry trace id (32 hex digits)."""
    return TRACE_ID_PREFIX + otel_hex


def trace_id_to_hex(trace_id: str) -> str:
    """The OpenTelemetry trace id (32 hex digits) behind ``tr-…``."""
    return trace_id[len(TRACE_ID_PREFIX) :] if trace_id.startswith(TRACE_ID_PREFIX) else trace_id


@dataclass
class SpanEvent:
    """Something that happened during a span (e.g. an exception), with plain-value attributes."""

    name: str
    timestamp: int  # ns since the epoch
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time_unix_nano": self.timestamp, "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpanEvent:
        ts = d.get("time_unix_nano", d.get("timestamp", 0))
        return cls(d.get("name", ""), int(ts or 0), dict(d.get("attributes") or {}))


@dataclass
class Span:
    """One finished span. ``raw_attributes`` holds JSON-encoded values; ``attributes`` decodes them."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_time_ns: int
    end_time_ns: int | None
    status_code: str = SpanStatusCode.OK
    status_message: str = ""
    raw_attributes: dict[str, str] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)

    # -- MLflow's accessors
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def span_type(self) -> str | None:
        return self.get_attribute(SpanAttributeKey.SPAN_TYPE)

    @property
    def inputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.INPUTS)

    @property
    def outputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.OUTPUTS)

    @property
    def start_time_ms(self) -> int:
        return self.start_time_ns // 1_000_000

    @property
    def end_time_ms(self) -> int | None:
        return None if self.end_time_ns is None else self.end_time_ns // 1_000_000

    @property
    def status(self) -> SpanStatus:
        return SpanStatus(self.status_code, self.status_message)

    def get_attribute(self, key: str) -> Any:
        """The decoded value of one attribute (``None`` if absent)."""
        return load_json(self.raw_attributes.get(key))

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute, decoded (MLflow's ``Span.attributes``)."""
        return {k: load_json(v) for k, v in self.raw_attributes.items()}

    def decoded_attributes(self) -> dict[str, Any]:
        """Every attribute, decoded (same as :attr:`attributes`)."""
        return self.attributes

    # -- serialization
    def to_dict(self) -> dict[str, Any]:
        """MLflow's span JSON (``traces.json``): base64 ids, OTLP status code names."""
        return {
            "trace_id": hex_to_b64(trace_id_to_hex(self.trace_id)),
            "span_id": hex_to_b64(self.span_id),
            "parent_span_id": hex_to_b64(self.parent_id) if self.parent_id else None,
            "name": self.name,
            "start_time_unix_nano": self.start_time_ns,
            "end_time_unix_nano": self.end_time_ns,
            "events": [e.to_dict() for e in self.events],
            "status": {"code": f"STATUS_CODE_{self.status_code}", "message": self.status_message},
            "attributes": dict(self.raw_attributes),
            "links": [],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Span:
        """Read MLflow's span JSON (v3 base64/hex ids, or the older v2 ``context`` form)."""
        attributes = {
            str(k): v if isinstance(v, str) else dump_json(v) for k, v in (d.get("attributes") or {}).items()
        }
        if "context" in d:  # MLflow 2 schema
            ctx = d["context"]
            otel_trace = id_to_hex(ctx.get("trace_id"), 32) or ""
            span_id = id_to_hex(ctx.get("span_id"), 16) or ""
            parent = id_to_hex(d.get("parent_id"), 16)
            start, end = d.get("start_time"), d.get("end_time")
            code, message = d.get("status_code", "OK"), d.get("status_message", "")
        else:
            otel_trace = id_to_hex(d.get("trace_id"), 32) or ""
            span_id = id_to_hex(d.get("span_id"), 16) or ""
            parent = id_to_hex(d.get("parent_span_id"), 16)
            start, end = d.get("start_time_unix_nano"), d.get("end_time_unix_nano")
            status = d.get("status") or {}
            code, message = status.get("code", "OK"), status.get("message", "")
        request_id = load_json(attributes.get(SpanAttributeKey.REQUEST_ID))
        trace_id = request_id if isinstance(request_id, str) and request_id else trace_id_from_hex(otel_trace)
        return cls(
            trace_id=trace_id,
            span_id=span_id,
            parent_id=parent,
            name=d.get("name", ""),
            start_time_ns=int(start or 0),
            end_time_ns=None if end in (None, "") else int(end),
            status_code=normalize_status_code(code),
            status_message=message or "",
            raw_attributes=attributes,
            events=[SpanEvent.from_dict(e) for e in d.get("events") or []],
        )


@dataclass(frozen=True)
class SpanStatus:
    """A span's status: code (``OK``/``ERROR``/``UNSET``) and description."""

    status_code: str = SpanStatusCode.OK
    description: str = ""


def normalize_status_code(code: Any) -> str:
    """``"STATUS_CODE_ERROR"``, ``"ERROR"``, ``2`` -> ``"ERROR"``."""
    if isinstance(code, int):
        return {0: SpanStatusCode.UNSET, 1: SpanStatusCode.OK, 2: SpanStatusCode.ERROR}.get(code, "UNSET")
    text = str(code or "UNSET").upper().removeprefix("STATUS_CODE_")
    return text if text in ("OK", "ERROR", "UNSET") else SpanStatusCode.UNSET


def _duration_to_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return round(float(str(value).rstrip("s")) * 1000)


@dataclass
class TraceInfo:
    """A trace's metadata (MLflow 3's TraceInfo V3)."""

    trace_id: str
    experiment_id: str
    request_time: int  # ms since the epoch
    execution_duration: int | None = None  # ms
    state: str = TraceState.OK
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    assessments: list[dict[str, Any]] = field(default_factory=list)

    # MLflow 2 names, still used by a lot of code.
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration

    @property
    def status(self) -> str:
        return self.state

    @property
    def request_metadata(self) -> dict[str, str]:
        return self.trace_metadata

    @property
    def token_usage(self) -> dict[str, int] | None:
        """The trace's token usage (``mlflow.trace.tokenUsage``): input, output and total tokens, or None."""
        return _json_metadata(self.trace_metadata.get(TraceMetadataKey.TOKEN_USAGE))

    @property
    def cost(self) -> dict[str, float] | None:
        """The trace's LLM cost in USD (``mlflow.trace.cost``): input, output and total cost, or None."""
        return _json_metadata(self.trace_metadata.get(TraceMetadataKey.COST))

    @property
    def session_id(self) -> str | None:
        """The application session this trace belongs to (``mlflow.trace.session``), or None."""
        return self.trace_metadata.get(TraceMetadataKey.TRACE_SESSION)

    @property
    def user(self) -> str | None:
        """The application user of this trace (``mlflow.trace.user``), or None."""
        return self.trace_metadata.get(TraceMetadataKey.TRACE_USER)

    @property
    def trace_location(self) -> dict[str, Any]:
        return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": self.experiment_id}}

    def to_proto_json(self) -> dict[str, Any]:
        """The REST shape (protobuf JSON of ``TraceInfoV3``)."""
        d: dict[str, Any] = {
            "trace_id": self.trace_id,
            "trace_location": self.trace_location,
            "request_time": _ms_to_rfc3339(self.request_time),
            "state": self.state,
            "trace_metadata": dict(self.trace_metadata),
            "tags": dict(self.tags),
        }
        if self.execution_duration is not None:
            d["execution_duration"] = f"{self.execution_duration / 1000:.3f}s"
        for key in ("client_request_id", "request_preview", "response_preview"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.assessments:
            d["assessments"] = list(self.assessments)
        return d

    def to_dict(self) -> dict[str, Any]:
        """MLflow's ``TraceInfo.to_dict()`` shape (duration as ``execution_duration_ms``)."""
        d = self.to_proto_json()
        d.pop("execution_duration", None)
        if self.execution_duration is not None:
            d["execution_duration_ms"] = self.execution_duration
        return d

    @classmethod
    def from_proto_json(cls, d: dict[str, Any]) -> TraceInfo:
        """Read the REST shape or ``to_dict()``'s; raises ``ValueError`` on bad timestamps."""
        location = d.get("trace_location") or {}
        exp = (location.get("mlflow_experiment") or {}).get("experiment_id") or d.get("experiment_id") or ""
        if "execution_duration_ms" in d:
            duration = _duration_to_ms(d.get("execution_duration_ms"))
        else:
            duration = _duration_to_ms(d.get("execution_duration"))
        state = d.get("state") or d.get("status") or TraceState.STATE_UNSPECIFIED
        return cls(
            trace_id=d.get("trace_id") or d.get("request_id") or "",
            experiment_id=str(exp),
            request_time=_rfc3339_to_ms(d.get("request_time") or d.get("timestamp_ms") or 0),
            execution_duration=duration,
            state=str(state),
            trace_metadata={str(k): str(v) for k, v in (d.get("trace_metadata") or {}).items()},
            tags={str(k): str(v) for k, v in (d.get("tags") or {}).items()},
            client_request_id=d.get("client_request_id"),
            request_preview=d.get("request_preview"),
            response_preview=d.get("response_preview"),
            assessments=_read_assessments(d.get("assessments")),
        )

    from_dict = from_proto_json


def _json_metadata(text: str | None) -> Any:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read_assessments(raw: Any) -> list[dict[str, Any]]:
    """Stored assessments as :class:`Feedback` / :class:`Expectation` (anything unreadable kept as is)."""
    out: list[dict[str, Any]] = []
    for item in raw or []:
        try:
            out.append(Assessment.from_proto_json(item))
        except MltrailException:
            out.append(item)
    return out


@dataclass
class TraceData:
    """A trace's spans, root first (as recorded)."""

    spans: list[Span] = field(default_factory=list)

    @property
    def root(self) -> Span | None:
        return next((s for s in self.spans if s.parent_id is None), None)

    @property
    def request(self) -> str | None:
        """The root span's inputs as JSON text (MLflow's ``TraceData.request``)."""
        root = self.root
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.INPUTS)

    @property
    def response(self) -> str | None:
        """The root span's outputs as JSON text."""
        root = self.root
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.OUTPUTS)

    def to_dict(self) -> dict[str, Any]:
        return {"spans": [s.to_dict() for s in self.spans]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceData:
        return cls([Span.from_dict(s) for s in d.get("spans") or []])


@dataclass
class Trace:
    """A trace: its info and its spans."""

    info: TraceInfo
    data: TraceData = field(default_factory=TraceData)

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        return cls(TraceInfo.from_proto_json(d["info"]), TraceData.from_dict(d.get("data") or {}))

    @classmethod
    def from_json(cls, text: str) -> Trace:
        return cls.from_dict(json.loads(text))

    def search_spans(
        self, span_type: str | None = None, name: str | None = None, span_id: str | None = None
    ) -> list[Span]:
        """Spans matching every given criterion (``name`` may be a compiled regex)."""
        out = []
        for span in self.data.spans:
            if span_type is not None and span.span_type != span_type:
                continue
            if span_id is not None and span.span_id != span_id:
                continue
            if name is not None:
                if isinstance(name, re.Pattern):
                    if not name.fullmatch(span.name):
                        continue
                elif span.name != name:
                    continue
            out.append(span)
        return out
