"""Experiment ids in UI query strings.

(The UI reads only through the :class:`~mltrail.store.tracking.TrackingStore`
interface: its fast reads are store methods, answered in SQL by the SQL store.)
"""

from __future__ import annotations

from mltrail.exceptions import invalid


def experiment_ints(experiment_ids: list[str]) -> list[int]:
    """Experiment ids as the integers the schema stores; a bad id is INVALID_PARAMETER_VALUE."""
    out = []
    for value in experiment_ids:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment id {value!r}") from None
    return out
