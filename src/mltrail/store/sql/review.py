"""Review queues on the tracking database (MLflow 3.14's human review), over the label schemas.

What ``/api/3.0/mlflow/label-schemas/…`` and ``/review-queues/…`` reach
(:mod:`mltrail.server.handlers.review`) and what ``mltrail.genai.label_schemas`` /
``review_queues`` use on a database URI. Every method answers in the wire form (MLflow's
``LabelSchema`` / ``ReviewQueue`` / ``ReviewQueueItem`` messages as JSON, enum names as
strings), so the REST API, the SDK and the UI share one shape. Rules: see
:mod:`mltrail.store.review_rules`.

* a schema is unique by ``(experiment, name)``; listing an experiment's schemas first
  seeds its protected default question ("Feedback", free text), which cannot be edited
  or deleted;
* a queue is unique by ``(experiment, name)`` without case; a *user* queue belongs to one
  reviewer and asks all of the experiment's questions, a *custom* queue asks the
  schemas attached to it (frozen once it holds items);
* each item has one shared status (PENDING, COMPLETE, DECLINED); answers are not stored
  here but as assessments on the trace;
* with a workspace bound a queue (and so its users, questions and items) belongs to the
  workspace of its experiment, as in MLflow: another workspace's queue is not found.

Example::

    store = SqlReviewStore("sqlite:///mltrail.db")
    schema = store.create_label_schema("1", "tone", "FEEDBACK", {"categorical": {"options": ["ok", "rude"]}})
    queue = store.create_review_queue("1", "triage", "CUSTOM", users=["ann"], schema_ids=[schema["schema_id"]])
    store.add_items(queue["queue_id"], ["tr-123"])
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, invalid
from mltrail.store import review_rules as rules
from mltrail.store.paging import decode_page_token
from mltrail.store.sql import schema as s
from mltrail.store.sql._workspace import by_experiment_scope
from mltrail.store.sql.label_schemas import SqlLabelSchemaStore, exists, missing, now_ms, page
from mltrail.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD

_LS, _RQ = s.label_schemas, s.review_queues
_RQU, _RQS, _RQI = s.review_queue_users, s.review_queue_label_schemas, s.review_queue_items


def _item_wire(row: Any) -> dict[str, Any]:
    out = {
        "queue_id": row.queue_id,
        "item_type": row.item_type,
        "item_id": row.item_id,
        "status": row.status,
        "creation_time_ms": int(row.creation_time_ms),
        "last_update_time_ms": int(row.last_update_time_ms),
    }
    if row.completed_by is not None:
        out["completed_by"] = row.completed_by
        out["completed_time_ms"] = int(row.completed_time_ms)
    return out


class SqlReviewStore(SqlLabelSchemaStore):
    """Label schemas (inherited), review queues and their items, on the tracking database."""

    @staticmethod
    def _queue_where(queue_id: str) -> list[sa.ColumnElement[bool]]:
        """The queue ``queue_id``, when its experiment is in the bound workspace."""
        return [_RQ.c.queue_id == queue_id, *by_experiment_scope(_RQ.c.experiment_id)]

    @classmethod
    def _queue_row(cls, conn: sa.Connection, queue_id: str) -> Any:
        row = conn.execute(sa.select(_RQ).where(*cls._queue_where(queue_id))).first()
        if row is None:
            raise missing(f"Review queue with id '{queue_id}' not found.")
        return row

    @staticmethod
    def _queues_wire(conn: sa.Connection, rows: list[Any]) -> list[dict[str, Any]]:
        ids = [r.queue_id for r in rows]
        users: dict[str, list[str]] = {i: [] for i in ids}
        schemas: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for q, u in conn.execute(
                sa.select(_RQU.c.queue_id, _RQU.c.user_id)
                .where(_RQU.c.queue_id.in_(ids))
                .order_by(_RQU.c.user_id)
            ):
                users[q].append(u)
            for q, sid in conn.execute(
                sa.select(_RQS.c.queue_id, _RQS.c.schema_id)
                .where(_RQS.c.queue_id.in_(ids))
                .order_by(_RQS.c.schema_id)
            ):
                schemas[q].append(sid)
        out = []
        for r in rows:
            wire = {
                "queue_id": r.queue_id,
                "experiment_id": str(r.experiment_id),
                "name": r.name,
                "queue_type": r.queue_type,
                "creation_time_ms": int(r.creation_time_ms),
                "last_update_time_ms": int(r.last_update_time_ms),
                "users": users[r.queue_id],
                "schema_ids": schemas[r.queue_id],
            }
            if r.created_by is not None:
                wire["created_by"] = r.created_by
            out.append(wire)
        return out

    @staticmethod
    def _check_schemas_in(conn: sa.Connection, eid: int, schema_ids: list[str]) -> None:
        if not schema_ids:
            return
        found = set(
            conn.execute(
                sa.select(_LS.c.schema_id).where(_LS.c.experiment_id == eid, _LS.c.schema_id.in_(schema_ids))
            ).scalars()
        )
        missing = [i for i in schema_ids if i not in found]
        if missing:
            raise invalid(f"Label schema id(s) {missing} not found for experiment '{eid}'.")

    # ------------------------------------------------------------ review queues
    def create_review_queue(
        self,
        experiment_id: str,
        name: Any,
        queue_type: Any,
        users: Any = None,
        schema_ids: Any = None,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """A new queue; ``RESOURCE_ALREADY_EXISTS`` when the experiment has one of that name (any case)."""
        kind, name_n, users_n, schema_ids_n = rules.check_new_queue(name, queue_type, users, schema_ids)
        taken = exists(f"Review queue with name '{name_n}' already exists (names are case-insensitive).")

        def write(conn: sa.Connection) -> dict[str, Any]:
            eid = self._active_experiment(conn, experiment_id)
            self._check_schemas_in(conn, eid, schema_ids_n)
            clash = sa.select(_RQ.c.queue_id).where(
                _RQ.c.experiment_id == eid, _RQ.c.name_key == name_n.lower()
            )
            if conn.execute(clash).first():
                raise taken
            now, queue_id = now_ms(), f"rq-{uuid.uuid4().hex}"
            conn.execute(
                sa.insert(_RQ).values(
                    queue_id=queue_id,
                    experiment_id=eid,
                    name=name_n,
                    name_key=name_n.lower(),
                    queue_type=kind,
                    created_by=created_by,
                    creation_time_ms=now,
                    last_update_time_ms=now,
                )
            )
            if users_n:
                conn.execute(sa.insert(_RQU), [{"queue_id": queue_id, "user_id": u} for u in users_n])
            if schema_ids_n:
                conn.execute(sa.insert(_RQS), [{"queue_id": queue_id, "schema_id": i} for i in schema_ids_n])
            return self._queues_wire(conn, [self._queue_row(conn, queue_id)])[0]

        return self.db.write(write, conflict=lambda _err: taken)

    def get_or_create_user_queue(self, experiment_id: str, user: Any) -> dict[str, Any]:
        """The reviewer's own queue, created (owned by them) when absent."""
        name = rules.normalize_user(user)
        try:
            return self.create_review_queue(experiment_id, name, "USER", created_by=name)
        except MltrailException as err:
            if err.error_code != RESOURCE_ALREADY_EXISTS:
                raise
        queue = self.get_review_queue_by_name(experiment_id, name)
        if queue["queue_type"] != "USER":
            raise exists(
                f"A non-user queue named '{name}' already exists; cannot get-or-create a user queue with that name."
            )
        return queue

    def get_review_queue(self, queue_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._queues_wire(conn, [self._queue_row(conn, queue_id)])[0]

    def get_review_queue_by_name(self, experiment_id: str, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            eid = self._active_experiment(conn, experiment_id)
            row = conn.execute(
                sa.select(_RQ).where(_RQ.c.experiment_id == eid, _RQ.c.name_key == str(name).strip().lower())
            ).first()
            if row is None:
                raise missing(f"Review queue with name '{name}' not found for experiment '{experiment_id}'.")
            return self._queues_wire(conn, [row])[0]

    def list_review_queues(
        self,
        experiment_id: str,
        user: str | None = None,
        item_id: str | None = None,
        max_results: Any = None,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The experiment's queues, newest first; only those assigned to ``user`` / holding ``item_id`` when given."""
        limit = rules.check_max_results(max_results, limit=SEARCH_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            eid = self._active_experiment(conn, experiment_id)
            query = sa.select(_RQ).where(_RQ.c.experiment_id == eid)
            if user:
                query = query.where(
                    _RQ.c.queue_id.in_(
                        sa.select(_RQU.c.queue_id).where(_RQU.c.user_id == rules.normalize_user(user))
                    )
                )
            if item_id:
                query = query.where(
                    _RQ.c.queue_id.in_(sa.select(_RQI.c.queue_id).where(_RQI.c.item_id == item_id))
                )
            rows = conn.execute(
                query.order_by(_RQ.c.creation_time_ms.desc(), _RQ.c.queue_id).offset(offset).limit(limit + 1)
            ).all()
            rows, token = page(rows, offset, limit)
            return self._queues_wire(conn, rows), token

    def update_review_queue(
        self,
        queue_id: str,
        name: str | None = None,
        new_owner: str | None = None,
        users: list[str] | None = None,
        schema_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Rename, reassign, or change the users / questions of a custom queue (``None``: unchanged)."""
        new_name = rules.check_custom_queue_name(name) if name is not None else None
        owner = None
        if new_owner is not None:
            owner = new_owner.strip() if isinstance(new_owner, str) else new_owner
            rules.normalize_user(owner)
        users_n = rules.normalize_users(users) if users is not None else None
        schema_ids_n = (
            rules.normalize_ids(schema_ids, "schema_ids", rules.SCHEMA_ID_MAX)
            if schema_ids is not None
            else None
        )

        def write(conn: sa.Connection) -> dict[str, Any]:
            row = self._queue_row(conn, queue_id)
            if row.queue_type == "USER":
                raise invalid(
                    "A user queue's name, assigned user, schemas, and owner are fixed and cannot be updated."
                )
            values: dict[str, Any] = {"last_update_time_ms": now_ms()}
            if owner is not None:
                values["created_by"] = owner
            if new_name is not None and new_name != row.name:
                if new_name.lower() != row.name_key:
                    clash = sa.select(_RQ.c.queue_id).where(
                        _RQ.c.experiment_id == row.experiment_id, _RQ.c.name_key == new_name.lower()
                    )
                    if conn.execute(clash).first():
                        raise exists(
                            f"Review queue with name '{new_name}' already exists (names are case-insensitive)."
                        )
                values.update(name=new_name, name_key=new_name.lower())
            if users_n is not None:
                conn.execute(sa.delete(_RQU).where(_RQU.c.queue_id == queue_id))
                if users_n:
                    conn.execute(sa.insert(_RQU), [{"queue_id": queue_id, "user_id": u} for u in users_n])
            if schema_ids_n is not None:
                if conn.execute(
                    sa.select(_RQI.c.item_id).where(_RQI.c.queue_id == queue_id).limit(1)
                ).first():
                    raise invalid(
                        "A review queue's questions are locked once items are assigned to it. "
                        "Remove the items before changing its questions."
                    )
                self._check_schemas_in(conn, row.experiment_id, schema_ids_n)
                conn.execute(sa.delete(_RQS).where(_RQS.c.queue_id == queue_id))
                if schema_ids_n:
                    conn.execute(
                        sa.insert(_RQS), [{"queue_id": queue_id, "schema_id": i} for i in schema_ids_n]
                    )
            conn.execute(sa.update(_RQ).where(_RQ.c.queue_id == queue_id).values(**values))
            return self._queues_wire(conn, [self._queue_row(conn, queue_id)])[0]

        return self.db.write(write)

    def delete_review_queue(self, queue_id: str) -> None:
        """Delete a queue with its users, questions and items (no-op when unknown); assessments stay."""

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_RQ.c.queue_id).where(*self._queue_where(queue_id))).first() is None:
                return
            for table in (_RQU, _RQS, _RQI):
                conn.execute(sa.delete(table).where(table.c.queue_id == queue_id))
            conn.execute(sa.delete(_RQ).where(_RQ.c.queue_id == queue_id))

        self.db.write(write)

    # ------------------------------------------------------------ items
    def add_items(self, queue_id: str, item_ids: Any, item_type: Any = "TRACE") -> list[dict[str, Any]]:
        """Attach traces of the queue's experiment (PENDING); re-attaching keeps an item's status."""
        kind = rules.enum_name(item_type, rules.ITEM_TYPES, "item_type", required=False) or "TRACE"
        ids = rules.normalize_ids(item_ids, "item_ids", rules.ITEM_ID_MAX, non_empty=True)

        def write(conn: sa.Connection) -> list[dict[str, Any]]:
            queue = self._queue_row(conn, queue_id)
            ti = s.trace_info.c
            owners = dict(
                conn.execute(sa.select(ti.request_id, ti.experiment_id).where(ti.request_id.in_(ids))).all()
            )
            foreign = [i for i in ids if str(owners.get(i)) != str(queue.experiment_id)]
            if foreign:
                raise missing(
                    f"Cannot attach trace(s) {foreign} to review queue '{queue_id}': "
                    f"they do not exist in experiment '{queue.experiment_id}'."
                )
            have = set(
                conn.execute(
                    sa.select(_RQI.c.item_id).where(_RQI.c.queue_id == queue_id, _RQI.c.item_id.in_(ids))
                ).scalars()
            )
            now = now_ms()
            new = [
                {
                    "queue_id": queue_id,
                    "item_id": i,
                    "item_type": kind,
                    "status": "PENDING",
                    "creation_time_ms": now,
                    "last_update_time_ms": now,
                }
                for i in ids
                if i not in have
            ]
            if new:
                conn.execute(sa.insert(_RQI), new)
            rows = {
                r.item_id: r
                for r in conn.execute(
                    sa.select(_RQI).where(_RQI.c.queue_id == queue_id, _RQI.c.item_id.in_(ids))
                )
            }
            return [_item_wire(rows[i]) for i in ids]

        # A concurrent attach of the same trace: run again, it now finds the row and keeps it.
        return self.db.write(write, conflict=lambda _err: None) or self.db.write(write)

    def remove_items(self, queue_id: str, item_ids: Any) -> None:
        ids = rules.normalize_ids(item_ids, "item_ids", rules.ITEM_ID_MAX, non_empty=True)

        def write(conn: sa.Connection) -> None:
            self._queue_row(conn, queue_id)
            conn.execute(sa.delete(_RQI).where(_RQI.c.queue_id == queue_id, _RQI.c.item_id.in_(ids)))

        self.db.write(write)

    def list_items(
        self, queue_id: str, status: Any = None, max_results: Any = None, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The queue's items, newest attached first (one status only when given)."""
        wanted = rules.enum_name(status, rules.STATUSES, "status", required=False)
        limit = rules.check_max_results(max_results, limit=SEARCH_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            self._queue_row(conn, queue_id)
            query = sa.select(_RQI).where(_RQI.c.queue_id == queue_id)
            if wanted:
                query = query.where(_RQI.c.status == wanted)
            rows = conn.execute(
                query.order_by(_RQI.c.creation_time_ms.desc(), _RQI.c.item_id).offset(offset).limit(limit + 1)
            ).all()
        rows, token = page(rows, offset, limit)
        return [_item_wire(r) for r in rows], token

    def set_item_status(
        self, queue_id: str, item_id: str, status: Any, completed_by: Any = None
    ) -> dict[str, Any]:
        """Complete or decline an item (recording who), or reopen it (clearing who)."""
        new, who = rules.check_status_change(status, completed_by)
        item_id = str(item_id).strip()

        def write(conn: sa.Connection) -> dict[str, Any]:
            self._queue_row(conn, queue_id)
            where = (_RQI.c.queue_id == queue_id, _RQI.c.item_id == item_id)
            if conn.execute(sa.select(_RQI.c.item_id).where(*where)).first() is None:
                raise missing(f"Item '{item_id}' is not attached to review queue '{queue_id}'.")
            now = now_ms()
            conn.execute(
                sa.update(_RQI)
                .where(*where)
                .values(
                    status=new,
                    completed_by=who,
                    completed_time_ms=now if who else None,
                    last_update_time_ms=now,
                )
            )
            return _item_wire(conn.execute(sa.select(_RQI).where(*where)).one())

        return self.db.write(write)

    def queue_experiment(self, queue_id: str) -> str | None:
        """The experiment of a queue (None when unknown): what permission checks look at."""
        with self.db.read() as conn:
            eid = conn.execute(sa.select(_RQ.c.experiment_id).where(*self._queue_where(queue_id))).scalar()
        return None if eid is None else str(eid)
