"""``mltrail models serve --enable-mlserver``: serve a model with Seldon's MLServer.

MLServer speaks the Open Inference (KServe V2) protocol: ``GET /v2/health/ready``,
``GET /v2/models/<name>``, ``POST /v2/models/<name>/infer`` over HTTP, and the
same over gRPC. As ``mlflow models serve --enable-mlserver`` did, MLServer is
configured through its environment variables and started with ``mlserver start
<model dir>``; the runtime is mltrail's own
(:class:`mltrail.serving.mlserver_runtime.MltrailRuntime`), so the serving
environment needs ``mlserver`` and ``mltrail`` but not ``mlflow``.

The model is named ``mlflow-model`` (MLflow's name, so V2 clients written for it
work unchanged) unless ``MLSERVER_MODEL_NAME`` is set; every other ``MLSERVER_*``
variable in the environment (``MLSERVER_GRPC_PORT``, ``MLSERVER_METRICS_PORT``,
``MLSERVER_MODEL_VERSION`` ...) reaches MLServer untouched.

Example::

    exec_mlserver(Path("/models/iris"), host="0.0.0.0", port=8080, workers=2, timeout=60)
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

#: The MLServer runtime class (imported only inside MLServer's processes).
RUNTIME = "mltrail.serving.mlserver_runtime.MltrailRuntime"
#: The model's name in the V2 paths unless MLSERVER_MODEL_NAME says otherwise (MLflow's choice).
DEFAULT_MODEL_NAME = "mlflow-model"
#: Key of MLServer's per-model ``parameters.extra`` that carries ``--timeout`` (seconds) to the runtime.
TIMEOUT_KEY = "timeout"


class MLServerUnavailable(RuntimeError):
    """MLServer is not installed in the Python that would serve the model."""


def require_mlserver() -> None:
    """Raise :class:`MLServerUnavailable` unless this Python can import ``mlserver``."""
    if importlib.util.find_spec("mlserver") is None:
        raise MLServerUnavailable(
            "--enable-mlserver needs MLServer in the serving environment: "
            "pip install mlserver (or pip install 'mltrail[mlserver]')"
        )


def _version(dist: str) -> tuple[int, ...] | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version(dist)
    except PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def parallel_workers_problem(workers: int) -> str | None:
    """Why ``workers`` parallel inference workers would fail here, if they would.

    MLServer up to 1.7.1 (the last release) calls ``asyncio.get_event_loop()`` in
    each inference worker before creating a loop, which uvloop 0.22 and later
    refuse: the workers die and the model never loads (SeldonIO/MLServer#2286).
    One worker runs the model in MLServer's own process and is not affected.
    """
    if workers <= 1:
        return None
    mlserver, uvloop = _version("mlserver"), _version("uvloop")
    if mlserver and uvloop and mlserver <= (1, 7, 1) and uvloop >= (0, 22):
        return (
            f"MLServer's parallel workers (-w {workers}) fail with uvloop 0.22 or later "
            "(SeldonIO/MLServer#2286): pip install 'uvloop<0.22' (or 'mltrail[mlserver]'), or use -w 1"
        )
    return None


def mlserver_env(
    model_dir: Path,
    *,
    host: str,
    port: int,
    workers: int,
    timeout: float | None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment that makes ``mlserver start`` serve ``model_dir`` with mltrail's runtime.

    ``base`` (default: this process's environment) is kept; host, port, parallel
    workers, runtime and model URI are set from the arguments, the model name
    only when ``MLSERVER_MODEL_NAME`` is not already set, and ``timeout`` is
    merged into ``MLSERVER_MODEL_EXTRA`` (MLServer's per-model runtime settings).
    """
    env = dict(os.environ if base is None else base)
    env["MLSERVER_HOST"] = host
    env["MLSERVER_HTTP_PORT"] = str(port)
    # One worker: the model runs in MLServer's own process (its predictions in threads, see
    # mlserver_runtime), not behind a pipe to a separate inference process.
    env["MLSERVER_PARALLEL_WORKERS"] = str(workers if workers > 1 else 0)
    env["MLSERVER_MODEL_NAME"] = env.get("MLSERVER_MODEL_NAME") or DEFAULT_MODEL_NAME
    env["MLSERVER_MODEL_IMPLEMENTATION"] = RUNTIME
    env["MLSERVER_MODEL_URI"] = str(model_dir)
    try:
        extra = json.loads(env.get("MLSERVER_MODEL_EXTRA") or "{}")
    except json.JSONDecodeError as err:
        raise ValueError(f"MLSERVER_MODEL_EXTRA is not a JSON object: {err}") from None
    if not isinstance(extra, dict):
        raise ValueError("MLSERVER_MODEL_EXTRA is not a JSON object")
    if timeout:
        extra[TIMEOUT_KEY] = timeout
    env["MLSERVER_MODEL_EXTRA"] = json.dumps(extra)
    return env


def mlserver_command(model_dir: Path) -> list[str]:
    """``mlserver start <model_dir>`` run by this Python (so the env's mlserver, whatever PATH says)."""
    # Not `-m mlserver.cli.main`: mlserver.cli imports .main itself, and runpy warns about that.
    bootstrap = "import sys; sys.argv[0] = 'mlserver'; from mlserver.cli.main import main; main()"
    return [sys.executable, "-c", bootstrap, "start", str(model_dir)]


def exec_mlserver(model_dir: Path, *, host: str, port: int, workers: int, timeout: float | None) -> NoReturn:
    """Replace this process with MLServer serving ``model_dir`` (never returns).

    Raises :class:`MLServerUnavailable` when ``mlserver`` is not installed, and
    ``ValueError`` for an ``MLSERVER_MODEL_EXTRA`` that is not a JSON object.
    """
    require_mlserver()
    env = mlserver_env(model_dir, host=host, port=port, workers=workers, timeout=timeout)
    argv = mlserver_command(model_dir)
    sys.stdout.flush()  # exec drops whatever Python still buffers
    sys.stderr.flush()
    # exec, not a child process: signals (Ctrl-C, a supervisor's SIGTERM) reach MLServer directly.
    os.execve(argv[0], argv, env)
