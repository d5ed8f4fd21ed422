"""Spans to and from OpenTelemetry's wire formats, without the OpenTelemetry packages.

* :func:`span_to_proto_json` - protobuf JSON of ``opentelemetry.proto.trace.v1.Span``
  (snake_case, base64 ids): what MLflow's ``traces/get`` and ``batchGet`` answer.
* :func:`spans_to_otlp_json` - an OTLP/HTTP JSON ``ExportTraceServiceRequest``
  (camelCase, hex ids) for ``POST /v1/traces``.
* :func:`spans_from_otlp` - reads either JSON form, or the decoded protobuf.
* :func:`decode_otlp_protobuf` - a small protobuf wire-format reader for
  ``ExportTraceServiceRequest`` (what the official mlflow client and the
  OpenTelemetry SDK's OTLP exporter send), giving the same dict shape as the JSON.

Attribute values travel as OTLP ``AnyValue``s and are stored JSON-encoded (see
:mod:`mltrail.entities.trace`): a dict becomes a ``kvlist_value`` and back.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from mltrail.entities.trace import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    dump_json,
    hex_to_b64,
    id_to_hex,
    load_json,
    normalize_status_code,
    trace_id_from_hex,
    trace_id_to_hex,
)
from mltrail.entities.trace_semconv import apply_semconv

_STATUS_NUM = {"UNSET": 0, "OK": 1, "ERROR": 2}
#: The resource attribute naming the app that sent the spans (copied to root spans on ingest).
SERVICE_NAME = "service.name"
# Names that say nothing about the app: the OpenTelemetry SDK's default and mltrail's own exporter.
_ANONYMOUS_SERVICES = ("unknown_service", "mltrail")
_MAX_SERVICE_NAME = 256


def _is_hex(value: str) -> bool:
    try:
        int(value, 16)
    except ValueError:
        return False
    return value.isascii() and value.isalnum()


class SpanConversionError(ValueError):
    """A span in a well-formed OTLP request that cannot become a span (MLflow answers 422)."""


# ------------------------------------------------------------------ AnyValue
def to_any_value(value: Any) -> dict[str, Any]:
    """A plain Python value as an OTLP ``AnyValue`` (snake_case keys)."""
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int):
        return {"int_value": value}
    if isinstance(value, float):
        return {"double_value": value}
    if isinstance(value, str):
        return {"string_value": value}
    if isinstance(value, dict):
        return {"kvlist_value": {"values": [{"key": str(k), "value": to_any_value(v)} for k, v in value.items()]}}
    if isinstance(value, (list, tuple)):
        return {"array_value": {"values": [to_any_value(v) for v in value]}}
    if value is None:
        return {}
    return {"string_value": str(value)}


def _get(d: dict[str, Any], snake: str) -> Any:
    """A field by its snake_case or lowerCamelCase name."""
    if snake in d:
        return d[snake]
    parts = snake.split("_")
    return d.get(parts[0] + "".join(p.title() for p in parts[1:]))


def from_any_value(v: dict[str, Any] | None) -> Any:
    """An OTLP ``AnyValue`` (either JSON casing) as a plain Python value."""
    if not v:
        return None
    for key in ("string_value", "bool_value", "double_value"):
        got = _get(v, key)
        if got is not None:
            return got
    got = _get(v, "int_value")
    if got is not None:
        return int(got)
    arr = _get(v, "array_value")
    if arr is not None:
        return [from_any_value(x) for x in arr.get("values") or []]
    kv = _get(v, "kvlist_value")
    if kv is not None:
        return {x.get("key", ""): from_any_value(x.get("value")) for x in kv.get("values") or []}
    raw = _get(v, "bytes_value")
    if raw is not None:
        return raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    return None


# ------------------------------------------------------------------ spans out
def span_to_proto_json(span: Span) -> dict[str, Any]:
    """Protobuf JSON of an OpenTelemetry ``Span`` (what MLflow's REST API returns inside a Trace)."""
    d: dict[str, Any] = {
        "trace_id": hex_to_b64(trace_id_to_hex(span.trace_id)),
        "span_id": hex_to_b64(span.span_id),
        "name": span.name,
        "start_time_unix_nano": span.start_time_ns,
        "attributes": [{"key": k, "value": to_any_value(load_json(v))} for k, v in span.raw_attributes.items()],
        "status": {"code": f"STATUS_CODE_{span.status_code}"},
    }
    if span.parent_id:
        d["parent_span_id"] = hex_to_b64(span.parent_id)
    if span.end_time_ns is not None:
        d["end_time_unix_nano"] = span.end_time_ns
    if span.status_message:
        d["status"]["message"] = span.status_message
    if span.events:
        d["events"] = [
            {"time_unix_nano": e.timestamp, "name": e.name,
             "attributes": [{"key": k, "value": to_any_value(v)} for k, v in e.attributes.items()]}
            for e in span.events
        ]
    return d


def _camel_any(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in v.items():
        parts = key.split("_")
        camel = parts[0] + "".join(p.title() for p in parts[1:])
        if key == "array_value":
            val = {"values": [_camel_any(x) for x in val["values"]]}
        elif key == "kvlist_value":
            val = {"values": [{"key": x["key"], "value": _camel_any(x["value"])} for x in val["values"]]}
        elif key == "int_value":
            val = str(val)  # OTLP JSON: 64-bit integers as strings
        out[camel] = val
    return out


def spans_to_otlp_json(spans: list[Span], service_name: str = "mltrail") -> dict[str, Any]:
    """An OTLP/HTTP JSON ``ExportTraceServiceRequest`` for ``POST /v1/traces``."""
    out = []
    for span in spans:
        d: dict[str, Any] = {
            "traceId": trace_id_to_hex(span.trace_id),
            "spanId": span.span_id,
            "name": span.name,
            "kind": 1,
            "startTimeUnixNano": str(span.start_time_ns),
            "attributes": [{"key": k, "value": _camel_any(to_any_value(load_json(v)))}
                           for k, v in span.raw_attributes.items()],
            "status": {"code": _STATUS_NUM.get(span.status_code, 0), "message": span.status_message},
            "events": [{"timeUnixNano": str(e.timestamp), "name": e.name,
                        "attributes": [{"key": k, "value": _camel_any(to_any_value(v))}
                                       for k, v in e.attributes.items()]} for e in span.events],
        }
        if span.parent_id:
            d["parentSpanId"] = span.parent_id
        if span.end_time_ns is not None:
            d["endTimeUnixNano"] = str(span.end_time_ns)
        out.append(d)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "mltrail"}, "spans": out}]}]}


# ------------------------------------------------------------------ spans in
def _span_from_otlp(d: dict[str, Any]) -> Span:
    if not isinstance(d, dict):
        raise SpanConversionError("a span must be an object")
    try:
        otel_trace = id_to_hex(_get(d, "trace_id"), 32)
        span_id = id_to_hex(_get(d, "span_id"), 16)
    except (TypeError, ValueError) as err:
        raise SpanConversionError(f"invalid span id: {err}") from None
    if not otel_trace or not span_id:
        raise SpanConversionError("every span needs a trace_id and a span_id")
    parent = _get(d, "parent_span_id")
    try:
        parent_id = id_to_hex(parent, 16) if parent else None
    except (TypeError, ValueError) as err:
        raise SpanConversionError(f"invalid parent span id: {err}") from None
    for what, value, width in (("trace_id", otel_trace, 32), ("span_id", span_id, 16), ("parent_span_id", parent_id, 16)):
        if value is not None and (len(value) != width or not _is_hex(value)):
            raise SpanConversionError(f"{what} must be {width // 2} bytes ({width} hex digits), got {value[:80]!r}")
    attributes = {a.get("key", ""): dump_json(from_any_value(a.get("value"))) for a in d.get("attributes") or []}
    # The trace id is derived from the OTLP trace id, never trusted from a client attribute.
    trace_id = trace_id_from_hex(otel_trace)
    attributes[SpanAttributeKey.REQUEST_ID] = dump_json(trace_id)
    status = d.get("status") or {}
    end = _get(d, "end_time_unix_nano")
    events = [
        SpanEvent(e.get("name", ""), int(_get(e, "time_unix_nano") or 0),
                  {a.get("key", ""): from_any_value(a.get("value")) for a in e.get("attributes") or []})
        for e in d.get("events") or []
    ]
    code = normalize_status_code(status.get("code", 0))
    apply_semconv(attributes, events)  # OTel GenAI / OpenInference attributes read as MLflow's
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=d.get("name", ""),
        start_time_ns=int(_get(d, "start_time_unix_nano") or 0),
        end_time_ns=int(end) if end not in (None, "", 0, "0") else None,
        # OTLP's UNSET means "no error reported": MLflow shows such spans as OK.
        status_code="OK" if code == "UNSET" else code,
        status_message=status.get("message", "") or "",
        raw_attributes=attributes,
        events=events,
    )


def service_name(resource_spans: dict[str, Any]) -> str | None:
    """The ``service.name`` of one ``ResourceSpans``, unless it is a default that names no app."""
    resource = resource_spans.get("resource") or {}
    for attr in resource.get("attributes") or []:
        if isinstance(attr, dict) and attr.get("key") == SERVICE_NAME:
            name = from_any_value(attr.get("value"))
            if isinstance(name, str) and name and not name.startswith(_ANONYMOUS_SERVICES):
                return name[:_MAX_SERVICE_NAME]
            return None
    return None


def spans_from_otlp(payload: dict[str, Any], *, service_name_to_root: bool = False) -> list[Span]:
    """Every span in an ``ExportTraceServiceRequest`` (either JSON casing, or decoded protobuf).

    With ``service_name_to_root`` a root span without a ``service.name`` attribute
    gets its resource's (as MLflow's server does on OTLP ingest, so the app's name
    shows on the trace). Raises :class:`SpanConversionError` for a span that cannot
    be read and ``ValueError`` / ``TypeError`` for a malformed request.
    """
    spans = []
    for rs in _get(payload, "resource_spans") or []:
        service = service_name(rs) if service_name_to_root else None
        for ss in _get(rs, "scope_spans") or []:
            for d in ss.get("spans") or []:
                span = _span_from_otlp(d)
                if service and span.parent_id is None and SERVICE_NAME not in span.raw_attributes:
                    span.raw_attributes[SERVICE_NAME] = dump_json(service)
                spans.append(span)
    return spans


# ------------------------------------------------------------------ protobuf
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` for each field of one message."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise ValueError("truncated fixed64")
            val = buf[pos:pos + 8]
            pos += 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            val = buf[pos:pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > len(buf):
                raise ValueError("truncated fixed32")
            val = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((num, wire, val))
    return out


def _pb_any(buf: bytes) -> dict[str, Any]:
    for num, _wire, val in _fields(buf):
        if num == 1:
            return {"string_value": val.decode("utf-8", "replace")}
        if num == 2:
            return {"bool_value": bool(val)}
        if num == 3:
            return {"int_value": val - (1 << 64) if val >= 1 << 63 else val}
        if num == 4:
            return {"double_value": struct.unpack("<d", val)[0]}
        if num == 5:
            return {"array_value": {"values": [_pb_any(v) for n, _w, v in _fields(val) if n == 1]}}
        if num == 6:
            return {"kvlist_value": {"values": [_pb_kv(v) for n, _w, v in _fields(val) if n == 1]}}
        if num == 7:
            return {"bytes_value": bytes(val)}
    return {}


def _pb_kv(buf: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"key": "", "value": {}}
    for num, _wire, val in _fields(buf):
        if num == 1:
            out["key"] = val.decode("utf-8", "replace")
        elif num == 2:
            out["value"] = _pb_any(val)
    return out


def _fixed64(val: Any) -> int:
    return struct.unpack("<Q", val)[0] if isinstance(val, (bytes, bytearray)) else int(val)


def _pb_span(buf: bytes) -> dict[str, Any]:
    d: dict[str, Any] = {"attributes": [], "events": []}
    for num, _wire, val in _fields(buf):
        if num == 1:
            d["trace_id"] = bytes(val).hex()
        elif num == 2:
            d["span_id"] = bytes(val).hex()
        elif num == 4 and val:
            d["parent_span_id"] = bytes(val).hex()
        elif num == 5:
            d["name"] = val.decode("utf-8", "replace")
        elif num == 7:
            d["start_time_unix_nano"] = _fixed64(val)
        elif num == 8:
            d["end_time_unix_nano"] = _fixed64(val)
        elif num == 9:
            d["attributes"].append(_pb_kv(val))
        elif num == 11:
            event: dict[str, Any] = {"attributes": []}
            for n, _w, v in _fields(val):
                if n == 1:
                    event["time_unix_nano"] = _fixed64(v)
                elif n == 2:
                    event["name"] = v.decode("utf-8", "replace")
                elif n == 3:
                    event["attributes"].append(_pb_kv(v))
            d["events"].append(event)
        elif num == 15:
            status: dict[str, Any] = {}
            for n, _w, v in _fields(val):
                if n == 2:
                    status["message"] = v.decode("utf-8", "replace")
                elif n == 3:
                    status["code"] = v
            d["status"] = status
    return d


def decode_otlp_protobuf(buf: bytes) -> dict[str, Any]:
    """A binary ``ExportTraceServiceRequest`` as the snake_case dict :func:`spans_from_otlp` reads.

    Raises ``ValueError`` for bytes that are not a well-formed message.
    """
    resource_spans = []
    for num, wire, rs in _fields(buf):
        if num != 1 or wire != 2:
            continue
        scope_spans = []
        resource: dict[str, Any] = {"attributes": []}
        for n, w, ss in _fields(rs):
            if n == 1 and w == 2:  # Resource: its attributes (field 1) only
                resource["attributes"] = [_pb_kv(v) for k, kw, v in _fields(ss) if k == 1 and kw == 2]
            elif n == 2 and w == 2:
                spans = [_pb_span(v) for k, kw, v in _fields(ss) if k == 2 and kw == 2]
                scope_spans.append({"spans": spans})
        resource_spans.append({"resource": resource, "scope_spans": scope_spans})
    return {"resource_spans": resource_spans}
