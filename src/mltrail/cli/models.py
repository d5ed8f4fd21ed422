"""``mltrail models``: serve a model over HTTP, score a file, write a Dockerfile.

Examples::

    mltrail models serve -m models:/MyLLMApp/Production -p 5001
    mltrail models predict -m runs:/<run_id>/model -i input.json -o out.json
    mltrail models generate-dockerfile -m models:/MyLLMApp/1 -d build/
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.models.download import download_model
from mltrail.models.envs import prepare_environment
from mltrail.serving.docker import write_docker_context
from mltrail.serving.mlserver import (
    MLServerUnavailable,
    exec_mlserver,
    parallel_workers_problem,
    require_mlserver,
)
from mltrail.serving.parse import ServingError, parse_csv_body, parse_json_body, to_jsonable

ENV_MANAGERS = ("local", "uv", "virtualenv", "conda")


def _env_manager_option(f):
    return click.option(
        "--env-manager",
        type=click.Choice(ENV_MANAGERS),
        default="local",
        show_default=True,
        help="Where the model runs: this Python ('local'), or an isolated, cached environment built "
        "from the model's requirements with 'uv', 'virtualenv' or 'conda' (conda must be installed).",
    )(f)


def _model_option(f):
    return click.option(
        "-m",
        "--model-uri",
        required=True,
        metavar="URI",
        help="Model to use: a path, runs:/<run_id>/<path>, models:/<name>/<version|stage>, "
        "models:/<name>@<alias> or mlflow-artifacts:/ URI.",
    )(f)


def _local_copy(model_uri: str) -> Path:
    try:
        return download_model(model_uri).resolve()
    except Exception as err:
        raise click.ClickException(f"Could not fetch model '{model_uri}': {err}") from None


def _reexec_in_env(env_manager: str, model_dir: Path, argv: list[str], extras: tuple[str, ...] = ()) -> None:
    """Run this same command inside the model's isolated environment (never returns)."""
    try:
        python = prepare_environment(model_dir, env_manager, extras)
    except Exception as err:
        raise click.ClickException(f"Could not build the {env_manager} environment: {err}") from None
    os.execv(python, [python, "-m", "mltrail", *argv])


@click.group("models")
def models() -> None:
    """Serve, score and package models saved in MLflow's format."""


@models.command("serve")
@_model_option
@click.option("-p", "--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "-h",
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind (use 0.0.0.0 to serve other machines).",
)
@click.option(
    "-w",
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Worker processes. With --enable-mlserver, 1 runs the model in MLServer's own process "
    "and N > 1 starts N MLServer inference workers.",
)
@click.option(
    "-t",
    "--timeout",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    envvar=["MLTRAIL_SCORING_SERVER_REQUEST_TIMEOUT", "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"],
    help="Seconds a prediction may take before the request is answered 504. "
    "Read from MLTRAIL_ or MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT when set.",
)
@click.option(
    "--enable-mlserver",
    is_flag=True,
    help="Serve with Seldon's MLServer (Open Inference / KServe V2 protocol: "
    "POST /v2/models/mlflow-model/infer, gRPC) instead of mltrail's scoring server. "
    "Needs `pip install mlserver` in the serving environment.",
)
@click.option("--no-conda", is_flag=True, hidden=True, help="MLflow 1.x spelling of --env-manager local.")
@_env_manager_option
def serve(
    model_uri: str,
    port: int,
    host: str,
    workers: int,
    timeout: int,
    enable_mlserver: bool,
    no_conda: bool,
    env_manager: str,
) -> None:
    """Serve a model over HTTP: /ping, /health, /version and POST /invocations.

    With --enable-mlserver, MLServer serves it instead: GET /v2/health/ready,
    GET /v2/models/<name> and POST /v2/models/<name>/infer (name: mlflow-model,
    or MLSERVER_MODEL_NAME).
    """
    local = env_manager == "local" or no_conda
    if enable_mlserver and local:
        try:
            require_mlserver()  # before fetching the model: fail at once
        except MLServerUnavailable as err:
            raise click.ClickException(str(err)) from None
    model_dir = _local_copy(model_uri)
    if not local:
        argv = ["models", "serve", "-m", str(model_dir), "-p", str(port), "-h", host]
        argv += ["-w", str(workers), "-t", str(timeout), "--env-manager", "local"]
        if enable_mlserver:
            argv.append("--enable-mlserver")
        # As MLflow did: the isolated environment gets MLServer too.
        _reexec_in_env(env_manager, model_dir, argv, ("mlserver",) if enable_mlserver else ())
    if enable_mlserver:
        problem = parallel_workers_problem(workers)
        if problem:
            raise click.ClickException(problem)
        click.echo(f"mltrail: serving {model_uri} with MLServer on http://{host}:{port}", err=True)
        try:
            exec_mlserver(model_dir, host=host, port=port, workers=workers, timeout=timeout)
        except (MLServerUnavailable, ValueError) as err:
            raise click.ClickException(str(err)) from None
    import uvicorn

    from mltrail.serving.app import MODEL_PATH_ENV, TIMEOUT_ENV, app_from_env

    os.environ[MODEL_PATH_ENV] = str(model_dir)
    os.environ[TIMEOUT_ENV] = str(timeout)
    click.echo(f"mltrail: serving {model_uri} on http://{host}:{port} ({workers} worker(s))", err=True)
    # No WebSocket protocol: the scoring server has no WebSocket route (as `mltrail server`).
    kwargs = {"host": host, "port": port, "log_level": "warning", "access_log": False, "ws": "none"}
    if workers > 1:
        # Load once here so a model that cannot load fails now, with its error, instead of
        # each spawned worker crashing in a loop.
        try:
            mltrail.pyfunc.load_model(str(model_dir))
        except Exception as err:
            raise click.ClickException(f"Could not load model '{model_uri}': {err}") from None
        uvicorn.run("mltrail.serving.app:app_from_env", factory=True, workers=workers, **kwargs)
    else:
        uvicorn.run(app_from_env(), **kwargs)


@models.command("predict")
@_model_option
@click.option(
    "-i",
    "--input-path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="File with the input: JSON (MLflow's serving formats) or CSV.",
)
@click.option(
    "-o",
    "--output-path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the predictions as JSON (stdout when omitted).",
)
@click.option("-t", "--content-type", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@_env_manager_option
def predict(
    model_uri: str, input_path: str, output_path: str | None, content_type: str, env_manager: str
) -> None:
    """Score a file with a model (batch prediction) and print or write the predictions."""
    model_dir = _local_copy(model_uri)
    if env_manager != "local":
        argv = [
            "models",
            "predict",
            "-m",
            str(model_dir),
            "-i",
            str(Path(input_path).resolve()),
            "-t",
            content_type,
            "--env-manager",
            "local",
        ]
        if output_path:
            argv += ["-o", str(Path(output_path).resolve())]
        _reexec_in_env(env_manager, model_dir, argv)
    import msgspec

    model = mltrail.pyfunc.load_model(str(model_dir))
    raw = Path(input_path).read_bytes()
    schema = model.metadata.get_input_schema()
    try:
        if content_type == "csv":
            data, params = parse_csv_body(raw), None
        else:
            try:
                body = msgspec.json.decode(raw)
            except msgspec.DecodeError as err:
                raise ServingError(f"Invalid JSON in {input_path}: {err}") from None
            data, params = parse_json_body(body, schema is not None and not schema.is_tensor_spec())
        result = model.predict(data, params=params) if params else model.predict(data)
    except (ServingError, MltrailException) as err:
        raise click.ClickException(err.message) from None
    text = msgspec.json.encode(
        {"predictions": to_jsonable(result)},
        enc_hook=lambda o: o.tolist() if hasattr(o, "tolist") else str(o),
    ).decode()
    if output_path:
        Path(output_path).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@models.command("generate-dockerfile")
@click.option(
    "-m",
    "--model-uri",
    default=None,
    metavar="URI",
    help="Model to bake into the image (omit to pass it at run time).",
)
@click.option(
    "-d",
    "--output-directory",
    default="mltrail-dockerfile",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the Dockerfile and build context.",
)
@click.option("--env-manager", type=click.Choice(["local", "uv", "virtualenv"]), default="local", hidden=True)
def generate_dockerfile(model_uri: str | None, output_directory: str, env_manager: str) -> None:
    """Write a Dockerfile (and build context) that serves the model on port 8080."""
    model_dir = _local_copy(model_uri) if model_uri else None
    out = write_docker_context(Path(output_directory), model_dir)
    click.echo(f"Wrote {out / 'Dockerfile'}; build with: docker build -t my-model {out}")


if __name__ == "__main__":  # pragma: no cover
    models(sys.argv[1:])
