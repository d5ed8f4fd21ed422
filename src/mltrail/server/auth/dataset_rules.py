"""Permission rules of the evaluation-dataset endpoints (``/api/3.0/mlflow/datasets/…``).

A dataset takes its permissions from the experiments it belongs to, as in MLflow:
reading needs READ on each of them, changing tags or records (and unlinking
experiments) UPDATE, deleting it DELETE. Creating one needs UPDATE on every
experiment it is created in; linking it to more experiments needs UPDATE on the
dataset's experiments and on the new ones. A dataset in no experiment follows the
server's default permission (as artifacts outside every experiment do). A search
answers only datasets the caller may read, in full pages.

Served to :func:`mltrail.server.auth.rules.declared_rule` as ``AUTH_RULES`` of
:mod:`mltrail.server.handlers.datasets`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.server.auth.rules import (
    DELETE,
    READ,
    UPDATE,
    PermissionDenied,
    Rule,
    Subject,
    filtered_page,
    on_experiments,
    require_user,
)
from mltrail.server.routing import Call
from mltrail.server.validation import path_param


def _of_dataset(call: Call) -> Iterable[str | None]:
    """The experiments of the dataset in the path; ``None`` for none; nothing for an unknown dataset."""
    try:
        ids = call.tracking_store.get_dataset_experiment_ids(path_param(call, "dataset_id"))
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
        return ()  # the handler answers 404
    return ids or [None]


def _of_body(call: Call) -> Iterable[str | None]:
    return [str(e) for e in getattr(call.body, "experiment_ids", None) or []] or [None]


def _of_dataset_and_body(call: Call) -> Iterable[str | None]:
    return [*_of_dataset(call), *(e for e in _of_body(call) if e is not None)]


def _can(subject: Subject, experiment_id: str | None, need: str) -> bool:
    try:
        subject.require_experiment(experiment_id, need)
    except PermissionDenied:
        return False
    return True


def _readable_datasets(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """Searches: named experiments narrowed to readable ones, then only fully readable datasets kept."""
    if subject.is_admin:
        return handler(call)
    subject.preload_experiments()
    asked = [str(e) for e in call.body.experiment_ids]
    if asked:
        readable = [e for e in asked if _can(subject, e, READ)]
        if not readable:
            return {"datasets": []}
        call = Call(call.request, msgspec.structs.replace(call.body, experiment_ids=readable))

    def keep(dataset: dict[str, Any]) -> bool:
        return all(_can(subject, e, READ) for e in dataset.get("experiment_ids") or [None])

    return filtered_page(handler, call, "datasets", keep)


_ONE = "/datasets/{dataset_id}"

AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/datasets/create", "POST"): on_experiments(UPDATE, _of_body),
    ("/datasets/search", "POST"): Rule("experiment", READ, require_user, _readable_datasets),
    ("/datasets/search", "GET"): Rule("experiment", READ, require_user, _readable_datasets),
    (_ONE, "GET"): on_experiments(READ, _of_dataset),
    (_ONE, "DELETE"): on_experiments(DELETE, _of_dataset),
    (f"{_ONE}/tags", "PATCH"): on_experiments(UPDATE, _of_dataset),
    (f"{_ONE}/tags/{{key}}", "DELETE"): on_experiments(UPDATE, _of_dataset),
    (f"{_ONE}/records", "POST"): on_experiments(UPDATE, _of_dataset),
    (f"{_ONE}/records", "GET"): on_experiments(READ, _of_dataset),
    (f"{_ONE}/records", "DELETE"): on_experiments(UPDATE, _of_dataset),
    (f"{_ONE}/experiment-ids", "GET"): on_experiments(READ, _of_dataset),
    (f"{_ONE}/add-experiments", "POST"): on_experiments(UPDATE, _of_dataset_and_body),
    (f"{_ONE}/remove-experiments", "POST"): on_experiments(UPDATE, _of_dataset),
}
