"""``mltrail gc``: purge deleted runs and experiments, and their artifacts, for good.

By default every run and experiment in the trash is purged; ``--older-than``
keeps recently deleted ones, ``--run-ids`` / ``--experiment-ids`` pick exact
ones (they must be deleted first). Artifacts go before database rows, so an
interrupted gc can simply be run again.

Example::

    mltrail gc --older-than 30d
    mltrail gc --run-ids 0f3c...,9ab1...
"""

from __future__ import annotations

import re

import click

from mltrail.artifacts import get_artifact_repository, proxied_artifact_uri
from mltrail.artifacts.local import local_path_from_uri
from mltrail.cli._common import handle_errors, open_store, tracking_uri_option
from mltrail.entities import LifecycleStage
from mltrail.exceptions import invalid

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def parse_duration(text: str) -> int:
    """``"30d"``, ``"1d2h30m"``, ``"45s"`` -> milliseconds."""
    compact = text.replace(" ", "").lower()
    if not compact or _DURATION.sub("", compact):
        raise click.BadParameter(f"{text!r} is not a duration: use e.g. 30d, 12h, 1d2h30m or 45s")
    return int(sum(float(n) * _UNIT_MS[u] for n, u in _DURATION.findall(compact)))


def _split_ids(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _delete_artifacts(uri: str, destination: str, run_id: str) -> None:
    if uri.startswith("mlflow-artifacts:"):  # proxied: kept under the server's --artifacts-destination
        uri = proxied_artifact_uri(uri, destination)
    get_artifact_repository(uri).delete_artifacts()
    if "://" in uri and not uri.startswith("file:"):
        return
    # Runs keep artifacts in <root>/<experiment>/<run_id>/artifacts: leave no empty run folder.
    run_dir = local_path_from_uri(uri).parent
    if run_dir.name == run_id and run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()


@click.command()
@click.option(
    "--older-than",
    default=None,
    metavar="DURATION",
    help="Only purge what was deleted at least this long ago, e.g. 30d, 12h, 1d2h30m. Default: everything.",
)
@click.option("--run-ids", default=None, help="Comma-separated ids of deleted runs to purge (default: all).")
@click.option(
    "--experiment-ids",
    default=None,
    help="Comma-separated ids of deleted experiments to purge with all their runs (default: all).",
)
@click.option(
    "--artifacts-destination",
    default="./mltrail-artifacts",
    show_default=True,
    metavar="URI",
    help="Where the server keeps proxied (mlflow-artifacts:/) artifacts: its --artifacts-destination.",
)
@tracking_uri_option
@handle_errors
def gc(
    older_than: str | None,
    run_ids: str | None,
    experiment_ids: str | None,
    artifacts_destination: str,
    tracking_uri: str,
) -> None:
    """Permanently delete runs and experiments in the trash, with their artifacts."""
    store = open_store(tracking_uri, need_sql=True)
    if "://" not in artifacts_destination:
        from pathlib import Path

        artifacts_destination = str(Path(artifacts_destination).absolute())
    age_ms = parse_duration(older_than) if older_than else 0

    chosen_runs = _split_ids(run_ids)
    if chosen_runs:
        for run_id in chosen_runs:
            if store.get_run(run_id).info.lifecycle_stage != LifecycleStage.DELETED:
                raise invalid(f"Run {run_id} is not in the deleted state; delete it before purging it.")
    else:
        chosen_runs = store.get_deleted_runs(older_than_ms=age_ms)

    chosen_exps = _split_ids(experiment_ids)
    if chosen_exps:
        for exp_id in chosen_exps:
            if store.get_experiment(exp_id).lifecycle_stage != LifecycleStage.DELETED:
                raise invalid(
                    f"Experiment {exp_id} is not in the deleted state; delete it before purging it."
                )
    elif not run_ids:  # with --run-ids alone, purge only the runs that were asked for
        chosen_exps = store.get_deleted_experiments(older_than_ms=age_ms)

    seen = set(chosen_runs)
    for exp_id in chosen_exps:
        for run_id in store.get_run_ids_of_experiment(exp_id):
            if run_id not in seen:
                seen.add(run_id)
                chosen_runs.append(run_id)

    with click.progressbar(chosen_runs, label="Purging runs", show_pos=True) as bar:
        for run_id in bar:
            run = store.get_run(run_id)
            if run.info.artifact_uri:
                _delete_artifacts(run.info.artifact_uri, artifacts_destination, run_id)
            store.hard_delete_run(run_id)
    for exp_id in chosen_exps:
        store.hard_delete_experiment(exp_id)
    click.echo(f"Purged {len(chosen_runs)} run(s) and {len(chosen_exps)} experiment(s).")
