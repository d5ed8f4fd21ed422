"""``mltrail sync``: show and replay the offline journal of a tracking server.

While a tracking server cannot be reached, the SDK logs to a local journal
(``docs/offline.md``) and replays it by itself when the server is back; this
command does it by hand, e.g. after ``MLTRAIL_OFFLINE=always``.

Example::

    mltrail sync --tracking-uri http://127.0.0.1:5000 --dry-run   # what is pending
    mltrail sync --tracking-uri http://127.0.0.1:5000             # replay it
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from mltrail.cli._common import TRACKING_URI_ENV_VARS, handle_errors, print_table
from mltrail.offline.journal import Record
from mltrail.offline.replay import pending_records, replay_directory
from mltrail.offline.settings import journal_dir


def _values(record: Record) -> int:
    body = record.body
    if record.op == "log_batch":
        return len(body.get("metrics", ())) + len(body.get("params", ())) + len(body.get("tags", ()))
    return 1


def _rows(pending: list[tuple[Any, list[Record]]]) -> list[list[Any]]:
    """One row per run (and per experiment created offline): records, values, operations."""
    by_target: dict[str, Counter[str]] = {}
    values: Counter[str] = Counter()
    for _, records in pending:
        for record in records:
            target = record.body.get("run_id") or (
                f"experiment {record.body.get('name') or record.body.get('experiment_id', '')}"
            )
            by_target.setdefault(target, Counter())[record.op] += 1
            values[target] += _values(record)
    return [
        [target, sum(ops.values()), values[target], ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))]
        for target, ops in by_target.items()
    ]


@click.command()
@click.option(
    "--tracking-uri",
    envvar=TRACKING_URI_ENV_VARS,
    required=True,
    metavar="URL",
    help="The tracking server (http or https) whose journal to replay. Read from MLTRAIL_TRACKING_URI "
    "or MLFLOW_TRACKING_URI when set.",
)
@click.option("--dry-run", is_flag=True, help="Only show what is pending, per run; send nothing.")
@handle_errors
def sync(tracking_uri: str, dry_run: bool) -> None:
    """Show the writes logged offline for a tracking server and replay them, in order."""
    if not tracking_uri.startswith(("http://", "https://")):
        raise click.UsageError(f"mltrail sync needs an http(s) tracking server, not {tracking_uri!r}.")
    url = tracking_uri.rstrip("/")
    directory = journal_dir(url)
    pending = [(j, recs) for j, recs in pending_records(directory) if recs]
    total = sum(len(recs) for _, recs in pending)
    if not total:
        click.echo(f"Nothing pending for {url} (journal directory {directory}).")
        if dry_run:
            return
    else:
        click.echo(f"{total} record(s) pending for {url} in {directory}:")
        print_table(["run", "records", "values", "operations"], _rows(pending))
    if dry_run:
        return

    from mltrail.store._http import HttpSession  # only when sending

    session = HttpSession(url)
    try:
        with click.progressbar(length=total, label="Replaying", show_pos=True) as bar:
            report = replay_directory(directory, session.send, url, progress=bar.update)
    finally:
        session.close()
    if report is None:
        raise click.ClickException(
            "Another process is replaying this journal now; try again when it is done."
        )
    click.echo(
        f"Replayed: {report.applied} applied, {report.duplicates} already on the server, "
        f"{report.artifacts} artifact file(s) uploaded, {len(report.refused)} refused."
    )
    for refused in report.refused:
        click.echo(
            f"  refused record {refused.seq} ({refused.op}): {refused.error_code}: {refused.message}",
            err=True,
        )
