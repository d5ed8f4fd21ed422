"""Runs as MLflow's REST JSON straight from SQL rows: the server's ``runs/get`` and search pages.

:func:`mltrail.store.sql._load.load_runs` builds entity objects (``Run``, ``Metric``
...) and the server then turned each into its JSON dict: on ``runs/get`` and a search
page that was about a third of the server's CPU. :func:`load_runs_json` reads the
same rows with the same statements in the same read transaction and builds the dicts
``mltrail.server.wire.run_json(run)`` gives for those entities, key for key and in the
same order (``tests/store/test_run_json.py`` holds the two side by side on runs with
every kind of child row), so a client cannot tell which path answered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from mltrail.store.sql._codec import DBL_MAX
from mltrail.store.sql._load import (
    _INPUT_TAGS,
    _INPUTS,
    _LATEST,
    _LATEST_ONE,
    _PARAMS,
    _PARAMS_ONE,
    _RUNS,
    _TAGS,
    _TAGS_ONE,
    _rows,
)
from mltrail.store.sql._run_models import RUN_INPUT, links_statement
from mltrail.store.sql.engine import DriverRead

_isfinite = math.isfinite
_run_of = itemgetter(0)  # a child row's run id


def _metric_value(value: float | None) -> float | str:
    """A stored metric value (``None`` for NaN, see ``_load._LATEST``) as MLflow's JSON spells it
    (see ``_codec.encode_value``)."""
    if value is None:
        return "NaN"
    if value >= DBL_MAX:
        return "Infinity"
    if value <= -DBL_MAX:
        return "-Infinity"
    if _isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def load_runs_json(conn: sa.Connection | DriverRead, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The runs with these ids as MLflow's JSON (``{"info", "data", "inputs"[, "outputs"]}``), in
    the order given; unknown ids are skipped."""
    if not run_ids:
        return []
    found: dict[str, dict[str, Any]] = {}
    linked: list[str] = []  # the runs that may have dataset inputs or model links
    rows = _rows(conn, _RUNS, run_ids)
    for run_uuid, name, user_id, status, start_time, end_time, uri, stage, exp_id, has_inputs in rows:
        # RunInfo.to_dict without its None values (wire.run_json drops them)
        info: dict[str, Any] = {
            "run_uuid": run_uuid,
            "run_id": run_uuid,
            "run_name": name or "",
            "experiment_id": str(exp_id),
            "user_id": user_id or "",
        }
        if status is not None:
            info["status"] = status
        if start_time is not None:
            info["start_time"] = start_time
        info["artifact_uri"] = uri or ""
        if stage is not None:
            info["lifecycle_stage"] = stage
        if end_time is not None:
            info["end_time"] = end_time
        found[run_uuid] = {
            "info": info,
            "data": {"metrics": [], "params": [], "tags": []},
            "inputs": {"dataset_inputs": []},
        }
        if has_inputs:
            linked.append(run_uuid)
    if not found:
        return []
    ids = list(found)
    # Stored values are finite unless NaN (None here) or clamped to ±DBL_MAX: one comparison
    # chain per metric, and the spelled-out cases in _metric_value.
    lo, hi = -DBL_MAX, DBL_MAX
    if len(ids) == 1:  # runs/get: every row is this run's (statements without the run id)
        data = found[ids[0]]["data"]
        data["metrics"] = [
            {
                "key": key,
                "value": value if value is not None and lo < value < hi else _metric_value(value),
                "timestamp": timestamp,
                "step": step,
            }
            for key, value, timestamp, step in _rows(conn, _LATEST_ONE, ids)
        ]
        data["params"] = [{"key": key, "value": value} for key, value in _rows(conn, _PARAMS_ONE, ids)]
        data["tags"] = [
            {"key": key, "value": value if value is not None else ""}
            for key, value in _rows(conn, _TAGS_ONE, ids)
        ]
    else:  # a page: each statement gives a run's rows together, in key order (see _load)
        for run_id, rows in groupby(_rows(conn, _LATEST, ids), _run_of):
            found[run_id]["data"]["metrics"].extend(
                [
                    {
                        "key": key,
                        "value": value if value is not None and lo < value < hi else _metric_value(value),
                        "timestamp": timestamp,
                        "step": step,
                    }
                    for _, key, value, timestamp, step in rows
                ]
            )
        for run_id, rows in groupby(_rows(conn, _PARAMS, ids), _run_of):
            found[run_id]["data"]["params"].extend([{"key": key, "value": value} for _, key, value in rows])
        for run_id, rows in groupby(_rows(conn, _TAGS, ids), _run_of):
            found[run_id]["data"]["tags"].extend(
                [{"key": key, "value": value if value is not None else ""} for _, key, value in rows]
            )
    if linked:
        _inputs_json(conn, found, linked)
        _links_json(found, _rows(conn, links_statement(), linked))
    return [found[i] for i in run_ids if i in found]


def _inputs_json(conn: sa.Connection | DriverRead, found: dict[str, dict[str, Any]], ids: list[str]) -> None:
    """Dataset inputs as ``DatasetInput.to_dict`` gives them (tags first, then the dataset)."""
    by_input: dict[str, list[dict[str, Any]]] = {}
    for run_id, input_uuid, name, digest, source_type, source, schema, profile in _rows(conn, _INPUTS, ids):
        dataset: dict[str, Any] = {"name": name, "digest": digest, "source_type": source_type, "source": source}
        if schema is not None:
            dataset["schema"] = schema
        if profile is not None:
            dataset["profile"] = profile
        tags: list[dict[str, Any]] = []
        by_input[input_uuid] = tags
        found[run_id]["inputs"]["dataset_inputs"].append({"tags": tags, "dataset": dataset})
    if by_input:
        for input_uuid, name, value in _rows(conn, _INPUT_TAGS, list(by_input)):
            by_input[input_uuid].append({"key": name, "value": value})


def _links_json(found: dict[str, dict[str, Any]], rows: Sequence[tuple]) -> None:
    """Model links: ``inputs.model_inputs`` and ``outputs.model_outputs``, each only when not empty."""
    for run_id, kind, model_id, step in rows:
        run = found.get(run_id)
        if run is None:
            continue
        if kind == RUN_INPUT:
            run["inputs"].setdefault("model_inputs", []).append({"model_id": model_id})
        else:
            outputs = run.setdefault("outputs", {"model_outputs": []})
            outputs["model_outputs"].append({"model_id": model_id, "step": int(step or 0)})
