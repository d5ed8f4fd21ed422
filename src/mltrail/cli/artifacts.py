"""``mltrail artifacts log-artifact|log-artifacts|list|download`` (MLflow's command and option names).

Example::

    mltrail artifacts log-artifact --local-file report.html --run-id 0f3c... --artifact-path reports
    mltrail artifacts list --run-id 0f3c...
    mltrail artifacts download --artifact-uri runs:/0f3c.../reports --dst-path ./out
"""

from __future__ import annotations

import json

import click

from mltrail.artifacts import download_artifacts
from mltrail.cli._common import handle_errors, print_table, tracking_uri_option
from mltrail.tracking import MlflowClient

_RUN_ID = click.option("--run-id", "-r", help="Id of the run that owns the artifacts.")
_ARTIFACT_PATH = click.option(
    "--artifact-path", "-a", default=None, help="Folder inside the run's artifacts (default: its root)."
)


def _client(tracking_uri: str):  # -> MlflowClient, imported lazily to keep --help fast
    return MlflowClient(tracking_uri=tracking_uri)


@click.group()
def artifacts() -> None:
    """Upload, list and download run artifacts."""


@artifacts.command("log-artifact")
@click.option("--local-file", "-l", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--run-id", "-r", required=True, help="Id of the run to log to.")
@_ARTIFACT_PATH
@tracking_uri_option
@handle_errors
def log_artifact(local_file: str, run_id: str, artifact_path: str | None, tracking_uri: str) -> None:
    """Upload one local file into a run's artifacts."""
    _client(tracking_uri).log_artifact(run_id, local_file, artifact_path)
    click.echo(f"Logged {local_file} to run {run_id}" + (f" under {artifact_path}" if artifact_path else ""))


@artifacts.command("log-artifacts")
@click.option("--local-dir", "-l", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--run-id", "-r", required=True, help="Id of the run to log to.")
@_ARTIFACT_PATH
@tracking_uri_option
@handle_errors
def log_artifacts(local_dir: str, run_id: str, artifact_path: str | None, tracking_uri: str) -> None:
    """Upload a local folder, recursively, into a run's artifacts."""
    _client(tracking_uri).log_artifacts(run_id, local_dir, artifact_path)
    click.echo(f"Logged {local_dir} to run {run_id}" + (f" under {artifact_path}" if artifact_path else ""))


@artifacts.command("list")
@click.option("--run-id", "-r", required=True, help="Id of the run whose artifacts to list.")
@_ARTIFACT_PATH
@click.option("--json", "as_json", is_flag=True, help="Print MLflow's JSON listing instead of a table.")
@tracking_uri_option
@handle_errors
def list_artifacts(run_id: str, artifact_path: str | None, as_json: bool, tracking_uri: str) -> None:
    """List one folder level of a run's artifacts."""
    files = _client(tracking_uri).list_artifacts(run_id, artifact_path)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in files], indent=2))
        return
    print_table(
        ["Path", "Type", "Size"],
        [(f.path, "dir" if f.is_dir else "file", "" if f.is_dir else f.file_size) for f in files],
    )


@artifacts.command("download")
@_RUN_ID
@_ARTIFACT_PATH
@click.option("--artifact-uri", "-u", default=None, help="A full URI instead of --run-id: runs:/…, s3://…")
@click.option("--dst-path", "-d", default=None, help="Local folder to download into (default: a temp folder).")
@tracking_uri_option
@handle_errors
def download(
    run_id: str | None, artifact_path: str | None, artifact_uri: str | None, dst_path: str | None, tracking_uri: str
) -> None:
    """Download a run's artifacts (or any artifact URI) and print the local path."""
    if bool(run_id) == bool(artifact_uri):
        raise click.UsageError("Give exactly one of --run-id or --artifact-uri.")
    local = download_artifacts(
        artifact_uri=artifact_uri,
        run_id=run_id,
        artifact_path=artifact_path,
        dst_path=dst_path,
        tracking_uri=tracking_uri,
    )
    click.echo(local)
