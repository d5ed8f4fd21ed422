"""``mltrail server`` (and its alias ``mltrail ui``): MLflow's options, uvicorn underneath.

Example::

    mltrail server --backend-store-uri sqlite:///mltrail.db --port 5000
    mltrail server --backend-store-uri postgresql+psycopg://u:p@db/mltrail --workers 4
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import click

from mltrail.entities.webhook import DEFAULT_URL_SCHEMES, parse_schemes
from mltrail.exceptions import MltrailException
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.config import (
    DEFAULT_ARTIFACTS_DESTINATION,
    DEFAULT_BACKEND_STORE_URI,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    ServerConfig,
)
from mltrail.server.prefix import validate_static_prefix
from mltrail.server.validation import check_artifact_location
from mltrail.store.secrets import SecretBox
from mltrail.store.sql.engine import is_db_uri, normalize_db_uri

if TYPE_CHECKING:
    from mltrail.server.app import Readiness
    from mltrail.server.otlp_grpc import OtlpGrpcServer

CONFIG_ENV = "MLTRAIL_SERVER_CONFIG"
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def mask_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (safe to log)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if parts.password is None:
        return uri
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def parse_size(text: str) -> int:
    """``"64MB"``/``"512k"``/``"1048576"`` -> bytes."""
    m = _SIZE.match(str(text))
    if not m:
        raise click.BadParameter(f"{text!r} is not a size (use e.g. 1048576, 512K, 64MB, 1G)")
    unit = (m.group(2) or "")[:1].lower()
    return int(m.group(1)) * _UNITS[unit]


def _static_prefix(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    """``--static-prefix`` checked as MLflow checks it (a usage error names the rule broken)."""
    try:
        return validate_static_prefix(value)
    except MltrailException as err:
        raise click.BadParameter(err.message) from None


def _schemes(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """``--webhooks-allowed-schemes``/``--gateway-api-base-allowed-schemes``: ``"http,https"`` checked."""
    if value is None:
        return DEFAULT_URL_SCHEMES
    try:
        return parse_schemes(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _scheme_setting(value: object) -> tuple[str, ...]:
    """A scheme option's value as the config keeps it; MLflow's default when not given."""
    if not value:
        return DEFAULT_URL_SCHEMES
    if isinstance(value, str):
        return parse_schemes(value)
    return parse_schemes([str(v) for v in value]) if isinstance(value, list | tuple) else DEFAULT_URL_SCHEMES


def _read_replica(backend: str, replica: str | None) -> str | None:
    """``--read-replica-backend-store-uri``: a database of the backend's kind; ``None`` when unused."""
    if not replica:
        return None
    if not is_db_uri(replica):
        raise click.BadParameter(
            f"{mask_uri(replica)} is not a database URI (sqlite:///..., postgresql://..., mysql://...)",
            param_hint="'--read-replica-backend-store-uri'",
        )
    if (
        is_db_uri(backend)
        and normalize_db_uri(replica).split("://")[0] != normalize_db_uri(backend).split("://")[0]
    ):
        raise click.BadParameter(
            "the read replica must be the same kind of database as --backend-store-uri",
            param_hint="'--read-replica-backend-store-uri'",
        )
    if replica == backend:
        logging.getLogger("mltrail").warning(
            "warning: --read-replica-backend-store-uri is the backend store itself; reads are not routed"
        )
        return None
    return replica


def _options(fn: click.decorators.FC) -> click.decorators.FC:
    opts = [
        click.option(
            "--backend-store-uri",
            default=None,
            envvar="MLFLOW_BACKEND_STORE_URI",
            help=f"Database for tracking (and registry) data. Default: {DEFAULT_BACKEND_STORE_URI}.",
        ),
        click.option(
            "--read-replica-backend-store-uri",
            default=None,
            metavar="URI",
            envvar="MLFLOW_READ_REPLICA_BACKEND_STORE_URI",
            help="A read-only replica of the backend store (same kind of database): requests that only "
            "read (gets and searches) read from it, writes go to --backend-store-uri. No failover: put "
            "a proxy (PgBouncer, HAProxy) in front of several replicas.",
        ),
        click.option(
            "--registry-store-uri",
            default=None,
            envvar="MLFLOW_REGISTRY_STORE_URI",
            help="Database for the model registry. Default: the backend store.",
        ),
        click.option(
            "--default-artifact-root",
            default=None,
            envvar="MLFLOW_DEFAULT_ARTIFACT_ROOT",
            help="Artifact location of new experiments. Default: mlflow-artifacts:/ when serving "
            "artifacts, else the artifacts destination.",
        ),
        click.option(
            "--artifacts-destination",
            default=DEFAULT_ARTIFACTS_DESTINATION,
            envvar="MLFLOW_ARTIFACTS_DESTINATION",
            show_default=True,
            help="Where the artifact proxy stores files (a folder or s3://bucket/prefix).",
        ),
        click.option(
            "--serve-artifacts/--no-serve-artifacts",
            default=True,
            show_default=True,
            help="Proxy artifact uploads and downloads through this server.",
        ),
        click.option(
            "--artifacts-only",
            is_flag=True,
            default=False,
            help="Serve only the artifact proxy (no tracking database).",
        ),
        click.option(
            "--app-name",
            default=None,
            type=click.Choice(["basic-auth"]),
            help="MLflow's app: 'basic-auth' requires a login (HTTP Basic or an API token) and checks "
            "permissions; settings from the ini file named by MLFLOW_AUTH_CONFIG_PATH.",
        ),
        click.option(
            "--enable-workspaces/--disable-workspaces",
            default=False,
            show_default=True,
            envvar="MLFLOW_ENABLE_WORKSPACES",
            help="Scope experiments, registered models and prompts to the workspace each request "
            "names in its X-MLFLOW-WORKSPACE header (MLflow's workspaces; 'default' without one).",
        ),
        click.option(
            "--allowed-artifact-roots",
            default="",
            envvar="MLTRAIL_ALLOWED_ARTIFACT_ROOTS",
            help="Comma-separated folders or s3://bucket/prefix URIs, besides the artifacts "
            "destination and default artifact root, that the server may read experiments' "
            "artifacts from.",
        ),
        click.option(
            "-h",
            "--host",
            default="127.0.0.1",
            envvar="MLFLOW_HOST",
            show_default=True,
            help="Interface to listen on (use 0.0.0.0 to listen on all, deliberately).",
        ),
        click.option(
            "-p",
            "--port",
            default=5000,
            type=click.IntRange(1, 65535),
            envvar="MLFLOW_PORT",
            show_default=True,
            help="TCP port to listen on (1-65535).",
        ),
        click.option(
            "-w",
            "--workers",
            default=1,
            type=click.IntRange(1, 256),
            envvar="MLFLOW_WORKERS",
            show_default=True,
            help="Worker processes.",
        ),
        click.option(
            "--static-prefix",
            default=None,
            envvar="MLFLOW_STATIC_PREFIX",
            callback=_static_prefix,
            help="Serve every route (REST API, UI, artifacts, /health) under this path, e.g. /mlflow, "
            "for a proxy that forwards it; clients then use http://host:port/mlflow. Starts with '/', "
            "no trailing '/'.",
        ),
        click.option(
            "--max-body-size",
            default=str(DEFAULT_MAX_BODY_BYTES),
            show_default=True,
            help="Largest JSON request body accepted (artifact uploads stream and are exempt).",
        ),
        click.option(
            "--request-timeout",
            default=DEFAULT_REQUEST_TIMEOUT,
            type=click.FloatRange(min=0),
            envvar="MLTRAIL_REQUEST_TIMEOUT",
            show_default=True,
            help="Seconds a client may take to send a request's headers, or stay silent "
            "mid-body, before it gets 408 and is disconnected (0: no limit).",
        ),
        click.option(
            "--allowed-hosts",
            default=None,
            envvar="MLFLOW_SERVER_ALLOWED_HOSTS",
            help="Comma-separated Host headers to accept, against DNS rebinding, e.g. "
            "'mlflow.company.com,10.0.0.100:5000,app-*.internal'; '*' accepts all (not for "
            "production). Default: private-network IPs and the --host address. The loopback "
            "names (localhost, 127.0.0.1, [::1]) are always accepted.",
        ),
        click.option(
            "--cors-allowed-origins",
            default=None,
            envvar="MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
            help="Comma-separated origins whose web pages may call this server, e.g. "
            "'https://app.company.com,https://*.company.com'; '*' allows every site (development "
            "only). Default: none; pages this server serves itself are always allowed.",
        ),
        click.option(
            "--x-frame-options",
            default="SAMEORIGIN",
            envvar="MLFLOW_SERVER_X_FRAME_OPTIONS",
            type=click.Choice(["SAMEORIGIN", "DENY", "NONE"], case_sensitive=False),
            show_default=True,
            help="X-Frame-Options on every response (NONE: no header, the UI may be framed by any site).",
        ),
        click.option(
            "--disable-security-middleware",
            is_flag=True,
            default=False,
            envvar="MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE",
            help="DANGEROUS: turn off Host, Origin and Content-Type checks and security headers. "
            "Prefer --allowed-hosts and --cors-allowed-origins.",
        ),
        click.option(
            "--expose-prometheus",
            default=None,
            envvar="MLFLOW_EXPOSE_PROMETHEUS",
            help="Serve request metrics on /metrics in Prometheus format, keeping the workers' "
            "metric files in this folder (created if missing, cleared at start).",
        ),
        click.option(
            "--otlp-grpc-port",
            default=None,
            type=click.IntRange(1, 65535),
            envvar="MLTRAIL_OTLP_GRPC_PORT",
            help="Also accept OpenTelemetry traces over OTLP/gRPC on this port (e.g. 4317), on the same "
            "host; off by default. Needs `pip install mltrail[otlp-grpc]`.",
        ),
        click.option(
            "--webhooks-allow-private",
            is_flag=True,
            default=False,
            envvar="MLTRAIL_WEBHOOKS_ALLOW_PRIVATE",
            help="Let webhooks and the AI gateway's api_base target loopback, private and link-local "
            "addresses (local development only: off, they cannot reach this host's or its "
            "network's internal services). MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS (webhooks) and "
            "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS (the gateway) are read too.",
        ),
        click.option(
            "--webhooks-allowed-schemes",
            default=",".join(DEFAULT_URL_SCHEMES),
            callback=_schemes,
            envvar="MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
            show_default=True,
            help="Comma-separated URL schemes webhooks may use, checked when a webhook is saved and "
            "before each delivery: 'http,https' also allows plain http (local development only: "
            "payloads and signatures then travel unencrypted).",
        ),
        click.option(
            "--gateway-api-base-allowed-schemes",
            default=",".join(DEFAULT_URL_SCHEMES),
            callback=_schemes,
            envvar="MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES",
            show_default=True,
            help="Comma-separated URL schemes an AI gateway secret's api_base may use, checked when "
            "saved and before each provider request: 'http,https' also allows plaintext upstreams "
            "(prompts and API keys then travel unencrypted).",
        ),
        click.option(
            "--secrets-key-file",
            default=None,
            type=click.Path(exists=True, dir_okay=False),
            envvar="MLTRAIL_SECRETS_KEY_FILE",
            help="A file whose contents key the encryption of webhook secrets and AI gateway keys at "
            "rest (default: the MLTRAIL_SECRET_KEY variable; without either, webhook secrets are "
            "stored as given and the gateway refuses to store keys).",
        ),
        click.option(
            "--log-level",
            default="info",
            type=click.Choice(["debug", "info", "warning", "error"]),
            show_default=True,
        ),
        click.option(
            "--access-log/--no-access-log",
            default=False,
            show_default=True,
            help="Log every request (off by default: it costs a share of each request's time).",
        ),
        click.option(
            "--scorer-worker/--no-scorer-worker",
            default=True,
            envvar="MLTRAIL_SCORER_WORKER",
            show_default=True,
            help="Judge new traces with the experiments' started scorers (online evaluation) in this "
            "server's main process. Turn off when `mltrail scorer-worker` runs elsewhere.",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def build_config(**kw: object) -> ServerConfig:
    """A :class:`ServerConfig` from the command-line options."""
    root = kw.get("default_artifact_root")
    if root:
        root = str(root)
        if not urlsplit(root).scheme or len(urlsplit(root).scheme) == 1:
            root = os.path.abspath(root)  # a folder: pin it now, not against a later cwd
        check_artifact_location(root)
    backend = str(kw.get("backend_store_uri") or DEFAULT_BACKEND_STORE_URI)
    # mltrail's option opens both webhooks and the gateway; MLflow's two variables one each.
    allow_private = bool(kw.get("webhooks_allow_private", False))
    return ServerConfig(
        backend_store_uri=backend,
        registry_store_uri=kw.get("registry_store_uri") or None,  # type: ignore[arg-type]
        default_artifact_root=str(root) if root else None,
        artifacts_destination=str(kw.get("artifacts_destination") or DEFAULT_ARTIFACTS_DESTINATION),
        serve_artifacts=bool(kw.get("serve_artifacts", True)),
        artifacts_only=bool(kw.get("artifacts_only", False)),
        host=str(kw.get("host") or "127.0.0.1"),
        port=int(kw.get("port") or 5000),  # type: ignore[arg-type]
        workers=int(kw.get("workers") or 1),  # type: ignore[arg-type]
        max_body_bytes=parse_size(str(kw.get("max_body_size") or DEFAULT_MAX_BODY_BYTES)),
        request_timeout=float(kw.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)),  # type: ignore[arg-type]
        app_name=str(kw["app_name"]) if kw.get("app_name") else None,
        enable_workspaces=bool(kw.get("enable_workspaces", False)),
        allowed_hosts=str(kw["allowed_hosts"]) if kw.get("allowed_hosts") else None,
        cors_allowed_origins=str(kw["cors_allowed_origins"]) if kw.get("cors_allowed_origins") else None,
        x_frame_options=str(kw.get("x_frame_options") or "SAMEORIGIN").upper(),
        disable_security_middleware=bool(kw.get("disable_security_middleware", False)),
        expose_prometheus=os.path.abspath(str(kw["expose_prometheus"]))
        if kw.get("expose_prometheus")
        else None,
        allowed_artifact_roots=_allowed_roots(str(kw.get("allowed_artifact_roots") or "")),
        webhooks_allow_private=allow_private or _mlflow_flag("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"),
        gateway_api_base_allow_private=allow_private
        or _mlflow_flag("MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS"),
        webhook_allowed_schemes=_scheme_setting(kw.get("webhooks_allowed_schemes")),
        gateway_api_base_allowed_schemes=_scheme_setting(kw.get("gateway_api_base_allowed_schemes")),
        secrets_key_file=os.path.abspath(str(kw["secrets_key_file"])) if kw.get("secrets_key_file") else None,
        otlp_grpc_port=int(kw["otlp_grpc_port"]) if kw.get("otlp_grpc_port") else None,  # type: ignore[call-overload]
        static_prefix=str(kw.get("static_prefix") or ""),
        read_replica_backend_store_uri=_read_replica(backend, kw.get("read_replica_backend_store_uri")),  # type: ignore[arg-type]
    )


def _mlflow_flag(name: str) -> bool:
    """MLflow's boolean variable ``name``, read as MLflow reads it (true/false/1/0, any case; default
    false); unset or empty is false, anything else stops the server with one line."""
    value = os.environ.get(name, "").strip()
    if not value:
        return False
    if value.lower() not in ("true", "false", "1", "0"):
        raise click.ClickException(f"{name} must be one of true, false, 1 or 0 (any case), got {value!r}")
    return value.lower() in ("true", "1")


def _allowed_roots(raw: str) -> tuple[str, ...]:
    """``--allowed-artifact-roots``: each checked like a default artifact root, folders made absolute."""
    return tuple(check_artifact_location(r.strip()) for r in raw.split(",") if r.strip())


def check_port_free(host: str, port: int) -> None:
    """Fail with one line (exit 1) when ``host:port`` cannot be bound, before anything says "listening".

    Binds and closes a socket with ``SO_REUSEADDR``, as uvicorn's own socket
    has, so a port in TIME_WAIT after a restart is not taken for a busy one.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise click.ClickException(f"Cannot listen on {host}:{port}: unknown host ({err.strerror})") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            raise click.ClickException(
                f"Cannot listen on {host}:{port}: {err.strerror or err}. Is another server running there? "
                "Stop it or choose another --port."
            ) from None


def run_server(
    config: ServerConfig, log_level: str = "info", access_log: bool = False, scorer_worker: bool = True
) -> None:
    """Start uvicorn (uvloop + httptools) with ``config``; blocks until stopped.

    ``scorer_worker`` also runs the online-scoring worker in this process (one per server).

    ``access_log`` logs one line per request (also on with ``log_level="debug"``).
    """
    import dataclasses
    import functools
    import gc
    import json

    # No garbage collection while the server imports its modules and opens its stores: the
    # collector would scan the growing heap over and over (about a seventh of the start-up)
    # for almost no garbage. The app turns it back on once its stores are open (with one
    # worker: several run in processes of their own, and this one only supervises them).
    if config.workers == 1:
        gc.disable()
    import uvicorn

    from mltrail.server.connection import BoundedHttpToolsProtocol

    # Configure our logger only: the root logger stays quiet (alembic, httpx chatter).
    log = logging.getLogger("mltrail")
    log.setLevel(getattr(logging, log_level.upper()))
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    if config.artifacts_only and not config.serve_artifacts:
        raise click.UsageError("--artifacts-only needs artifact serving; drop --no-serve-artifacts")
    if config.workers > 1 and config.backend_store_uri.startswith("sqlite"):
        log.warning(
            "warning: %d workers on SQLite: each worker serializes its own writes, but workers wait on "
            "each other through SQLite's lock. Use PostgreSQL or MySQL for several workers.",
            config.workers,
        )
    check_port_free(config.host, config.port)
    try:  # a webhook-secrets key that is unreadable or too short stops the server now, not at first use
        SecretBox.from_config(config)
    except MltrailException as err:
        raise click.ClickException(err.message) from None
    if config.otlp_grpc_port:
        _check_grpc(config)
    if config.app_name == "basic-auth":
        _bootstrap_auth()
    _announce_security(config, log)
    if not config.artifacts_only:
        # gateway:/ judges (the in-process worker's, the gateway's guardrails) call this server's AI gateway.
        os.environ.setdefault("MLTRAIL_GATEWAY_URL", f"{_own_url(config)}/gateway/mlflow/v1")
    if config.expose_prometheus:
        from mltrail.server.metrics import prepare_directory

        prepare_directory(config.expose_prometheus)  # before any worker writes to it
    what = "artifact proxy" if config.artifacts_only else "tracking server"
    artifacts = f", artifacts -> {mask_uri(config.artifacts_destination)}" if config.serve_artifacts else ""
    replica = config.read_replica_backend_store_uri
    reads = f", reads -> {mask_uri(replica)}" if replica and not config.artifacts_only else ""
    backend = (
        "" if config.artifacts_only else f" (backend {mask_uri(config.backend_store_uri)}{reads}{artifacts})"
    )
    log.info(
        "mltrail %s listening on http://%s:%d%s/ with %d worker%s%s",
        what,
        config.host,
        config.port,
        config.static_prefix,
        config.workers,
        "" if config.workers == 1 else "s",
        backend,
    )
    common = {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        # httptools, plus the request timeout and URL/header limits uvicorn lacks.
        "http": functools.partial(BoundedHttpToolsProtocol, request_timeout=config.request_timeout),
        # No route speaks WebSocket (the UI's live views are server-sent events): without this,
        # uvicorn would load a WebSocket library at start (23 modules) only to refuse every upgrade.
        "ws": "none",
        # uvicorn logs requests at INFO, so asking for the access log needs that level.
        "log_level": "info" if access_log else ("warning" if log_level == "info" else log_level),
        "access_log": access_log or log_level == "debug",
        "lifespan": "on",
        "timeout_keep_alive": 30,
        # Open UI pages hold server-sent-event streams that never finish by themselves:
        # without a bound, Ctrl+C would wait for every browser tab to close.
        "timeout_graceful_shutdown": 5,
    }
    from mltrail.server.app import create_app

    app = with_sdk(create_app(config)) if config.workers == 1 or config.otlp_grpc_port else None
    if scorer_worker and not config.artifacts_only:
        # After the app is built, and it waits for the app's stores to open: a thread importing
        # mltrail's modules while another imports them too can meet one of them half-initialised
        # (Python's import deadlock guard raises ImportError; seen on a loaded machine).
        readiness = app.state.readiness if app is not None and config.workers == 1 else None
        _start_scorer_worker(config.backend_store_uri, readiness)
    grpc_server = _start_grpc(config, app) if config.otlp_grpc_port else None
    try:
        if config.workers == 1:
            uvicorn.run(app, **common)  # type: ignore[arg-type]
            return
        # Several processes: each worker rebuilds the app from the same settings.
        os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        uvicorn.run("mltrail.cli.server:create_app_from_env", factory=True, workers=config.workers, **common)  # type: ignore[arg-type]
    finally:
        if grpc_server is not None:
            grpc_server.stop()


def _load_scorer(serialized_scorer: str) -> Any:
    """A registered scorer ready to run (the SDK is imported on the first guardrail, not at start-up)."""
    with LAZY_IMPORTS:
        from mltrail.genai.scorers.serialization import load_scorer

    return load_scorer(serialized_scorer)


def with_sdk(app: Any) -> Any:
    """The server app, able to run the AI gateway's guardrail scorers (the server does not import the SDK)."""
    from mltrail.server.gateway_guardrails import SCORER_LOADER

    setattr(app.state, SCORER_LOADER, _load_scorer)
    return app


def create_app_from_env() -> Any:
    """A worker's app (``--workers`` above 1): the server's, with the SDK's scorers (:func:`with_sdk`)."""
    from mltrail.server.app import create_app_from_env as server_app

    return with_sdk(server_app())


def _check_grpc(config: ServerConfig) -> None:
    """``--otlp-grpc-port`` needs grpcio and a free port: say so in one line before anything starts."""
    try:
        import grpc  # noqa: F401  (optional dependency: the otlp-grpc extra)
    except ImportError:
        raise click.ClickException(
            "--otlp-grpc-port needs grpcio: pip install 'mltrail[otlp-grpc]'"
        ) from None
    if config.otlp_grpc_port == config.port:
        raise click.ClickException("--otlp-grpc-port must differ from --port")
    check_port_free(config.host, int(config.otlp_grpc_port or 0))


def _start_grpc(config: ServerConfig, app: object) -> OtlpGrpcServer:
    """The OTLP/gRPC server, started once in this process (the parent when there are several workers).

    With one worker it calls the app uvicorn serves; with several, an app of its own
    built from the same settings (see :mod:`mltrail.server.otlp_grpc`).
    """
    from mltrail.server.otlp_grpc import OtlpGrpcServer

    server = OtlpGrpcServer(app, config.host, int(config.otlp_grpc_port or 0), config.max_body_bytes)
    try:
        server.start()
    except OSError as err:
        raise click.ClickException(f"Cannot listen for OTLP/gRPC on {server.address}: {err}") from None
    return server


def _own_url(config: ServerConfig) -> str:
    """How a process on this machine reaches the server (a wildcard host means loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.host, config.host)
    return f"http://[{host}]:{config.port}" if ":" in host else f"http://{host}:{config.port}"


def _start_scorer_worker(backend_store_uri: str, readiness: Readiness | None) -> None:
    """The online-scoring worker, in a daemon thread of this process (see ``mltrail scorer-worker``).

    Until an experiment has a started scorer the thread only asks the database for one
    every poll interval; the worker and the scorers load once there is one. With the app
    in this process (``readiness``), the thread imports nothing before the app's stores are
    open, so that it never imports modules at the same time as the app's own threads.
    """
    thread = threading.Thread(
        target=_scorer_worker_loop,
        args=(backend_store_uri, readiness),
        name="mltrail-scorer-worker",
        daemon=True,
    )
    thread.start()


def _scorer_worker_loop(backend_store_uri: str, readiness: Readiness | None) -> None:
    import time

    try:
        interval = max(0.05, float(os.environ.get("MLTRAIL_SCORER_POLL_INTERVAL") or 2.0))
    except ValueError:
        interval = 2.0
    while readiness is not None and not readiness.ready:
        time.sleep(interval)
    with LAZY_IMPORTS:
        from mltrail.store.sql.scorers import SqlScorerStore

    store = None
    while True:
        time.sleep(interval)
        try:
            store = store or SqlScorerStore(backend_store_uri)
            if store.active_scorers():
                break
        except Exception:  # the database is not ready or briefly away: ask again later
            logging.getLogger("mltrail").debug("scorer worker: waiting for the database", exc_info=True)
    with LAZY_IMPORTS:
        from mltrail.cli.scorer_worker import worker_from_env

    worker_from_env(backend_store_uri).run_forever()


def _bootstrap_auth() -> None:
    """Check the auth settings and create the admin user once, before any worker starts (as MLflow).

    A missing admin password then stops ``mltrail server`` with one line instead of
    workers failing one after another.
    """
    from mltrail.server.auth import AuthService

    try:
        AuthService.from_config()
    except MltrailException as err:
        raise click.ClickException(err.message) from None


def _announce_security(config: ServerConfig, log: logging.Logger) -> None:
    """MLflow's start-up warnings for the settings that open the server up."""
    if config.disable_security_middleware:
        log.warning("warning: security middleware is DISABLED: no Host, Origin or Content-Type checks")
        return
    from mltrail.server.guard import split_list

    if "*" in split_list(config.allowed_hosts):
        log.warning("warning: accepting ALL hosts; the server is open to DNS rebinding attacks")
    if "*" in split_list(config.cors_allowed_origins):
        log.warning("warning: allowing ALL origins: any website may call this server from a browser")
    if config.host in ("0.0.0.0", "::") and not config.allowed_hosts:
        log.info(
            "Accepting requests addressed to loopback and private-network IPs; to reach this server by "
            "a DNS name, list it with --allowed-hosts"
        )


@click.command("server")
@_options
def server(log_level: str, access_log: bool, scorer_worker: bool, **kw: object) -> None:
    """Run the MLflow-compatible tracking server, artifact proxy and UI."""
    run_server(build_config(**kw), log_level, access_log, scorer_worker)


@click.command("ui")
@_options
def ui(log_level: str, access_log: bool, scorer_worker: bool, **kw: object) -> None:
    """Alias of ``mltrail server``: the tracking server with its web UI."""
    run_server(build_config(**kw), log_level, access_log, scorer_worker)
