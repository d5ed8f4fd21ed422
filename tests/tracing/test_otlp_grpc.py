"""OTLP ingest from the OpenTelemetry SDK's own exporters: gRPC (``--otlp-grpc-port``) and HTTP with gzip.

One live ``mltrail server --app-name basic-auth --otlp-grpc-port N --max-body-size 1MB``
serves the module: spans sent by ``OTLPSpanExporter`` (gRPC and HTTP, compressed)
are read back over the REST API and through the official ``mlflow`` client's
entities; logins are checked on gRPC as on HTTP; bad bodies (a gzip bomb, broken
compression, no spans, a span without ids, no experiment header) get MLflow's answers.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from collections.abc import Iterator

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support import basic_auth
from support.basic_auth import basic_auth_server
from support.live_server import LiveServer, free_port

ADMIN = (basic_auth.ADMIN, basic_auth.ADMIN_PASSWORD)
ALICE = ("alice", basic_auth.PASSWORD)
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[LiveServer, int]]:
    grpc_port = free_port()
    with basic_auth_server(
        tmp_path_factory.mktemp("otlp-grpc"), "--otlp-grpc-port", str(grpc_port), "--max-body-size", "1MB",
        users=(ALICE[0],), default_permission="NO_PERMISSIONS",
    ) as live:  # fmt: skip
        yield live, grpc_port


@pytest.fixture(scope="module")
def admin(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0].url, auth=ADMIN, timeout=30) as client:
        yield client


def _experiment(admin: httpx.Client) -> str:
    r = admin.post("/api/2.0/mlflow/experiments/create", json={"name": f"otlp-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 200, r.text
    return r.json()["experiment_id"]


def _record_spans(service: str) -> list:
    """An app's spans as the OpenTelemetry SDK records them: an agent calling an OpenInference LLM span."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop-bot")
    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        root.set_attribute("input.value", json.dumps({"question": "price of tea?"}))
        root.set_attribute("input.mime_type", "application/json")
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.model_name", "gpt-4o-mini")
            llm.set_attribute("llm.input_messages.0.message.role", "system")
            llm.set_attribute("llm.input_messages.0.message.content", "You sell tea.")
            llm.set_attribute("llm.input_messages.1.message.role", "user")
            llm.set_attribute("llm.input_messages.1.message.content", "price of tea?")
            llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            llm.set_attribute("llm.output_messages.0.message.content", "3 EUR")
            llm.set_attribute("llm.token_count.prompt", 1000)
            llm.set_attribute("llm.token_count.completion", 500)
            llm.set_attribute("llm.token_count.total", 1500)
        root.set_attribute("output.value", "3 EUR")
    provider.shutdown()
    return list(memory.get_finished_spans())


def _trace(admin: httpx.Client, spans: list) -> dict:
    trace_id = f"tr-{spans[0].context.trace_id:032x}"
    r = admin.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id})
    assert r.status_code == 200, r.text
    return r.json()["trace"]


def _check_trace(admin: httpx.Client, spans: list, service: str) -> None:
    from mlflow.entities import Span as MlflowSpan  # the official client's reading of the same spans
    from mlflow.entities import SpanType

    trace = _trace(admin, spans)
    info = trace["trace_info"]
    assert json.loads(info["trace_metadata"]["mlflow.trace.tokenUsage"]) == {
        "input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500,
    }  # fmt: skip
    assert json.loads(info["trace_metadata"]["mlflow.trace.cost"])["total_cost"] > 0
    by_name = {s["name"]: s for s in trace["spans"]}
    assert set(by_name) == {"agent", "ChatCompletion"}
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtelProtoSpan

    official = {}
    for name, d in by_name.items():
        proto = ParseDict(d, OtelProtoSpan(), ignore_unknown_fields=True)
        official[name] = MlflowSpan.from_otel_proto(proto)
    root, llm = official["agent"], official["ChatCompletion"]
    assert root.span_type == SpanType.AGENT and llm.span_type == SpanType.LLM
    assert root.get_attribute("service.name") == service
    assert llm.get_attribute("service.name") is None  # the root span only, as MLflow
    assert root.inputs == {"question": "price of tea?"} and root.outputs == "3 EUR"
    assert llm.inputs == {"messages": [
        {"role": "system", "content": "You sell tea."}, {"role": "user", "content": "price of tea?"},
    ]}  # fmt: skip
    assert llm.outputs == {"role": "assistant", "content": "3 EUR"}
    assert llm.get_attribute("mlflow.chat.tokenUsage") == {
        "input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500,
    }  # fmt: skip
    assert llm.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert llm.get_attribute("mlflow.llm.cost")["total_cost"] > 0


def test_grpc_exporter_with_gzip_reaches_the_experiment(server, admin):
    _live, port = server
    exp = _experiment(admin)
    spans = _record_spans("shop-bot")
    exporter = GrpcExporter(
        endpoint=f"127.0.0.1:{port}", insecure=True, compression=grpc.Compression.Gzip,
        headers={"x-mlflow-experiment-id": exp, "authorization": httpx.BasicAuth(*ADMIN)._auth_header},
    )  # fmt: skip
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    _check_trace(admin, spans, "shop-bot")
    assert _trace(admin, spans)["trace_info"]["trace_location"]["mlflow_experiment"]["experiment_id"] == exp


def test_http_exporter_with_gzip_reaches_the_experiment(server, admin):
    live, _port = server
    exp = _experiment(admin)
    spans = _record_spans("tea-shop")
    run_id = admin.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"][
        "run_id"
    ]
    exporter = HttpExporter(
        endpoint=f"{live.url}/v1/traces",
        compression=HttpCompression.Gzip,
        headers={
            "x-mlflow-experiment-id": exp,
            "x-mlflow-run-id": run_id,  # MLflow's header: the traces get linked to the run
            "authorization": httpx.BasicAuth(*ADMIN)._auth_header,
        },
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    _check_trace(admin, spans, "tea-shop")
    assert _trace(admin, spans)["trace_info"]["trace_metadata"]["mlflow.sourceRun"] == run_id
    # a run of another experiment is not linked (the permission checked was this experiment's)
    other = admin.post("/api/2.0/mlflow/runs/create", json={"experiment_id": _experiment(admin)}).json()
    more = _record_spans("tea-shop")
    r = admin.post("/v1/traces", content=encode_spans(more).SerializeToString(), headers={
        "content-type": "application/x-protobuf", "x-mlflow-experiment-id": exp,
        "x-mlflow-run-id": other["run"]["info"]["run_id"]})  # fmt: skip
    assert r.status_code == 200, r.text
    assert "mlflow.sourceRun" not in _trace(admin, more)["trace_info"]["trace_metadata"]


def _raw_export(
    port: int, body: bytes, metadata: list[tuple[str, str]], compression: grpc.Compression | None = None
) -> grpc.RpcError | bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT)
        try:
            return call(body, metadata=metadata, timeout=30, compression=compression)
        except grpc.RpcError as err:
            return err


def test_grpc_checks_logins_permissions_and_the_experiment(server, admin):
    _live, port = server
    exp = _experiment(admin)
    body = encode_spans(_record_spans("perm-bot")).SerializeToString()
    exp_header = ("x-mlflow-experiment-id", exp)
    refused = _raw_export(port, body, [exp_header])
    assert isinstance(refused, grpc.RpcError) and refused.code() == grpc.StatusCode.UNAUTHENTICATED
    wrong = _raw_export(
        port, body, [exp_header, ("authorization", httpx.BasicAuth("admin", "nope")._auth_header)]
    )
    assert isinstance(wrong, grpc.RpcError) and wrong.code() == grpc.StatusCode.UNAUTHENTICATED
    alice = ("authorization", httpx.BasicAuth(*ALICE)._auth_header)
    denied = _raw_export(port, body, [exp_header, alice])
    assert isinstance(denied, grpc.RpcError) and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    r = admin.post("/api/2.0/mlflow/experiments/permissions/create",
                   json={"experiment_id": exp, "username": ALICE[0], "permission": "EDIT"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert _raw_export(port, body, [exp_header, alice]) == b""  # an empty ExportTraceServiceResponse
    admin_auth = ("authorization", httpx.BasicAuth(*ADMIN)._auth_header)
    no_header = _raw_export(port, body, [admin_auth])
    assert isinstance(no_header, grpc.RpcError) and no_header.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-mlflow-experiment-id" in no_header.details()
    empty = _raw_export(port, b"", [exp_header, admin_auth])
    assert isinstance(empty, grpc.RpcError) and empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no spans found" in empty.details()
    too_big = _raw_export(port, b"\x0a" + b"\xff\xff\x7f" + b"\x00" * (2 * LIMIT), [exp_header, admin_auth])
    assert isinstance(too_big, grpc.RpcError) and too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # a gzip bomb over gRPC: small on the wire, past the limit once inflated
    bomb = _raw_export(port, b"\x00" * (8 * LIMIT), [exp_header, admin_auth], grpc.Compression.Gzip)
    assert isinstance(bomb, grpc.RpcError) and bomb.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, bomb


def _span_json(trace_hex: str, span_hex: str, name: str = "s") -> dict:
    return {"traceId": trace_hex, "spanId": span_hex, "name": name,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}  # fmt: skip


def _body(*spans: dict) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def test_http_bad_bodies_get_mlflows_answers(server, admin):
    _live, _port = server
    exp = _experiment(admin)
    post = admin.post
    headers = {"content-type": "application/json", "x-mlflow-experiment-id": exp}
    good = _body(_span_json(uuid.uuid4().hex, uuid.uuid4().hex[:16]))

    def answer(body: bytes, **extra: str) -> httpx.Response:
        return post("/v1/traces", content=body, headers={**headers, **extra})

    # deflate, in both forms clients send (zlib-wrapped and raw), and gzip: accepted
    assert answer(zlib.compress(good), **{"content-encoding": "deflate"}).status_code == 200
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(_body(_span_json(uuid.uuid4().hex, uuid.uuid4().hex[:16]))) + raw.flush()
    assert answer(raw_deflate, **{"content-encoding": "deflate"}).status_code == 200
    assert answer(gzip.compress(good), **{"content-encoding": "GZIP"}).status_code == 200
    # a zip bomb: 40 MB of zeros in ~40 KB, refused once past the 1 MB limit (413, never inflated in full)
    bomb = gzip.compress(b"\x00" * (40 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < LIMIT
    r = answer(bomb, **{"content-encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED", r.text
    for body, encoding, message in [
        (b"not gzip at all", "gzip", "Failed to decompress gzip"),
        (gzip.compress(good)[:-12], "gzip", "Failed to decompress gzip"),  # truncated
        (b"\x00\x01", "deflate", "Failed to decompress deflate"),
        (good, "br", "Unsupported Content-Encoding"),
    ]:
        r = answer(body, **{"content-encoding": encoding})
        assert r.status_code == 400 and message in r.json()["message"], (encoding, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # no spans, malformed bodies: 400; a span that cannot be read: 422 (as MLflow's server)
    for body in [b'{"resourceSpans": []}', b"{}", b'{"resourceSpans": 3}', b"[1]", b"{not json"]:
        r = answer(body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (body, r.text)
    r = post("/v1/traces", content=b"\xff\xff", headers={**headers, "content-type": "application/x-protobuf"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    for span in [{"name": "no ids"}, _span_json("zz" * 16, "ab" * 8), _span_json(uuid.uuid4().hex, "")]:
        r = answer(_body(span))
        assert r.status_code == 422 and "Cannot convert OpenTelemetry span" in r.json()["message"], r.text
    # a request with one good and one bad span writes nothing
    trace_hex = uuid.uuid4().hex
    r = answer(_body(_span_json(trace_hex, uuid.uuid4().hex[:16]), {"name": "bad"}))
    assert r.status_code == 422
    assert admin.get("/api/3.0/mlflow/traces/get", params={"trace_id": f"tr-{trace_hex}"}).status_code == 404
    # the experiment header is required
    r = post("/v1/traces", content=good, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "x-mlflow-experiment-id" in r.json()["message"], r.text
