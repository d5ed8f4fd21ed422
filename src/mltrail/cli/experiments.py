"""``mltrail experiments create|list|rename|delete|restore`` (MLflow's option names).

Example::

    mltrail experiments create --experiment-name prompts
    mltrail experiments list --view all
    mltrail experiments rename --experiment-id 1 --new-name prompt-dev
"""

from __future__ import annotations

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

_ID = click.option("--experiment-id", "-x", required=True, help="Id of the experiment.")


@click.group()
def experiments() -> None:
    """Create, list, rename, delete and restore experiments."""


@experiments.command("create")
@click.option("--experiment-name", "-n", required=True, help="Name of the new experiment (unique).")
@click.option(
    "--artifact-location",
    "-l",
    default=None,
    help="Where the experiment's run artifacts go (a folder, file:// or s3:// URI). "
    "Default: <artifact root>/<experiment id>.",
)
@tracking_uri_option
@handle_errors
def create(experiment_name: str, artifact_location: str | None, tracking_uri: str) -> None:
    """Create an experiment and print its id."""
    exp_id = open_store(tracking_uri).create_experiment(experiment_name, artifact_location)
    click.echo(f"Created experiment '{experiment_name}' with id {exp_id}")


@experiments.command("list")
@click.option(
    "--view",
    "-v",
    type=VIEW_CHOICE,
    default="active_only",
    show_default=True,
    help="Which experiments to show: active ones, deleted ones, or all.",
)
@tracking_uri_option
@handle_errors
def list_experiments(view: str, tracking_uri: str) -> None:
    """List experiments (id, name, stage, artifact location, creation time)."""
    store = open_store(tracking_uri)
    view_type = ViewType.from_string(view)
    found, token = [], None
    while True:
        page = store.search_experiments(view_type=view_type, max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    found.sort(key=lambda e: int(e.experiment_id) if e.experiment_id.isdigit() else 0)
    print_table(
        ["Experiment Id", "Name", "Stage", "Artifact Location", "Created"],
        [
            (e.experiment_id, e.name, e.lifecycle_stage, e.artifact_location, format_time(e.creation_time))
            for e in found
        ],
    )


experiments.add_command(list_experiments, "search")  # MLflow's name for the same command


@experiments.command("rename")
@_ID
@click.option("--new-name", required=True, help="The new name (must not be taken).")
@tracking_uri_option
@handle_errors
def rename(experiment_id: str, new_name: str, tracking_uri: str) -> None:
    """Rename an active experiment."""
    open_store(tracking_uri).rename_experiment(experiment_id, new_name)
    click.echo(f"Experiment {experiment_id} renamed to '{new_name}'")


store_action(
    experiments, "delete", _ID, lambda store, exp_id: store.delete_experiment(exp_id), "Experiment {} deleted",
    "Move an experiment and its runs to the trash (undo with restore; purge with `mltrail gc`).",
)  # fmt: skip
store_action(
    experiments, "restore", _ID, lambda store, exp_id: store.restore_experiment(exp_id), "Experiment {} restored",
    "Bring a deleted experiment and the runs deleted with it back from the trash.",
)  # fmt: skip
