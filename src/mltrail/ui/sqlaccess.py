"""Experiment ids in UI query strings.

(The UI reads only through the :class:`~mltrail.store.tracking.TrackingStore`
interface: its fast reads are store methods, answered in SQL by the SQL store.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mltrail.exceptions import invalid

if TYPE_CHECKING:
    from starlette.requests import Request


def experiment_ints(experiment_ids: list[str]) -> list[int]:
    """Experiment ids as the integers the schema stores; a bad id is INVALID_PARAMETER_VALUE."""
    out = []
    for value in experiment_ids:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment id {value!r}") from None
    return out


def experiment_ids(request: Request) -> list[str]:
    """The ``experiment_ids`` (or ``experiment_id``) of a UI request, comma lists allowed; at least one."""
    raw = request.query_params.getlist("experiment_ids") or request.query_params.getlist("experiment_id")
    ids = [part for value in raw for part in value.split(",") if part]
    if not ids:
        raise invalid("experiment_ids is required")
    experiment_ints(ids)
    return ids
