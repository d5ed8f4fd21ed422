"""``mltrail import SOURCE``: bring an MLflow store (server, database or ``mlruns`` folder) into mltrail.

Example::

    mltrail import sqlite:///mlflow.db                      # into ./mltrail.db
    mltrail import https://mlflow.example.com               # a server, with MLFLOW_TRACKING_* auth
    mltrail import ./mlruns --tracking-uri postgresql://...  # an mlruns folder into PostgreSQL
    mltrail import sqlite:///mlflow.db --experiment churn --since 2026-01-01

A rerun brings only what is new or changed; an interrupted import resumes. See
docs/migration.md.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from mltrail.cli._common import handle_errors, print_table, tracking_uri_option
from mltrail.migration.importer import Importer, ImportReport, Progress
from mltrail.migration.source import Source
from mltrail.migration.writer import SqlDestination


def open_source(source: str) -> Source:
    """The reader for ``source``: a database URI or an ``mlruns`` folder."""
    if source.startswith(("http://", "https://")):
        from mltrail.migration.rest import RestSource

        return RestSource(source)
    if "://" in source and not source.startswith("file://"):
        from mltrail.migration.mlflow_db import MlflowDbSource

        try:
            return MlflowDbSource(source)
        except ValueError as err:
            raise click.UsageError(str(err)) from err
    path = Path(source.removeprefix("file://"))
    if not path.is_dir():
        raise click.UsageError(f"{source!r} is neither a database URI nor an mlruns folder.")
    from mltrail.migration.mlruns import MlrunsSource

    return MlrunsSource(path)


def since_ms(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: give an ISO date (2026-01-31, 2026-01-31T12:00) or ms") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _destination(tracking_uri: str) -> SqlDestination:
    from mltrail.cli._common import open_store
    from mltrail.store.sql.registry import SqlRegistryStore
    from mltrail.store.sql.tracking import SqlTrackingStore

    store = open_store(tracking_uri, need_sql=True)
    assert isinstance(store, SqlTrackingStore)
    return SqlDestination(store, SqlRegistryStore(store.engine.url.render_as_string(hide_password=False)))


def print_report(report: ImportReport) -> None:
    """Counts per kind (source, brought now, verified in the destination) and what was not brought."""
    rows = [
        [kind, c.source, c.brought, c.destination, "ok" if c.ok else "MISSING"]
        for kind, c in report.counts.items()
    ]
    print_table(["kind", "in source", "brought now", "in destination", "check"], rows)
    click.echo(f"{report.bytes_copied} artifact bytes copied.")
    if report.skipped:
        click.echo(f"Not brought or changed ({len(report.skipped)}):")
        for item in report.skipped:
            click.echo(f"  {item.kind} {item.ident}: {item.reason}")


def run_with_progress(
    src: Source, dest: SqlDestination, experiments: tuple[str, ...], cutoff: int | None, no_progress: bool
) -> ImportReport:
    """Run the import with a progress bar on stderr (entities, and megabytes of artifacts copied)."""
    bar = None
    progress = Progress()
    if not no_progress:
        copied = [0]

        def total(n: int) -> None:
            nonlocal bar
            bar = click.progressbar(
                length=n,
                label="Importing",
                show_pos=True,
                file=sys.stderr,
                item_show_func=lambda _: f"{copied[0] / 1e6:.1f} MB",
            )
            bar.__enter__()

        def nbytes(n: int) -> None:
            copied[0] += n

        progress = Progress(total=total, entity=lambda kind: bar.update(1) if bar else None, nbytes=nbytes)
    try:
        return Importer(src, dest, experiments, cutoff, progress).run()
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@click.command("import")
@click.argument("source")
@tracking_uri_option
@click.option("--experiment", "experiments", multiple=True, metavar="NAME_OR_ID",
              help="Only this experiment (repeatable) and the registered models of its runs.")  # fmt: skip
@click.option(
    "--since", metavar="DATE", help="Only runs started or ended since (ISO date or ms); running runs too."
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@handle_errors
def import_(
    source: str, tracking_uri: str, experiments: tuple[str, ...], since: str | None, no_progress: bool
) -> None:
    """Import an MLflow store: SOURCE is a tracking server URL, an MLflow database URI or an mlruns folder."""
    cutoff = since_ms(since)
    src = open_source(source)
    dest = _destination(tracking_uri)
    try:
        report = run_with_progress(src, dest, experiments, cutoff, no_progress)
    finally:
        src.close()
    print_report(report)
    if not report.verified:
        raise click.ClickException("The destination does not hold everything the source has (see above).")
    click.echo("Verified: the destination holds every counted entity of the source.")
