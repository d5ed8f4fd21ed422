"""Prompt Registry methods of :class:`mltrail.tracking.MlflowClient` (MLflow 3's names and arguments).

Prompts are stored through :class:`~mltrail.store.prompts.PromptStore` on the
client's registry store (embedded SQL or a server). Loading keeps MLflow's
cache: a prompt loaded by version is kept until it changes in this process, one
loaded by alias (``@latest`` included) for 60 seconds; ``cache_ttl_seconds``
or ``MLFLOW_VERSION_PROMPT_CACHE_TTL_SECONDS`` / ``MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS``
(``MLTRAIL_*`` too) change that, ``0`` turns it off.

Links are MLflow's ``mlflow.linkedPrompts`` tag (a JSON list of
``{"name", "version"}``) on a run, a trace or a logged model, merged without
duplicates under a process-wide lock.

Example::

    client = MlflowClient()
    pv = client.register_prompt("qa", "Answer {{question}}", commit_message="first")
    client.set_prompt_alias("qa", "production", pv.version)
    client.load_prompt("prompts:/qa@production").format(question="Why?")
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mltrail.entities.prompt import (
    IS_PROMPT_TAG_KEY,
    LINKED_PROMPTS_TAG_KEY,
    PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY,
    PROMPT_EXPERIMENT_IDS_TAG_KEY,
    Prompt,
    PromptModelConfig,
    PromptVersion,
    merge_linked_prompts,
    model_version_to_prompt_version,
    parse_prompt_uri,
    prompt_uri_for,
)
from mltrail.exceptions import (
    INVALID_PARAMETER_VALUE,
    NOT_FOUND,
    RESOURCE_DOES_NOT_EXIST,
    MltrailException,
    invalid,
    not_found,
)
from mltrail.store.prompts import PromptStore
from mltrail.tracking import context
from mltrail.tracking._client_traces import trace_store
from mltrail.tracking._logged_model_client import logged_model_store_for

if TYPE_CHECKING:
    from mltrail.entities import PagedList
    from mltrail.store.prompts import PromptStore
    from mltrail.store.registry import RegistryStore

_log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
SEARCH_PROMPTS_MAX_RESULTS_DEFAULT = 1000
_MODEL_WORDS = re.compile(r"(registered model|model version)", re.IGNORECASE)
# One lock per kind of read-modify-write of a JSON/list tag, as MLflow has.
_run_link_lock = threading.Lock()
_trace_link_lock = threading.Lock()
_model_link_lock = threading.Lock()
_experiment_link_lock = threading.Lock()


def _prompt_errors(fn: F) -> F:
    """Registry errors in prompt words: "Registered Model ... not found" -> "Prompt ... not found"."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MltrailException as err:
            message = _MODEL_WORDS.sub(
                lambda m: "Prompt" if m.group(0)[0].isupper() else "prompt", err.message
            )
            if message == err.message:
                raise
            raise MltrailException(message, error_code=err.error_code) from err

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------- cache


def _env_ttl(name: str, default: float | None) -> float | None:
    raw = os.environ.get(f"MLTRAIL_{name}") or os.environ.get(f"MLFLOW_{name}")
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise invalid(f"Invalid {name} {raw!r}: expected a number of seconds") from None


class _PromptCache:
    """Loaded prompt versions by (registry, name, version, alias), each with an expiry time."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str | None, str | None], tuple[PromptVersion, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str | None, str | None]) -> PromptVersion | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if time.monotonic() > item[1]:
                del self._items[key]
                return None
            return item[0]

    def put(
        self, key: tuple[str, str, str | None, str | None], value: PromptVersion, ttl: float | None
    ) -> None:
        with self._lock:
            self._items[key] = (value, float("inf") if ttl is None else time.monotonic() + ttl)

    def forget(self, registry_uri: str, name: str, alias: str | None = None) -> None:
        """Drop one alias of a prompt, or (no alias) every entry of the prompt."""
        with self._lock:
            for key in [k for k in self._items if k[0] == registry_uri and k[1] == name]:
                if alias is None or (key[3] or "").lower() == alias.lower():
                    del self._items[key]


_cache = _PromptCache()


def _linked_entries(value: str | None) -> list[dict[str, str]]:
    """The ``{"name", "version"}`` entries of a ``mlflow.linkedPrompts`` value (empty when unset)."""
    if not value:
        return []
    try:
        entries = json.loads(value)
    except ValueError:
        raise MltrailException(f"Invalid JSON format for '{LINKED_PROMPTS_TAG_KEY}' tag: {value}") from None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


class PromptClientMixin:
    """Prompt half of the client; expects ``_registry_uri``, ``_registry_store`` and the run/trace methods."""

    _registry_uri: str
    _registry_store: RegistryStore
    tracking_uri: str

    @property
    def _prompts(self) -> PromptStore:
        return PromptStore(self._registry_store)

    # ----------------------------------------------------------------- prompts
    @_prompt_errors
    def register_prompt(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        commit_message: str | None = None,
        tags: dict[str, str] | None = None,
        response_format: Any = None,
        model_config: PromptModelConfig | dict[str, Any] | None = None,
    ) -> PromptVersion:
        """Register a new version of prompt ``name`` (the prompt is created with its first version).

        ``template`` is a ``{{variable}}`` string or a list of chat messages;
        ``tags`` go on the version and the prompt; ``response_format`` is a
        JSON-schema dict or a pydantic class; ``model_config`` a dict or
        :class:`~mltrail.entities.prompt.PromptModelConfig`.

        Example::

            pv = client.register_prompt("qa", [{"role": "user", "content": "{{q}}"}], tags={"team": "a"})
        """
        pv = self._prompts.register_prompt(
            name, template, commit_message, tags, response_format, model_config
        )
        _cache.forget(self._registry_uri, name, "latest")
        self._link_prompt_to_experiment(name)
        return pv

    @_prompt_errors
    def create_prompt(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Prompt:
        """A new prompt without versions (add them with :meth:`create_prompt_version`)."""
        return self._prompts.create_prompt(name, description, tags)

    @_prompt_errors
    def create_prompt_version(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        description: str | None = None,
        tags: dict[str, str] | None = None,
        response_format: Any = None,
        model_config: PromptModelConfig | dict[str, Any] | None = None,
    ) -> PromptVersion:
        """A new version of an existing prompt."""
        pv = self._prompts.create_prompt_version(
            name, template, description, tags, response_format, model_config
        )
        _cache.forget(self._registry_uri, name, "latest")
        return pv

    @_prompt_errors
    def get_prompt(self, name: str) -> Prompt | None:
        """A prompt's metadata (name, description, tags), or ``None`` if there is no such prompt."""
        return self._prompts.get_prompt(name)

    @_prompt_errors
    def search_prompts(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_PROMPTS_MAX_RESULTS_DEFAULT,
        page_token: str | None = None,
        order_by: list[str] | None = None,
    ) -> PagedList:
        """A page of prompts (``.token`` for the next); filter like ``"name LIKE 'qa%'"`` or
        ``"experiment_id = '1'"``."""
        return self._prompts.search_prompts(filter_string, max_results, order_by, page_token)

    @_prompt_errors
    def delete_prompt(self, name: str) -> None:
        """Delete a prompt with all its versions."""
        self._prompts.delete_prompt(name)
        _cache.forget(self._registry_uri, name)

    @_prompt_errors
    def set_prompt_tag(self, name: str, key: str, value: str) -> None:
        self._prompts.set_prompt_tag(name, key, value)

    @_prompt_errors
    def delete_prompt_tag(self, name: str, key: str) -> None:
        self._prompts.delete_prompt_tag(name, key)

    # ---------------------------------------------------------------- versions
    @_prompt_errors
    def get_prompt_version(self, name: str, version: str | int) -> PromptVersion:
        """One version of a prompt (RESOURCE_DOES_NOT_EXIST if there is none)."""
        return self._prompts.get_prompt_version(name, version)

    @_prompt_errors
    def get_prompt_version_by_alias(self, name: str, alias: str) -> PromptVersion:
        """The version an alias points at (``latest``: the newest)."""
        return self._prompts.get_prompt_version_by_alias(name, alias)

    @_prompt_errors
    def search_prompt_versions(
        self, name: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """A page of one prompt's versions, newest first."""
        return self._prompts.search_prompt_versions(name, max_results, page_token)

    @_prompt_errors
    def delete_prompt_version(self, name: str, version: str | int) -> None:
        self._prompts.delete_prompt_version(name, version)
        _cache.forget(self._registry_uri, name)

    @_prompt_errors
    def set_prompt_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        self._prompts.set_prompt_version_tag(name, version, key, value)
        _cache.forget(self._registry_uri, name)

    @_prompt_errors
    def delete_prompt_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._prompts.delete_prompt_version_tag(name, version, key)
        _cache.forget(self._registry_uri, name)

    @_prompt_errors
    def load_prompt(
        self,
        name_or_uri: str,
        version: str | int | None = None,
        allow_missing: bool = False,
        cache_ttl_seconds: float | None = None,
    ) -> PromptVersion | None:
        """A prompt version by ``prompts:/name/3``, ``prompts:/name@alias``, or name (+ ``version``).

        A name without a version loads the newest version. ``allow_missing``
        returns ``None`` instead of raising when there is no such prompt.

        Example::

            pv = client.load_prompt("qa")                      # newest
            pv = client.load_prompt("prompts:/qa@production")  # by alias
        """
        uri = prompt_uri_for(name_or_uri, version)
        name, number, alias = parse_prompt_uri(uri)
        if cache_ttl_seconds is None:
            if alias is not None:
                cache_ttl_seconds = _env_ttl("ALIAS_PROMPT_CACHE_TTL_SECONDS", 60)
            else:
                cache_ttl_seconds = _env_ttl("VERSION_PROMPT_CACHE_TTL_SECONDS", None)
        if cache_ttl_seconds is not None and cache_ttl_seconds < 0:
            raise invalid("`cache_ttl_seconds` argument must be greater than or equal to 0.")
        use_cache = cache_ttl_seconds is None or cache_ttl_seconds > 0
        key = (self._registry_uri, name, number, alias)
        if use_cache and (hit := _cache.get(key)) is not None:
            return hit
        try:
            pv, prompt_tags = self._prompts.load_with_prompt_tags(
                name, number if number is not None else alias
            )
        except MltrailException as err:
            if allow_missing and err.error_code in (
                RESOURCE_DOES_NOT_EXIST,
                INVALID_PARAMETER_VALUE,
                NOT_FOUND,
            ):
                return None
            raise
        self._link_prompt_to_experiment(name, prompt_tags)
        if use_cache:
            _cache.put(key, pv, cache_ttl_seconds)
        return pv

    def parse_prompt_uri(self, uri: str) -> tuple[str, str]:
        """``(name, version)`` of a ``prompts:/`` URI; an alias is resolved to its version."""
        name, number, alias = parse_prompt_uri(uri)
        if number is not None:
            return name, number
        return name, str(self.get_prompt_version_by_alias(name, alias or "").version)

    # ----------------------------------------------------------------- aliases
    @_prompt_errors
    def set_prompt_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at ``version`` (the version must exist)."""
        try:
            self._prompts.get_prompt_version(name, version)
        except MltrailException as err:
            if err.error_code == INVALID_PARAMETER_VALUE and "registered as a model" in err.message:
                raise
            raise not_found(f"Prompt '{name}' version {version} does not exist.") from err
        self._prompts.set_prompt_alias(name, alias, version)
        _cache.forget(self._registry_uri, name, alias)

    @_prompt_errors
    def delete_prompt_alias(self, name: str, alias: str) -> None:
        self._prompts.delete_prompt_alias(name, alias)
        _cache.forget(self._registry_uri, name, alias)

    # ----------------------------------------------------------------- linking
    def _link_prompt_to_experiment(self, name: str, prompt_tags: dict[str, str] | None = None) -> None:
        """Add the current experiment to the prompt's ``_mlflow_experiment_ids`` (never fails the caller)."""
        try:
            experiment_id = str(context.experiment_id(self))  # type: ignore[arg-type]
            with _experiment_link_lock:
                if prompt_tags is None:
                    prompt_tags = self._registry_store.get_registered_model(name).tags
                current = prompt_tags.get(PROMPT_EXPERIMENT_IDS_TAG_KEY, "")
                ids = [i.strip() for i in current.strip(",").split(",") if i.strip()]
                if experiment_id in ids:
                    return
                self._prompts.set_prompt_tag(
                    name, PROMPT_EXPERIMENT_IDS_TAG_KEY, f",{','.join([*ids, experiment_id])},"
                )
        except Exception as err:  # linking is bookkeeping; the prompt itself is what the caller needs
            _log.warning("Could not tag prompt %r with the current experiment: %s", name, err)

    def _link_prompts_to_run(self, run_id: str, versions: list[PromptVersion]) -> None:
        """Merge ``versions`` into the run's ``mlflow.linkedPrompts`` tag."""
        with _run_link_lock:
            run = self.get_run(run_id)  # type: ignore[attr-defined]
            current = run.data.tags.get(LINKED_PROMPTS_TAG_KEY)
            merged = merge_linked_prompts(current, versions)
            if merged != current:
                self.set_tag(run_id, LINKED_PROMPTS_TAG_KEY, merged)  # type: ignore[attr-defined]

    @_prompt_errors
    def link_prompt_version_to_run(self, run_id: str, prompt: str | PromptVersion) -> None:
        """Record on the run (tag ``mlflow.linkedPrompts``) that it used a prompt version."""
        if isinstance(prompt, str):
            pv = self.load_prompt(prompt)
        elif isinstance(prompt, PromptVersion):
            pv = self.get_prompt_version(prompt.name, prompt.version)
        else:
            raise invalid("The `prompt` argument must be a Prompt object or a prompt URI.")
        assert pv is not None
        self._link_prompts_to_run(run_id, [pv])

    def link_prompt_versions_to_trace(self, prompt_versions: list[PromptVersion], trace_id: str) -> None:
        """Record on a trace (in flight or stored; tag ``mlflow.linkedPrompts``) that it used these versions."""
        from mltrail.tracing._manager import edit_in_flight_info  # lazy: importing the tracer costs time

        if not isinstance(prompt_versions, list) or not all(
            isinstance(p, PromptVersion) for p in prompt_versions
        ):
            raise invalid("prompt_versions must be a list of PromptVersion objects")

        def edit(info: Any) -> None:
            merged = merge_linked_prompts(info.tags.get(LINKED_PROMPTS_TAG_KEY), prompt_versions)
            if merged is not None:
                info.tags[LINKED_PROMPTS_TAG_KEY] = merged

        with _trace_link_lock:
            if edit_in_flight_info(trace_id, edit):
                return
            store = trace_store(self.tracking_uri)
            current = store.get_trace_info(trace_id).tags.get(LINKED_PROMPTS_TAG_KEY)
            merged = merge_linked_prompts(current, prompt_versions)
            if merged is not None and merged != current:
                store.set_trace_tag(trace_id, LINKED_PROMPTS_TAG_KEY, merged)

    @_prompt_errors
    def link_prompt_version_to_model(self, name: str, version: str | int, model_id: str) -> None:
        """Record on a logged model (tag ``mlflow.linkedPrompts``) that it uses a prompt version."""
        pv = self.get_prompt_version(name, version)
        with _model_link_lock:
            model = self.get_logged_model(model_id)  # type: ignore[attr-defined]
            current = model.tags.get(LINKED_PROMPTS_TAG_KEY)
            merged = merge_linked_prompts(current, [pv])
            if merged is not None and merged != current:
                self._set_logged_model_tag(model_id, LINKED_PROMPTS_TAG_KEY, merged)

    def _set_logged_model_tag(self, model_id: str, key: str, value: str) -> None:
        # Logged models live beside the registry here (one server or one database): its store,
        # REST or SQL, sends the declared set-tags call.
        logged_model_store_for(self._registry_uri).set_logged_model_tags(model_id, {key: value})

    @_prompt_errors
    def list_logged_prompts(self, run_id: str) -> list[PromptVersion]:
        """The prompt versions a run used: those in its ``mlflow.linkedPrompts`` tag, then MLflow 2's
        version-side ``mlflow.prompt.associatedRunIds`` links."""
        run = self.get_run(run_id)  # type: ignore[attr-defined]
        found: list[PromptVersion] = []
        for entry in _linked_entries(run.data.tags.get(LINKED_PROMPTS_TAG_KEY)):
            try:
                found.append(
                    self._prompts.get_prompt_version(str(entry.get("name")), str(entry.get("version")))
                )
            except MltrailException as err:  # a prompt deleted since the run used it
                if err.error_code not in (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE):
                    raise
        legacy = self._registry_store.search_model_versions(
            f"tags.`{PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY}` LIKE '%{run_id}%' AND tags.`{IS_PROMPT_TAG_KEY}` = 'true'"
        )
        for mv in legacy:
            pv = model_version_to_prompt_version(mv)
            if pv not in found:
                found.append(pv)
        return found

    @_prompt_errors
    def detach_prompt_from_run(self, run_id: str, prompt_uri: str) -> None:
        """Remove a prompt version from the prompts a run is linked to."""
        name, version = self.parse_prompt_uri(prompt_uri)
        detached = False
        with _run_link_lock:
            run = self.get_run(run_id)  # type: ignore[attr-defined]
            entries = _linked_entries(run.data.tags.get(LINKED_PROMPTS_TAG_KEY))
            kept = [e for e in entries if (e.get("name"), str(e.get("version"))) != (name, version)]
            if len(kept) != len(entries):
                detached = True
                if kept:
                    self.set_tag(run_id, LINKED_PROMPTS_TAG_KEY, json.dumps(kept))  # type: ignore[attr-defined]
                else:
                    self.delete_tag(run_id, LINKED_PROMPTS_TAG_KEY)  # type: ignore[attr-defined]
        try:
            legacy = self._registry_store.get_model_version(name, version).tags.get(
                PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY
            )
        except MltrailException as err:  # the version is gone; only the run's side could be linked
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            legacy = None
        run_ids = [r for r in (legacy or "").split(",") if r]
        if run_id in run_ids:
            detached = True
            run_ids.remove(run_id)
            if run_ids:
                self._prompts.set_prompt_version_tag(
                    name, version, PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY, ",".join(run_ids)
                )
            else:
                self._prompts.delete_prompt_version_tag(name, version, PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY)
        if not detached:
            raise invalid(f"Run '{run_id}' is not associated with prompt '{prompt_uri}'.")
