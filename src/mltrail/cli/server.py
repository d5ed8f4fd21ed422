"""``mltrail server`` (and its alias ``mltrail ui``): MLflow's options, uvicorn underneath.

Example::

    mltrail server --backend-store-uri sqlite:///mltrail.db --port 5000
    mltrail server --backend-store-uri postgresql+psycopg://u:p@db/mltrail --workers 4
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit, urlunsplit

import click

from mltrail.server.config import (
    DEFAULT_ARTIFACTS_DESTINATION,
    DEFAULT_BACKEND_STORE_URI,
    DEFAULT_MAX_BODY_BYTES,
    ServerConfig,
)

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


def _options(fn: click.decorators.FC) -> click.decorators.FC:
    opts = [
        click.option("--backend-store-uri", default=None, envvar="MLFLOW_BACKEND_STORE_URI",
                     help=f"Database for tracking (and registry) data. Default: {DEFAULT_BACKEND_STORE_URI}."),
        click.option("--registry-store-uri", default=None, envvar="MLFLOW_REGISTRY_STORE_URI",
                     help="Database for the model registry. Default: the backend store."),
        click.option("--default-artifact-root", default=None, envvar="MLFLOW_DEFAULT_ARTIFACT_ROOT",
                     help="Artifact location of new experiments. Default: mlflow-artifacts:/ when serving "
                     "artifacts, else the artifacts destination."),
        click.option("--artifacts-destination", default=DEFAULT_ARTIFACTS_DESTINATION,
                     envvar="MLFLOW_ARTIFACTS_DESTINATION", show_default=True,
                     help="Where the artifact proxy stores files (a folder or s3://bucket/prefix)."),
        click.option("--serve-artifacts/--no-serve-artifacts", default=True, show_default=True,
                     help="Proxy artifact uploads and downloads through this server."),
        click.option("--artifacts-only", is_flag=True, default=False,
                     help="Serve only the artifact proxy (no tracking database)."),
        click.option("--app-name", default=None, type=click.Choice(["basic-auth"]),
                     help="MLflow's app: 'basic-auth' requires a login (HTTP Basic or an API token) and checks "
                     "permissions; settings from the ini file named by MLFLOW_AUTH_CONFIG_PATH."),
        click.option("--allowed-artifact-roots", default="", envvar="MLTRAIL_ALLOWED_ARTIFACT_ROOTS",
                     help="Comma-separated folders or s3://bucket/prefix URIs, besides the artifacts "
                     "destination and default artifact root, that the server may read experiments' "
                     "artifacts from."),
        click.option("-h", "--host", default="127.0.0.1", envvar="MLFLOW_HOST", show_default=True,
                     help="Interface to listen on (use 0.0.0.0 to listen on all, deliberately)."),
        click.option("-p", "--port", default=5000, type=int, envvar="MLFLOW_PORT", show_default=True),
        click.option("-w", "--workers", default=1, type=click.IntRange(1, 256), envvar="MLFLOW_WORKERS",
                     show_default=True, help="Worker processes."),
        click.option("--max-body-size", default=str(DEFAULT_MAX_BODY_BYTES), show_default=True,
                     help="Largest JSON request body accepted (artifact uploads stream and are exempt)."),
        click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]),
                     show_default=True),
        click.option("--access-log/--no-access-log", default=False, show_default=True,
                     help="Log every request (off by default: it costs a share of each request's time)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def build_config(**kw: object) -> ServerConfig:
    """A :class:`ServerConfig` from the command-line options."""
    from mltrail.server.validation import check_artifact_location

    root = kw.get("default_artifact_root")
    if root:
        root = str(root)
        if not urlsplit(root).scheme or len(urlsplit(root).scheme) == 1:
            root = os.path.abspath(root)  # a folder: pin it now, not against a later cwd
        check_artifact_location(root)
    return ServerConfig(
        backend_store_uri=str(kw.get("backend_store_uri") or DEFAULT_BACKEND_STORE_URI),
        registry_store_uri=kw.get("registry_store_uri") or None,  # type: ignore[arg-type]
        default_artifact_root=str(root) if root else None,
        artifacts_destination=str(kw.get("artifacts_destination") or DEFAULT_ARTIFACTS_DESTINATION),
        serve_artifacts=bool(kw.get("serve_artifacts", True)),
        artifacts_only=bool(kw.get("artifacts_only", False)),
        host=str(kw.get("host") or "127.0.0.1"),
        port=int(kw.get("port") or 5000),  # type: ignore[arg-type]
        workers=int(kw.get("workers") or 1),  # type: ignore[arg-type]
        max_body_bytes=parse_size(str(kw.get("max_body_size") or DEFAULT_MAX_BODY_BYTES)),
        app_name=str(kw["app_name"]) if kw.get("app_name") else None,
        allowed_artifact_roots=_allowed_roots(str(kw.get("allowed_artifact_roots") or "")),
    )


def _allowed_roots(raw: str) -> tuple[str, ...]:
    """``--allowed-artifact-roots``: each checked like a default artifact root, folders made absolute."""
    from mltrail.server.validation import check_artifact_location

    return tuple(check_artifact_location(r.strip()) for r in raw.split(",") if r.strip())


def run_server(config: ServerConfig, log_level: str = "info", access_log: bool = False) -> None:
    """Start uvicorn (uvloop + httptools) with ``config``; blocks until stopped.

    ``access_log`` logs one line per request (also on with ``log_level="debug"``).
    """
    import dataclasses
    import json

    import uvicorn

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
    if config.app_name == "basic-auth":
        _bootstrap_auth()
    what = "artifact proxy" if config.artifacts_only else "tracking server"
    artifacts = f", artifacts -> {mask_uri(config.artifacts_destination)}" if config.serve_artifacts else ""
    backend = "" if config.artifacts_only else f" (backend {mask_uri(config.backend_store_uri)}{artifacts})"
    log.info(
        "mltrail %s listening on http://%s:%d with %d worker%s%s",
        what, config.host, config.port, config.workers, "" if config.workers == 1 else "s", backend,
    )
    common = {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        "http": "httptools",
        # uvicorn logs requests at INFO, so asking for the access log needs that level.
        "log_level": "info" if access_log else ("warning" if log_level == "info" else log_level),
        "access_log": access_log or log_level == "debug",
        "lifespan": "on",
        "timeout_keep_alive": 30,
        # Open UI pages hold server-sent-event streams that never finish by themselves:
        # without a bound, Ctrl+C would wait for every browser tab to close.
        "timeout_graceful_shutdown": 5,
    }
    if config.workers == 1:
        from mltrail.server.app import create_app

        uvicorn.run(create_app(config), **common)  # type: ignore[arg-type]
        return
    # Several processes: each worker rebuilds the app from the same settings.
    os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
    uvicorn.run("mltrail.server.app:create_app_from_env", factory=True, workers=config.workers, **common)  # type: ignore[arg-type]


def _bootstrap_auth() -> None:
    """Check the auth settings and create the admin user once, before any worker starts (as MLflow).

    A missing admin password then stops ``mltrail server`` with one line instead of
    workers failing one after another.
    """
    from mltrail.exceptions import MltrailException
    from mltrail.server.auth import AuthService

    try:
        AuthService.from_config()
    except MltrailException as err:
        raise click.ClickException(err.message) from None


@click.command("server")
@_options
def server(log_level: str, access_log: bool, **kw: object) -> None:
    """Run the MLflow-compatible tracking server, artifact proxy and UI."""
    run_server(build_config(**kw), log_level, access_log)


@click.command("ui")
@_options
def ui(log_level: str, access_log: bool, **kw: object) -> None:
    """Alias of ``mltrail server``: the tracking server with its web UI."""
    run_server(build_config(**kw), log_level, access_log)
