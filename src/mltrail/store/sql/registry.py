"""The model registry on SQL (SQLite, PostgreSQL, MySQL/MariaDB), with MLflow's semantics.

* Version numbers grow per model and are never reused: a deleted version keeps
  its row in the internal ``Deleted_Internal`` stage, invisible to every read.
* ``transition_model_version_stage(..., archive_existing_versions=True)``
  archives the other versions in the target stage in the same transaction.
* Renaming a model cascades to versions, tags and aliases (``ON UPDATE CASCADE``).
* Searches compile to SQL (:mod:`mltrail.store.sql.search_sql`); pages are
  loaded with one query per child table.

Example::

    store = SqlRegistryStore("sqlite:///mltrail.db")
    store.create_registered_model("MyLLMApp")
    mv = store.create_model_version("MyLLMApp", "runs:/<run_id>/llm_model", run_id="<run_id>")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.artifacts.paths import validate_artifact_location, validate_artifact_path
from mltrail.entities import (
    ModelVersion,
    ModelVersionStages,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from mltrail.exceptions import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MltrailException,
    invalid,
)
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
    RegistryStore,
    validate_alias,
    validate_max_results,
    validate_model_name,
    validate_tag,
    validate_version,
)
from mltrail.store.sql._codec import chunks, now_ms
from mltrail.store.sql._workspace import registry_workspace as _ws
from mltrail.store.sql.database import database_for
from mltrail.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from mltrail.store.sql.search_sql import model_versions_query, registered_models_query

_RM = registered_models.c
_MV = model_versions.c
_DELETED = ModelVersionStages.DELETED_INTERNAL
_LIVE = sa.or_(_MV.current_stage.is_(None), _MV.current_stage != _DELETED)


def _model_missing(name: str) -> MltrailException:
    return MltrailException(
        f"Registered Model with name={name} not found", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _version_missing(name: str, version: Any) -> MltrailException:
    return MltrailException(
        f"Model Version (name={name}, version={version}) not found", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _named(table: sa.Table, name: str) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """The rows of ``table`` that hang on the model ``name`` of the request's workspace."""
    return table.c.workspace == _ws(), table.c.name == name


def _among(table: sa.Table, names: Sequence[str]) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """The rows of ``table`` that hang on the models ``names`` of the request's workspace."""
    return table.c.workspace == _ws(), table.c.name.in_(names)


def _erase_models(conn: sa.Connection, workspace: str, names: list[str]) -> None:
    """Delete the models called ``names`` of ``workspace`` with their versions, tags and aliases."""
    for table in (registered_model_aliases, model_version_tags, model_versions, registered_model_tags, registered_models):
        conn.execute(sa.delete(table).where(table.c.workspace == workspace, table.c.name.in_(names)))


def validate_source(source: object) -> str:
    """Reject traversal, fragments and control characters in a version's source (any scheme)."""
    if not isinstance(source, str) or not source.strip():
        raise invalid("Missing value for required parameter 'source'.")
    if source.startswith(("runs:", "models:")):
        # validate_artifact_location refuses runs:/ as a *location*; as a source it is fine.
        rest = source.partition(":")[2]
        validate_artifact_path(rest.lstrip("/"))
        if "#" in source or ";" in source:
            raise invalid(f"Invalid model version source '{source}': '#' and ';' are not allowed")
        return source
    return validate_artifact_location(source, what="model version source")


class SqlRegistryStore(RegistryStore):
    """The registry tables of one SQL database (shared with the tracking store)."""

    def __init__(self, db_uri: str) -> None:
        self.db_uri = db_uri
        self.db = database_for(db_uri)
        self.engine = self.db.engine  # for tools and tests; the store itself goes through self.db
        self.dialect = self.db.dialect
        self.db.ensure_schema()

    @staticmethod
    def _require_model(conn: sa.Connection, name: str) -> None:
        if conn.execute(sa.select(_RM.name).where(*_named(registered_models, name))).first() is None:
            raise _model_missing(name)

    @staticmethod
    def _require_version(conn: sa.Connection, name: str, version: int) -> None:
        row = conn.execute(
            sa.select(_MV.version).where(*_named(model_versions, name), _MV.version == version, _LIVE)
        ).first()
        if row is None:
            raise _version_missing(name, version)

    # ------------------------------------------------------------- loading
    def _load_versions(self, conn: sa.Connection, keys: Sequence[tuple[str, int]]) -> list[ModelVersion]:
        """Versions for ``keys`` (in that order) with their tags and aliases, one query per table."""
        if not keys:
            return []
        names = sorted({k[0] for k in keys})
        wanted = set(keys)
        rows: dict[tuple[str, int], Any] = {}
        tags: dict[tuple[str, int], dict[str, str]] = {}
        aliases: dict[tuple[str, int], list[str]] = {}
        for part in chunks(names):
            for r in conn.execute(sa.select(model_versions).where(*_among(model_versions, part))):
                if (r.name, r.version) in wanted:
                    rows[(r.name, r.version)] = r
            for r in conn.execute(sa.select(model_version_tags).where(*_among(model_version_tags, part))):
                tags.setdefault((r.name, r.version), {})[r.key] = r.value
            for r in conn.execute(
                sa.select(registered_model_aliases)
                .where(*_among(registered_model_aliases, part))
                .order_by(registered_model_aliases.c.alias)
            ):
                aliases.setdefault((r.name, r.version), []).append(r.alias)
        out = []
        for key in keys:
            r = rows.get(key)
            if r is None:
                continue
            out.append(
                ModelVersion(
                    name=r.name,
                    version=str(r.version),
                    creation_timestamp=r.creation_time,
                    last_updated_timestamp=r.last_updated_time,
                    description=r.description,
                    user_id=r.user_id,
                    current_stage=r.current_stage or ModelVersionStages.NONE,
                    source=r.source,
                    run_id=r.run_id,
                    status=r.status or "READY",
                    status_message=r.status_message,
                    tags=tags.get(key, {}),
                    run_link=r.run_link,
                    aliases=aliases.get(key, []),
                    model_id=r.model_id,
                )
            )
        return out

    def _latest_keys(
        self, conn: sa.Connection, names: Sequence[str], stages: Sequence[str] | None = None
    ) -> dict[str, list[tuple[str, int]]]:
        """Per model: the newest version in each stage (all stages, or those given)."""
        stmt = (
            sa.select(_MV.name, _MV.current_stage, sa.func.max(_MV.version))
            .where(*_among(model_versions, names), _LIVE)
            .group_by(_MV.name, _MV.current_stage)
        )
        found: dict[str, dict[str, int]] = {}
        for name, stage, version in conn.execute(stmt):
            found.setdefault(name, {})[stage or ModelVersionStages.NONE] = version
        order = list(stages) if stages else list(ModelVersionStages.ALL)
        return {n: [(n, found[n][s]) for s in order if s in found.get(n, {})] for n in names}

    def _load_models(self, conn: sa.Connection, names: Sequence[str]) -> list[RegisteredModel]:
        if not names:
            return []
        rows, tags, aliases = {}, {}, {}
        for part in chunks(list(names)):
            for r in conn.execute(sa.select(registered_models).where(*_among(registered_models, part))):
                rows[r.name] = r
            for r in conn.execute(
                sa.select(registered_model_tags).where(*_among(registered_model_tags, part))
            ):
                tags.setdefault(r.name, {})[r.key] = r.value
            for r in conn.execute(
                sa.select(registered_model_aliases)
                .where(*_among(registered_model_aliases, part))
                .order_by(registered_model_aliases.c.alias)
            ):
                aliases.setdefault(r.name, {})[r.alias] = str(r.version)
        latest = self._latest_keys(conn, [n for n in names if n in rows])
        versions = {
            (mv.name, int(mv.version)): mv
            for mv in self._load_versions(conn, [k for ks in latest.values() for k in ks])
        }
        out = []
        for name in names:
            r = rows.get(name)
            if r is None:
                continue
            out.append(
                RegisteredModel(
                    name=r.name,
                    creation_timestamp=r.creation_time,
                    last_updated_timestamp=r.last_updated_time,
                    description=r.description,
                    tags=tags.get(name, {}),
                    aliases=aliases.get(name, {}),
                    latest_versions=[versions[k] for k in latest.get(name, []) if k in versions],
                )
            )
        return out

    # ---------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        validate_model_name(name)
        tag_rows = {t.key: t.value for t in tags or ()}
        for key, value in tag_rows.items():
            validate_tag(key, value)

        def create(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_RM.name).where(*_named(registered_models, name))).first() is not None:
                raise MltrailException(
                    f"Registered Model (name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
                )
            ts = now_ms()
            conn.execute(
                sa.insert(registered_models).values(
                    name=name, creation_time=ts, last_updated_time=ts, description=description, workspace=_ws()
                )
            )
            if tag_rows:
                conn.execute(
                    sa.insert(registered_model_tags),
                    [{"workspace": _ws(), "name": name, "key": k, "value": v} for k, v in tag_rows.items()],
                )

        self.db.write(create, conflict=lambda err: MltrailException(
            f"Registered Model (name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
        ))
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        validate_model_name(name)
        with self.db.read() as conn:
            found = self._load_models(conn, [name])
        if not found:
            raise _model_missing(name)
        return found[0]

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        validate_model_name(name)

        def update(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            conn.execute(
                sa.update(registered_models)
                .where(*_named(registered_models, name))
                .values(description=description, last_updated_time=now_ms())
            )

        self.db.write(update)
        return self.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validate_model_name(name)
        validate_model_name(new_name, "new_name")

        def rename(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            if name == new_name:
                return
            if conn.execute(sa.select(_RM.name).where(*_named(registered_models, new_name))).first() is not None:
                raise MltrailException(
                    f"Registered Model (name={new_name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
                )
            ts = now_ms()
            # Children follow through ON UPDATE CASCADE on every backend.
            conn.execute(
                sa.update(registered_models)
                .where(*_named(registered_models, name))
                .values(name=new_name, last_updated_time=ts)
            )
            conn.execute(sa.update(model_versions).where(*_named(model_versions, new_name)).values(last_updated_time=ts))

        self.db.write(rename)
        return self.get_registered_model(new_name)

    def delete_registered_model(self, name: str) -> None:
        validate_model_name(name)

        def delete(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            _erase_models(conn, _ws(), [name])

        self.db.write(delete)

    def erase_workspace(self, conn: sa.Connection, workspace: str) -> None:
        """Erase every registered model and prompt of ``workspace``, in the caller's transaction
        (``delete_workspace``'s ``CASCADE`` mode)."""
        names = [r[0] for r in conn.execute(sa.select(_RM.name).where(_RM.workspace == workspace))]
        for part in chunks(names):
            _erase_models(conn, workspace, list(part))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        validate_max_results(max_results, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        stmt = registered_models_query(filter_string, order_by, offset, max_results + 1).where(
            _RM.workspace == _ws()
        )
        with self.db.read() as conn:
            names = [r[0] for r in conn.execute(stmt)]
            token = encode_page_token(offset + max_results) if len(names) > max_results else None
            return PagedList(self._load_models(conn, names[:max_results]), token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        validate_model_name(name)
        wanted = [ModelVersionStages.normalize(s) for s in stages] if stages else None
        with self.db.read() as conn:
            self._require_model(conn, name)
            keys = self._latest_keys(conn, [name], wanted)[name]
            return self._load_versions(conn, keys)

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        validate_model_name(name)
        validate_tag(tag.key, tag.value)

        def set_tag(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            t = registered_model_tags.c
            done = conn.execute(
                sa.update(registered_model_tags)
                .where(*_named(registered_model_tags, name), t.key == tag.key)
                .values(value=tag.value)
            )
            if not done.rowcount:
                conn.execute(sa.insert(registered_model_tags).values(workspace=_ws(), name=name, key=tag.key, value=tag.value))

        self.db.write(set_tag)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        validate_model_name(name)
        validate_tag(key, None)

        def delete(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            t = registered_model_tags.c
            conn.execute(sa.delete(registered_model_tags).where(*_named(registered_model_tags, name), t.key == key))

        self.db.write(delete)

    # -------------------------------------------------------- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
        *,
        storage_location: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        validate_model_name(name)
        validate_source(source)
        tag_rows = {t.key: t.value for t in tags or ()}
        for key, value in tag_rows.items():
            validate_tag(key, value)
        if storage_location is None and source.startswith("models:/"):
            storage_location = self._copied_location(source)

        def create(conn: sa.Connection) -> int:
            # Lock the model's row: concurrent creators of the same model queue here, so
            # "max + 1" is never taken twice (SQLite's BEGIN IMMEDIATE already serializes).
            locked = conn.execute(
                sa.select(_RM.name).where(*_named(registered_models, name)).with_for_update()
            ).first()
            if locked is None:
                raise _model_missing(name)
            current = conn.execute(sa.select(sa.func.max(_MV.version)).where(*_named(model_versions, name))).scalar()
            version = (current or 0) + 1
            ts = now_ms()
            conn.execute(
                sa.insert(model_versions).values(
                    workspace=_ws(),
                    name=name,
                    version=version,
                    creation_time=ts,
                    last_updated_time=ts,
                    description=description,
                    user_id=user_id,
                    current_stage=ModelVersionStages.NONE,
                    source=source,
                    run_id=run_id or None,
                    run_link=run_link or None,
                    status="READY",
                    storage_location=storage_location,
                    model_id=model_id or None,
                )
            )
            if tag_rows:
                conn.execute(
                    sa.insert(model_version_tags),
                    [
                        {"workspace": _ws(), "name": name, "version": version, "key": k, "value": v}
                        for k, v in tag_rows.items()
                    ],
                )
            conn.execute(sa.update(registered_models).where(*_named(registered_models, name)).values(last_updated_time=ts))
            return version

        return self.get_model_version(name, str(self.db.write(create)))

    def _copied_location(self, source: str) -> str | None:
        """For ``models:/Name/3`` sources (copy_model_version): the source version's location."""
        rest = source[len("models:/") :]
        src_name, _, src_version = rest.rpartition("/")
        if src_name and src_version.isdigit():
            return self.get_model_version_download_uri(src_name, src_version)
        return None

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        validate_model_name(name)
        number = validate_version(version)
        with self.db.read() as conn:
            found = self._load_versions(conn, [(name, number)])
        if not found or found[0].current_stage == _DELETED:
            raise _version_missing(name, version)
        return found[0]

    def update_model_version(self, name: str, version: str, description: str | None) -> ModelVersion:
        validate_model_name(name)
        number = validate_version(version)

        def update(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            conn.execute(
                sa.update(model_versions)
                .where(*_named(model_versions, name), _MV.version == number)
                .values(description=description, last_updated_time=now_ms())
            )

        self.db.write(update)
        return self.get_model_version(name, str(number))

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        validate_model_name(name)
        number = validate_version(version)
        stage = ModelVersionStages.normalize(stage)
        if archive_existing_versions and stage not in (
            ModelVersionStages.STAGING,
            ModelVersionStages.PRODUCTION,
        ):
            raise invalid(
                f"Model version transition cannot archive existing model versions because '{stage}' "
                "is not an Active stage. Valid stages are Staging, Production."
            )

        def transition(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            ts = now_ms()
            if archive_existing_versions:
                conn.execute(
                    sa.update(model_versions)
                    .where(*_named(model_versions, name), _MV.version != number, _MV.current_stage == stage)
                    .values(current_stage=ModelVersionStages.ARCHIVED, last_updated_time=ts)
                )
            conn.execute(
                sa.update(model_versions)
                .where(*_named(model_versions, name), _MV.version == number)
                .values(current_stage=stage, last_updated_time=ts)
            )
            conn.execute(sa.update(registered_models).where(*_named(registered_models, name)).values(last_updated_time=ts))

        self.db.write(transition)
        return self.get_model_version(name, str(number))

    def delete_model_version(self, name: str, version: str) -> None:
        validate_model_name(name)
        number = validate_version(version)

        def delete(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            a = registered_model_aliases.c
            conn.execute(sa.delete(registered_model_aliases).where(*_named(registered_model_aliases, name), a.version == number))
            t = model_version_tags.c
            conn.execute(sa.delete(model_version_tags).where(*_named(model_version_tags, name), t.version == number))
            # The row stays (numbers are never reused) but loses everything it pointed at.
            conn.execute(
                sa.update(model_versions)
                .where(*_named(model_versions, name), _MV.version == number)
                .values(
                    current_stage=_DELETED,
                    description=None,
                    user_id=None,
                    source="REDACTED-SOURCE-PATH",
                    run_id="REDACTED-RUN-ID",
                    run_link="REDACTED-RUN-LINK",
                    status_message=None,
                    storage_location=None,
                    last_updated_time=now_ms(),
                )
            )
            conn.execute(
                sa.update(registered_models).where(*_named(registered_models, name)).values(last_updated_time=now_ms())
            )

        self.db.write(delete)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        validate_model_name(name)
        number = validate_version(version)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_MV.storage_location, _MV.source).where(
                    *_named(model_versions, name), _MV.version == number, _LIVE
                )
            ).first()
        if row is None:
            raise _version_missing(name, version)
        return row.storage_location or row.source

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        validate_max_results(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD)
        offset = decode_page_token(page_token)
        stmt = model_versions_query(filter_string, order_by, offset, max_results + 1).where(
            _MV.workspace == _ws()
        )
        with self.db.read() as conn:
            keys = [(r[0], int(r[1])) for r in conn.execute(stmt)]
            token = encode_page_token(offset + max_results) if len(keys) > max_results else None
            return PagedList(self._load_versions(conn, keys[:max_results]), token)

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        validate_model_name(name)
        number = validate_version(version)
        validate_tag(tag.key, tag.value)

        def set_tag(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            t = model_version_tags.c
            done = conn.execute(
                sa.update(model_version_tags)
                .where(*_named(model_version_tags, name), t.version == number, t.key == tag.key)
                .values(value=tag.value)
            )
            if not done.rowcount:
                conn.execute(
                    sa.insert(model_version_tags).values(
                        workspace=_ws(), name=name, version=number, key=tag.key, value=tag.value
                    )
                )

        self.db.write(set_tag)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        validate_model_name(name)
        number = validate_version(version)
        validate_tag(key, None)

        def delete(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            t = model_version_tags.c
            conn.execute(
                sa.delete(model_version_tags).where(
                    *_named(model_version_tags, name), t.version == number, t.key == key
                )
            )

        self.db.write(delete)

    # ----------------------------------------------------------------- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        validate_model_name(name)
        validate_alias(alias)
        number = validate_version(version)

        def set_alias(conn: sa.Connection) -> None:
            self._require_version(conn, name, number)
            a = registered_model_aliases.c
            done = conn.execute(
                sa.update(registered_model_aliases)
                .where(*_named(registered_model_aliases, name), a.alias == alias)
                .values(version=number)
            )
            if not done.rowcount:
                conn.execute(
                    sa.insert(registered_model_aliases).values(
                        workspace=_ws(), name=name, alias=alias, version=number
                    )
                )
            conn.execute(
                sa.update(registered_models).where(*_named(registered_models, name)).values(last_updated_time=now_ms())
            )

        self.db.write(set_alias)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        validate_model_name(name)
        validate_alias(alias, reserved=False)

        def delete(conn: sa.Connection) -> None:
            self._require_model(conn, name)
            a = registered_model_aliases.c
            conn.execute(sa.delete(registered_model_aliases).where(*_named(registered_model_aliases, name), a.alias == alias))

        self.db.write(delete)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        validate_model_name(name)
        validate_alias(alias, reserved=False)
        a = registered_model_aliases.c
        with self.db.read() as conn:
            self._require_model(conn, name)
            if alias.lower() == "latest":  # MLflow's reserved alias: the newest live version
                version = conn.execute(
                    sa.select(sa.func.max(_MV.version)).where(*_named(model_versions, name), _LIVE)
                ).scalar()
                if version is None:
                    raise MltrailException(
                        f"Latest version not found for model {name}.", error_code=RESOURCE_DOES_NOT_EXIST
                    )
                return self._load_versions(conn, [(name, version)])[0]
            version = conn.execute(sa.select(a.version).where(*_named(registered_model_aliases, name), a.alias == alias)).scalar()
        if version is None:
            raise MltrailException(
                f"Registered model alias {alias} not found.", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return self.get_model_version(name, str(version))
