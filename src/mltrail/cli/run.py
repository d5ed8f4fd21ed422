"""``mltrail run URI``: run an MLproject entry point as a tracked run (MLflow's ``mlflow run``).

The tracking store comes from ``MLTRAIL_TRACKING_URI``/``MLFLOW_TRACKING_URI``
(default ``./mltrail.db``), as for any SDK program.
"""

from __future__ import annotations

import click

from mltrail.cli._common import handle_errors
from mltrail.projects import run as run_project


def _parse_params(values: tuple[str, ...], flag: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} must look like name=value", param_hint=flag)
        params[key] = value
    return params


@click.command("run")
@click.argument("uri")
@click.option("-e", "--entry-point", default="main", show_default=True, help="Entry point of the project to run.")
@click.option("-v", "--version", default=None, help="Git commit, branch or tag to run (git projects only).")
@click.option("-P", "--param-list", "param_list", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the entry point; repeat for several.")
@click.option("-A", "--docker-args", "docker_args", multiple=True, hidden=True,
              help="Accepted for compatibility; Docker projects are not supported.")
@click.option("--experiment-name", default=None, help="Experiment to create the run in (created if missing).")
@click.option("--experiment-id", default=None, help="ID of the experiment to create the run in.")
@click.option("-b", "--backend", default="local", show_default=True, help="Only 'local' is supported.")
@click.option("--env-manager", type=click.Choice(["local", "virtualenv", "uv", "conda"]), default=None,
              help="Where the command runs: this environment (local) or an isolated one built from "
              "python_env.yaml. Default: virtualenv for python_env projects, else local.")
@click.option("--run-id", default=None, help="Resume this existing run instead of creating one.")
@click.option("--run-name", default=None, help="Name of the new run.")
@click.option("--build-image", is_flag=True, default=False, hidden=True, help="Accepted for compatibility.")
@handle_errors
def run(uri: str, entry_point: str, version: str | None, param_list: tuple[str, ...], docker_args: tuple[str, ...],
        experiment_name: str | None, experiment_id: str | None, backend: str, env_manager: str | None,
        run_id: str | None, run_name: str | None, build_image: bool) -> None:
    """Run the project at URI (a folder, folder#subdir, or a git repository)."""
    submitted = run_project(
        uri,
        entry_point=entry_point,
        version=version,
        parameters=_parse_params(param_list, "-P"),
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        backend=backend,
        env_manager=env_manager,
        run_id=run_id,
        run_name=run_name,
        synchronous=True,
    )
    click.echo(f"=== Run (ID '{submitted.run_id}') succeeded ===", err=True)
