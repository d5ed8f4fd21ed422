"""Read MLflow 3's GenAI tables of an MLflow database: traces (``trace_info``, ``trace_tags``,
``trace_request_metadata``, ``spans``, ``assessments``) and logged models (``logged_models``,
``logged_model_tags``, ``logged_model_params``).

The tables are the reflected ones of :class:`.mlflow_db.MlflowDbSource`; a table an
older MLflow lacks is simply not read. Spans written before MLflow kept them in the
database (``mlflow.trace.spansLocation`` is not ``TRACKING_STORE``) are read from the
trace's artifact folder (``traces.json``) when it can be opened.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mltrail.artifacts import get_artifact_repository
from mltrail.entities.assessment import Assessment, ExpectationValue
from mltrail.entities.logged_model import LoggedModel, LoggedModelStatus
from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo, TraceTagKey
from mltrail.entities.tracking import Metric
from mltrail.migration.source import (
    SPAN_READ_ERRORS,
    LoggedModelRecord,
    artifact_spans,
)

_PAGE = 200


def _rfc3339(ms: int | None) -> str:
    moment = datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def assessment_from_row(m: Any) -> Assessment:
    """MLflow's ``assessments`` row as the wire form (``Feedback`` or ``Expectation``); mltrail's own
    table (``mltrail export``) keeps the wire form whole in ``content``."""
    if m.get("content"):
        return Assessment.from_proto_json(json.loads(m["content"]))
    d: dict[str, Any] = {
        "assessment_id": m["assessment_id"],
        "assessment_name": m["name"],
        "trace_id": m["trace_id"],
        "source": {"source_type": m["source_type"], "source_id": m.get("source_id") or ""},
        "create_time": _rfc3339(m.get("created_timestamp")),
        "last_update_time": _rfc3339(m.get("last_updated_timestamp")),
    }
    value = _json(m.get("value"))
    if m["assessment_type"] == "expectation":
        d["expectation"] = ExpectationValue(value).to_proto_json()
    else:
        d["feedback"] = {"value": value}
        error = _json(m.get("error"))
        if isinstance(error, dict):
            d["feedback"]["error"] = error
    for key in ("span_id", "rationale", "overrides", "run_id"):
        if m.get(key):
            d[key] = m[key]
    if m.get("valid") is not None:
        d["valid"] = bool(m["valid"])
    metadata = _json(m.get("assessment_metadata"))
    if isinstance(metadata, dict) and metadata:
        d["metadata"] = {str(k): str(v) for k, v in metadata.items()}
    return Assessment.from_proto_json(d)


class GenaiTables:
    """Traces and logged models of one MLflow database (``rows`` runs a query)."""

    def __init__(self, tables: dict[str, sa.Table], rows: Callable[[sa.Select], list[sa.Row]]) -> None:
        self.t = tables
        self._rows = rows
        #: traces whose spans could not be read, with why (listed by the import)
        self.unreadable: list[tuple[str, str]] = []

    def _kv(
        self, table: str, key_col: str, val_col: str, id_col: str, ids: list[str]
    ) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = defaultdict(dict)
        if table not in self.t:
            return out
        t = self.t[table].c
        for row in self._rows(sa.select(t[id_col], t[key_col], t[val_col]).where(t[id_col].in_(ids))):
            out[row[0]][row[1]] = "" if row[2] is None else str(row[2])
        return out

    # ------------------------------------------------------------------ traces
    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces, oldest first, with spans and assessments."""
        if "trace_info" not in self.t:
            return
        ti = self.t["trace_info"]
        rows = self._rows(
            sa.select(ti)
            .where(ti.c.experiment_id == int(experiment_id))
            .order_by(ti.c.timestamp_ms, ti.c.request_id)
        )
        for start in range(0, len(rows), _PAGE):
            chunk = rows[start : start + _PAGE]
            ids = [r.request_id for r in chunk]
            tags = self._kv("trace_tags", "key", "value", "request_id", ids)
            meta = self._kv("trace_request_metadata", "key", "value", "request_id", ids)
            spans = self._spans(ids)
            judged = self._assessments(ids)
            for row in chunk:
                m = row._mapping
                trace_id = m["request_id"]
                info = TraceInfo(
                    trace_id=trace_id,
                    experiment_id=str(m["experiment_id"]),
                    request_time=int(m["timestamp_ms"] or 0),
                    execution_duration=m.get("execution_time_ms"),
                    state=str(m.get("status") or "OK"),
                    trace_metadata=meta.get(trace_id, {}),
                    tags=tags.get(trace_id, {}),
                    client_request_id=m.get("client_request_id"),
                    request_preview=m.get("request_preview"),
                    response_preview=m.get("response_preview"),
                    assessments=list(judged.get(trace_id, [])),
                )
                found = spans.get(trace_id)
                if found is None:
                    found = self._artifact_spans(trace_id, info.tags.get(TraceTagKey.ARTIFACT_LOCATION))
                yield Trace(info, TraceData(found))

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces :meth:`traces` yields, counted in SQL (``since_ms`` as the import's cut-off)."""
        if "trace_info" not in self.t:
            return 0
        ti = self.t["trace_info"]
        query = sa.select(sa.func.count()).where(ti.c.experiment_id == int(experiment_id))
        if since_ms is not None:
            query = query.where(ti.c.timestamp_ms >= since_ms)
        return int(self._rows(query)[0][0])

    def _spans(self, ids: list[str]) -> dict[str, list[Span]]:
        if "spans" not in self.t:
            return {}
        s = self.t["spans"].c
        out: dict[str, list[Span]] = defaultdict(list)
        query = sa.select(s.trace_id, s.content).where(s.trace_id.in_(ids))
        for row in self._rows(query.order_by(s.trace_id, s.start_time_unix_nano, s.span_id)):
            out[row.trace_id].append(Span.from_dict(json.loads(row.content)))
        return out

    def _artifact_spans(self, trace_id: str, location: str | None) -> list[Span]:
        """Spans kept in the trace's artifacts (MLflow before its ``spans`` table, or a file store)."""
        if not location:
            return []
        try:
            return artifact_spans(get_artifact_repository(location))
        except SPAN_READ_ERRORS as err:
            self.unreadable.append((trace_id, f"its spans at {location} cannot be read: {err}"))
            return []

    def _assessments(self, ids: list[str]) -> dict[str, list[Assessment]]:
        if "assessments" not in self.t:
            return {}
        a = self.t["assessments"]
        out: dict[str, list[Assessment]] = defaultdict(list)
        query = sa.select(a).where(a.c.trace_id.in_(ids)).order_by(a.c.created_timestamp, a.c.assessment_id)
        for row in self._rows(query):
            out[row.trace_id].append(assessment_from_row(row._mapping))
        return out

    # ----------------------------------------------------------- logged models
    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's logged models (deleted ones tagged by ``lifecycle_stage``), oldest first."""
        if "logged_models" not in self.t:
            return []
        lm = self.t["logged_models"]
        rows = self._rows(
            sa.select(lm)
            .where(lm.c.experiment_id == int(experiment_id))
            .order_by(lm.c.creation_timestamp_ms, lm.c.model_id)
        )
        ids = [r.model_id for r in rows]
        tags = self._kv("logged_model_tags", "tag_key", "tag_value", "model_id", ids)
        params = self._kv("logged_model_params", "param_key", "param_value", "model_id", ids)
        metrics = self._model_metrics(ids)
        out = []
        for row in rows:
            m = row._mapping
            model = LoggedModel(
                model_id=m["model_id"],
                experiment_id=str(m["experiment_id"]),
                name=m["name"],
                artifact_location=m["artifact_location"],
                creation_timestamp=m["creation_timestamp_ms"],
                last_updated_timestamp=m["last_updated_timestamp_ms"],
                status=LoggedModelStatus.from_proto(m["status"]),
                model_type=m.get("model_type"),
                source_run_id=m.get("source_run_id"),
                status_message=m.get("status_message"),
                tags=tags.get(m["model_id"], {}),
                params=params.get(m["model_id"], {}),
                metrics=metrics.get(m["model_id"], []),
            )
            out.append(LoggedModelRecord(model, deleted=m.get("lifecycle_stage") == "deleted"))
        return out

    def _model_metrics(self, ids: list[str]) -> dict[str, list[Metric]]:
        """``logged_model_metrics`` rows of the models (every run, step and dataset), by model."""
        out: dict[str, list[Metric]] = defaultdict(list)
        if "logged_model_metrics" not in self.t or not ids:
            return out
        table = self.t["logged_model_metrics"]
        t = table.c
        query = sa.select(table).where(t.model_id.in_(ids))
        for row in self._rows(
            query.order_by(t.model_id, t.metric_name, t.metric_step, t.metric_timestamp_ms)
        ):
            value = math.nan if row.metric_value is None else float(row.metric_value)
            dataset = (row.dataset_name or None, row.dataset_digest or None)
            point = (int(row.metric_timestamp_ms), int(row.metric_step))
            out[row.model_id].append(
                Metric(row.metric_name, value, *point, *dataset, row.run_id, row.model_id)
            )
        return out
