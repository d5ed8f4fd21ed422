"""The AI gateway's configuration and usage on SQL (SQLite, PostgreSQL, MySQL/MariaDB).

What MLflow 3's ``/api/3.0/mlflow/gateway/...`` endpoints reach
(:mod:`mltrail.server.handlers.gateway`): secrets, model definitions, endpoints
with their model mappings, and (through :class:`~mltrail.store.sql.gateway_links.EndpointLinks`)
their tags, bindings and mltrail's usage counters.
Records come back as MLflow's wire JSON (``GatewaySecretInfo``,
``GatewayModelDefinition``, ``GatewayEndpoint``, ... of service.proto).

Secrets arrive sealed: the server encrypts a provider key with its own key
before calling :meth:`SqlGatewayStore.create_secret` and stores only that and
the masked form; :meth:`SqlGatewayStore.sealed_secret` hands the sealed value
back to the proxy, nothing else reads it.

Semantics follow MLflow's SQL store: names are unique (``RESOURCE_ALREADY_EXISTS``);
deleting a secret leaves its model definitions without one; a model definition
attached to an endpoint cannot be deleted (``INVALID_STATE``); deleting an endpoint
removes its mappings, tags and bindings; listing endpoints shows those with at
least one model.

Secrets, model definitions and endpoints belong to a workspace (migration 0019, as in
MLflow 3.17): every read and write is in the bound workspace (``default`` when none is
bound, where everything is while workspaces are off), names are unique per workspace, and
another workspace's record is ``RESOURCE_DOES_NOT_EXIST``. An endpoint's mappings, tags,
bindings and usage are its workspace's; it routes only to its workspace's model definitions.

Example::

    store = SqlGatewayStore("sqlite:///mltrail.db")
    secret = store.create_secret("openai-key", sealed, {"api_key": "sk-...abcd"}, "openai")
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import INVALID_STATE, RESOURCE_ALREADY_EXISTS, MltrailException, invalid, not_found
from mltrail.store.sql import schema as s
from mltrail.store.sql._codec import now_ms
from mltrail.store.sql._workspace import registry_workspace as _ws
from mltrail.store.sql.database import database_for
from mltrail.store.sql.gateway_links import JSON, EndpointLinks
from mltrail.store.sql.gateway_links import some as _some

_SEC, _DEF, _END = s.gateway_secrets, s.gateway_model_definitions, s.gateway_endpoints
_MAP, _TAG, _BIND, _USE = (
    s.gateway_endpoint_model_mappings,
    s.gateway_endpoint_tags,
    s.gateway_endpoint_bindings,
    s.gateway_usage,
)
PRIMARY, FALLBACK = "PRIMARY", "FALLBACK"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _exists(what: str, name: str) -> Any:
    def conflict(err: sa.exc.IntegrityError) -> MltrailException:
        return MltrailException(f"{what} with name '{name}' already exists", RESOURCE_ALREADY_EXISTS)

    return conflict


def _secret_json(row: Any) -> JSON:
    return _some(
        {
            "secret_id": row.secret_id,
            "secret_name": row.secret_name,
            "masked_values": json.loads(row.masked_value),
            "created_at": row.created_at,
            "last_updated_at": row.last_updated_at,
            "provider": row.provider,
            "created_by": row.created_by,
            "last_updated_by": row.last_updated_by,
            "auth_config": json.loads(row.auth_config) if row.auth_config else None,
        }
    )


def _definition_json(row: Any, secret_name: str | None) -> JSON:
    return _some(
        {
            "model_definition_id": row.model_definition_id,
            "name": row.name,
            "secret_id": row.secret_id,
            "secret_name": secret_name,
            "provider": row.provider,
            "model_name": row.model_name,
            "created_at": row.created_at,
            "last_updated_at": row.last_updated_at,
            "created_by": row.created_by,
            "last_updated_by": row.last_updated_by,
        }
    )


class SqlGatewayStore(EndpointLinks):
    """The gateway tables of one tracking database (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        self.db = database_for(uri)
        self.db.ensure_schema()

    # ------------------------------------------------------------------ secrets
    def create_secret(
        self,
        name: str,
        sealed: str,
        masked: dict[str, str],
        provider: str | None,
        auth_config: JSON | None = None,
        created_by: str | None = None,
    ) -> JSON:
        """Store a sealed secret and its masked form; the name must be new."""
        now = now_ms()
        row = {
            "secret_id": _new_id("s"),
            "secret_name": name,
            "encrypted_value": sealed,
            "masked_value": json.dumps(masked),
            "provider": provider,
            "auth_config": json.dumps(auth_config) if auth_config else None,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
            "workspace": _ws(),
        }
        self.db.write(lambda conn: conn.execute(_SEC.insert().values(**row)), _exists("Secret", name))
        return self.get_secret(row["secret_id"])

    def _secret_row(self, conn: sa.Connection, secret_id: str | None, name: str | None = None) -> Any:
        where = _SEC.c.secret_id == secret_id if secret_id else _SEC.c.secret_name == name
        row = conn.execute(sa.select(_SEC).where(where, _SEC.c.workspace == _ws())).first()
        if row is None:
            key = f"secret_id='{secret_id}'" if secret_id else f"secret_name='{name}'"
            raise not_found(f"GatewaySecret not found ({key})")
        return row

    def get_secret(self, secret_id: str | None = None, name: str | None = None) -> JSON:
        """One secret's metadata and masked values (never the value)."""
        if bool(secret_id) == bool(name):
            raise invalid("Exactly one of 'secret_id' or 'secret_name' must be provided.")
        with self.db.read() as conn:
            return _secret_json(self._secret_row(conn, secret_id, name))

    def sealed_secret(self, secret_id: str) -> tuple[str, JSON]:
        """The sealed value and the auth config of a secret, for the proxy only."""
        with self.db.read() as conn:
            row = self._secret_row(conn, secret_id)
        return row.encrypted_value, json.loads(row.auth_config) if row.auth_config else {}

    def update_secret(
        self,
        secret_id: str,
        sealed: str | None,
        masked: dict[str, str] | None,
        auth_config: JSON | None,
        updated_by: str | None,
    ) -> JSON:
        """Rotate the value (when ``sealed``), replace (``{}`` clears) the auth config (when given)."""

        def write(conn: sa.Connection) -> None:
            self._secret_row(conn, secret_id)
            values: JSON = {"last_updated_at": now_ms(), "last_updated_by": updated_by}
            if sealed is not None:
                values |= {"encrypted_value": sealed, "masked_value": json.dumps(masked or {})}
            if auth_config is not None:
                values["auth_config"] = json.dumps(auth_config) if auth_config else None
            conn.execute(_SEC.update().where(_SEC.c.secret_id == secret_id).values(**values))

        self.db.write(write)
        return self.get_secret(secret_id)

    def delete_secret(self, secret_id: str) -> None:
        """Delete a secret; its model definitions stay, without a secret."""

        def write(conn: sa.Connection) -> None:
            self._secret_row(conn, secret_id)
            conn.execute(_DEF.update().where(_DEF.c.secret_id == secret_id).values(secret_id=None))
            conn.execute(_SEC.delete().where(_SEC.c.secret_id == secret_id))

        self.db.write(write)

    def list_secrets(self, provider: str | None = None) -> list[JSON]:
        """All secrets' metadata, optionally of one provider."""
        query = sa.select(_SEC).where(_SEC.c.workspace == _ws()).order_by(_SEC.c.created_at, _SEC.c.secret_id)
        if provider:
            query = query.where(_SEC.c.provider == provider)
        with self.db.read() as conn:
            return [_secret_json(r) for r in conn.execute(query)]

    # -------------------------------------------------------- model definitions
    def _definitions(self, conn: sa.Connection, where: Any = None) -> list[JSON]:
        query = (
            sa.select(_DEF, _SEC.c.secret_name)
            .select_from(_DEF.outerjoin(_SEC, _SEC.c.secret_id == _DEF.c.secret_id))
            .where(_DEF.c.workspace == _ws())
            .order_by(_DEF.c.created_at, _DEF.c.model_definition_id)
        )
        if where is not None:
            query = query.where(where)
        return [_definition_json(r, r.secret_name) for r in conn.execute(query)]

    def _definition(self, conn: sa.Connection, definition_id: str) -> JSON:
        found = self._definitions(conn, _DEF.c.model_definition_id == definition_id)
        if not found:
            raise not_found(f"GatewayModelDefinition not found (model_definition_id='{definition_id}')")
        return found[0]

    def create_model_definition(
        self, name: str, secret_id: str, provider: str, model_name: str, created_by: str | None = None
    ) -> JSON:
        """A named (provider, model, secret) triple; the secret must exist and the name be new."""
        now = now_ms()
        row = {
            "model_definition_id": _new_id("d"),
            "name": name,
            "secret_id": secret_id,
            "provider": provider,
            "model_name": model_name,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
            "workspace": _ws(),
        }

        def write(conn: sa.Connection) -> JSON:
            self._secret_row(conn, secret_id)
            conn.execute(_DEF.insert().values(**row))
            return self._definition(conn, row["model_definition_id"])

        return self.db.write(write, _exists("Model definition", name))

    def get_model_definition(self, definition_id: str) -> JSON:
        """One model definition (with its secret's name)."""
        with self.db.read() as conn:
            return self._definition(conn, definition_id)

    def list_model_definitions(self, provider: str | None = None, secret_id: str | None = None) -> list[JSON]:
        """All model definitions, optionally of one provider and/or one secret."""
        where = sa.true()
        if provider:
            where = sa.and_(where, _DEF.c.provider == provider)
        if secret_id:
            where = sa.and_(where, _DEF.c.secret_id == secret_id)
        with self.db.read() as conn:
            return self._definitions(conn, where)

    def update_model_definition(
        self, definition_id: str, updated_by: str | None = None, **changes: Any
    ) -> JSON:
        """Change ``name``/``secret_id``/``model_name``/``provider`` (``None`` leaves a field)."""
        values = {k: v for k, v in changes.items() if v is not None}

        def write(conn: sa.Connection) -> JSON:
            self._definition(conn, definition_id)
            if values.get("secret_id"):
                self._secret_row(conn, values["secret_id"])
            values["last_updated_at"] = now_ms()
            if updated_by:
                values["last_updated_by"] = updated_by
            conn.execute(_DEF.update().where(_DEF.c.model_definition_id == definition_id).values(**values))
            return self._definition(conn, definition_id)

        return self.db.write(write, _exists("Model definition", str(changes.get("name"))))

    def delete_model_definition(self, definition_id: str) -> None:
        """Delete a model definition that no endpoint uses."""

        def write(conn: sa.Connection) -> None:
            self._definition(conn, definition_id)
            used = conn.execute(
                sa.select(_MAP.c.mapping_id).where(_MAP.c.model_definition_id == definition_id)
            )
            if used.first() is not None:
                raise MltrailException(
                    "Cannot delete model definition that is currently in use by endpoints. "
                    "Detach it from all endpoints first.",
                    INVALID_STATE,
                )
            conn.execute(_DEF.delete().where(_DEF.c.model_definition_id == definition_id))

        self.db.write(write)

    # ---------------------------------------------------------------- endpoints
    def _endpoint_row(self, conn: sa.Connection, endpoint_id: str | None, name: str | None = None) -> Any:
        where = _END.c.endpoint_id == endpoint_id if endpoint_id else _END.c.name == name
        row = conn.execute(sa.select(_END).where(where, _END.c.workspace == _ws())).first()
        if row is None:
            key = f"endpoint_id='{endpoint_id}'" if endpoint_id else f"name='{name}'"
            raise not_found(f"GatewayEndpoint not found ({key})")
        return row

    def _endpoint_json(self, conn: sa.Connection, row: Any) -> JSON:
        defs = {
            d["model_definition_id"]: d
            for d in self._definitions(
                conn,
                _DEF.c.model_definition_id.in_(
                    sa.select(_MAP.c.model_definition_id).where(_MAP.c.endpoint_id == row.endpoint_id)
                ),
            )
        }
        mappings = [
            _some(
                {
                    "mapping_id": m.mapping_id,
                    "endpoint_id": m.endpoint_id,
                    "model_definition_id": m.model_definition_id,
                    "model_definition": defs.get(m.model_definition_id),
                    "weight": m.weight,
                    "linkage_type": m.linkage_type,
                    "fallback_order": m.fallback_order,
                    "created_at": m.created_at,
                    "created_by": m.created_by,
                }
            )
            for m in conn.execute(
                sa.select(_MAP)
                .where(_MAP.c.endpoint_id == row.endpoint_id)
                # Primaries first, then fallbacks in their order: rows written in one call share a
                # millisecond, and their random ids would otherwise decide.
                .order_by(
                    sa.case((_MAP.c.linkage_type == PRIMARY, 0), else_=1),
                    _MAP.c.fallback_order,
                    _MAP.c.created_at,
                    _MAP.c.mapping_id,
                )
            )
        ]
        tags = [
            _some({"key": t.key, "value": t.value})
            for t in conn.execute(
                sa.select(_TAG).where(_TAG.c.endpoint_id == row.endpoint_id).order_by(_TAG.c.key)
            )
        ]
        fallback = json.loads(row.fallback_config) if row.fallback_config else None
        return _some(
            {
                "endpoint_id": row.endpoint_id,
                "name": row.name,
                "created_at": row.created_at,
                "last_updated_at": row.last_updated_at,
                "model_mappings": mappings,
                "created_by": row.created_by or "",
                "last_updated_by": row.last_updated_by or "",
                "tags": tags,
                "routing_strategy": row.routing_strategy,
                "fallback_config": _some(
                    {"strategy": fallback.get("strategy"), "max_attempts": fallback.get("max_attempts")}
                )
                if fallback is not None
                else None,
                "experiment_id": row.experiment_id,
                "usage_tracking": bool(row.usage_tracking),
            }
        )

    def _set_mappings(
        self, conn: sa.Connection, endpoint_id: str, configs: list[JSON], by: str | None
    ) -> None:
        wanted = {c["model_definition_id"] for c in configs}
        found = {
            r[0]
            for r in conn.execute(
                sa.select(_DEF.c.model_definition_id).where(
                    _DEF.c.model_definition_id.in_(wanted), _DEF.c.workspace == _ws()
                )
            )
        }
        if missing := sorted(wanted - found):
            raise not_found(f"Model definitions not found: {', '.join(missing)}")
        conn.execute(_MAP.delete().where(_MAP.c.endpoint_id == endpoint_id))
        for config in configs:
            self._insert_mapping(conn, endpoint_id, config, by)

    @staticmethod
    def _insert_mapping(conn: sa.Connection, endpoint_id: str, config: JSON, by: str | None) -> str:
        mapping_id = _new_id("m")
        conn.execute(
            _MAP.insert().values(
                mapping_id=mapping_id,
                endpoint_id=endpoint_id,
                model_definition_id=config["model_definition_id"],
                weight=float(config.get("weight", 1.0)),
                linkage_type=config["linkage_type"],
                fallback_order=config.get("fallback_order"),
                created_at=now_ms(),
                created_by=by,
            )
        )
        return mapping_id

    @staticmethod
    def _fallback_json(
        configs: list[JSON], fallback: JSON | None, keep: list[str] | None = None
    ) -> str | None:
        ids = (
            [c["model_definition_id"] for c in configs if c["linkage_type"] == FALLBACK]
            if keep is None
            else keep
        )
        if fallback is None and not ids:
            return None
        fallback = fallback or {}
        return json.dumps(
            {
                "strategy": fallback.get("strategy"),
                "max_attempts": fallback.get("max_attempts"),
                "model_definition_ids": ids,
            }
        )

    @staticmethod
    def new_endpoint_id() -> str:
        """A fresh endpoint id (``e-<32 hex>``), for a caller that names it before the endpoint
        exists (its tracking experiment is tagged with it, as in MLflow)."""
        return _new_id("e")

    def create_endpoint(
        self,
        name: str,
        configs: list[JSON],
        created_by: str | None,
        routing_strategy: str | None,
        fallback: JSON | None,
        experiment_id: str | None,
        usage_tracking: bool,
        endpoint_id: str | None = None,
    ) -> JSON:
        """A new endpoint routing to existing model definitions (at least one); ``endpoint_id``
        from :meth:`new_endpoint_id` when the caller needs it first, else a fresh one."""
        if not configs:
            raise invalid("Endpoint must have at least one model configuration")
        endpoint_id, now = endpoint_id or _new_id("e"), now_ms()

        def write(conn: sa.Connection) -> JSON:
            conn.execute(
                _END.insert().values(
                    endpoint_id=endpoint_id,
                    name=name,
                    routing_strategy=routing_strategy,
                    fallback_config=self._fallback_json(configs, fallback),
                    experiment_id=experiment_id,
                    usage_tracking=usage_tracking,
                    created_at=now,
                    last_updated_at=now,
                    created_by=created_by,
                    last_updated_by=created_by,
                    workspace=_ws(),
                )
            )
            self._set_mappings(conn, endpoint_id, configs, created_by)
            return self._endpoint_json(conn, self._endpoint_row(conn, endpoint_id))

        return self.db.write(write, _exists("Endpoint", name))

    def get_endpoint(self, endpoint_id: str | None = None, name: str | None = None) -> JSON:
        """One endpoint by id or by name, with its model mappings and tags."""
        if bool(endpoint_id) == bool(name):
            raise invalid("Exactly one of 'endpoint_id' or 'name' must be provided.")
        with self.db.read() as conn:
            return self._endpoint_json(conn, self._endpoint_row(conn, endpoint_id, name))

    def update_endpoint(
        self,
        endpoint_id: str,
        name: str | None,
        configs: list[JSON] | None,
        updated_by: str | None,
        routing_strategy: str | None,
        fallback: JSON | None,
        experiment_id: str | None,
        usage_tracking: bool | None,
    ) -> JSON:
        """Change what is given; ``configs`` replaces every model mapping."""

        def write(conn: sa.Connection) -> JSON:
            row = self._endpoint_row(conn, endpoint_id)
            values: JSON = {"last_updated_at": now_ms()}
            if updated_by:
                values["last_updated_by"] = updated_by
            for key, value in (
                ("name", name),
                ("routing_strategy", routing_strategy),
                ("experiment_id", experiment_id),
                ("usage_tracking", usage_tracking),
            ):
                if value is not None:
                    values[key] = value
            if configs is not None:
                self._set_mappings(conn, endpoint_id, configs, updated_by)
                values["fallback_config"] = self._fallback_json(configs, fallback) or json.dumps(
                    {"strategy": None, "max_attempts": None, "model_definition_ids": []}
                )
            elif fallback is not None:
                kept = (
                    json.loads(row.fallback_config).get("model_definition_ids", [])
                    if row.fallback_config
                    else []
                )
                values["fallback_config"] = self._fallback_json([], fallback, kept)
            conn.execute(_END.update().where(_END.c.endpoint_id == endpoint_id).values(**values))
            return self._endpoint_json(conn, self._endpoint_row(conn, endpoint_id))

        return self.db.write(write, _exists("Endpoint", str(name)))

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete an endpoint with its mappings, tags, bindings and usage counters."""

        def write(conn: sa.Connection) -> None:
            self._endpoint_row(conn, endpoint_id)
            for table in (_MAP, _TAG, _BIND, _USE):
                conn.execute(table.delete().where(table.c.endpoint_id == endpoint_id))
            conn.execute(_END.delete().where(_END.c.endpoint_id == endpoint_id))

        self.db.write(write)

    def list_endpoints(self, provider: str | None = None, secret_id: str | None = None) -> list[JSON]:
        """Endpoints with at least one model (of ``provider`` / using ``secret_id`` when given)."""
        used = sa.select(_MAP.c.endpoint_id).select_from(
            _MAP.join(_DEF, _DEF.c.model_definition_id == _MAP.c.model_definition_id)
        )
        if provider:
            used = used.where(_DEF.c.provider == provider)
        if secret_id:
            used = used.where(_DEF.c.secret_id == secret_id)
        if not provider and not secret_id:
            used = sa.select(_MAP.c.endpoint_id)
        query = (
            sa.select(_END)
            .where(_END.c.endpoint_id.in_(used), _END.c.workspace == _ws())
            .order_by(_END.c.created_at, _END.c.endpoint_id)
        )
        with self.db.read() as conn:
            return [self._endpoint_json(conn, r) for r in conn.execute(query).all()]

    def attach_model(self, endpoint_id: str, config: JSON, created_by: str | None) -> JSON:
        """Add one model mapping to an endpoint."""

        def write(conn: sa.Connection) -> JSON:
            self._endpoint_row(conn, endpoint_id)
            self._definition(conn, config["model_definition_id"])
            mapping_id = self._insert_mapping(conn, endpoint_id, config, created_by)
            values: JSON = {"last_updated_at": now_ms()}
            if created_by:
                values["last_updated_by"] = created_by
            conn.execute(_END.update().where(_END.c.endpoint_id == endpoint_id).values(**values))
            found = self._endpoint_json(conn, self._endpoint_row(conn, endpoint_id))["model_mappings"]
            return next(m for m in found if m["mapping_id"] == mapping_id)

        def conflict(err: sa.exc.IntegrityError) -> MltrailException:
            return MltrailException(
                f"Model definition '{config['model_definition_id']}' is already attached to endpoint '{endpoint_id}'",
                RESOURCE_ALREADY_EXISTS,
            )

        return self.db.write(write, conflict)

    def detach_model(self, endpoint_id: str, definition_id: str) -> None:
        """Remove an endpoint's mappings to one model definition."""

        def write(conn: sa.Connection) -> None:
            self._endpoint_row(conn, endpoint_id)
            where = sa.and_(_MAP.c.endpoint_id == endpoint_id, _MAP.c.model_definition_id == definition_id)
            if conn.execute(sa.select(_MAP.c.mapping_id).where(where)).first() is None:
                raise not_found(
                    f"Model definition '{definition_id}' is not attached to endpoint '{endpoint_id}'"
                )
            conn.execute(_MAP.delete().where(where))

        self.db.write(write)
