"""Registered scorers: ``scorer.register()``, ``.start()``, ``.update()``, ``.stop()``,
``list_scorers``, ``get_scorer``, ``delete_scorer`` (MLflow 3's API).

A registered scorer belongs to an experiment. Once started with a
:class:`ScorerSamplingConfig`, the online-scoring worker (the one ``mltrail server``
runs, or ``mltrail scorer-worker``) judges the experiment's new traces with it and logs
its ``Feedback`` on them. Against a server this goes through the same REST endpoints
the official client calls (``/api/3.0/mlflow/scorers/…``); with a database tracking URI
(``sqlite:///…``, ``postgresql://…``) straight to the database.

Example::

    import mltrail as mlflow
    from mltrail.genai.scorers import ScorerSamplingConfig, scorer

    @scorer
    def short(outputs) -> bool:
        return len(str(outputs)) < 200

    mlflow.set_experiment("support-bot")
    registered = short.register()
    registered.start(sampling_config=ScorerSamplingConfig(sample_rate=0.2, filter_string="trace.status = 'OK'"))
    ...
    registered.stop()
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from mltrail.exceptions import invalid
from mltrail.genai.scorers.base import Scorer
from mltrail.genai.scorers.serialization import dump_scorer, load_scorer
from mltrail.protocol.scorers import (
    SCORERS,
    GetOnlineScoringConfigs,
    ListScorers,
    RegisterScorer,
    ScorerByName,
    UpsertOnlineScoringConfig,
)

BACKEND_TRACKING = "tracking"


@dataclass
class ScorerSamplingConfig:
    """How a registered scorer samples new traces: ``sample_rate`` in [0, 1] and a ``search_traces`` filter."""

    sample_rate: float | None = None
    filter_string: str | None = None


class ScorerStatus:
    """A registered scorer's state (MLflow's names): from its sample rate."""

    UNREGISTERED = "UNREGISTERED"
    STARTED = "STARTED"
    STOPPED = "STOPPED"


# ---------------------------------------------------------------- the backend
class _Backend:
    """The scorer endpoints of a server (REST) or the scorer tables of a database (SQL)."""

    def __init__(self) -> None:
        from mltrail.tracking import get_tracking_store  # import speed: genai.scorers loads no client

        store = get_tracking_store()
        self.http = getattr(store, "http", None)
        self.sql = None
        if self.http is None:
            from mltrail.store.sql.scorers import SqlScorerStore

            self.sql = SqlScorerStore(store.db_uri)  # type: ignore[attr-defined]

    def register(self, experiment_id: str, name: str, serialized: str) -> dict[str, Any]:
        if self.http is not None:
            body = RegisterScorer(experiment_id=experiment_id, name=name, serialized_scorer=serialized)
            return self.http.send(SCORERS.register_scorer, body)
        v = self.sql.register_scorer(experiment_id, name, serialized)  # type: ignore[union-attr]
        return {"version": v.scorer_version, "scorer_id": v.scorer_id, "experiment_id": v.experiment_id}

    def list(self, experiment_id: str) -> list[dict[str, Any]]:
        if self.http is not None:
            return self.http.send(SCORERS.list_scorers, ListScorers(experiment_id=experiment_id)).get(
                "scorers", []
            )
        return [v.to_dict() for v in self.sql.list_scorers(experiment_id)]  # type: ignore[union-attr]

    def versions(self, experiment_id: str, name: str) -> list[dict[str, Any]]:
        if self.http is not None:
            body = ScorerByName(experiment_id=experiment_id, name=name)
            return self.http.send(SCORERS.list_scorer_versions, body).get("scorers", [])
        return [v.to_dict() for v in self.sql.list_scorer_versions(experiment_id, name)]  # type: ignore[union-attr]

    def get(self, experiment_id: str, name: str, version: int | None) -> dict[str, Any]:
        if self.http is not None:
            body = ScorerByName(experiment_id=experiment_id, name=name, version=version)
            return self.http.send(SCORERS.get_scorer, body)["scorer"]
        return self.sql.get_scorer(experiment_id, name, version).to_dict()  # type: ignore[union-attr]

    def delete(self, experiment_id: str, name: str, version: int | None) -> None:
        if self.http is not None:
            self.http.send(
                SCORERS.delete_scorer, ScorerByName(experiment_id=experiment_id, name=name, version=version)
            )
        else:
            self.sql.delete_scorer(experiment_id, name, version)  # type: ignore[union-attr]

    def upsert(self, experiment_id: str, name: str, rate: float, filter_string: str | None) -> None:
        if self.http is not None:
            body = UpsertOnlineScoringConfig(
                experiment_id=experiment_id, name=name, sample_rate=rate, filter_string=filter_string
            )
            self.http.send(SCORERS.upsert_online_scoring_config, body)
        else:
            self.sql.upsert_online_scoring_config(experiment_id, name, rate, filter_string)  # type: ignore[union-attr]

    def configs(self, scorer_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not scorer_ids:
            return {}
        if self.http is not None:
            found = self.http.send(
                SCORERS.get_online_scoring_configs, GetOnlineScoringConfigs(scorer_ids=scorer_ids)
            ).get("configs", [])
        else:
            found = [c.to_dict() for c in self.sql.get_online_scoring_configs(scorer_ids)]  # type: ignore[union-attr]
        return {c["scorer_id"]: c for c in found}


def _experiment(experiment_id: str | None) -> str:
    if experiment_id is not None:
        return str(experiment_id)
    from mltrail.tracking import context  # import speed: genai.scorers loads no client

    return context.experiment_id()


def _hydrate(row: dict[str, Any], config: dict[str, Any] | None) -> Scorer:
    """The scorer of a stored version, with its registration state."""
    made = load_scorer(row["serialized_scorer"])
    sampling = (
        ScorerSamplingConfig(sample_rate=config["sample_rate"], filter_string=config.get("filter_string"))
        if config
        else None
    )
    _mark(made, str(row["experiment_id"]), int(row["scorer_version"]), sampling)
    return made


def _mark(s: Scorer, experiment_id: str, version: int | None, sampling: ScorerSamplingConfig | None) -> None:
    s._registered_backend = BACKEND_TRACKING
    s._experiment_id = experiment_id
    s._registered_version = version
    s._sampling_config = sampling


# ---------------------------------------------------------- module functions
def list_scorers(*, experiment_id: str | None = None) -> list[Scorer]:
    """The latest version of every scorer registered in the experiment (default: the active one).

    Loading a ``@scorer`` registration runs none of its code: it is compiled on its first call.
    """
    backend = _Backend()
    rows = backend.list(_experiment(experiment_id))
    configs = backend.configs([r["scorer_id"] for r in rows])
    return [_hydrate(r, configs.get(r["scorer_id"])) for r in rows]


def list_scorer_versions(*, name: str, experiment_id: str | None = None) -> list[tuple[Scorer, int]]:
    """Every version of the scorer ``name``, oldest first, as ``(scorer, version)`` pairs."""
    backend = _Backend()
    rows = backend.versions(_experiment(experiment_id), name)
    configs = backend.configs(sorted({r["scorer_id"] for r in rows}))
    return [(_hydrate(r, configs.get(r["scorer_id"])), int(r["scorer_version"])) for r in rows]


def get_scorer(*, name: str, experiment_id: str | None = None, version: int | None = None) -> Scorer:
    """The registered scorer ``name`` (its latest version unless ``version`` is given)."""
    backend = _Backend()
    row = backend.get(_experiment(experiment_id), name, version)
    return _hydrate(row, backend.configs([row["scorer_id"]]).get(row["scorer_id"]))


def delete_scorer(*, name: str, experiment_id: str | None = None, version: int | str | None = None) -> None:
    """Delete one version of ``name``, or all of them with ``version="all"`` (as MLflow, a version is required)."""
    if version is None:
        raise invalid("You must set `version` argument to either an integer or 'all'.")
    number = None if version == "all" else int(version)
    _Backend().delete(_experiment(experiment_id), name, number)


# --------------------------------------------------------- Scorer's methods
def register(self: Scorer, *, name: str | None = None, experiment_id: str | None = None) -> Scorer:
    """Register a copy of this scorer in the experiment (default: the active one) and return it.

    Registering a name again adds a version. A ``@scorer`` function is stored with its
    source code, which the online-scoring worker runs: see docs/genai-evaluation.md.
    """
    made = copy.copy(self)
    if name:
        made.name = name
    data = dump_scorer(made)
    exp = _experiment(experiment_id)
    answer = _Backend().register(exp, made.name, json.dumps(data))
    _mark(made, str(answer.get("experiment_id") or exp), int(answer.get("version") or 0) or None, None)
    return made


def _registered(self: Scorer, name: str | None, experiment_id: str | None) -> tuple[str, str]:
    if getattr(self, "_registered_backend", None) is None:
        raise invalid(
            "Cannot start/update a scorer that is not registered. Please call register() first before calling "
            "start()/update(), or use get_scorer() to load a registered scorer."
        )
    return name or self.name, _experiment(experiment_id or getattr(self, "_experiment_id", None))


def _set_sampling(self: Scorer, name: str, exp: str, rate: float, filter_string: str | None) -> Scorer:
    _Backend().upsert(exp, name, rate, filter_string)
    return get_scorer(name=name, experiment_id=exp)


def start(
    self: Scorer,
    *,
    name: str | None = None,
    experiment_id: str | None = None,
    sampling_config: ScorerSamplingConfig,
) -> Scorer:
    """Judge the experiment's new traces with this registered scorer (``sample_rate`` > 0)."""
    rate = sampling_config.sample_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise invalid("When starting a scorer, provided sample rate must be a number")
    if rate <= 0:
        raise invalid("When starting a scorer, provided sample rate must be greater than 0")
    scorer_name, exp = _registered(self, name, experiment_id)
    return _set_sampling(self, scorer_name, exp, float(rate), sampling_config.filter_string)


def update(
    self: Scorer,
    *,
    name: str | None = None,
    experiment_id: str | None = None,
    sampling_config: ScorerSamplingConfig,
) -> Scorer:
    """Change the sample rate and filter of a registered scorer (a rate of 0 stops it)."""
    rate = sampling_config.sample_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise invalid("When updating a scorer, provided sample rate must be a number")
    scorer_name, exp = _registered(self, name, experiment_id)
    return _set_sampling(self, scorer_name, exp, float(rate), sampling_config.filter_string)


def stop(self: Scorer, *, name: str | None = None, experiment_id: str | None = None) -> Scorer:
    """Stop judging new traces (sample rate 0); the scorer stays registered and can be started again."""
    scorer_name, exp = _registered(self, name, experiment_id)
    current = getattr(self, "_sampling_config", None)
    return _set_sampling(self, scorer_name, exp, 0.0, current.filter_string if current else None)


def _sample_rate(self: Scorer) -> float | None:
    config = getattr(self, "_sampling_config", None)
    return config.sample_rate if config else None


def _filter_string(self: Scorer) -> str | None:
    config = getattr(self, "_sampling_config", None)
    return config.filter_string if config else None


def _status(self: Scorer) -> str:
    rate = _sample_rate(self)
    if rate is None:
        return ScorerStatus.UNREGISTERED
    return ScorerStatus.STARTED if rate > 0 else ScorerStatus.STOPPED


def attach(cls: type[Scorer]) -> None:
    """Give ``Scorer`` MLflow's registration methods and properties (called once by ``genai.scorers``)."""
    cls._registered_backend = None
    cls._experiment_id = None
    cls._registered_version = None
    cls._sampling_config = None
    cls.register = register
    cls.start = start
    cls.update = update
    cls.stop = stop
    cls.sample_rate = property(_sample_rate)
    cls.filter_string = property(_filter_string)
    cls.status = property(_status)
