"""MLflow 3's scorer registry endpoints (``/api/3.0/mlflow/scorers/…``) and online-scoring configs.

What the official client's ``scorer.register()``, ``.start()``/``.update()``/``.stop()``,
``list_scorers()``, ``get_scorer()`` and ``delete_scorer()`` call. Registrations live
in :class:`mltrail.store.sql.scorers.SqlScorerStore` on the tracking database; the
online-scoring worker (``mltrail scorer-worker``, or the one ``mltrail server`` starts)
reads them. Bad input is a 400 ``INVALID_PARAMETER_VALUE`` and writes nothing; an unknown
experiment or scorer is a 404 ``RESOURCE_DOES_NOT_EXIST``.

Permissions (with logins on): registering, starting/stopping and deleting need EDIT
(``can_update``) on the experiment, reading needs READ. The user who registers a version
is stored with it: a ``@scorer`` registration carries Python source that the worker runs,
so only users who may edit the experiment can put code there (see docs/genai-evaluation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.protocol.scorers import SCORERS
from mltrail.server.auth.rules import DELETE, READ, UPDATE, PermissionDenied, Rule, Subject, on_experiments
from mltrail.server.routing import Call, Endpoint, implement, required
from mltrail.store.sql.scorers import SqlScorerStore


def scorer_store(call: Call) -> SqlScorerStore:
    """The app's scorer store."""
    return call.side_store("scorer_store", SqlScorerStore)


def register(call: Call) -> dict[str, Any]:
    b = call.body
    version = scorer_store(call).register_scorer(
        required(b.experiment_id, "experiment_id"),
        required(b.name, "name"),
        required(b.serialized_scorer, "serialized_scorer"),
        created_by=call.user,
    )
    return {
        "version": version.scorer_version,
        "scorer_id": version.scorer_id,
        "experiment_id": version.experiment_id,
        "name": version.scorer_name,
        "serialized_scorer": version.serialized_scorer,
        "creation_time": version.creation_time,
    }


def _experiments_to_list(call: Call) -> list[str]:
    b = call.body
    if b.experiment_id and b.experiment_ids:
        raise invalid(
            "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to scope the "
            "query to multiple experiments, or 'experiment_id' to scope it to a single experiment."
        )
    if b.experiment_id:
        return [b.experiment_id]
    if b.experiment_ids:
        return list(dict.fromkeys(b.experiment_ids))
    return [e.experiment_id for e in _all_active_experiments(call)]


def _all_active_experiments(call: Call) -> list[Any]:
    out, token = [], None
    while True:
        page = call.tracking_store.search_experiments(max_results=1000, page_token=token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def list_scorers(call: Call) -> dict[str, Any]:
    store = scorer_store(call)
    found = []
    for experiment_id in _experiments_to_list(call):
        found.extend(store.list_scorers(experiment_id))
    return {"scorers": [v.to_dict() for v in found]}


def list_versions(call: Call) -> dict[str, Any]:
    b = call.body
    versions = scorer_store(call).list_scorer_versions(
        required(b.experiment_id, "experiment_id"), required(b.name, "name")
    )
    return {"scorers": [v.to_dict() for v in versions]}


def get(call: Call) -> dict[str, Any]:
    b = call.body
    version = scorer_store(call).get_scorer(
        required(b.experiment_id, "experiment_id"), required(b.name, "name"), b.version
    )
    return {"scorer": version.to_dict()}


def delete(call: Call) -> dict[str, Any]:
    b = call.body
    scorer_store(call).delete_scorer(
        required(b.experiment_id, "experiment_id"), required(b.name, "name"), b.version
    )
    return {}


def upsert_config(call: Call) -> dict[str, Any]:
    b = call.body
    config = scorer_store(call).upsert_online_scoring_config(
        required(b.experiment_id, "experiment_id"),
        required(b.name, "name"),
        required(b.sample_rate, "sample_rate"),
        b.filter_string,
        updated_by=call.user,
    )
    return {"config": config.to_dict()}


def get_configs(call: Call) -> dict[str, Any]:
    ids = required(call.body.scorer_ids, "scorer_ids")
    return {"configs": [c.to_dict() for c in scorer_store(call).get_online_scoring_configs(ids)]}


S = SCORERS
ENDPOINTS: list[Endpoint] = [
    implement(S.register_scorer, register, write=True),
    implement(S.list_scorers, list_scorers, db_only=True),
    implement(S.list_scorer_versions, list_versions, db_only=True),
    implement(S.get_scorer, get, db_only=True),
    implement(S.delete_scorer, delete, write=True),
    implement(S.upsert_online_scoring_config, upsert_config, write=True),
    implement(S.get_online_scoring_configs, get_configs, db_only=True),
]


# ------------------------------------------------------------------- permissions
def _of_body(call: Call) -> Iterable[str]:
    return [str(required(call.body.experiment_id, "experiment_id"))]


def _of_scorer_ids(call: Call) -> Iterable[str]:
    """The experiments of the scorers named in ``scorer_ids`` (unknown ids name none)."""
    ids = list(call.body.scorer_ids or [])
    configs = scorer_store(call).get_online_scoring_configs(ids) if ids else []
    return sorted({c.experiment_id for c in configs})


def _readable_lists(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """List across experiments: the named ones must be readable; with none named, keep readable rows."""
    if subject.is_admin:
        return handler(call)
    named = [call.body.experiment_id] if call.body.experiment_id else list(call.body.experiment_ids or [])
    for experiment_id in named:
        subject.require_experiment(str(experiment_id), READ)
    result = handler(call)
    if named:
        return result

    def readable(row: dict[str, Any]) -> bool:
        try:
            subject.require_experiment(str(row["experiment_id"]), READ)
        except (PermissionDenied, MltrailException) as err:
            if isinstance(err, MltrailException) and err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            return False
        return True

    return {"scorers": [row for row in result["scorers"] if readable(row)]}


def _require_user(call: Call, subject: Subject) -> None:
    if subject.user is None:
        raise PermissionDenied()


AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/scorers/register", "POST"): on_experiments(UPDATE, _of_body),
    ("/scorers/list", "GET"): Rule("experiment", READ, _require_user, _readable_lists),
    ("/scorers/versions", "GET"): on_experiments(READ, _of_body),
    ("/scorers/get", "GET"): on_experiments(READ, _of_body),
    ("/scorers/delete", "DELETE"): on_experiments(DELETE, _of_body),
    ("/scorers/online-config", "PUT"): on_experiments(UPDATE, _of_body),
    ("/scorers/online-configs", "GET"): on_experiments(READ, _of_scorer_ids),
}
