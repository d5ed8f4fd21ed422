"""The server's settings, gathered in one record built by the CLI or by tests."""

from __future__ import annotations

from dataclasses import dataclass

from mltrail.entities.webhook import DEFAULT_URL_SCHEMES

DEFAULT_BACKEND_STORE_URI = "sqlite:///mltrail.db"
DEFAULT_ARTIFACTS_DESTINATION = "./mltrail-artifacts"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 60.0


@dataclass(slots=True)
class ServerConfig:
    """Everything :func:`mltrail.server.app.create_app` needs.

    Example::

        app = create_app(ServerConfig(backend_store_uri="sqlite:///mltrail.db"))

    ``default_artifact_root`` defaults to ``mlflow-artifacts:/`` when artifacts
    are served (files then land under ``artifacts_destination``), and to
    ``artifacts_destination`` otherwise. ``max_body_bytes`` bounds JSON request
    bodies (artifact uploads stream and are not bound by it).
    """

    backend_store_uri: str = DEFAULT_BACKEND_STORE_URI
    registry_store_uri: str | None = None
    default_artifact_root: str | None = None
    artifacts_destination: str = DEFAULT_ARTIFACTS_DESTINATION
    serve_artifacts: bool = True
    artifacts_only: bool = False
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Seconds for a request head to arrive and for a body to make progress (server/connection.py).
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # MLflow's `--app-name`: "basic-auth" turns on logins and permissions (server/auth/).
    app_name: str | None = None
    # MLflow's `--enable-workspaces`: each request works in the workspace its X-MLFLOW-WORKSPACE
    # header names (server/workspace_scope.py); off: one shared space, the header is ignored.
    enable_workspaces: bool = False
    # Browser protections (server/guard.py), MLflow's flags: comma-separated lists as given.
    allowed_hosts: str | None = None  # None: loopback names, private IPs, the bound address
    cors_allowed_origins: str | None = None  # None: no cross-origin browser access
    x_frame_options: str = "SAMEORIGIN"
    disable_security_middleware: bool = False
    # A folder for Prometheus' multiprocess files: serves /metrics when set (server/metrics.py).
    expose_prometheus: str | None = None
    # Extra folders/buckets the server may read stored artifact locations from (see server/roots.py).
    allowed_artifact_roots: tuple[str, ...] = ()
    # Webhooks may target loopback/private addresses (server/webhook_urls.py): local development only.
    # `--webhooks-allow-private` or MLflow's MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS.
    webhooks_allow_private: bool = False
    # The same for the AI gateway's api_base and provider URLs: `--webhooks-allow-private` or
    # MLflow's MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS.
    gateway_api_base_allow_private: bool = False
    # The URL schemes webhooks may use and the gateway's api_base may use (server/webhook_urls.py);
    # MLflow's defaults (https only) and env vars (MLFLOW_WEBHOOK_ALLOWED_SCHEMES,
    # MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES). Checked when saved and before each request.
    webhook_allowed_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES
    gateway_api_base_allowed_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES
    # A file whose contents key the encryption of webhook secrets (store/secrets.py).
    secrets_key_file: str | None = None
    # OTLP over gRPC (server/otlp_grpc.py) on this port of `host`; None: off.
    otlp_grpc_port: int | None = None
    # MLflow's `--static-prefix`: every route is served under this path (server/prefix.py); "" for none.
    static_prefix: str = ""
    # MLflow's `--read-replica-backend-store-uri`: read-only requests read from this database
    # (a replica of backend_store_uri); writes, and reads made while writing, use the primary.
    read_replica_backend_store_uri: str | None = None

    def effective_artifact_root(self) -> str:
        """Where new experiments put artifacts unless they name a location."""
        if self.default_artifact_root:
            return self.default_artifact_root
        return "mlflow-artifacts:/" if self.serve_artifacts else self.artifacts_destination

    def effective_registry_uri(self) -> str:
        return self.registry_store_uri or self.backend_store_uri
