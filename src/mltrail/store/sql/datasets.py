"""Evaluation datasets on SQL (SQLite, PostgreSQL, MySQL/MariaDB): MLflow 3's dataset store methods.

Mixed into :class:`~mltrail.store.sql.tracking.SqlTrackingStore` (the host gives
``self.db``, the :class:`~mltrail.store.sql.database.Database`). Every write is one
``db.write`` transaction, so a merge is all-or-nothing: a bad record in a batch
writes nothing.

* Records are unique per dataset by the SHA-256 of their inputs' canonical JSON
  (MLflow's ``input_hash``; a unique key guards it against two writers).
* The ``digest`` is computed from the records' contents (inputs, outputs,
  expectations): it changes with them and only with them.
* ``schema`` (field types seen, MLflow's layout) and ``profile``
  (``{"num_records": n}``) are kept up to date on each merge and delete.
* Record pages are ordered by ``(created_time, dataset_record_id)`` with a cursor
  token (MLflow's format: base64 of ``"<created_time>:<record id>"``).

Example::

    store = SqlTrackingStore("sqlite:///mltrail.db", "./mlartifacts")
    ds = store.create_dataset("qa", experiment_ids=["0"])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "hi"}}])
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from mltrail.entities import PagedList
from mltrail.entities.dataset_record import DatasetRecord, DatasetRecordSource
from mltrail.entities.evaluation_dataset import DATASET_ID_PREFIX, RECORD_ID_PREFIX, EvaluationDataset
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.search import nodes as n
from mltrail.search.limits import check_order_by_count
from mltrail.search.parser import parse_filter, parse_order_by
from mltrail.store.datasets import (
    EVALUATION_DATASETS,
    LOAD_DATASET_RECORDS_MAX_RESULTS,
    MAX_EXPERIMENT_ID,
    MAX_USER_LENGTH,
    SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
    USER_TAG,
    check_max_results,
    clean_record,
    content_hash,
    dataset_digest,
    input_hash,
    normalize_tags,
    update_schema,
    validate_dataset_name,
)
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql._codec import chunks, now_ms
from mltrail.store.sql._workspace import experiment_scope
from mltrail.store.sql.schema import (
    evaluation_dataset_experiments,
    evaluation_dataset_records,
    evaluation_dataset_tags,
    evaluation_datasets,
    experiments,
)
from mltrail.store.sql.search_ops import compare, eq, joined
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

if TYPE_CHECKING:
    from mltrail.store.sql.database import Database

_D = evaluation_datasets.c
_R = evaluation_dataset_records.c
_T = evaluation_dataset_tags.c
_X = evaluation_dataset_experiments.c


def _scope() -> list[ColumnElement[bool]]:
    """``[evaluation_datasets.workspace = <bound>]``: a dataset belongs to a workspace (MLflow
    3.17), ``[]`` when none is bound."""
    ws = active_workspace()
    return [] if ws is None else [_D.workspace == ws]


def _not_found(dataset_id: str) -> MltrailException:
    return MltrailException(
        f"Evaluation dataset with id '{dataset_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _experiment_ids(ids: Sequence[Any] | None) -> list[int]:
    """Experiment ids as integers (each must be one), without duplicates."""
    if ids is None:
        return []
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise invalid(f"Invalid experiment_ids {ids!r}: expected a list of experiment ids")
    out: list[int] = []
    for raw in ids:
        text = str(raw).strip()
        if not text.isdigit() or int(text) > MAX_EXPERIMENT_ID:
            raise invalid(f"Invalid experiment id {raw!r}: experiment ids are integers")
        if int(text) not in out:
            out.append(int(text))
    return out


def _user(value: str | None) -> str | None:
    """A user name as stored in ``created_by`` / ``last_updated_by`` (cut to the column's width)."""
    return value[:MAX_USER_LENGTH] if value else None


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _record(row: Any) -> DatasetRecord:
    source = _loads(row.source)
    return DatasetRecord(
        dataset_id=row.dataset_id,
        inputs=json.loads(row.inputs),
        dataset_record_id=row.dataset_record_id,
        created_time=int(row.created_time),
        last_update_time=int(row.last_update_time),
        outputs=_loads(row.outputs),
        expectations=_loads(row.expectations),
        tags=_loads(row.tags) or {},
        source=DatasetRecordSource.from_dict(source) if source else None,
        source_id=row.source_id,
        source_type=row.source_type,
        created_by=row.created_by,
        last_updated_by=row.last_updated_by,
    )


def _record_id(now: int, seq: int) -> str:
    """``dr-`` + 32 hex characters, like MLflow's, but ordered by time then position in the batch.

    Records of one merge share ``created_time``; pages are ordered by
    ``(created_time, dataset_record_id)``, so these ids keep them in the order given.
    """
    return f"{RECORD_ID_PREFIX}{now:012x}{seq % 16**6:06x}{uuid.uuid4().hex[:14]}"


def _encode_cursor(created_time: int, record_id: str) -> str:
    return base64.b64encode(f"{created_time}:{record_id}".encode()).decode("ascii")


def _decode_cursor(token: str) -> tuple[int, str]:
    try:
        created, record_id = (
            base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8").split(":", 1)
        )
        return int(created), record_id
    except (binascii.Error, ValueError, UnicodeError):
        raise invalid(
            f"Invalid page token {token[:40]!r}: it is not a token returned for these records"
        ) from None


def _leaf(c: n.Comparison) -> ColumnElement[bool]:
    if c.entity_type == n.TAG:
        same = [_T.dataset_id == _D.dataset_id, eq(_T.key, c.key)]
        if c.op == n.IS_NULL:
            return ~sa.exists().where(*same)
        if c.op == n.IS_NOT_NULL:
            return sa.exists().where(*same)
        return sa.exists().where(*same, compare(_T.value, c.op, c.value, numeric=False))
    numeric = c.key in EVALUATION_DATASETS.numeric_attributes
    if numeric and c.op in n.PATTERN_OPS:
        raise invalid(f"Invalid comparator for numeric attribute '{c.key}': {c.op}")
    return compare(_D[c.key], c.op, c.value, numeric)


def _where(node: n.Node | None) -> ColumnElement[bool]:
    if node is None:
        return sa.true()
    if isinstance(node, n.Comparison):
        return _leaf(node)
    return joined(sa.and_ if isinstance(node, n.And) else sa.or_, [_where(i) for i in node.items])


def _orders(order_by: Sequence[str] | None) -> list[ColumnElement[Any]]:
    """MLflow's default (newest first) and tie-break (``dataset_id`` descending)."""
    if order_by is not None and (isinstance(order_by, str) or not isinstance(order_by, Sequence)):
        raise invalid(f"Invalid order_by {order_by!r}: expected a list of strings")
    check_order_by_count(order_by)
    clauses = list(order_by or ["created_time DESC"])
    out: list[ColumnElement[Any]] = []
    for clause in clauses:
        _entity, key, ascending = parse_order_by(clause, EVALUATION_DATASETS)
        out.append(_D[key].asc() if ascending else _D[key].desc())
    out.append(_D.dataset_id.desc())
    return out


# What a merge may change on a stored record (MLflow's ``SqlEvaluationDatasetRecord.merge``).
_MERGED_COLUMNS = frozenset(
    {"outputs", "expectations", "tags", "last_update_time", "last_updated_by", "content_hash"}
)
_MERGE_UPDATE = (
    sa.update(evaluation_dataset_records)
    .where(evaluation_dataset_records.c.dataset_record_id == sa.bindparam("rid"))
    .values({c: sa.bindparam(f"v_{c}") for c in _MERGED_COLUMNS})
)


def _state(row: Any) -> dict[str, Any]:
    """A stored record as plain values (JSON decoded), to merge into."""
    return {
        **row._asdict(),
        "inputs": json.loads(row.inputs),
        "outputs": _loads(row.outputs),
        "expectations": _loads(row.expectations),
        "tags": _loads(row.tags) or {},
    }


def _new_state(
    dataset_id: str, rec: dict[str, Any], key: str, user: str | None, now: int, seq: int
) -> dict[str, Any]:
    source: DatasetRecordSource | None = rec["source"]
    return {
        "dataset_record_id": _record_id(now, seq),
        "dataset_id": dataset_id,
        "inputs": rec["inputs"],
        "outputs": rec["outputs"],
        "expectations": rec["expectations"],
        "tags": rec["tags"],
        "source": _dumps(source.to_dict()) if source else None,
        "source_id": source.source_id if source else None,
        "source_type": str(source.source_type) if source else None,
        "created_time": now,
        "last_update_time": now,
        "created_by": user,
        "last_updated_by": user,
        "input_hash": key,
    }


def _merge(state: dict[str, Any], rec: dict[str, Any], user: str | None, now: int) -> dict[str, Any]:
    """MLflow's merge into ``state``: outputs replaced when given, expectations and tags updated key by key."""
    if rec["has_outputs"]:
        state["outputs"] = rec["outputs"]
    if rec["expectations"]:
        state["expectations"] = {**(state["expectations"] or {}), **rec["expectations"]}
    if rec["tags"]:
        state["tags"] = {**(state["tags"] or {}), **rec["tags"]}
    state["last_update_time"] = max(now, int(state["last_update_time"]))
    if user:
        state["last_updated_by"] = user
    return state


def _row(state: dict[str, Any]) -> dict[str, Any]:
    """A record's state as table values (JSON encoded, content hash computed)."""
    return {
        **state,
        "inputs": json.dumps(state["inputs"], ensure_ascii=False),
        "outputs": _dumps(state["outputs"]),
        "expectations": _dumps(state["expectations"]),
        "tags": _dumps(state["tags"]),
        "content_hash": content_hash(state["inputs"], state["outputs"], state["expectations"]),
    }


class SqlDatasetsMixin:
    """Evaluation-dataset methods of the SQL tracking store (see :class:`mltrail.store.datasets.DatasetStore`)."""

    db: Database

    # ------------------------------------------------------------ reads
    def _dataset_rows(self, conn: sa.Connection, ids: Sequence[str]) -> list[EvaluationDataset]:
        """Datasets by id, with tags and experiment ids, in the order of ``ids``."""
        if not ids:
            return []
        rows = {
            r.dataset_id: r
            for r in conn.execute(sa.select(evaluation_datasets).where(_D.dataset_id.in_(ids), *_scope()))
        }
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for t in conn.execute(sa.select(_T.dataset_id, _T.key, _T.value).where(_T.dataset_id.in_(ids))):
            tags[t.dataset_id][t.key] = t.value
        exps: dict[str, list[str]] = {i: [] for i in ids}
        links = (
            sa.select(_X.dataset_id, _X.experiment_id)
            .where(_X.dataset_id.in_(ids))
            .order_by(_X.experiment_id)
        )
        for x in conn.execute(links):
            exps[x.dataset_id].append(str(x.experiment_id))
        out = []
        for i in ids:
            r = rows.get(i)
            if r is None:
                continue
            out.append(
                EvaluationDataset(
                    dataset_id=r.dataset_id,
                    name=r.name,
                    digest=r.digest or "",
                    created_time=int(r.created_time),
                    last_update_time=int(r.last_update_time),
                    tags=tags[i],
                    schema=r.schema,
                    profile=r.profile,
                    created_by=r.created_by,
                    last_updated_by=r.last_updated_by,
                    experiment_ids=exps[i],
                )
            )
        return out

    def _read_dataset(self, conn: sa.Connection, dataset_id: str) -> EvaluationDataset:
        found = self._dataset_rows(conn, [dataset_id])
        if not found:
            raise _not_found(dataset_id)
        return found[0]

    def get_dataset(self, dataset_id: str) -> EvaluationDataset:
        with self.db.read() as conn:
            return self._read_dataset(conn, str(dataset_id))

    def get_dataset_experiment_ids(self, dataset_id: str) -> list[str]:
        return self.get_dataset(dataset_id).experiment_ids

    def search_datasets(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        limit = check_max_results(max_results, SEARCH_DATASETS_MAX_RESULTS_DEFAULT)
        offset = decode_page_token(page_token)
        exp_ids = _experiment_ids(experiment_ids)
        query = sa.select(_D.dataset_id).where(_where(parse_filter(filter_string, EVALUATION_DATASETS)), *_scope())
        if exp_ids:
            query = query.where(
                sa.exists().where(_X.dataset_id == _D.dataset_id, _X.experiment_id.in_(exp_ids))
            )
        query = query.order_by(*_orders(order_by)).offset(offset).limit(limit + 1)
        with self.db.read() as conn:
            ids = [r.dataset_id for r in conn.execute(query)]
            token = encode_page_token(offset + limit) if len(ids) > limit else None
            return PagedList(self._dataset_rows(conn, ids[:limit]), token)

    def load_dataset_records(
        self, dataset_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[DatasetRecord], str | None]:
        limit = (
            None if max_results is None else check_max_results(max_results, LOAD_DATASET_RECORDS_MAX_RESULTS)
        )
        query = sa.select(evaluation_dataset_records).where(_R.dataset_id == dataset_id)
        if page_token:
            created, record_id = _decode_cursor(page_token)
            query = query.where(
                sa.or_(
                    _R.created_time > created,
                    sa.and_(_R.created_time == created, _R.dataset_record_id > record_id),
                )
            )
        query = query.order_by(_R.created_time, _R.dataset_record_id)
        if limit is not None:
            query = query.limit(limit + 1)
        with self.db.read() as conn:
            if conn.execute(sa.select(_D.dataset_id).where(_D.dataset_id == dataset_id, *_scope())).first() is None:
                raise _not_found(dataset_id)
            rows = conn.execute(query).all()
        token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            token = _encode_cursor(int(rows[-1].created_time), rows[-1].dataset_record_id)
        return [_record(r) for r in rows], token

    # ------------------------------------------------------------ writes
    def _check_experiments(self, conn: sa.Connection, exp_ids: Sequence[int]) -> None:
        if not exp_ids:
            return
        found = {
            r[0]
            for r in conn.execute(
                sa.select(experiments.c.experiment_id).where(
                    experiments.c.experiment_id.in_(exp_ids), *experiment_scope()
                )
            )
        }
        for exp_id in exp_ids:
            if exp_id not in found:
                raise MltrailException(
                    f"No Experiment with id={exp_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
                )

    def _require(self, conn: sa.Connection, dataset_id: str) -> Any:
        row = conn.execute(sa.select(_D.name, _D.schema).where(_D.dataset_id == dataset_id, *_scope())).first()
        if row is None:
            raise _not_found(dataset_id)
        return row

    def create_dataset(
        self, name: str, tags: dict[str, Any] | None = None, experiment_ids: Sequence[str] | None = None
    ) -> EvaluationDataset:
        name = validate_dataset_name(name)
        clean_tags = normalize_tags(tags)
        exp_ids = _experiment_ids(experiment_ids)
        user = _user(clean_tags.get(USER_TAG))
        dataset_id = f"{DATASET_ID_PREFIX}{uuid.uuid4().hex}"

        def write(conn: sa.Connection) -> EvaluationDataset:
            self._check_experiments(conn, exp_ids)
            now = now_ms()
            conn.execute(
                sa.insert(evaluation_datasets).values(
                    dataset_id=dataset_id,
                    name=name,
                    schema=None,
                    profile=None,
                    digest=dataset_digest([]),
                    created_time=now,
                    last_update_time=now,
                    created_by=user,
                    last_updated_by=user,
                    workspace=active_workspace() or DEFAULT_WORKSPACE,
                )
            )
            if clean_tags:
                conn.execute(
                    sa.insert(evaluation_dataset_tags),
                    [{"dataset_id": dataset_id, "key": k, "value": v} for k, v in clean_tags.items()],
                )
            if exp_ids:
                conn.execute(
                    sa.insert(evaluation_dataset_experiments),
                    [{"dataset_id": dataset_id, "experiment_id": e, "created_time": now} for e in exp_ids],
                )
            return self._read_dataset(conn, dataset_id)

        return self.db.write(write)

    def delete_dataset(self, dataset_id: str) -> None:
        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_D.dataset_id).where(_D.dataset_id == dataset_id, *_scope())).first() is None:
                return  # unknown, or another workspace's: nothing to delete (deletes are idempotent)
            for table in (
                evaluation_dataset_records,
                evaluation_dataset_tags,
                evaluation_dataset_experiments,
            ):
                conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))
            conn.execute(sa.delete(evaluation_datasets).where(_D.dataset_id == dataset_id))

        self.db.write(write)

    def _refresh(self, conn: sa.Connection, dataset_id: str, schema: str | None, user: str | None) -> None:
        """Recompute digest and profile from the stored records; stamp the update."""
        hashes = [r[0] for r in conn.execute(sa.select(_R.content_hash).where(_R.dataset_id == dataset_id))]
        values: dict[str, Any] = {
            "digest": dataset_digest(hashes),
            "profile": json.dumps({"num_records": len(hashes)}) if hashes else None,
            "last_update_time": now_ms(),
            "schema": schema,
        }
        if user:
            values["last_updated_by"] = user
        conn.execute(sa.update(evaluation_datasets).where(_D.dataset_id == dataset_id).values(**values))

    def upsert_dataset_records(self, dataset_id: str, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        if isinstance(records, (str, bytes, dict)) or not isinstance(records, Sequence):
            raise invalid(f"Invalid records {type(records).__name__}: expected a list of record objects")
        cleaned = [clean_record(r, i) for i, r in enumerate(records)]
        keys = [input_hash(rec["inputs"]) for rec in cleaned]

        def write(conn: sa.Connection) -> dict[str, int]:
            # A few statements per merge, whatever its size: stored matches read at once, new
            # records inserted together, one update per stored record that changed.
            row = self._require(conn, dataset_id)
            now = now_ms()
            stored: dict[str, dict[str, Any]] = {}
            for part in chunks(list(dict.fromkeys(keys))):
                query = sa.select(evaluation_dataset_records).where(
                    _R.dataset_id == dataset_id, _R.input_hash.in_(part)
                )
                stored.update((r.input_hash, _state(r)) for r in conn.execute(query))
            new: dict[str, dict[str, Any]] = {}
            changed: dict[str, dict[str, Any]] = {}
            user = None
            for seq, (rec, key) in enumerate(zip(cleaned, keys, strict=True)):
                rec_user = _user(rec["tags"].get(USER_TAG))
                user = rec_user or user
                if key in new:
                    _merge(new[key], rec, rec_user, now)
                elif key in stored:
                    changed[key] = _merge(stored[key], rec, rec_user, now)
                else:
                    new[key] = _new_state(dataset_id, rec, key, rec_user, now, seq)
            if new:
                conn.execute(sa.insert(evaluation_dataset_records), [_row(state) for state in new.values()])
            if changed:  # one executemany for every merged stored record
                rows = [_row(state) for state in changed.values()]
                params = [
                    {"rid": r["dataset_record_id"], **{f"v_{c}": r[c] for c in _MERGED_COLUMNS}} for r in rows
                ]
                conn.execute(_MERGE_UPDATE, params)
            self._refresh(conn, dataset_id, update_schema(row.schema, cleaned), user)
            return {"inserted": len(new), "updated": len(cleaned) - len(new)}

        return self.db.write(write)

    def delete_dataset_records(self, dataset_id: str, dataset_record_ids: Sequence[str]) -> int:
        if isinstance(dataset_record_ids, (str, bytes)) or not isinstance(dataset_record_ids, Sequence):
            raise invalid("Invalid dataset_record_ids: expected a list of record ids")
        ids = [str(i) for i in dict.fromkeys(dataset_record_ids)]

        def write(conn: sa.Connection) -> int:
            row = self._require(conn, dataset_id)
            deleted = 0
            for part in chunks(ids):
                result = conn.execute(
                    sa.delete(evaluation_dataset_records).where(
                        _R.dataset_id == dataset_id, _R.dataset_record_id.in_(part)
                    )
                )
                deleted += result.rowcount or 0
            if deleted:
                self._refresh(conn, dataset_id, row.schema, None)
            return deleted

        return self.db.write(write)

    def set_dataset_tags(self, dataset_id: str, tags: dict[str, Any]) -> None:
        clean = normalize_tags(tags, allow_none=True)

        def write(conn: sa.Connection) -> None:
            self._require(conn, dataset_id)
            for key, value in clean.items():
                where = sa.and_(_T.dataset_id == dataset_id, _T.key == key)
                conn.execute(sa.delete(evaluation_dataset_tags).where(where))
                if value is not None:
                    conn.execute(
                        sa.insert(evaluation_dataset_tags).values(dataset_id=dataset_id, key=key, value=value)
                    )
            conn.execute(
                sa.update(evaluation_datasets)
                .where(_D.dataset_id == dataset_id)
                .values(last_update_time=now_ms())
            )

        self.db.write(write)

    def delete_dataset_tag(self, dataset_id: str, key: str) -> None:
        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_D.dataset_id).where(_D.dataset_id == dataset_id, *_scope())).first() is None:
                return
            conn.execute(sa.delete(evaluation_dataset_tags).where(_T.dataset_id == dataset_id, _T.key == key))

        self.db.write(write)

    def add_dataset_to_experiments(self, dataset_id: str, experiment_ids: Sequence[str]) -> EvaluationDataset:
        exp_ids = _experiment_ids(experiment_ids)

        def write(conn: sa.Connection) -> EvaluationDataset:
            self._require(conn, dataset_id)
            self._check_experiments(conn, exp_ids)
            have = {
                r[0] for r in conn.execute(sa.select(_X.experiment_id).where(_X.dataset_id == dataset_id))
            }
            now = now_ms()
            new = [
                {"dataset_id": dataset_id, "experiment_id": e, "created_time": now}
                for e in exp_ids
                if e not in have
            ]
            if new:
                conn.execute(sa.insert(evaluation_dataset_experiments), new)
                conn.execute(
                    sa.update(evaluation_datasets)
                    .where(_D.dataset_id == dataset_id)
                    .values(last_update_time=now)
                )
            return self._read_dataset(conn, dataset_id)

        return self.db.write(write)

    def remove_dataset_from_experiments(
        self, dataset_id: str, experiment_ids: Sequence[str]
    ) -> EvaluationDataset:
        exp_ids = _experiment_ids(experiment_ids)

        def write(conn: sa.Connection) -> EvaluationDataset:
            self._require(conn, dataset_id)
            if exp_ids:
                result = conn.execute(
                    sa.delete(evaluation_dataset_experiments).where(
                        _X.dataset_id == dataset_id, _X.experiment_id.in_(exp_ids)
                    )
                )
                if result.rowcount:
                    conn.execute(
                        sa.update(evaluation_datasets)
                        .where(_D.dataset_id == dataset_id)
                        .values(last_update_time=now_ms())
                    )
            return self._read_dataset(conn, dataset_id)

        return self.db.write(write)
