"""OTLP over gRPC: OpenTelemetry's ``TraceService/Export`` beside the HTTP ``/v1/traces``.

``mltrail server --otlp-grpc-port 4317`` starts it (off by default; needs the
``otlp-grpc`` extra, i.e. ``grpcio``). Each ``Export`` call is handed to the
server app as an OTLP/HTTP protobuf request on ``/v1/traces``, in process, so
both transports share one code path: the experiment from the
``x-mlflow-experiment-id`` metadata, logins and permissions (``authorization``
metadata, as HTTP Basic or a token) when ``--app-name basic-auth`` is on, the
body-size limit, MLflow's answers to empty or malformed requests, the store.

The request message is not decoded by protobuf classes: the raw bytes go to the
same decoder HTTP uses, so only ``grpcio`` is needed. gRPC compression (gzip,
deflate) is undone by gRPC itself, within ``--max-body-size`` (the server's
``grpc.max_receive_message_length``, checked on the decompressed message).

The server runs on its own thread and event loop. With ``--workers 1`` it calls
the same app object uvicorn serves; with several workers it runs once, in the
parent process, on an app of its own built from the same settings (the stores
serialize writes through the database, as the workers do).

Example::

    server = OtlpGrpcServer(create_app(config), host="127.0.0.1", port=4317,
                            max_message_bytes=config.max_body_bytes)
    server.start()
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from mltrail.protocol.traces import EXPERIMENT_HEADER

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
OTLP_PATH = "/v1/traces"
_log = logging.getLogger("mltrail.server.otlp_grpc")
# Metadata passed on to the app as request headers (lower case, as gRPC gives them).
_FORWARDED = (EXPERIMENT_HEADER, "authorization", "x-mlflow-run-id", "user-agent")


def _status_code(http_status: int) -> Any:
    """The gRPC status for an HTTP status of the app's answer (OTLP's mapping)."""
    import grpc  # optional dependency: the otlp-grpc extra

    return {
        400: grpc.StatusCode.INVALID_ARGUMENT,
        401: grpc.StatusCode.UNAUTHENTICATED,
        403: grpc.StatusCode.PERMISSION_DENIED,
        404: grpc.StatusCode.NOT_FOUND,
        413: grpc.StatusCode.RESOURCE_EXHAUSTED,
        422: grpc.StatusCode.INVALID_ARGUMENT,
        429: grpc.StatusCode.RESOURCE_EXHAUSTED,
        501: grpc.StatusCode.UNIMPLEMENTED,
        503: grpc.StatusCode.UNAVAILABLE,
    }.get(http_status, grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.INVALID_ARGUMENT)


async def call_app(
    app: Any, body: bytes, metadata: dict[str, str], peer: tuple[str, int]
) -> tuple[int, bytes]:
    """POST ``body`` to ``app``'s ``/v1/traces`` as OTLP protobuf; ``(HTTP status, response body)``."""
    headers = [
        (b"host", b"localhost"),  # a loopback name: the browser guard's Host check passes (no browser here)
        (b"content-type", b"application/x-protobuf"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in metadata.items() if k in _FORWARDED]
    path = getattr(app, "static_prefix", "") + OTLP_PATH  # the app answers under its --static-prefix
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "2",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": peer,
        "server": ("localhost", 0),
        "state": {},
    }
    sent = False
    status = 500
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # no disconnect while the handler runs
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _peer(context: Any) -> tuple[str, int]:
    """``("127.0.0.1", 5678)`` from gRPC's ``ipv4:127.0.0.1:5678`` / ``ipv6:[::1]:5678``."""
    text = str(context.peer() or "")
    _kind, _sep, address = text.partition(":")
    host, _sep, port = address.rpartition(":")
    return host.strip("[]") or "unknown", int(port) if port.isdigit() else 0


def _error_message(body: bytes) -> str:
    import json

    try:
        answer = json.loads(body)
        return f"{answer.get('error_code', 'ERROR')}: {answer.get('message', '')}"
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")[:1000]


class OtlpGrpcServer:
    """An OTLP ``TraceService`` gRPC server feeding ``app``'s ``/v1/traces`` handler."""

    def __init__(self, app: Any, host: str, port: int, max_message_bytes: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def address(self) -> str:
        """``host:port`` as gRPC binds it (IPv6 literals in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def _export(self, request: bytes, context: Any) -> bytes:
        metadata = {
            str(k).lower(): str(v) for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)
        }
        status, body = await call_app(self.app, request, metadata, _peer(context))
        if status != 200:
            await context.abort(_status_code(status), _error_message(body))
        return b""  # an empty ExportTraceServiceResponse: everything was accepted

    async def _serve(self) -> None:
        import grpc  # optional dependency: the otlp-grpc extra

        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a second listener
        ]
        server = grpc.aio.server(options=options)
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # raw bytes in and out
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
        bound = server.add_insecure_port(self.address)
        if not bound:
            raise OSError(f"cannot listen for OTLP/gRPC on {self.address}")
        self.port = bound
        await server.start()
        self._server = server
        self._ready.set()
        await server.wait_for_termination()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to start(), which re-raises it in the caller's thread
            self._error = err
            self._ready.set()
        finally:
            loop.close()

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve on a background thread; raises if the port cannot be bound."""
        self._thread = threading.Thread(target=self._run, name="mltrail-otlp-grpc", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the OTLP/gRPC server did not start")
        if self._error is not None:
            raise self._error
        _log.info("OTLP/gRPC traces accepted on %s", self.address)

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting calls, let running ones finish for ``grace`` seconds, end the thread."""
        if self._loop is not None and self._server is not None and not self._loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)
            try:
                future.result(grace + 5)
            except Exception:  # the loop is closing anyway
                _log.debug("OTLP/gRPC server stop", exc_info=True)
        if self._thread is not None:
            self._thread.join(grace + 5)
