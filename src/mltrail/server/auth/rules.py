"""Authorization: which permission every endpoint needs, on which resource.

With ``--app-name basic-auth`` every endpoint of the route table gets a
:class:`Rule` when the app is built (:func:`rule_for`); without it no rule
exists and requests pay nothing. A rule says what the request touches and the
capability it needs, as MLflow 3.17's ``mlflow.server.auth`` does:

* an experiment, found from ``experiment_id``, a run id, a trace id, a logged
  model id, an artifact-proxy path (``<experiment_id>/...``) or OTLP's
  ``x-mlflow-experiment-id`` header;
* a registered model (or prompt, which is one) from its ``name``;
* nothing (any authenticated user: creating an experiment or model), public
  (health, version), or admin only (fail closed for anything unknown).

The effective permission folds the user's explicit grant with their roles' grants
in the request's workspace, else the server's ``default_permission`` (with
``--enable-workspaces``: nothing, see :func:`absent_permission`), as
:mod:`mltrail.server.auth.resolve` says; admins may do anything. A check that fails answers
403 ``PERMISSION_DENIED`` "Permission denied" before the handler runs, so a
refused request never writes anything (uploads are refused before their body
is read).

Around some handlers a rule does more: the creator of an experiment or
registered model gets MANAGE (the create is undone if the grant cannot be
written), model permissions follow renames and deletes, and searches return
only what the caller may read, in full pages.

Example::

    rule = rule_for(endpoint)            # at app build time, only when auth is on
    handler = guard(rule, endpoint.handler)
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool

from mltrail.exceptions import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.server.auth import locate as at
from mltrail.server.auth import permissions
from mltrail.server.auth.locate import Locate, artifact_experiment, logged_model_experiment, run_experiment
from mltrail.server.auth.permissions import MANAGE as ALL
from mltrail.server.auth.resolve import (
    absent_permission,
    can_create,
    combine,
    listed,
    own_grant,
    request_workspace,
    workspace_permission,
)
from mltrail.server.routing import Call, Endpoint
from mltrail.server.scope import USER_SCOPE_KEY
from mltrail.store.workspace_scope import active_workspace

_log = logging.getLogger("mltrail.server.auth")

READ, UPDATE, DELETE, MANAGE = "can_read", "can_update", "can_delete", "can_manage"
USE = "can_use"
_GRANT_ATTEMPTS = 3


class PermissionDenied(MltrailException):
    """403 ``PERMISSION_DENIED`` with MLflow's message."""

    def __init__(self) -> None:
        super().__init__("Permission denied", error_code=PERMISSION_DENIED)


def auth_enabled(config: Any) -> bool:
    """Whether the server runs MLflow's ``basic-auth`` app (rules are built only then)."""
    return getattr(config, "app_name", None) == "basic-auth"


# ------------------------------------------------------------------ who is asking


class Subject:
    """The caller of one request and their permissions, looked up at most once per resource.

    A permission folds the caller's per-user grant with their roles' grants in the request's
    workspace (:mod:`mltrail.server.auth.resolve`).
    """

    __slots__ = ("_effective", "_grants", "_own", "_preloaded", "auth", "user")

    def __init__(self, user: Any, auth: Any) -> None:
        self.user = user
        self.auth = auth
        self._effective: dict[tuple[str, str], Any] = {}
        self._own: dict[tuple[str, str], Any] = {}
        self._preloaded: set[str] = set()
        self._grants: tuple[Any, ...] | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.user is not None and self.user.is_admin)

    def _fixed(self) -> Any:
        """MANAGE for admins, nothing without a user, None when the grants decide."""
        if self.user is None:
            return permissions.NO_PERMISSIONS
        return permissions.MANAGE if self.user.is_admin else None

    def role_grants(self) -> tuple[Any, ...]:
        """The caller's role grants in the request's workspace (loaded once per request)."""
        if self._grants is None:
            self._grants = self.auth.store.roles.grants_of(self.user.username, request_workspace())
        return self._grants

    def _own_grant(self, resource_type: str, resource_id: str) -> Any:
        key = (resource_type, resource_id)
        if key in self._own:
            return self._own[key]
        if resource_type in self._preloaded:
            return None
        self._own[key] = found = own_grant(self.auth, resource_type, resource_id, self.user.username)
        return found

    def _absent(self, resource_type: str) -> Any:
        # The AI gateway's resources are not bound to a workspace: the server's default applies.
        if resource_type.startswith("gateway_"):
            return self.auth.config.default_permission
        return absent_permission(self.auth.config)

    def permission(self, resource_type: str, resource_id: str) -> Any:
        """The caller's effective permission on one resource (MLflow's resource type names)."""
        key = (resource_type, resource_id)
        perm = self._effective.get(key)
        if perm is None:
            perm = self._fixed() or combine(
                self.role_grants(), resource_type, resource_id, self._own_grant(resource_type, resource_id),
                self._absent(resource_type), self.auth.config.default_permission,
            )  # fmt: skip
            self._effective[key] = perm
        return perm

    def lists(self, resource_type: str, resource_id: str) -> bool:
        """Whether a search shows the resource to the caller (a workspace member sees every one)."""
        fixed = self._fixed()
        if fixed is not None:
            return fixed.can_read
        return listed(
            self.role_grants(), resource_type, resource_id, self._own_grant(resource_type, resource_id),
            self._absent(resource_type), self.auth.config.default_permission,
        )  # fmt: skip

    def experiment(self, experiment_id: str) -> Any:
        """The caller's effective permission on one experiment."""
        return self.permission("experiment", _experiment_key(experiment_id))

    def model(self, name: str) -> Any:
        """The caller's effective permission on one registered model or prompt."""
        return self.permission("registered_model", name)

    def gateway(self, resource_type: str, resource_id: str) -> Any:
        """The caller's effective permission on an AI gateway resource.

        ``resource_type`` is MLflow's name: ``gateway_endpoint``, ``gateway_model_definition``
        or ``gateway_secret``; ``resource_id`` the resource's id.
        """
        return self.permission(resource_type, resource_id)

    def require_gateway(self, resource_type: str, resource_id: str, need: str) -> None:
        """Raise :class:`PermissionDenied` unless the caller has ``need`` on the gateway resource."""
        if not getattr(self.gateway(resource_type, resource_id), need):
            raise PermissionDenied()

    def preload_experiments(self) -> None:
        """Fetch every explicit experiment grant at once (searches check many)."""
        self._preload("experiment", lambda username: self.auth.store.experiment_permissions_of(username))

    def preload_models(self) -> None:
        """Fetch every explicit registered-model grant at once."""
        self._preload("registered_model", lambda username: self.auth.store.registered_model_permissions_of(username))

    def _preload(self, resource_type: str, load: Callable[[str], dict[str, Any]]) -> None:
        if self._fixed() is None and resource_type not in self._preloaded:
            for key, perm in load(self.user.username).items():
                self._own[(resource_type, key)] = perm
            self._preloaded.add(resource_type)

    def require_experiment(self, experiment_id: str | None, need: str) -> None:
        """Raise :class:`PermissionDenied` unless the caller has ``need`` on the experiment.

        ``None`` stands for a resource that names no experiment (an artifact outside
        every experiment's folder): as in MLflow, the caller's workspace grant decides
        (a member may look around their workspace), else the absent-grant rule.
        """
        if experiment_id is None:
            perm = self._fixed()
            if perm is None and active_workspace() is not None:
                perm = workspace_permission(self.auth, self.user.username)
            perm = perm or absent_permission(self.auth.config)
        else:
            perm = self.experiment(experiment_id)
        if not getattr(perm, need):
            raise PermissionDenied()

    def require_model(self, name: str, need: str) -> None:
        """Raise :class:`PermissionDenied` unless the caller has ``need`` on the model."""
        if not getattr(self.model(name), need):
            raise PermissionDenied()


def _experiment_key(experiment_id: Any) -> str:
    """The stores read ids with int(): "01" and " 1" are experiment 1, and so are its grants."""
    try:
        return str(int(experiment_id))
    except (TypeError, ValueError):
        return str(experiment_id)


def subject_of(request: Any) -> Subject:
    """The :class:`Subject` of a request (``scope["mltrail.user"]`` set by authentication)."""
    return Subject(request.scope.get(USER_SCOPE_KEY), request.app.state.auth)


# ------------------------------------------------------------------ rules


# A check raises PermissionDenied, or returns None (go on), a narrower Call, or a dict (the answer).
Check = Callable[[Call, Subject], "Call | dict[str, Any] | None"]
Around = Callable[[Callable[[Call], Any], Call, Subject], Any]


class Rule(msgspec.Struct, frozen=True):
    """What one endpoint needs: ``check`` before the handler, ``around`` instead of a bare call.

    ``kind`` names the resource (for docs and the coverage test): ``experiment``,
    ``registered_model``, ``authenticated``, ``public`` or ``admin``. ``check``
    raises :class:`PermissionDenied` or returns a replacement :class:`Call`
    (searches narrowed to readable experiments); ``around`` wraps the handler
    (grants after creates, filtered search pages).
    """

    kind: str
    need: str | None = None
    check: Check | None = None
    around: Around | None = None


def on_experiments(need: str, locate: Locate, around: Around | None = None) -> Rule:
    """A rule needing ``need`` on every experiment ``locate`` finds."""

    def check(call: Call, subject: Subject) -> None:
        for experiment_id in locate(call):
            subject.require_experiment(experiment_id, need)

    return Rule("experiment", need, check, around)


def on_model(need: str, around: Around | None = None) -> Rule:
    """A rule needing ``need`` on the registered model (or prompt) named by ``name``."""

    def check(call: Call, subject: Subject) -> None:
        for name in at.model_name(call):
            subject.require_model(name, need)

    return Rule("registered_model", need, check, around)


def _existing(find: Callable[[], str]) -> str | None:
    """``find()``, or None when what it looks for does not exist (the handler answers that)."""
    try:
        return find()
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
        return None


def _read_sources(call: Call, subject: Subject) -> None:
    """READ on whatever a new model version copies or links: run, logged model, other version, path.

    As MLflow's ``_can_read_model_version_source``: otherwise EDIT on one's own
    model would let a user register (then download) files of a run they cannot read.
    """
    body = call.body
    source = getattr(body, "source", "") or ""
    experiments: list[str | None] = []  # None: the run or model does not exist (the handler says so)
    run_ids = [body.run_id] if getattr(body, "run_id", None) else []
    model_ids = [body.model_id] if getattr(body, "model_id", None) else []
    scheme, _, rest = source.partition(":")
    rest = rest.lstrip("/")
    if scheme == "runs":
        run_ids.append(rest.partition("/")[0])
    elif scheme == "models" and rest.startswith("m-"):
        model_ids.append(rest.partition("/")[0])
    elif scheme == "models" and rest:
        subject.require_model(rest.split("/")[0].split("@")[0], READ)
    elif scheme == "mlflow-artifacts":
        subject.require_experiment(artifact_experiment(rest, admin=subject.is_admin), READ)
    elif "://" in source:  # a remote store: under the default root, the folder names the experiment
        root = call.config.effective_artifact_root().rstrip("/")
        if "://" in root and source.startswith(root + "/"):
            subject.require_experiment(artifact_experiment(source[len(root) + 1 :], admin=subject.is_admin), READ)
    experiments += [_existing(lambda r=r: run_experiment(call, r)) for r in run_ids if r]
    experiments += [_existing(lambda m=m: logged_model_experiment(call, m)) for m in model_ids if m]
    for experiment_id in experiments:
        if experiment_id is not None:
            subject.require_experiment(experiment_id, READ)


def _create_version(call: Call, subject: Subject) -> None:
    for name in at.model_name(call):
        subject.require_model(name, UPDATE)
    _read_sources(call, subject)


def _source_run(call: Call, subject: Subject) -> None:
    """Creating a logged model: UPDATE on its experiment and READ on its source run (MLflow)."""
    for experiment_id in at.body_field("experiment_id")(call):
        subject.require_experiment(experiment_id, UPDATE)
    run_id = call.body.source_run_id
    experiment_id = _existing(lambda: run_experiment(call, run_id)) if run_id else None
    if experiment_id is not None:
        subject.require_experiment(experiment_id, READ)


def _run_and_models(call: Call) -> Iterable[str]:
    """The run's experiment and those of the logged models a call writes to (MLflow checks both)."""
    body = call.body
    found = set(at.run_of_body(call))
    model_ids = {getattr(body, "model_id", None)}
    model_ids |= {m.model_id for m in getattr(body, "models", ()) or ()}
    model_ids |= {m.model_id for m in getattr(body, "metrics", ()) or ()}
    for model_id in model_ids - {None, ""}:
        experiment_id = _existing(lambda m=model_id: logged_model_experiment(call, m))
        if experiment_id is not None:
            found.add(experiment_id)
    return found


def require_user(call: Call, subject: Subject) -> None:
    """Any authenticated caller."""
    if subject.user is None:
        raise PermissionDenied()


def require_admin(call: Call, subject: Subject) -> None:
    """Admins only."""
    if not subject.is_admin:
        raise PermissionDenied()


def require_creator(call: Call, subject: Subject) -> None:
    """An authenticated caller who may create experiments and models in the request's workspace.

    Without workspaces, anyone logged in. With them, admins, holders of a role with USE or
    MANAGE on the workspace, and in ``default`` the users that ``grant_default_workspace_access``
    lets in when ``default_permission`` carries USE (MLflow 3.17's ``_can_create_in_workspace``).
    """
    require_user(call, subject)
    if subject.is_admin or active_workspace() is None:
        return
    if not can_create(subject.auth, subject.user.username):
        raise PermissionDenied()


AUTHENTICATED = Rule("authenticated", None, require_user)
PUBLIC = Rule("public")
ADMIN_ONLY = Rule("admin", None, require_admin)


# ------------------------------------------------------------------ creates, renames, deletes


def _with_retries(action: Callable[[], None]) -> None:
    """Run a permission write, retrying briefly: a busy auth database must not undo a create."""
    for attempt in range(_GRANT_ATTEMPTS):
        try:
            action()
            return
        except Exception:
            if attempt == _GRANT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 4**attempt)


def _grant_failed(what: str) -> MltrailException:
    return MltrailException(
        f"Could not record the creator's permission on the new {what}; nothing was created. Retry the request.",
        error_code="TEMPORARILY_UNAVAILABLE",
    )


def _undo(action: Callable[[], Any], what: str) -> None:
    try:
        action()
    except Exception:  # the grant failure is what the client hears about; this goes to the log
        _log.exception("Could not undo the creation of %s after its permission grant failed", what)


def _creator_manages_experiment(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """Create the experiment, then give its creator MANAGE; undo the create if that fails.

    Grants left behind by an erased experiment whose id the database reuses are
    dropped first, so a new experiment never inherits someone else's grants.
    """
    result = handler(call)
    if subject.user is None:
        return result
    exp_id = str(result["experiment_id"])
    store = subject.auth.store

    def grant() -> None:
        store.delete_experiment_permissions(exp_id)
        store.grant_experiment(exp_id, subject.user.username, ALL)

    try:
        _with_retries(grant)
    except Exception:
        _log.exception("Granting MANAGE on experiment %s failed", exp_id)
        _undo(lambda: call.tracking_store.hard_delete_experiment(exp_id), f"experiment {exp_id}")
        raise _grant_failed("experiment") from None
    return result


def _creator_manages_model(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """Create the registered model (or prompt), then give its creator MANAGE; undo on failure."""
    result = handler(call)
    if subject.user is None:
        return result
    name = result["registered_model"]["name"]
    store = subject.auth.store

    def grant() -> None:
        store.delete_registered_model_permissions(name)  # stale grants of an earlier model of that name
        store.grant_registered_model(name, subject.user.username, ALL)

    try:
        _with_retries(grant)
    except Exception:
        _log.exception("Granting MANAGE on registered model %r failed", name)
        _undo(lambda: call.registry_store.delete_registered_model(name), f"registered model {name!r}")
        raise _grant_failed("registered model") from None
    return result


def _permissions_follow_rename(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """Rename the model, then its grants; rename the model back if the grants cannot follow."""
    result = handler(call)
    old, new = call.body.name, call.body.new_name
    store = subject.auth.store

    def move() -> None:
        store.delete_registered_model_permissions(new)
        store.rename_registered_model_permissions(old, new)

    try:
        _with_retries(move)
    except Exception:
        _log.exception("Moving the permissions of registered model %r to %r failed", old, new)
        _undo(lambda: call.registry_store.rename_registered_model(new, old), f"the rename of {old!r}")
        raise MltrailException(
            "Could not move the model's permissions to its new name; the model keeps its old name. Retry the request.",
            error_code="TEMPORARILY_UNAVAILABLE",
        ) from None
    return result


def _permissions_go_with_model(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """Delete the model, then its grants (a leftover is also dropped when the name is reused)."""
    result = handler(call)
    name = call.body.name
    try:
        _with_retries(lambda: subject.auth.store.delete_registered_model_permissions(name))
    except Exception:
        _log.exception("Deleting the permissions of deleted registered model %r failed", name)
    return result


# ------------------------------------------------------------------ searches


def filtered_page(
    handler: Callable[[Call], Any], call: Call, field: str, keep: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Run a search handler and keep only readable items, refilling the page as MLflow does.

    A page never comes back short while readable items are left: more pages are
    fetched until ``max_results`` readable items are found. When the last page
    fetched holds more than needed, the token must resume right after the last
    item returned, so that page is asked for again up to that item to get the
    store's own token for that position (works with any page-token scheme).
    """
    body = call.body
    result = handler(call)
    items = [item for item in result.get(field, ()) if keep(item)]
    token = result.get("next_page_token")
    want = body.max_results if body.max_results is not None else len(result.get(field, ()))
    while token and len(items) < want:
        page_body = msgspec.structs.replace(body, max_results=want, page_token=token)
        page = handler(Call(call.request, page_body))
        fetched = page.get(field, ())
        readable = [i for i, item in enumerate(fetched) if keep(item)]
        need = want - len(items)
        if len(readable) > need:
            last = readable[need - 1]
            items.extend(fetched[i] for i in readable[:need])
            short = msgspec.structs.replace(body, max_results=last + 1, page_token=token)
            token = handler(Call(call.request, short)).get("next_page_token")
            break
        items.extend(fetched[i] for i in readable)
        token = page.get("next_page_token")
    out = {**result, field: items}
    out.pop("next_page_token", None)
    if token:
        out["next_page_token"] = token
    return out


def _readable_experiments(field: str) -> Around:
    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        if subject.is_admin:
            return handler(call)
        subject.preload_experiments()
        return filtered_page(
            handler, call, field, lambda e: subject.lists("experiment", _experiment_key(e["experiment_id"]))
        )

    return around


def _readable_models(field: str) -> Around:
    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        if subject.is_admin:
            return handler(call)
        subject.preload_models()
        return filtered_page(handler, call, field, lambda m: subject.lists("registered_model", m["name"]))

    return around


def _only_readable_experiment_ids(field: str, empty: dict[str, Any]) -> Rule:
    """Searches over named experiments: unreadable ones are left out (MLflow's ``filter_experiment_ids``).

    When none is left the answer is ``empty`` (an empty page), without a query.
    """

    def check(call: Call, subject: Subject) -> Call | dict[str, Any] | None:
        require_user(call, subject)
        ids = list(getattr(call.body, field))
        if subject.is_admin or not ids:
            return None
        subject.preload_experiments()
        readable = [i for i in ids if subject.lists("experiment", _experiment_key(i))]
        if len(readable) == len(ids):
            return None
        if not readable:
            return dict(empty)
        return Call(call.request, msgspec.structs.replace(call.body, **{field: readable}))

    return Rule("experiment", READ, check)


# ------------------------------------------------------------------ the table


def _key(service: str, path: str, method: str) -> str:
    return f"{method} {service}:{path}"


_T = "mlflow"
_A = "mlflow-artifacts"


def _table() -> dict[str, Rule]:
    exp_body = at.body_field("experiment_id")
    rules: dict[str, Rule] = {
        # meta: public, as in MLflow (server-info lets a client learn the setup before logging in)
        _key("", "/health", "GET"): PUBLIC,
        _key("", "/version", "GET"): PUBLIC,
        _key("", "/openapi.json", "GET"): PUBLIC,
        _key(_T, "/server-info", "GET"): PUBLIC,
        # experiments
        _key(_T, "/experiments/create", "POST"): Rule(
            "authenticated", None, require_creator, _creator_manages_experiment
        ),
        _key(_T, "/experiments/get", "GET"): on_experiments(READ, exp_body),
        _key(_T, "/experiments/get-by-name", "GET"): on_experiments(READ, at.experiment_by_name),
        _key(_T, "/experiments/search", "POST"): Rule(
            "experiment", READ, require_user, _readable_experiments("experiments")
        ),
        _key(_T, "/experiments/search", "GET"): Rule(
            "experiment", READ, require_user, _readable_experiments("experiments")
        ),
        _key(_T, "/experiments/delete", "POST"): on_experiments(DELETE, exp_body),
        _key(_T, "/experiments/restore", "POST"): on_experiments(DELETE, exp_body),
        _key(_T, "/experiments/update", "POST"): on_experiments(UPDATE, exp_body),
        _key(_T, "/experiments/set-experiment-tag", "POST"): on_experiments(UPDATE, exp_body),
        _key(_T, "/experiments/delete-experiment-tag", "POST"): on_experiments(UPDATE, exp_body),
        # runs
        _key(_T, "/runs/create", "POST"): on_experiments(UPDATE, at.body_field("experiment_id", "0")),
        _key(_T, "/runs/get", "GET"): on_experiments(READ, at.run_of_body),
        _key(_T, "/runs/update", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/delete", "POST"): on_experiments(DELETE, at.run_of_body),
        _key(_T, "/runs/restore", "POST"): on_experiments(DELETE, at.run_of_body),
        _key(_T, "/runs/log-metric", "POST"): on_experiments(UPDATE, _run_and_models),
        _key(_T, "/runs/log-parameter", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/set-tag", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/delete-tag", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/log-batch", "POST"): on_experiments(UPDATE, _run_and_models),
        _key(_T, "/runs/log-inputs", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/log-model", "POST"): on_experiments(UPDATE, at.run_of_body),
        _key(_T, "/runs/outputs", "POST"): on_experiments(UPDATE, _run_and_models),
        _key(_T, "/runs/search", "POST"): _only_readable_experiment_ids("experiment_ids", {"runs": []}),
        _key(_T, "/metrics/get-history", "GET"): on_experiments(READ, at.run_of_body),
        _key(_T, "/metrics/get-history-bulk-interval", "GET"): on_experiments(READ, at.runs_of_body),
        _key(_T, "/metrics/get-history-bulk", "GET"): on_experiments(READ, at.run_list_of_body),
        _key(_T, "/artifacts/list", "GET"): on_experiments(READ, at.run_of_body),
        # artifact proxy: the experiment is the path's first segment; deleting needs MANAGE as in MLflow
        _key(_A, "/artifacts", "GET"): on_experiments(READ, at.artifact_of_query),
        _key(_A, "/artifacts/{artifact_path:path}", "GET"): on_experiments(READ, at.artifact_of_path),
        _key(_A, "/artifacts/{artifact_path:path}", "PUT"): on_experiments(UPDATE, at.artifact_of_path),
        _key(_A, "/artifacts/{artifact_path:path}", "DELETE"): on_experiments(MANAGE, at.artifact_of_path),
        _key(_A, "/mpu/create/{artifact_path:path}", "POST"): on_experiments(UPDATE, at.artifact_of_path),
        _key(_A, "/mpu/complete/{artifact_path:path}", "POST"): on_experiments(UPDATE, at.artifact_of_path),
        _key(_A, "/mpu/abort/{artifact_path:path}", "POST"): on_experiments(UPDATE, at.artifact_of_path),
        _key(_A, "/presigned/{artifact_path:path}", "GET"): on_experiments(READ, at.artifact_of_path),
        _key("", "/get-artifact", "GET"): on_experiments(READ, at.run_of_body),
        _key("", "/model-versions/get-artifact", "GET"): on_model(READ),
        # registry (prompts are registered models)
        _key(_T, "/registered-models/create", "POST"): Rule(
            "authenticated", None, require_creator, _creator_manages_model
        ),
        _key(_T, "/registered-models/get", "GET"): on_model(READ),
        _key(_T, "/registered-models/rename", "POST"): on_model(UPDATE, _permissions_follow_rename),
        _key(_T, "/registered-models/update", "PATCH"): on_model(UPDATE),
        _key(_T, "/registered-models/delete", "DELETE"): on_model(DELETE, _permissions_go_with_model),
        _key(_T, "/registered-models/search", "GET"): Rule(
            "registered_model", READ, require_user, _readable_models("registered_models")
        ),
        _key(_T, "/registered-models/get-latest-versions", "POST"): on_model(READ),
        _key(_T, "/registered-models/get-latest-versions", "GET"): on_model(READ),
        _key(_T, "/registered-models/set-tag", "POST"): on_model(UPDATE),
        _key(_T, "/registered-models/delete-tag", "DELETE"): on_model(UPDATE),
        _key(_T, "/registered-models/alias", "POST"): on_model(UPDATE),
        _key(_T, "/registered-models/alias", "DELETE"): on_model(UPDATE),
        _key(_T, "/registered-models/alias", "GET"): on_model(READ),
        _key(_T, "/model-versions/create", "POST"): Rule("registered_model", UPDATE, _create_version),
        _key(_T, "/model-versions/get", "GET"): on_model(READ),
        _key(_T, "/model-versions/update", "PATCH"): on_model(UPDATE),
        _key(_T, "/model-versions/transition-stage", "POST"): on_model(UPDATE),
        _key(_T, "/model-versions/delete", "DELETE"): on_model(DELETE),
        _key(_T, "/model-versions/search", "GET"): Rule(
            "registered_model", READ, require_user, _readable_models("model_versions")
        ),
        _key(_T, "/model-versions/get-download-uri", "GET"): on_model(READ),
        _key(_T, "/model-versions/set-tag", "POST"): on_model(UPDATE),
        _key(_T, "/model-versions/delete-tag", "DELETE"): on_model(DELETE),
        # logged models (their experiment's permission, as in MLflow)
        _key(_T, "/logged-models", "POST"): Rule("experiment", UPDATE, _source_run),
        _key(_T, "/logged-models/search", "POST"): _only_readable_experiment_ids(
            "experiment_ids", {"models": []}
        ),
        _key(_T, "/logged-models/{model_id}", "GET"): on_experiments(READ, at.logged_model_of_path),
        _key(_T, "/logged-models/{model_id}", "PATCH"): on_experiments(UPDATE, at.logged_model_of_path),
        _key(_T, "/logged-models/{model_id}", "DELETE"): on_experiments(DELETE, at.logged_model_of_path),
        _key(_T, "/logged-models/{model_id}/tags", "PATCH"): on_experiments(UPDATE, at.logged_model_of_path),
        _key(_T, "/logged-models/{model_id}/tags/{tag_key}", "DELETE"): on_experiments(
            DELETE, at.logged_model_of_path
        ),
        _key(_T, "/logged-models/{model_id}/params", "POST"): on_experiments(UPDATE, at.logged_model_of_path),
        _key(_T, "/logged-models/{model_id}/artifacts/directories", "GET"): on_experiments(
            READ, at.logged_model_of_path
        ),
        _key(_T, "/logged-models/{model_id}/artifacts/files", "GET"): on_experiments(READ, at.logged_model_of_path),
        # traces (v2 and v3 paths share endpoints)
        _key(_T, "/traces", "POST"): on_experiments(UPDATE, at.new_trace),
        _key(_T, "/traces/get", "GET"): on_experiments(READ, at.trace_of_body),
        _key(_T, "/traces/batchGet", "GET"): on_experiments(READ, at.traces_of_body),
        _key(_T, "/traces/batchGetInfos", "POST"): on_experiments(READ, at.traces_of_body),
        _key(_T, "/traces/search", "POST"): on_experiments(READ, at.trace_search),
        _key(_T, "/traces/delete-traces", "POST"): on_experiments(DELETE, exp_body),
        _key(_T, "/traces/link-to-run", "POST"): on_experiments(UPDATE, at.run_and_traces_of_body),
        _key(_T, "/traces/{trace_id}", "GET"): on_experiments(READ, at.trace_of_path),
        _key(_T, "/traces/{trace_id}/tags", "PATCH"): on_experiments(UPDATE, at.trace_of_path),
        _key(_T, "/traces/{trace_id}/tags", "DELETE"): on_experiments(UPDATE, at.trace_of_path),
        _key(_T, "/traces/{trace_id}/assessments", "POST"): on_experiments(UPDATE, at.trace_of_path),
        _key(_T, "/traces/{trace_id}/assessments/{assessment_id}", "GET"): on_experiments(
            READ, at.trace_of_path
        ),
        _key(_T, "/traces/{trace_id}/assessments/{assessment_id}", "PATCH"): on_experiments(
            UPDATE, at.trace_of_path
        ),
        _key(_T, "/traces/{trace_id}/assessments/{assessment_id}", "DELETE"): on_experiments(
            UPDATE, at.trace_of_path
        ),
        _key("", "/v1/traces", "POST"): on_experiments(UPDATE, at.otlp_header),
    }
    return rules


@functools.cache
def rules() -> dict[str, Rule]:
    """The rule table, built once (never changed afterwards)."""
    return _table()


def declared_rule(ep: Endpoint, method: str) -> Rule | None:
    """The rule written down for ``ep``'s ``method``, or None when there is none (a gap).

    Endpoints may also carry their own rule as ``AUTH_RULES`` in their handler
    module (``{(path, method): Rule}``), e.g. the auth API's own endpoints.
    """
    found = rules().get(_key(ep.service, ep.path, method.upper()))
    if found is None:
        import sys

        module = sys.modules.get(getattr(ep.handler, "__module__", ""))
        own = getattr(module, "AUTH_RULES", None) or {}
        found = own.get((ep.path, method.upper()))
    return found


def rule_for(ep: Endpoint) -> Rule:
    """The rule for an endpoint (all its methods share one); admin-only when none is declared.

    Failing closed means a new endpoint without a rule is unusable for normal
    users until someone writes its rule; ``tests/server/test_auth_rules.py``
    fails for such an endpoint so that happens before a release.
    """
    found = {declared_rule(ep, m) for m in ep.methods}
    if None in found or len(found) != 1:
        _log.warning("No authorization rule for %s %s: admins only", ep.methods, ep.openapi_path)
        return ADMIN_ONLY
    return found.pop()


def guard(rule: Rule, handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
    """``handler`` with ``rule`` applied: checked first (in the handler's own thread), then run.

    Plain handlers get a plain function, so the check costs no extra thread hop;
    async handlers (streams, uploads) get a coroutine that checks in a worker
    thread before touching the body.
    """
    check, around = rule.check, rule.around
    if check is None and around is None:
        return handler

    if inspect.iscoroutinefunction(handler):
        if around is not None or check is None:
            raise TypeError(f"{handler.__qualname__}: async handlers take a 'check' rule only")

        async def guarded_async(call: Call) -> Any:
            subject = subject_of(call.request)
            new = await run_in_threadpool(check, call, subject)
            if isinstance(new, dict):
                return new
            return await handler(new or call)

        return guarded_async

    def guarded(call: Call) -> Any:
        subject = subject_of(call.request)
        if check is not None:
            new = check(call, subject)
            if isinstance(new, dict):
                return new
            call = new or call
        if around is not None:
            return around(handler, call, subject)
        return handler(call)

    return guarded
