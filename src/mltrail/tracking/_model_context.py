"""The active model (MLflow 3's ``set_active_model``): which LoggedModel new traces belong to.

Semantics follow MLflow's:

* Each thread has its own active model. A thread's first look-up takes
  ``MLFLOW_ACTIVE_MODEL_ID`` (else the legacy ``_MLFLOW_ACTIVE_MODEL_ID``) from
  the environment, so the variable is read once per thread, lazily, not at
  import and not on every call; a forked child reads it afresh.
* Tracing asks :func:`trace_model_id`: this thread's model, else the one model
  active in the other threads when they all agree (a worker thread of a
  model server still links its traces), else none.
* :func:`clear` forgets every thread's model and unsets both variables.

Kept apart from the fluent functions so the tracer can read it cheaply.

Example::

    set_active_model_id("m-0123", set_by_user=True)
    active_model_id()  # "m-0123"
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from mltrail.entities.trace import TraceMetadataKey

ENV_VAR = "MLFLOW_ACTIVE_MODEL_ID"
LEGACY_ENV_VAR = "_MLFLOW_ACTIVE_MODEL_ID"
#: The trace metadata key MLflow links a trace to a LoggedModel with.
TRACE_MODEL_ID_KEY = TraceMetadataKey.MODEL_ID


@dataclass(frozen=True)
class ModelContext:
    """One thread's active model: its id (``None``: none) and whether the user chose it."""

    model_id: str | None = None
    set_by_user: bool = False


def _from_env() -> ModelContext:
    return ModelContext(os.environ.get(ENV_VAR) or os.environ.get(LEGACY_ENV_VAR) or None)


class _Contexts:
    """Per-thread contexts plus a view of all of them (MLflow's ``ThreadLocalVariable``)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: dict[int, ModelContext] = {}
        self._lock = threading.Lock()

    def get(self) -> ModelContext:
        held = getattr(self._local, "value", None)
        if held is not None and held[1] == os.getpid():
            return held[0]
        ctx = _from_env()  # first use in this thread, or first use after a fork
        self.set(ctx)
        return ctx

    def set(self, ctx: ModelContext) -> None:
        self._local.value = (ctx, os.getpid())
        with self._lock:
            self._all[threading.get_ident()] = ctx

    def all_model_ids(self) -> set[str]:
        with self._lock:
            return {c.model_id for c in self._all.values() if c.model_id}

    def reset(self) -> None:
        """Forget every thread's context: each thread starts again from the environment."""
        with self._lock:
            self._all.clear()
            self._local = threading.local()


_contexts = _Contexts()


def current() -> ModelContext:
    """This thread's active-model context."""
    return _contexts.get()


def restore(ctx: ModelContext) -> None:
    """Make ``ctx`` this thread's context again (what leaving ``with set_active_model(...)`` does)."""
    _contexts.set(ctx)


def set_active_model_id(model_id: str, set_by_user: bool = False) -> None:
    """Make ``model_id`` this thread's active model (the caller has checked that it exists)."""
    _contexts.set(ModelContext(model_id, set_by_user))


def active_model_id() -> str | None:
    """This thread's active model id, or ``None``."""
    return _contexts.get().model_id


def trace_model_id() -> str | None:
    """The model a new trace links to: this thread's, else the one model all other threads agree on."""
    own = _contexts.get().model_id
    if own:
        return own
    others = _contexts.all_model_ids()
    return others.pop() if len(others) == 1 else None


def clear() -> None:
    """No active model in any thread; the environment variables are unset as well."""
    os.environ.pop(ENV_VAR, None)
    os.environ.pop(LEGACY_ENV_VAR, None)
    _contexts.reset()
    _contexts.set(ModelContext())
