"""Entities to MLflow's JSON shapes, leaving out empty (None) fields like protobuf JSON does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mltrail.entities import Experiment, Metric, PagedList, Run, RunInfo


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def experiment_json(exp: Experiment) -> dict[str, Any]:
    """``Experiment`` as MLflow's JSON."""
    return _compact(exp.to_dict())


def run_info_json(info: RunInfo) -> dict[str, Any]:
    """``RunInfo`` as MLflow's JSON."""
    return _compact(info.to_dict())


def metric_json(metric: Metric) -> dict[str, Any]:
    """``Metric`` as MLflow's JSON (NaN and infinities as strings)."""
    return metric.to_dict()


def run_json(run: Run) -> dict[str, Any]:
    """``Run`` (info, data, inputs) as MLflow's JSON."""
    d = run.to_dict()
    d["info"] = _compact(d["info"])
    return d


def page_json(field: str, page: PagedList, encode: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A page of results in MLflow's shape: ``{field: [...], "next_page_token": ...}`` (token only if any)."""
    out: dict[str, Any] = {field: [encode(item) for item in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out
