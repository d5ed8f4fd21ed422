"""Label schemas on the tracking database (MLflow 3.14's ``mlflow.genai.label_schemas``).

The questions a reviewer answers about a trace: unique by ``(experiment, name)``, typed
FEEDBACK or EXPECTATION, with an input widget (pass/fail, categorical, numeric, text).
Listing an experiment's schemas first seeds its protected default question ("Feedback",
free text), which cannot be edited or deleted. Answers are assessments on the trace, not
rows here. :class:`mltrail.store.sql.review.SqlReviewStore` adds the review queues.

With a workspace bound (``mltrail server --enable-workspaces``) a schema belongs to the
workspace of its experiment, as in MLflow: another workspace's schema is not found (and
deleting it does nothing), its experiment is ``RESOURCE_DOES_NOT_EXIST``.

Example::

    store = SqlReviewStore("sqlite:///mltrail.db")
    schema = store.create_label_schema("1", "tone", "FEEDBACK", {"categorical": {"options": ["ok", "rude"]}})
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store import review_rules as rules
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql import schema as s
from mltrail.store.sql._workspace import by_experiment_scope, experiment_scope
from mltrail.store.sql.database import database_for
from mltrail.store.tracking import SEARCH_MAX_RESULTS_THRESHOLD

_LS, _RQS = s.label_schemas, s.review_queue_label_schemas


def now_ms() -> int:
    return int(time.time() * 1000)


def _experiment_int(experiment_id: Any) -> int:
    try:
        return int(str(experiment_id))
    except ValueError:
        raise invalid(f"Invalid experiment ID: {experiment_id!r}") from None


def exists(message: str) -> MltrailException:
    return MltrailException(message, RESOURCE_ALREADY_EXISTS)


def missing(message: str) -> MltrailException:
    return MltrailException(message, RESOURCE_DOES_NOT_EXIST)


def _schema_wire(row: Any) -> dict[str, Any]:
    out = {
        "schema_id": row.schema_id,
        "experiment_id": str(row.experiment_id),
        "name": row.name,
        "type": row.schema_type,
        "enable_comment": bool(row.enable_comment),
        "input": json.loads(row.input_json),
        "created_at": int(row.created_time),
        "last_updated_at": int(row.last_update_time),
        "is_default": bool(row.is_default),
    }
    if row.instruction is not None:
        out["instruction"] = row.instruction
    if row.created_by is not None:
        out["created_by"] = row.created_by
    return out


def page(rows: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    if len(rows) > limit:
        return rows[:limit], encode_page_token(offset + limit)
    return rows, None


class SqlLabelSchemaStore:
    """An experiment's label schemas, on the tracking database."""

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.db.ensure_schema()

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _active_experiment(conn: sa.Connection, experiment_id: Any) -> int:
        eid = _experiment_int(experiment_id)
        stage = conn.execute(
            sa.select(s.experiments.c.lifecycle_stage).where(
                s.experiments.c.experiment_id == eid, *experiment_scope()
            )
        ).scalar()
        if stage is None:
            raise missing(f"No Experiment with id={experiment_id} exists")
        if stage != "active":
            raise invalid(f"The experiment {experiment_id} must be in the 'active' state.")
        return eid

    @staticmethod
    def _schema_where(schema_id: str) -> list[sa.ColumnElement[bool]]:
        """The schema ``schema_id``, when its experiment is in the bound workspace."""
        return [_LS.c.schema_id == schema_id, *by_experiment_scope(_LS.c.experiment_id)]

    @classmethod
    def _schema_row(cls, conn: sa.Connection, schema_id: str) -> Any:
        row = conn.execute(sa.select(_LS).where(*cls._schema_where(schema_id))).first()
        if row is None:
            raise missing(f"Label schema with id '{schema_id}' not found.")
        return row

    # ------------------------------------------------------------ label schemas
    def create_label_schema(
        self,
        experiment_id: str,
        name: str,
        schema_type: Any,
        input_spec: Any,
        instruction: str | None = None,
        enable_comment: bool = False,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """A new schema in the experiment; ``RESOURCE_ALREADY_EXISTS`` when the name is taken."""
        rules.check_schema_name(name)
        kind = rules.enum_name(schema_type, rules.SCHEMA_TYPES, "type")
        spec = rules.check_input(input_spec)
        rules.check_instruction(instruction)
        if not isinstance(enable_comment, bool):
            raise invalid("Label schema `enable_comment` must be a boolean.")
        taken = exists(f"Label schema with name '{name}' already exists for experiment '{experiment_id}'.")

        def write(conn: sa.Connection) -> dict[str, Any]:
            eid = self._active_experiment(conn, experiment_id)
            if conn.execute(
                sa.select(_LS.c.schema_id).where(_LS.c.experiment_id == eid, _LS.c.name == name)
            ).first():
                raise taken
            now = now_ms()
            row = {
                "schema_id": f"ls-{uuid.uuid4().hex}",
                "experiment_id": eid,
                "name": name,
                "schema_type": kind,
                "input_json": json.dumps(spec),
                "instruction": instruction,
                "enable_comment": enable_comment,
                "is_default": False,
                "created_by": created_by,
                "created_time": now,
                "last_update_time": now,
            }
            conn.execute(sa.insert(_LS).values(**row))
            return _schema_wire(_Obj(row))

        return self.db.write(write, conflict=lambda _err: taken)

    def get_label_schema(self, schema_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return _schema_wire(self._schema_row(conn, schema_id))

    def get_label_schema_by_name(self, experiment_id: str, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            eid = self._active_experiment(conn, experiment_id)
            row = conn.execute(sa.select(_LS).where(_LS.c.experiment_id == eid, _LS.c.name == name)).first()
        if row is None:
            raise missing(f"Label schema with name '{name}' not found for experiment '{experiment_id}'.")
        return _schema_wire(row)

    def list_label_schemas(
        self, experiment_id: str, max_results: Any = None, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The experiment's schemas, newest first (the default question seeded on first call)."""
        limit = rules.check_max_results(max_results, limit=SEARCH_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)

        def seed_and_read(conn: sa.Connection) -> tuple[list[Any], str | None]:
            eid = self._active_experiment(conn, experiment_id)
            if (
                conn.execute(
                    sa.select(_LS.c.schema_id).where(_LS.c.experiment_id == eid, _LS.c.is_default)
                ).first()
                is None
            ):
                now = now_ms()
                conn.execute(
                    sa.insert(_LS).values(
                        schema_id=f"ls-{uuid.uuid4().hex}",
                        experiment_id=eid,
                        name=rules.DEFAULT_SCHEMA_NAME,
                        schema_type="FEEDBACK",
                        input_json=json.dumps({"text": {}}),
                        instruction=rules.DEFAULT_SCHEMA_INSTRUCTION,
                        enable_comment=False,
                        is_default=True,
                        created_by=None,
                        created_time=now,
                        last_update_time=now,
                    )
                )
            rows = conn.execute(
                sa.select(_LS)
                .where(_LS.c.experiment_id == eid)
                .order_by(_LS.c.created_time.desc(), _LS.c.schema_id)
                .offset(offset)
                .limit(limit + 1)
            ).all()
            return page(rows, offset, limit)

        # Two first lists may both seed the default: the loser runs again and finds it.
        rows, token = self.db.write(seed_and_read, conflict=lambda _err: None) or self.db.write(seed_and_read)
        return [_schema_wire(r) for r in rows], token

    def update_label_schema(self, schema_id: str, **changes: Any) -> dict[str, Any]:
        """Sparse update of name, instruction, enable_comment and input (same kind); the type never changes."""
        name, instruction = changes.get("name"), changes.get("instruction")
        enable_comment, spec = changes.get("enable_comment"), changes.get("input")
        if name is not None:
            rules.check_schema_name(name)
        rules.check_instruction(instruction)
        if enable_comment is not None and not isinstance(enable_comment, bool):
            raise invalid("Label schema `enable_comment` must be a boolean.")
        if spec is not None:
            spec = rules.check_input(spec)

        def write(conn: sa.Connection) -> dict[str, Any]:
            row = self._schema_row(conn, schema_id)
            if row.is_default:
                raise invalid("The experiment's default question cannot be edited.")
            values: dict[str, Any] = {"last_update_time": now_ms()}
            if name is not None and name != row.name:
                clash = sa.select(_LS.c.schema_id).where(
                    _LS.c.experiment_id == row.experiment_id, _LS.c.name == name
                )
                if conn.execute(clash).first():
                    raise exists(
                        f"Label schema with name '{name}' already exists for experiment '{row.experiment_id}'."
                    )
                values["name"] = name
            if instruction is not None:
                values["instruction"] = instruction
            if enable_comment is not None:
                values["enable_comment"] = enable_comment
            if spec is not None:
                rules.same_input_kind(json.loads(row.input_json), spec)
                values["input_json"] = json.dumps(spec)
            conn.execute(sa.update(_LS).where(_LS.c.schema_id == schema_id).values(**values))
            return _schema_wire(self._schema_row(conn, schema_id))

        return self.db.write(write)

    def delete_label_schema(self, schema_id: str) -> None:
        """Delete a schema (no-op when unknown); the default question is refused. Assessments stay."""

        def write(conn: sa.Connection) -> None:
            row = conn.execute(sa.select(_LS.c.is_default).where(*self._schema_where(schema_id))).first()
            if row is None:
                return
            if row.is_default:
                raise invalid("The experiment's default question cannot be deleted.")
            conn.execute(sa.delete(_RQS).where(_RQS.c.schema_id == schema_id))
            conn.execute(sa.delete(_LS).where(_LS.c.schema_id == schema_id))

        self.db.write(write)

    def schema_experiment(self, schema_id: str) -> str | None:
        """The experiment of a label schema (None when unknown or of another workspace)."""
        with self.db.read() as conn:
            eid = conn.execute(sa.select(_LS.c.experiment_id).where(*self._schema_where(schema_id))).scalar()
        return None if eid is None else str(eid)


class _Obj:
    """A row dict read as attributes (what ``_schema_wire`` takes)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
