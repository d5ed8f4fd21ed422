"""``mltrail runs list|describe|delete|restore`` (MLflow's option names).

Example::

    mltrail runs list --experiment-id 1
    mltrail runs describe --run-id 0f3c...
"""

from __future__ import annotations

import json

import click

from mltrail.cli._common import (
    VIEW_CHOICE,
    format_time,
    handle_errors,
    open_store,
    print_table,
    store_action,
    tracking_uri_option,
)
from mltrail.entities import ViewType

_RUN_ID = click.option("--run-id", required=True, help="Id of the run (32 hex characters).")


@click.group()
def runs() -> None:
    """List, describe, delete and restore runs."""


@runs.command("list")
@click.option("--experiment-id", "-x", required=True, help="Experiment whose runs to list.")
@click.option(
    "--view",
    "-v",
    type=VIEW_CHOICE,
    default="active_only",
    show_default=True,
    help="Which runs to show: active ones, deleted ones, or all.",
)
@tracking_uri_option
@handle_errors
def list_runs(experiment_id: str, view: str, tracking_uri: str) -> None:
    """List the runs of an experiment, newest first."""
    store = open_store(tracking_uri)
    store.get_experiment(experiment_id)  # a clear error for an unknown experiment
    found, token = [], None
    while True:
        page = store.search_runs(
            [experiment_id], run_view_type=ViewType.from_string(view), max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    print_table(
        ["Date", "Name", "Id", "Status", "Stage"],
        [
            (
                format_time(r.info.start_time),
                r.info.run_name,
                r.info.run_id,
                r.info.status,
                r.info.lifecycle_stage,
            )
            for r in found
        ],
    )


@runs.command("describe")
@_RUN_ID
@tracking_uri_option
@handle_errors
def describe(run_id: str, tracking_uri: str) -> None:
    """Print a run (info, metrics, params, tags, inputs) as JSON."""
    run = open_store(tracking_uri).get_run(run_id)
    click.echo(json.dumps(run.to_dict(), indent=2))


store_action(
    runs, "delete", _RUN_ID, lambda store, run_id: store.delete_run(run_id), "Run {} deleted",
    "Move a run to the trash (undo with restore; purge with `mltrail gc`).",
)  # fmt: skip
store_action(
    runs, "restore", _RUN_ID, lambda store, run_id: store.restore_run(run_id), "Run {} restored",
    "Bring a deleted run back from the trash.",
)  # fmt: skip
