"""An AI gateway endpoint's tags and bindings, and mltrail's usage counters (SQL).

The part of :class:`mltrail.store.sql.gateway.SqlGatewayStore` that hangs off an
endpoint (the store mixes this class in): MLflow's endpoint tags and bindings,
and ``gateway_usage``, one row per endpoint and UTC day with the requests,
failed requests and input/output tokens the proxy saw. All of them are in their
endpoint's workspace: bindings and usage of another workspace's endpoints are not listed.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, not_found
from mltrail.store.sql import schema as s
from mltrail.store.sql._codec import now_ms
from mltrail.store.sql._workspace import registry_workspace

JSON = dict[str, Any]
_END, _TAG, _BIND, _USE = (
    s.gateway_endpoints,
    s.gateway_endpoint_tags,
    s.gateway_endpoint_bindings,
    s.gateway_usage,
)


def _workspace_endpoints() -> sa.Select:
    """The ids of the bound workspace's endpoints (``default``'s when none is bound)."""
    return sa.select(_END.c.endpoint_id).where(_END.c.workspace == registry_workspace())


def some(record: JSON) -> JSON:
    """``record`` without its unset (``None``) fields, as protobuf JSON leaves them out."""
    return {k: v for k, v in record.items() if v is not None}


class EndpointLinks:
    """Tags, bindings and usage of endpoints; needs ``self.db`` and ``self._endpoint_row``."""

    db: Any

    def _endpoint_row(self, conn: sa.Connection, endpoint_id: str | None, name: str | None = None) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------ tags, bindings
    def set_tag(self, endpoint_id: str, key: str, value: str | None) -> None:
        """Set (or replace) one endpoint tag."""

        def write(conn: sa.Connection) -> None:
            self._endpoint_row(conn, endpoint_id)
            where = sa.and_(_TAG.c.endpoint_id == endpoint_id, _TAG.c.key == key)
            conn.execute(_TAG.delete().where(where))
            conn.execute(_TAG.insert().values(endpoint_id=endpoint_id, key=key, value=value))

        self.db.write(write)

    def delete_tag(self, endpoint_id: str, key: str) -> None:
        """Remove one endpoint tag (nothing happens when it is not set)."""

        def write(conn: sa.Connection) -> None:
            self._endpoint_row(conn, endpoint_id)
            conn.execute(_TAG.delete().where(sa.and_(_TAG.c.endpoint_id == endpoint_id, _TAG.c.key == key)))

        self.db.write(write)

    def create_binding(
        self, endpoint_id: str, resource_type: str, resource_id: str, created_by: str | None
    ) -> JSON:
        """Bind an endpoint to a resource (e.g. a scorer)."""
        now = now_ms()
        row = {
            "endpoint_id": endpoint_id,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
        }

        def write(conn: sa.Connection) -> None:
            self._endpoint_row(conn, endpoint_id)
            conn.execute(_BIND.insert().values(**row))

        self.db.write(
            write, lambda err: MltrailException("The binding already exists", RESOURCE_ALREADY_EXISTS)
        )
        return some(row)

    def delete_binding(self, endpoint_id: str, resource_type: str, resource_id: str) -> None:
        """Remove one binding."""
        where = sa.and_(
            _BIND.c.endpoint_id == endpoint_id,
            _BIND.c.resource_type == resource_type,
            _BIND.c.resource_id == resource_id,
            _BIND.c.endpoint_id.in_(_workspace_endpoints()),
        )

        def write(conn: sa.Connection) -> None:
            if conn.execute(_BIND.delete().where(where)).rowcount == 0:
                raise not_found(
                    f"GatewayEndpointBinding not found (endpoint_id='{endpoint_id}', "
                    f"resource_type='{resource_type}', resource_id='{resource_id}')"
                )

        self.db.write(write)

    def list_bindings(self, **filters: str | None) -> list[JSON]:
        """Bindings, filtered by any of ``endpoint_id``, ``resource_type``, ``resource_id``."""
        query = sa.select(_BIND).where(_BIND.c.endpoint_id.in_(_workspace_endpoints()))
        for key, value in filters.items():
            if value:
                query = query.where(_BIND.c[key] == value)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_BIND.c.created_at)).all()
        return [some(r._asdict()) for r in rows]

    # -------------------------------------------------------------------- usage
    def record_usage(self, endpoint_id: str, input_tokens: int, output_tokens: int, failed: bool) -> None:
        """Add one request (and its tokens) to the endpoint's counters for today (UTC).

        ``endpoint_id`` is the one the proxy resolved in the request's workspace; not checked again.
        """
        day = time.strftime("%Y-%m-%d", time.gmtime())
        key = sa.and_(_USE.c.endpoint_id == endpoint_id, _USE.c.day == day)
        add = {
            "requests": 1,
            "errors": int(failed),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }

        def write(conn: sa.Connection) -> None:
            changed = conn.execute(
                _USE.update().where(key).values({_USE.c[k]: _USE.c[k] + v for k, v in add.items()})
            ).rowcount
            if not changed:
                conn.execute(_USE.insert().values(endpoint_id=endpoint_id, day=day, **add))

        self.db.write(write)

    def usage(self, endpoint_id: str | None = None) -> list[JSON]:
        """Per endpoint and day: requests, errors, input and output tokens (newest day first)."""
        query = sa.select(_USE, _END.c.name).select_from(
            _USE.join(_END, _END.c.endpoint_id == _USE.c.endpoint_id)
        ).where(_END.c.workspace == registry_workspace())
        if endpoint_id:
            query = query.where(_USE.c.endpoint_id == endpoint_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_USE.c.day.desc(), _END.c.name)).all()
        return [
            {
                "endpoint_id": r.endpoint_id,
                "endpoint_name": r.name,
                "day": r.day,
                "requests": r.requests,
                "errors": r.errors,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
            }
            for r in rows
        ]
