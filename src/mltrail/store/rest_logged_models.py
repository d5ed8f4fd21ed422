"""``RestLoggedModelStore``: the logged-model store interface over MLflow 3's REST API.

The calls the official client makes (``/api/2.0/mlflow/logged-models…`` and
``/runs/outputs``), so it works against ``mltrail server`` and ``mlflow server`` alike.

Example::

    store = RestLoggedModelStore("http://127.0.0.1:5000")
    model = store.create_logged_model("1", name="agent")
    store.finalize_logged_model(model.model_id, "READY")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mltrail.entities import PagedList
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.protocol import logged_models as w
from mltrail.protocol.logged_models import LOGGED_MODELS as L
from mltrail.store._http import HttpSession
from mltrail.store.logged_models import LoggedModelStore, check_datasets, check_max_results

# MLflow's client sends params in batches of 100 (its per-request server limit).
_PARAMS_PER_CALL = 100


def _kv(items: dict[str, str] | None) -> list[w.KV]:
    return [w.KV(str(k), str(v)) for k, v in (items or {}).items()]


class RestLoggedModelStore(LoggedModelStore):
    """Logged models on a tracking server."""

    def __init__(self, base_url: str, session: HttpSession | None = None) -> None:
        self.session = session or HttpSession(base_url)

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        all_params = _kv(params)
        body = w.CreateLoggedModel(
            str(experiment_id), name or None, model_type or None, source_run_id or None,
            all_params[:_PARAMS_PER_CALL], _kv(tags),
        )
        model = LoggedModel.from_dict(self.session.send(L.create_logged_model, body)["model"])
        if len(all_params) > _PARAMS_PER_CALL:
            self._post_params(model.model_id, all_params[_PARAMS_PER_CALL:])
            model = self.get_logged_model(model.model_id)
        return model

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        out = self.session.send(L.get_logged_model, w.GetLoggedModel(allow_deleted), model_id=model_id)
        return LoggedModel.from_dict(out["model"])

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        body = w.FinalizeLoggedModel(model_id, LoggedModelStatus.normalize(status).to_proto())
        return LoggedModel.from_dict(self.session.send(L.finalize_logged_model, body, model_id=model_id)["model"])

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self.session.send(L.set_logged_model_tags, w.SetTags(model_id, _kv(tags)), model_id=model_id)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.session.send(L.delete_logged_model_tag, model_id=model_id, tag_key=key)

    def _post_params(self, model_id: str, params: list[w.KV]) -> None:
        for start in range(0, len(params), _PARAMS_PER_CALL):
            batch = params[start : start + _PARAMS_PER_CALL]
            self.session.send(L.log_logged_model_params, w.LogParams(model_id, batch), model_id=model_id)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        self._post_params(model_id, _kv(params))

    def delete_logged_model(self, model_id: str) -> None:
        self.session.send(L.delete_logged_model, model_id=model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any]] | None = None,
        page_token: str | None = None,
        datasets: Sequence[dict[str, Any]] | None = None,
    ) -> PagedList:
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        body = w.SearchLoggedModels(
            experiment_ids=[str(e) for e in experiment_ids],
            filter=filter_string or None,
            # No "dataset_digest": null: MLflow's server would compare the digest with NULL.
            datasets=[{k: v for k, v in d.items() if v is not None} for d in check_datasets(datasets)]
            if datasets else [],
            max_results=check_max_results(max_results),
            # Plain dicts (or OrderBy Structs) as the caller gave them: the wire shape of w.OrderBy.
            order_by=[dict(o) if isinstance(o, dict) else o for o in order_by or ()],  # type: ignore[misc]
            page_token=page_token or None,
        )
        out = self.session.send(L.search_logged_models, body)
        return PagedList(
            [LoggedModel.from_dict(m) for m in out.get("models") or []], out.get("next_page_token") or None
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        if not models:  # nothing to record; the server requires a non-empty list (as MLflow's does)
            return
        outputs = [w.ModelOutput(**m.to_dictionary()) for m in models]
        self.session.send(L.log_outputs, w.LogOutputs(run_id, outputs))
