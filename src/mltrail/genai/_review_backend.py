"""Where ``mltrail.genai.label_schemas`` and ``review_queues`` send their calls.

A server tracking URI goes through the REST API (``protocol/review.py``); a database URI
goes straight to :class:`mltrail.store.sql.review.SqlReviewStore`. Both answer in the same
wire form (MLflow's messages as JSON), so the SDK converts once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mltrail.protocol.routes import Route


class ReviewBackend:
    """The review endpoints of a server (REST) or the review tables of a database (SQL)."""

    def __init__(self) -> None:
        from mltrail.tracking import get_tracking_store  # import speed: genai loads no client until called

        store = get_tracking_store()
        self.http = getattr(store, "http", None)
        self.sql: Any = None
        if self.http is None:
            from mltrail.store.sql.review import SqlReviewStore

            self.sql = SqlReviewStore(store.db_uri)  # type: ignore[attr-defined]

    def call(self, route: Route, request: Any, local: Callable[[Any], Any]) -> Any:
        """``route`` with ``request`` over REST, or ``local(sql_store)`` on a database."""
        if self.http is not None:
            return self.http.send(route, request)
        return local(self.sql)


def resolve_experiment(experiment_id: str | None) -> str:
    """The given experiment, else the current one (the active experiment or the default)."""
    if experiment_id is not None:
        return str(experiment_id)
    from mltrail.tracking import context  # import speed: genai loads no client until called

    return context.experiment_id()
