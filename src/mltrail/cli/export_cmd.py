"""``mltrail export DEST``: copy mltrail's tracking data to an MLflow tracking server, so no one is
locked in.

Example::

    mltrail export http://mlflow.example.com:5000                          # from ./mltrail.db
    mltrail export http://mlflow:5000 --tracking-uri postgresql://... --experiment churn

The same entities as ``mltrail import`` (docs/migration.md), written through
MLflow's REST API; the server picks new experiment and run ids, and a local
state file maps them, so a rerun sends only what is new.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from mltrail.cli._common import handle_errors, tracking_uri_option
from mltrail.cli.import_cmd import print_report, run_with_progress, since_ms
from mltrail.migration.rest_writer import RestDestination
from mltrail.migration.source import Source

_DEFAULT_STATE = Path.home() / ".mltrail" / "export-state.db"


def _source(tracking_uri: str) -> Source:
    if tracking_uri.startswith(("http://", "https://")):
        from mltrail.migration.rest import RestSource

        return RestSource(tracking_uri)
    from mltrail.migration.mlflow_db import MlflowDbSource  # mltrail's tables are MLflow's
    from mltrail.tracking._store_registry import plan_store

    kind, target, _ = plan_store(tracking_uri)
    if kind != "sql":
        raise click.UsageError(f"Cannot export from {tracking_uri!r}: give a database URI or a server URL.")
    return MlflowDbSource(target)


@click.command("export")
@click.argument("dest", metavar="DEST_URL")
@tracking_uri_option
@click.option("--experiment", "experiments", multiple=True, metavar="NAME_OR_ID",
              help="Only this experiment (repeatable) and the registered models of its runs.")  # fmt: skip
@click.option(
    "--since", metavar="DATE", help="Only runs started or ended since (ISO date or ms); running runs too."
)
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), default=_DEFAULT_STATE,
              show_default=True, help="The SQLite file remembering what was exported (for reruns).")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@handle_errors
def export(
    dest: str,
    tracking_uri: str,
    experiments: tuple[str, ...],
    since: str | None,
    state_path: Path,
    no_progress: bool,
) -> None:
    """Export mltrail's experiments, runs, artifacts and registry to an MLflow server at DEST_URL."""
    if not dest.startswith(("http://", "https://")):
        raise click.UsageError(f"DEST must be an MLflow tracking server URL (http or https), not {dest!r}.")
    cutoff = since_ms(since)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_engine = sa.create_engine(f"sqlite:///{state_path}")
    src = _source(tracking_uri)
    destination = RestDestination(dest, state_engine)
    try:
        report = run_with_progress(src, destination, experiments, cutoff, no_progress)
    finally:
        destination.close()
        state_engine.dispose()
    print_report(report)
    if not report.verified:
        raise click.ClickException("The server does not hold everything the source has (see above).")
    click.echo("Verified: the server holds every counted entity of the source.")
