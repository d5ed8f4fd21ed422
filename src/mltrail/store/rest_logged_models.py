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
from urllib.parse import quote

from mltrail.entities import PagedList
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.store._http import HttpSession
from mltrail.store.logged_models import LoggedModelStore, check_datasets, check_max_results

API = "/api/2.0/mlflow"
_MODELS = f"{API}/logged-models"
# MLflow's client sends params in batches of 100 (its per-request server limit).
_PARAMS_PER_CALL = 100


def _kv(items: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (items or {}).items()]


def _model_path(model_id: str) -> str:
    return f"{_MODELS}/{quote(str(model_id), safe='')}"


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
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "tags": _kv(tags),
            "params": all_params[:_PARAMS_PER_CALL],
        }
        for key, value in (("name", name), ("source_run_id", source_run_id), ("model_type", model_type)):
            if value:
                body[key] = value
        model = LoggedModel.from_dict(self.session.call("POST", _MODELS, json=body)["model"])
        if len(all_params) > _PARAMS_PER_CALL:
            self._post_params(model.model_id, all_params[_PARAMS_PER_CALL:])
            model = self.get_logged_model(model.model_id)
        return model

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        params = {"allow_deleted": "true"} if allow_deleted else None
        return LoggedModel.from_dict(self.session.call("GET", _model_path(model_id), params=params)["model"])

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        body = {"model_id": model_id, "status": LoggedModelStatus.normalize(status).to_proto()}
        return LoggedModel.from_dict(self.session.call("PATCH", _model_path(model_id), json=body)["model"])

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self.session.call(
            "PATCH", f"{_model_path(model_id)}/tags", json={"model_id": model_id, "tags": _kv(tags)}
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.session.call("DELETE", f"{_model_path(model_id)}/tags/{quote(str(key), safe='')}")

    def _post_params(self, model_id: str, params: list[dict[str, str]]) -> None:
        for start in range(0, len(params), _PARAMS_PER_CALL):
            batch = params[start : start + _PARAMS_PER_CALL]
            self.session.call(
                "POST", f"{_model_path(model_id)}/params", json={"model_id": model_id, "params": batch}
            )

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        self._post_params(model_id, _kv(params))

    def delete_logged_model(self, model_id: str) -> None:
        self.session.call("DELETE", _model_path(model_id))

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
        body: dict[str, Any] = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "max_results": check_max_results(max_results),
        }
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            # No "dataset_digest": null: MLflow's server would compare the digest with NULL.
            body["datasets"] = [
                {k: v for k, v in d.items() if v is not None} for d in check_datasets(datasets)
            ]
        if order_by:
            body["order_by"] = [dict(o) if isinstance(o, dict) else o for o in order_by]
        if page_token:
            body["page_token"] = page_token
        out = self.session.call("POST", f"{_MODELS}/search", json=body)
        return PagedList(
            [LoggedModel.from_dict(m) for m in out.get("models") or []], out.get("next_page_token") or None
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        body = {"run_id": run_id, "models": [m.to_dictionary() for m in models]}
        self.session.call("POST", f"{API}/runs/outputs", json=body)
