"""``AuthStore``: users and per-resource permissions in their own database (SQLAlchemy Core).

The tables are MLflow's (``users``, ``experiment_permissions``,
``registered_model_permissions``, as MLflow 2.x created them; ``roles``,
``role_permissions`` and ``user_role_assignments`` as MLflow 3.17 did), so a
``basic_auth.db`` written by MLflow works here and the other way round (defined in
:mod:`mltrail.server.auth.tables`); they are
created on start when missing (SQLite, PostgreSQL, MySQL).

Every write is one transaction. Reads that sit on the request path
(:meth:`AuthStore.get_user`, the permission lookups) are cached in-process: a
write made through this store clears the cache at once; writes made by another
worker process (or straight in SQL) are seen after at most
``permission_cache_ttl_seconds``.

Example::

    store = AuthStore("sqlite:///basic_auth.db")
    store.create_user("alice", "a-long-password", is_admin=False)
    store.grant_experiment("1", "alice", get_permission("EDIT"))
    store.experiment_permission("1", "alice")   # -> Permission(name='EDIT', ...)
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from mltrail.exceptions import (
    RESOURCE_ALREADY_EXISTS,
    MltrailException,
    invalid,
    not_found,
)
from mltrail.server.auth.passwords import hash_password, verify_password
from mltrail.server.auth.permissions import Permission, get_permission
from mltrail.server.auth.roles import RoleStore
from mltrail.server.auth.tables import (  # noqa: F401  (re-exported: the store's tables)
    GATEWAY_GRANTS,
    TOKEN_PREFIX,
    access_tokens,
    experiment_permissions,
    gateway_endpoint_permissions,
    gateway_model_definition_permissions,
    gateway_secret_permissions,
    metadata,
    registered_model_permissions,
    role_permissions,
    roles,
    user_role_assignments,
    users,
)
from mltrail.store.sql.database import database_for
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

T = TypeVar("T")

MIN_PASSWORD_LENGTH = 12  # MLflow 3.17's policy (mlflow.utils.validation._validate_password)
MAX_NAME_LENGTH = 255  # the VARCHAR(255) columns of MLflow's schema

@dataclass(frozen=True, slots=True)
class User:
    """A user of the server (never carries the password hash)."""

    id: int
    username: str
    is_admin: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "is_admin": self.is_admin}


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What is known about an API token after it was created (never the token itself)."""

    id: int
    name: str
    created_time: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_time": self.created_time}


def token_digest(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


_MISSING = object()


class _TTLCache:
    """A dict with per-entry expiry, bounded in size, safe against a racing write.

    ``clear()`` bumps a generation number; a value loaded before a clear is not
    stored afterwards, so a write is never undone by a reader that started before it.
    """

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._data: dict[Any, tuple[float, Any]] = {}
        self._generation = 0

    def get_or_load(self, key: Any, load: Callable[[], Any]) -> Any:
        hit = self._data.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        value = load()
        if self.ttl > 0 and generation == self._generation:
            if len(self._data) >= self.max_size:
                self._data.clear()
            self._data[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        self._generation += 1
        self._data.clear()


def validate_username(username: Any) -> str:
    """A non-empty string of at most 255 characters, else 400."""
    if not isinstance(username, str) or not username:
        raise invalid("Username cannot be empty.")
    if len(username) > MAX_NAME_LENGTH:
        raise invalid(
            f"Username had length {len(username)}, which exceeds the maximum length of 255 characters"
        )
    return username


def validate_password(password: Any) -> str:
    """MLflow 3.17's password policy: a string of at least 12 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def _check_key(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing value for required parameter '{what}'.")
    if len(value) > MAX_NAME_LENGTH:
        raise invalid(f"{what} had length {len(value)}, which exceeds the maximum length of 255 characters")
    return value


class AuthStore:
    """Users and experiment / registered-model permissions (see the module docstring)."""

    def __init__(
        self, database_uri: str, *, cache_ttl_seconds: float = 10.0, cache_max_size: int = 10_000
    ) -> None:
        self.database_uri = database_uri
        self.db = database_for(database_uri)
        self.engine = self.db.engine
        self._cache = _TTLCache(cache_ttl_seconds, cache_max_size)
        # Called with a username after a write that changes how that user authenticates
        # (the credential cache of AuthService drops the user's entries).
        self.on_user_changed: list[Callable[[str], None]] = []
        self._write_lock = threading.Lock()  # one writer at a time in-process (SQLite)
        self._create_tables()
        #: Roles, their permissions and assignments (MLflow 3.17's RBAC).
        self.roles = RoleStore(self)

    # ---------------------------------------------------------------- schema
    def _create_tables(self) -> None:
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError:
            # Another worker created them between our check and create: check again.
            metadata.create_all(self.engine, checkfirst=True)

    # --------------------------------------------------------------- helpers
    def _read(self, fn: Callable[[sa.Connection], T]) -> T:
        with self.db.read() as conn:
            return fn(conn)

    def _write(self, fn: Callable[[sa.Connection], T], *, user: str | None = None) -> T:
        with self._write_lock:
            try:
                result = self.db.write(fn)
            finally:
                # Clear even on failure: a concurrent load must not keep a value we may have changed.
                self._cache.clear()
        if user is not None:
            for callback in self.on_user_changed:
                callback(user)
        return result

    @staticmethod
    def _user_row(conn: sa.Connection, username: str) -> Any:
        row = conn.execute(
            sa.select(users.c.id, users.c.username, users.c.is_admin, users.c.password_hash).where(
                users.c.username == username
            )
        ).first()
        if row is None:
            raise not_found(f"User with username={username} not found")
        return row

    # ------------------------------------------------------------------ users
    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        """A new user; 400 ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""
        validate_username(username)
        validate_password(password)
        pwhash = hash_password(password)  # slow on purpose: outside the transaction

        def insert(conn: sa.Connection) -> User:
            try:
                result = conn.execute(
                    users.insert().values(username=username, password_hash=pwhash, is_admin=bool(is_admin))
                )
            except sa.exc.IntegrityError:
                raise MltrailException(
                    f"User (username={username}) already exists.", error_code=RESOURCE_ALREADY_EXISTS
                ) from None
            return User(int(result.inserted_primary_key[0]), username, bool(is_admin))

        return self._write(insert, user=username)

    def get_user(self, username: str) -> User:
        """The user called ``username`` (cached); 404 ``RESOURCE_DOES_NOT_EXIST`` if there is none."""
        user = self._cache.get_or_load(("user", username), lambda: self._load_user(username))
        if user is _MISSING:
            raise not_found(f"User with username={username} not found")
        return user

    def _load_user(self, username: str) -> Any:
        row = self._read(
            lambda conn: conn.execute(
                sa.select(users.c.id, users.c.username, users.c.is_admin).where(users.c.username == username)
            ).first()
        )
        return _MISSING if row is None else User(int(row.id), row.username, bool(row.is_admin))

    def has_user(self, username: str) -> bool:
        """True if ``username`` exists (uncached)."""
        return self._load_user(username) is not _MISSING

    def user_count(self) -> int:
        """How many users exist (uncached)."""
        return int(
            self._read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())
        )

    def list_users(self) -> list[User]:
        """Every user, by id."""
        rows = self._read(
            lambda conn: conn.execute(
                sa.select(users.c.id, users.c.username, users.c.is_admin).order_by(users.c.id)
            ).all()
        )
        return [User(int(r.id), r.username, bool(r.is_admin)) for r in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else None (reads the hash uncached, verifies it)."""
        row = self._read(
            lambda conn: conn.execute(
                sa.select(users.c.id, users.c.username, users.c.is_admin, users.c.password_hash).where(
                    users.c.username == username
                )
            ).first()
        )
        if row is None or not verify_password(row.password_hash or "", password):
            return None
        return User(int(row.id), row.username, bool(row.is_admin))

    def update_user(self, username: str, password: str | None = None, is_admin: bool | None = None) -> User:
        """Change a user's password and/or admin flag; 404 if the user does not exist."""
        values: dict[str, Any] = {}
        if password is not None:
            validate_password(password)
            values["password_hash"] = hash_password(password)
        if is_admin is not None:
            values["is_admin"] = bool(is_admin)

        def update(conn: sa.Connection) -> User:
            row = self._user_row(conn, username)
            if values:
                conn.execute(users.update().where(users.c.id == row.id).values(**values))
            return User(int(row.id), username, bool(values.get("is_admin", row.is_admin)))

        return self._write(update, user=username)

    def delete_user(self, username: str) -> None:
        """Delete a user and every permission granted to them, in one transaction."""

        def delete(conn: sa.Connection) -> None:
            row = self._user_row(conn, username)
            conn.execute(experiment_permissions.delete().where(experiment_permissions.c.user_id == row.id))
            conn.execute(access_tokens.delete().where(access_tokens.c.user_id == row.id))
            conn.execute(user_role_assignments.delete().where(user_role_assignments.c.user_id == row.id))
            conn.execute(
                registered_model_permissions.delete().where(registered_model_permissions.c.user_id == row.id)
            )
            for table, _ in GATEWAY_GRANTS.values():
                conn.execute(table.delete().where(table.c.user_id == row.id))
            conn.execute(users.delete().where(users.c.id == row.id))

        self._write(delete, user=username)

    # ------------------------------------------------------------ API tokens
    def create_token(self, username: str, name: str = "") -> tuple[str, AccessToken]:
        """A new API token for ``username``: (the token, shown once; its record)."""
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            raise invalid("Token name must be a string of at most 255 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = int(time.time() * 1000)

        def insert(conn: sa.Connection) -> AccessToken:
            user_id = self._user_row(conn, username).id
            result = conn.execute(
                access_tokens.insert().values(
                    user_id=user_id, token_hash=token_digest(token), name=name, created_time=created
                )
            )
            return AccessToken(int(result.inserted_primary_key[0]), name, created)

        return token, self._write(insert)

    def list_tokens(self, username: str) -> list[AccessToken]:
        """The API tokens of ``username`` (their records, not the tokens)."""

        def load(conn: sa.Connection) -> list[AccessToken]:
            user_id = self._user_row(conn, username).id
            rows = conn.execute(
                sa.select(access_tokens.c.id, access_tokens.c.name, access_tokens.c.created_time)
                .where(access_tokens.c.user_id == user_id)
                .order_by(access_tokens.c.id)
            ).all()
            return [AccessToken(int(r.id), r.name, int(r.created_time)) for r in rows]

        return self._read(load)

    def delete_token(self, username: str, token_id: int) -> None:
        """Revoke one of ``username``'s API tokens; 404 if they have no token ``token_id``."""

        def delete(conn: sa.Connection) -> None:
            user_id = self._user_row(conn, username).id
            deleted = conn.execute(
                access_tokens.delete().where(
                    access_tokens.c.id == token_id, access_tokens.c.user_id == user_id
                )
            ).rowcount
            if not deleted:
                raise not_found(f"Access token with id={token_id} and username={username} not found")

        self._write(delete, user=username)

    def user_for_token(self, token: str) -> User | None:
        """The owner of API token ``token``, or None (uncached)."""
        row = self._read(
            lambda conn: conn.execute(
                sa.select(users.c.id, users.c.username, users.c.is_admin)
                .select_from(access_tokens.join(users, users.c.id == access_tokens.c.user_id))
                .where(access_tokens.c.token_hash == token_digest(token))
            ).first()
        )
        return None if row is None else User(int(row.id), row.username, bool(row.is_admin))

    # ------------------------------------------- permission lookups (request path)
    def experiment_permission(self, experiment_id: str, username: str) -> Permission | None:
        """The permission explicitly granted to ``username`` on the experiment, or None."""
        return self._cache.get_or_load(
            ("exp", experiment_id, username),
            lambda: self._load_grant(
                experiment_permissions, experiment_permissions.c.experiment_id, experiment_id, username
            ),
        )

    def registered_model_permission(self, name: str, username: str) -> Permission | None:
        """The permission explicitly granted to ``username`` on the registered model, or None."""
        return self._cache.get_or_load(
            ("model", model_grant_key(name), username),
            lambda: self._load_grant(
                registered_model_permissions, registered_model_permissions.c.name, model_grant_key(name), username
            ),
        )

    def experiment_permissions_of(self, username: str) -> dict[str, Permission]:
        """Every explicit experiment grant of ``username``: experiment id -> permission."""
        return self._cache.get_or_load(
            ("exps_of", username),
            lambda: self._load_grants_of(
                experiment_permissions, experiment_permissions.c.experiment_id, username
            ),
        )

    def registered_model_permissions_of(self, username: str) -> dict[str, Permission]:
        """Every explicit registered-model grant of ``username`` in the request's workspace:
        model name -> permission."""
        grants = self._cache.get_or_load(
            ("models_of", username),
            lambda: self._load_grants_of(
                registered_model_permissions, registered_model_permissions.c.name, username
            ),
        )
        ws = active_workspace()
        if ws is not None and ws != DEFAULT_WORKSPACE:
            prefix = f"{ws}:"
            return {key[len(prefix) :]: perm for key, perm in grants.items() if key.startswith(prefix)}
        return {key: perm for key, perm in grants.items() if ":" not in key}

    def gateway_permission(self, resource_type: str, resource_id: str, username: str) -> Permission | None:
        """The permission explicitly granted to ``username`` on a gateway resource, or None.

        ``resource_type`` is a key of :data:`GATEWAY_GRANTS` (``gateway_endpoint``, ...).
        """
        table, key = GATEWAY_GRANTS[resource_type]
        return self._cache.get_or_load(
            (resource_type, resource_id, username),
            lambda: self._load_grant(table, table.c[key], resource_id, username),
        )

    def gateway_permissions_of(self, resource_type: str, username: str) -> dict[str, Permission]:
        """Every explicit grant of ``username`` on gateway resources of one type: id -> permission."""
        table, key = GATEWAY_GRANTS[resource_type]
        return self._cache.get_or_load(
            (resource_type + "s_of", username), lambda: self._load_grants_of(table, table.c[key], username)
        )

    def _load_grant(self, table: sa.Table, key_col: sa.Column, key: str, username: str) -> Permission | None:
        stmt = (
            sa.select(table.c.permission)
            .select_from(table.join(users, users.c.id == table.c.user_id))
            .where(key_col == key, users.c.username == username)
        )
        value = self._read(lambda conn: conn.execute(stmt).scalar())
        return _stored_permission(value) if value is not None else None

    def _load_grants_of(self, table: sa.Table, key_col: sa.Column, username: str) -> dict[str, Permission]:
        stmt = (
            sa.select(key_col, table.c.permission)
            .select_from(table.join(users, users.c.id == table.c.user_id))
            .where(users.c.username == username)
        )
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return {str(key): _stored_permission(perm) for key, perm in rows}

    # ------------------------------------------------ grants (create or update)
    def grant_experiment(self, experiment_id: str, username: str, permission: Permission) -> None:
        """Give ``username`` ``permission`` on the experiment (create or update)."""
        self._upsert(experiment_permissions, "experiment_id", str(experiment_id), username, permission)

    def grant_registered_model(self, name: str, username: str, permission: Permission) -> None:
        """Give ``username`` ``permission`` on the registered model (create or update)."""
        self._upsert(registered_model_permissions, "name", model_grant_key(name), username, permission)

    def grant_gateway(self, resource_type: str, resource_id: str, username: str, permission: Permission) -> None:
        """Give ``username`` ``permission`` on a gateway resource (create or update)."""
        table, key = GATEWAY_GRANTS[resource_type]
        self._upsert(table, key, resource_id, username, permission)

    def _upsert(
        self, table: sa.Table, key_name: str, key: str, username: str, permission: Permission
    ) -> None:
        _check_key(key_name, key)

        def upsert(conn: sa.Connection) -> None:
            user_id = self._user_row(conn, username).id
            where = sa.and_(table.c[key_name] == key, table.c.user_id == user_id)
            updated = conn.execute(table.update().where(where).values(permission=permission.name)).rowcount
            if not updated:
                conn.execute(
                    table.insert().values({key_name: key, "user_id": user_id, "permission": permission.name})
                )

        self._write(upsert)

    # ------------------------------- MLflow's create/get/update/delete semantics
    def create_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> tuple[int, Permission]:
        """Insert a grant; 400 ``RESOURCE_ALREADY_EXISTS`` if there is one. Returns (user id, permission)."""
        return self._create(
            experiment_permissions, "experiment_id", experiment_id, username, permission,
            f"Experiment permission (experiment_id={experiment_id}, username={username}) already exists.",
        )  # fmt: skip

    def create_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> tuple[int, Permission]:
        """Insert a grant; 400 ``RESOURCE_ALREADY_EXISTS`` if there is one. Returns (user id, permission)."""
        return self._create(
            registered_model_permissions, "name", model_grant_key(name), username, permission,
            f"Registered model permission (name={name}, username={username}) already exists.",
        )  # fmt: skip

    def get_experiment_permission(self, experiment_id: str, username: str) -> tuple[int, Permission]:
        """(user id, permission) of an existing grant; 404 if there is none (uncached)."""
        return self._read(
            lambda conn: self._grant_row(conn, *self._experiment_args(experiment_id, username))[1:]
        )

    def get_registered_model_permission(self, name: str, username: str) -> tuple[int, Permission]:
        """(user id, permission) of an existing grant; 404 if there is none (uncached)."""
        return self._read(lambda conn: self._grant_row(conn, *self._model_args(name, username))[1:])

    def update_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> tuple[int, Permission]:
        """Change an existing grant; 404 if there is none."""
        return self._update(self._experiment_args(experiment_id, username), permission)

    def update_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> tuple[int, Permission]:
        """Change an existing grant; 404 if there is none."""
        return self._update(self._model_args(name, username), permission)

    def delete_experiment_permission(self, experiment_id: str, username: str) -> None:
        """Remove an existing grant; 404 if there is none."""
        self._delete(self._experiment_args(experiment_id, username))

    def delete_registered_model_permission(self, name: str, username: str) -> None:
        """Remove an existing grant; 404 if there is none."""
        self._delete(self._model_args(name, username))

    def create_gateway_permission(
        self, resource_type: str, resource_id: str, username: str, permission: str
    ) -> tuple[int, Permission]:
        """Insert a grant on a gateway resource; 400 ``RESOURCE_ALREADY_EXISTS`` if there is one."""
        table, key = GATEWAY_GRANTS[resource_type]
        return self._create(
            table, key, resource_id, username, permission,
            f"Permission for user={username} on resource_type={resource_type}, "
            f"resource_id={resource_id} already exists.",
        )  # fmt: skip

    def delete_gateway_permission(self, resource_type: str, resource_id: str, username: str) -> None:
        """Remove a grant on a gateway resource; 404 if there is none."""
        table, key = GATEWAY_GRANTS[resource_type]
        self._delete(
            (
                table, key, resource_id, username,
                f"Permission for user={username} on resource_type={resource_type}, "
                f"resource_id={resource_id} not found.",
            )
        )  # fmt: skip

    def delete_gateway_permissions(self, resource_type: str, resource_id: str) -> None:
        """Drop every grant on a gateway resource (when it is deleted)."""
        table, key = GATEWAY_GRANTS[resource_type]
        self._write(lambda conn: conn.execute(table.delete().where(table.c[key] == resource_id)))

    @staticmethod
    def _experiment_args(experiment_id: str, username: str) -> tuple[sa.Table, str, str, str, str]:
        return (
            experiment_permissions, "experiment_id", experiment_id, username,
            f"Experiment permission with experiment_id={experiment_id} and username={username} not found",
        )  # fmt: skip

    @staticmethod
    def _model_args(name: str, username: str) -> tuple[sa.Table, str, str, str, str]:
        return (
            registered_model_permissions, "name", model_grant_key(name), username,
            f"Registered model permission with name={name} and username={username} not found",
        )  # fmt: skip

    def _grant_row(
        self, conn: sa.Connection, table: sa.Table, key_name: str, key: str, username: str, missing: str
    ) -> tuple[int, int, Permission]:
        user_id = self._user_row(conn, username).id
        row = conn.execute(
            sa.select(table.c.id, table.c.permission).where(
                table.c[key_name] == key, table.c.user_id == user_id
            )
        ).first()
        if row is None:
            raise not_found(missing)
        return int(row.id), int(user_id), _stored_permission(row.permission)

    def _create(
        self, table: sa.Table, key_name: str, key: str, username: str, permission: str, duplicate: str
    ) -> tuple[int, Permission]:
        _check_key(key_name, key)
        perm = get_permission(permission)

        def insert(conn: sa.Connection) -> tuple[int, Permission]:
            user_id = int(self._user_row(conn, username).id)
            exists = conn.execute(
                sa.select(table.c.id).where(table.c[key_name] == key, table.c.user_id == user_id)
            ).first()
            if exists is not None:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS)
            try:
                conn.execute(
                    table.insert().values({key_name: key, "user_id": user_id, "permission": perm.name})
                )
            except sa.exc.IntegrityError:  # lost a race with another worker's create
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS) from None
            return user_id, perm

        return self._write(insert)

    def _update(self, args: tuple[sa.Table, str, str, str, str], permission: str) -> tuple[int, Permission]:
        perm = get_permission(permission)
        table = args[0]

        def update(conn: sa.Connection) -> tuple[int, Permission]:
            row_id, user_id, _ = self._grant_row(conn, *args)
            conn.execute(table.update().where(table.c.id == row_id).values(permission=perm.name))
            return user_id, perm

        return self._write(update)

    def _delete(self, args: tuple[sa.Table, str, str, str, str]) -> None:
        table = args[0]

        def delete(conn: sa.Connection) -> None:
            row_id, _, _ = self._grant_row(conn, *args)
            conn.execute(table.delete().where(table.c.id == row_id))

        self._write(delete)

    # ------------------------------------- following resources (deletes, renames)
    def delete_experiment_permissions(self, experiment_id: str) -> None:
        """Drop every grant on an experiment (when it is deleted for good)."""
        self._write(
            lambda conn: conn.execute(
                experiment_permissions.delete().where(
                    experiment_permissions.c.experiment_id == str(experiment_id)
                )
            )
        )

    def delete_registered_model_permissions(self, name: str) -> None:
        """Drop every grant on a registered model (when it is deleted)."""
        self._write(
            lambda conn: conn.execute(
                registered_model_permissions.delete().where(
                    registered_model_permissions.c.name == model_grant_key(name)
                )
            )
        )

    def rename_registered_model_permissions(self, old: str, new: str) -> None:
        """Move every grant on registered model ``old`` to ``new`` (when it is renamed)."""
        self._write(
            lambda conn: conn.execute(
                registered_model_permissions.update()
                .where(registered_model_permissions.c.name == model_grant_key(old))
                .values(name=model_grant_key(new))
            )
        )


def model_grant_key(name: str) -> str:
    """The ``registered_model_permissions.name`` of the model ``name`` in the request's workspace.

    A model name is unique per workspace, so a grant names its workspace: ``<workspace>:<name>``
    outside ``default`` (a model name cannot hold ``:``), the bare name in ``default`` and when
    workspaces are off, which is what MLflow 2.x's ``basic_auth.db`` holds.
    """
    ws = active_workspace()
    return name if not name or ws is None or ws == DEFAULT_WORKSPACE else f"{ws}:{name}"


def _stored_permission(name: str | None) -> Permission:
    """A permission name read from the database; an unknown value denies rather than fails."""
    try:
        return get_permission(name or "NO_PERMISSIONS")
    except MltrailException:
        return get_permission("NO_PERMISSIONS")
