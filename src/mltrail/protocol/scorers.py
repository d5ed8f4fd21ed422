"""MLflow 3's scorer registry REST API (``/api/3.0/mlflow/scorers/…``): wire types and routes.

Paths, methods and fields are those of MLflow's ``MlflowService`` scorer RPCs
(``RegisterScorer``, ``ListScorers``, ``ListScorerVersions``, ``GetScorer``,
``DeleteScorer``) and of its two online-scoring endpoints, which the official
client calls with plain JSON (``PUT /scorers/online-config``, ``GET
/scorers/online-configs?scorer_ids=…``). ``serialized_scorer`` is MLflow's
``SerializedScorer`` as a JSON string.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet


class RegisterScorer(Message):
    experiment_id: str = ""
    name: str = ""
    serialized_scorer: str = ""


class ListScorers(Message):
    experiment_id: str = ""
    experiment_ids: list[str] = []


class ScorerByName(Message):
    """``ListScorerVersions``, ``GetScorer`` and ``DeleteScorer`` (``version``: None for the latest / all)."""

    experiment_id: str = ""
    name: str = ""
    version: int | None = None


class UpsertOnlineScoringConfig(Message):
    experiment_id: str = ""
    name: str = ""
    sample_rate: float | None = None
    filter_string: str | None = None


class GetOnlineScoringConfigs(Message):
    scorer_ids: list[str] = []


class RegisterScorerResponse(msgspec.Struct):
    version: int = 0
    scorer_id: str = ""
    experiment_id: str = ""
    name: str = ""
    serialized_scorer: str = ""
    creation_time: int = 0


class ScorersResponse(msgspec.Struct):
    scorers: list[dict[str, Any]] = []


class ScorerResponse(msgspec.Struct):
    scorer: dict[str, Any] = {}


class OnlineConfigResponse(msgspec.Struct):
    config: dict[str, Any] = {}


class OnlineConfigsResponse(msgspec.Struct):
    configs: list[dict[str, Any]] = []


class Empty(msgspec.Struct):
    pass


def _r(name: str, method: str, path: str, req: type, resp: type = Empty) -> Route:
    return Route(name, method, f"/scorers/{path}", req, resp, versions=("3.0",), tags=("scorers",))


SCORERS = RouteSet(
    _r("register_scorer", "POST", "register", RegisterScorer, RegisterScorerResponse),
    _r("list_scorers", "GET", "list", ListScorers, ScorersResponse),
    _r("list_scorer_versions", "GET", "versions", ScorerByName, ScorersResponse),
    _r("get_scorer", "GET", "get", ScorerByName, ScorerResponse),
    _r("delete_scorer", "DELETE", "delete", ScorerByName),
    _r(
        "upsert_online_scoring_config",
        "PUT",
        "online-config",
        UpsertOnlineScoringConfig,
        OnlineConfigResponse,
    ),
    _r("get_online_scoring_configs", "GET", "online-configs", GetOnlineScoringConfigs, OnlineConfigsResponse),
)
