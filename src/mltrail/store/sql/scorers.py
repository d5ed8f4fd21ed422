"""Registered scorers, their online-scoring configuration and the judged-traces ledger (SQL).

What MLflow 3's ``scorer.register()`` / ``.start()`` / ``list_scorers()`` reach
through ``/api/3.0/mlflow/scorers/…`` (:mod:`mltrail.server.handlers.scorers`),
and what the online-scoring worker (:mod:`mltrail.genai.scorers.online`) reads:

* each ``register`` of a name in an experiment adds a version holding MLflow's
  serialized scorer JSON, the time, and the user who registered it;
* a scorer has at most one online configuration (sample rate, filter);
  ``sample_rate > 0`` means started, ``0`` stopped. Starting (from stopped or
  never) sets ``started_time``: only traces that begin after it are judged;
* a worker *claims* a trace for a scorer version by inserting its ledger row
  (``INSERT … ON CONFLICT DO NOTHING`` / ``INSERT IGNORE``); the primary key
  makes the claim atomic, so several workers on one database judge each
  trace once.

With a workspace bound (``mltrail server --enable-workspaces``) a scorer belongs to the
workspace of its experiment, as in MLflow: another workspace's experiment and its scorers
are ``RESOURCE_DOES_NOT_EXIST``. The online-scoring worker runs unbound and sees them all.

Example::

    store = SqlScorerStore("sqlite:///mltrail.db")
    v = store.register_scorer("1", "tone", serialized_json)
    store.upsert_online_scoring_config("1", "tone", sample_rate=1.0, filter_string=None)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.sql import schema as s
from mltrail.store.sql._workspace import by_experiment_scope, experiment_scope, visible_experiment
from mltrail.store.sql.database import database_for
from mltrail.store.trace_filter import parse_trace_filter
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE

# Ledger states: claimed (being judged), done, error (the scorer failed: an error feedback
# was logged), skipped (not sampled, or the filter did not match).
CLAIMED, DONE, ERROR, SKIPPED = "CLAIMED", "DONE", "ERROR", "SKIPPED"
MAX_NAME_LENGTH = 256


@dataclass
class ScorerVersion:
    """One registered version of a scorer (MLflow's ``ScorerVersion``)."""

    scorer_id: str
    experiment_id: str
    scorer_name: str
    scorer_version: int
    serialized_scorer: str
    creation_time: int
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's ``Scorer`` message as JSON (``experiment_id`` is an int64 there)."""
        return {
            "experiment_id": int(self.experiment_id),
            "scorer_name": self.scorer_name,
            "scorer_version": self.scorer_version,
            "serialized_scorer": self.serialized_scorer,
            "creation_time": self.creation_time,
            "scorer_id": self.scorer_id,
        }


@dataclass
class OnlineScoringConfig:
    """How a registered scorer samples new traces (MLflow's ``OnlineScoringConfig``)."""

    online_scoring_config_id: str
    scorer_id: str
    sample_rate: float
    experiment_id: str
    filter_string: str | None = None
    started_time: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON MLflow's ``/scorers/online-config(s)`` answer with."""
        out: dict[str, Any] = {
            "online_scoring_config_id": self.online_scoring_config_id,
            "scorer_id": self.scorer_id,
            "sample_rate": self.sample_rate,
            "experiment_id": self.experiment_id,
        }
        if self.filter_string is not None:
            out["filter_string"] = self.filter_string
        return out


@dataclass
class ActiveScorer:
    """A started scorer's latest version with its configuration: what the worker runs."""

    version: ScorerVersion
    config: OnlineScoringConfig
    #: The workspace of the scorer's experiment: judges calling ``gateway:/`` endpoints name it.
    workspace: str = DEFAULT_WORKSPACE


def _experiment_int(experiment_id: Any) -> int:
    try:
        return int(str(experiment_id))
    except ValueError:
        raise invalid(f"Invalid experiment ID: {experiment_id!r}") from None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid("Scorer name must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise invalid(f"Scorer name must be at most {MAX_NAME_LENGTH} characters long.")
    return name


def check_serialized_scorer(text: Any) -> dict[str, Any]:
    """``serialized_scorer`` must be a JSON object naming exactly one kind of scorer (as MLflow checks)."""
    if not isinstance(text, str) or not text:
        raise invalid("Missing value for required parameter 'serialized_scorer'.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise invalid(f"Invalid serialized_scorer: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise invalid("Invalid serialized_scorer: expected a JSON object")
    kinds = (
        "builtin_scorer_class",
        "call_source",
        "instructions_judge_pydantic_data",
        "memory_augmented_judge_data",
        "third_party_scorer_data",
        "ensemble_scorer_data",
    )
    present = [k for k in kinds if data.get(k) is not None]
    if len(present) != 1:
        raise invalid(
            "Invalid serialized_scorer: exactly one of "
            + ", ".join(kinds)
            + f" must be set (got {present or 'none'})"
        )
    return data


def _check_sampling(sample_rate: Any, filter_string: Any) -> tuple[float, str | None]:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)):
        raise invalid(f"sample_rate must be a number, got {type(sample_rate).__name__}")
    if not 0.0 <= float(sample_rate) <= 1.0:
        raise invalid(f"sample_rate must be between 0.0 and 1.0, got {sample_rate}")
    if filter_string is not None and not isinstance(filter_string, str):
        raise invalid(f"filter_string must be a string, got {type(filter_string).__name__}")
    if filter_string:
        parse_trace_filter(filter_string)  # INVALID_PARAMETER_VALUE on bad syntax, before anything is stored
    return float(sample_rate), filter_string or None


def _version(row: Any, experiment_id: Any, name: str) -> ScorerVersion:
    return ScorerVersion(
        scorer_id=row.scorer_id,
        experiment_id=str(experiment_id),
        scorer_name=name,
        scorer_version=int(row.scorer_version),
        serialized_scorer=row.serialized_scorer,
        creation_time=int(row.creation_time),
        created_by=row.created_by,
    )


def _config(row: Any) -> OnlineScoringConfig:
    return OnlineScoringConfig(
        online_scoring_config_id=row.online_scoring_config_id,
        scorer_id=row.scorer_id,
        sample_rate=float(row.sample_rate),
        experiment_id=str(row.experiment_id),
        filter_string=row.filter_string,
        started_time=int(row.started_time),
    )


def _no_experiment(experiment_id: Any) -> MltrailException:
    return MltrailException(f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST)


def _not_found(name: str, experiment_id: Any, version: int | None = None) -> MltrailException:
    what = f"Scorer with name '{name}'" + (f" and version {version}" if version is not None else "")
    return MltrailException(f"{what} not found for experiment {experiment_id}.", RESOURCE_DOES_NOT_EXIST)


class SqlScorerStore:
    """Scorer registrations, online configurations and the ledger, on the tracking database."""

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.db.ensure_schema()

    # ------------------------------------------------------------ registrations
    def _active_experiment(self, conn: sa.Connection, experiment_id: Any) -> int:
        eid = _experiment_int(experiment_id)
        stage = conn.execute(
            sa.select(s.experiments.c.lifecycle_stage).where(
                s.experiments.c.experiment_id == eid, *experiment_scope()
            )
        ).scalar()
        if stage is None:
            raise _no_experiment(experiment_id)
        if stage != "active":
            raise invalid(f"The experiment {experiment_id} must be in the 'active' state.")
        return eid

    def _scorer_id(self, conn: sa.Connection, eid: int, name: str) -> str | None:
        c = s.scorers.c
        return conn.execute(
            sa.select(c.scorer_id).where(
                c.experiment_id == eid, c.scorer_name == name, *by_experiment_scope(c.experiment_id)
            )
        ).scalar()

    def register_scorer(
        self, experiment_id: str, name: str, serialized_scorer: str, created_by: str | None = None
    ) -> ScorerVersion:
        """Add a version of ``name`` in the experiment (version 1 for a new name)."""
        _check_name(name)
        check_serialized_scorer(serialized_scorer)
        now = int(time.time() * 1000)

        def write(conn: sa.Connection) -> ScorerVersion:
            eid = self._active_experiment(conn, experiment_id)
            scorer_id = self._scorer_id(conn, eid, name)
            if scorer_id is None:
                scorer_id = str(uuid.uuid4())
                conn.execute(
                    sa.insert(s.scorers).values(scorer_id=scorer_id, experiment_id=eid, scorer_name=name)
                )
            v = s.scorer_versions.c
            latest = conn.execute(
                sa.select(sa.func.max(v.scorer_version)).where(v.scorer_id == scorer_id)
            ).scalar()
            row = {
                "scorer_id": scorer_id,
                "scorer_version": int(latest or 0) + 1,
                "serialized_scorer": serialized_scorer,
                "creation_time": now,
                "created_by": created_by,
            }
            conn.execute(sa.insert(s.scorer_versions).values(**row))
            return _version(_Obj(row), eid, name)

        return self.db.write(write)

    def _versions_query(self, eid: int) -> sa.Select:
        v, sc = s.scorer_versions.c, s.scorers.c
        return (
            sa.select(
                v.scorer_id,
                v.scorer_version,
                v.serialized_scorer,
                v.creation_time,
                v.created_by,
                sc.scorer_name,
            )
            .join_from(s.scorer_versions, s.scorers, v.scorer_id == sc.scorer_id)
            .where(sc.experiment_id == eid, *by_experiment_scope(sc.experiment_id))
        )

    def list_scorers(self, experiment_id: str) -> list[ScorerVersion]:
        """The latest version of each scorer in the experiment, by name (another workspace's
        experiment: ``RESOURCE_DOES_NOT_EXIST``)."""
        eid = _experiment_int(experiment_id)
        v = s.scorer_versions.c
        latest = (
            sa.select(v.scorer_id, sa.func.max(v.scorer_version).label("top"))
            .group_by(v.scorer_id)
            .subquery()
        )
        query = (
            self._versions_query(eid)
            .join(latest, sa.and_(latest.c.scorer_id == v.scorer_id, latest.c.top == v.scorer_version))
            .order_by(s.scorers.c.scorer_name)
        )
        with self.db.read() as conn:
            if not visible_experiment(conn, eid):
                raise _no_experiment(experiment_id)
            return [_version(r, eid, r.scorer_name) for r in conn.execute(query)]

    def list_scorer_versions(self, experiment_id: str, name: str) -> list[ScorerVersion]:
        """Every version of ``name``, oldest first (``RESOURCE_DOES_NOT_EXIST`` for an unknown name)."""
        eid = _experiment_int(experiment_id)
        query = self._versions_query(eid).where(s.scorers.c.scorer_name == name)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(s.scorer_versions.c.scorer_version)).all()
        if not rows:
            raise _not_found(name, experiment_id)
        return [_version(r, eid, name) for r in rows]

    def get_scorer(self, experiment_id: str, name: str, version: int | None = None) -> ScorerVersion:
        """One version of ``name`` (the latest when ``version`` is None)."""
        eid = _experiment_int(experiment_id)
        v = s.scorer_versions.c
        query = self._versions_query(eid).where(s.scorers.c.scorer_name == name)
        query = query.where(v.scorer_version == int(version)) if version is not None else query
        with self.db.read() as conn:
            row = conn.execute(query.order_by(v.scorer_version.desc()).limit(1)).first()
        if row is None:
            raise _not_found(name, experiment_id, version)
        return _version(row, eid, name)

    def delete_scorer(self, experiment_id: str, name: str, version: int | None = None) -> None:
        """Delete one version, or every version (and the scorer, its configuration and ledger) when None."""
        eid = _experiment_int(experiment_id)

        def write(conn: sa.Connection) -> None:
            scorer_id = self._scorer_id(conn, eid, name)
            if scorer_id is None:
                raise _not_found(name, experiment_id)
            v, j = s.scorer_versions.c, s.scorer_judged_traces.c
            if version is not None:
                gone = conn.execute(
                    sa.delete(s.scorer_versions).where(
                        v.scorer_id == scorer_id, v.scorer_version == int(version)
                    )
                ).rowcount
                if not gone:
                    raise _not_found(name, experiment_id, version)
                conn.execute(
                    sa.delete(s.scorer_judged_traces).where(
                        j.scorer_id == scorer_id, j.scorer_version == int(version)
                    )
                )
                left = conn.execute(sa.select(sa.func.count()).where(v.scorer_id == scorer_id)).scalar()
                if left:
                    return
            conn.execute(sa.delete(s.scorer_judged_traces).where(j.scorer_id == scorer_id))
            conn.execute(
                sa.delete(s.online_scoring_configs).where(s.online_scoring_configs.c.scorer_id == scorer_id)
            )
            conn.execute(sa.delete(s.scorer_versions).where(v.scorer_id == scorer_id))
            conn.execute(sa.delete(s.scorers).where(s.scorers.c.scorer_id == scorer_id))

        self.db.write(write)

    # ------------------------------------------------------- online configuration
    def upsert_online_scoring_config(
        self,
        experiment_id: str,
        scorer_name: str,
        sample_rate: float,
        filter_string: str | None = None,
        updated_by: str | None = None,
    ) -> OnlineScoringConfig:
        """Set the scorer's sample rate and filter (0 stops it); starting it judges traces from now on."""
        rate, filt = _check_sampling(sample_rate, filter_string)
        now = int(time.time() * 1000)

        def write(conn: sa.Connection) -> OnlineScoringConfig:
            eid = self._active_experiment(conn, experiment_id)
            scorer_id = self._scorer_id(conn, eid, scorer_name)
            if scorer_id is None:
                raise _not_found(scorer_name, experiment_id)
            c = s.online_scoring_configs.c
            old = conn.execute(sa.select(s.online_scoring_configs).where(c.scorer_id == scorer_id)).first()
            values = {
                "sample_rate": rate,
                "filter_string": filt,
                "experiment_id": eid,
                "updated_by": updated_by,
            }
            if old is None:
                row = {
                    "online_scoring_config_id": str(uuid.uuid4()),
                    "scorer_id": scorer_id,
                    "started_time": now,
                }
                row.update(values)
                conn.execute(sa.insert(s.online_scoring_configs).values(**row))
                return _config(_Obj(row))
            started = now if float(old.sample_rate) <= 0 < rate else int(old.started_time)
            values["started_time"] = started
            conn.execute(sa.update(s.online_scoring_configs).where(c.scorer_id == scorer_id).values(**values))
            return _config(_Obj({**old._asdict(), **values}))

        return self.db.write(write)

    def get_online_scoring_configs(self, scorer_ids: list[str]) -> list[OnlineScoringConfig]:
        """The configurations of the given scorers (scorers without one, or of another
        workspace's experiment, are left out)."""
        if not scorer_ids:
            return []
        c, sc = s.online_scoring_configs.c, s.scorers.c
        query = sa.select(s.online_scoring_configs).where(c.scorer_id.in_(list(scorer_ids)))
        if scope := by_experiment_scope(sc.experiment_id):
            query = query.where(c.scorer_id.in_(sa.select(sc.scorer_id).where(*scope)))
        with self.db.read() as conn:
            rows = conn.execute(query)
            return [_config(r) for r in rows]

    # ---------------------------------------------------------------- the worker
    def active_scorers(self) -> list[ActiveScorer]:
        """Every started scorer (``sample_rate > 0``) in an active experiment, at its latest version."""
        c, sc, v, e = s.online_scoring_configs.c, s.scorers.c, s.scorer_versions.c, s.experiments.c
        top = (
            sa.select(v.scorer_id, sa.func.max(v.scorer_version).label("top"))
            .group_by(v.scorer_id)
            .subquery()
        )
        query = (
            sa.select(
                s.online_scoring_configs,
                sc.scorer_name,
                v.scorer_version,
                v.serialized_scorer,
                v.creation_time,
                v.created_by,
                e.workspace,
            )
            .join_from(s.online_scoring_configs, s.scorers, sc.scorer_id == c.scorer_id)
            .join(top, top.c.scorer_id == c.scorer_id)
            .join(s.scorer_versions, sa.and_(v.scorer_id == c.scorer_id, v.scorer_version == top.c.top))
            .join(s.experiments, e.experiment_id == sc.experiment_id)
            .where(c.sample_rate > 0, e.lifecycle_stage == "active")
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            ActiveScorer(_version(r, r.experiment_id, r.scorer_name), _config(r), r.workspace or DEFAULT_WORKSPACE)
            for r in rows
        ]

    def unjudged_traces(
        self,
        active: ActiveScorer,
        limit: int = 50,
        stale_before_ms: int | None = None,
        since_ms: int | None = None,
    ) -> list[tuple[str, int]]:
        """Finished traces of the scorer's experiment, begun since it was started (and ``since_ms``), not judged yet.

        ``(trace_id, timestamp_ms)`` pairs, oldest first: traces with no ledger row, and
        traces claimed before ``stale_before_ms`` whose worker never finished (it stopped).
        """
        t, j = s.trace_info.c, s.scorer_judged_traces.c
        taken = [
            j.request_id == t.request_id,
            j.scorer_id == active.version.scorer_id,
            j.scorer_version == active.version.scorer_version,
        ]
        if stale_before_ms is not None:
            taken.append(sa.or_(j.status != CLAIMED, j.claimed_time >= stale_before_ms))
        query = (
            sa.select(t.request_id, t.timestamp_ms)
            .where(
                t.experiment_id == int(active.config.experiment_id),
                t.timestamp_ms >= max(active.config.started_time, since_ms or 0),
                t.status != "IN_PROGRESS",
                ~sa.exists(sa.select(j.request_id).where(*taken)),
            )
            .order_by(t.timestamp_ms, t.request_id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [(r.request_id, int(r.timestamp_ms)) for r in conn.execute(query)]

    def claim(
        self,
        trace_id: str,
        active: ActiveScorer,
        status: str = CLAIMED,
        worker: str | None = None,
        stale_before_ms: int | None = None,
    ) -> bool:
        """Take ``trace_id`` for the scorer version: True for this caller only, whatever other workers do.

        Inserts the ledger row; when it exists, takes it over only if it is a claim made
        before ``stale_before_ms`` (a worker that stopped mid-judging).
        """
        now = int(time.time() * 1000)
        row = {
            "request_id": trace_id,
            "scorer_id": active.version.scorer_id,
            "scorer_version": active.version.scorer_version,
            "status": status,
            "claimed_time": now,
            "worker": (worker or "")[:100] or None,
        }
        j = s.scorer_judged_traces.c

        def write(conn: sa.Connection) -> bool:
            if conn.execute(_insert_if_absent(self.db.dialect, row)).rowcount:
                return True
            if stale_before_ms is None:
                return False
            taken = conn.execute(
                sa.update(s.scorer_judged_traces)
                .where(
                    j.request_id == trace_id,
                    j.scorer_id == row["scorer_id"],
                    j.scorer_version == row["scorer_version"],
                    j.status == CLAIMED,
                    j.claimed_time < stale_before_ms,
                )
                .values(status=status, claimed_time=now, worker=row["worker"])
            )
            return bool(taken.rowcount)

        return self.db.write(write)

    def finish(self, trace_id: str, active: ActiveScorer, status: str) -> None:
        """Record how the judging of a claimed trace ended (DONE, ERROR or SKIPPED)."""
        j = s.scorer_judged_traces.c

        def write(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(s.scorer_judged_traces)
                .where(
                    j.request_id == trace_id,
                    j.scorer_id == active.version.scorer_id,
                    j.scorer_version == active.version.scorer_version,
                )
                .values(status=status)
            )

        self.db.write(write)

    def release(self, trace_id: str, active: ActiveScorer) -> None:
        """Drop a claim so the trace is tried again later (its spans had not arrived yet)."""
        j = s.scorer_judged_traces.c

        def write(conn: sa.Connection) -> None:
            conn.execute(
                sa.delete(s.scorer_judged_traces).where(
                    j.request_id == trace_id,
                    j.scorer_id == active.version.scorer_id,
                    j.scorer_version == active.version.scorer_version,
                )
            )

        self.db.write(write)

    def ledger(self, scorer_id: str) -> dict[str, str]:
        """``{trace_id: status}`` of one scorer (every version): for tools and tests."""
        j = s.scorer_judged_traces.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(j.request_id, j.status).where(j.scorer_id == scorer_id))
            return {r.request_id: r.status for r in rows}


class _Obj:
    """Attribute access over a dict (a row built in Python)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _insert_if_absent(dialect: str, row: dict[str, Any]) -> Any:
    table = s.scorer_judged_traces
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).values(**row).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).values(**row).on_conflict_do_nothing()
    return sa.insert(table).values(**row).prefix_with("IGNORE")
