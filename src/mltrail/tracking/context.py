"""The current context: tracking URI, active runs, active experiment and model, the client for a URI.

One module below both the client and the tracer, so the fluent API, the
tracer, autologging and evaluation all read the same state without reaching
into each other's private names and without an import cycle:

* URIs: :func:`get_tracking_uri`, :func:`resolve_tracking_uri` (from
  :mod:`mltrail.tracking._uris`).
* The active-run stack (:func:`run_stack`), the last run, the active
  experiment (:func:`active_experiment_id`, :func:`experiment_id`).
* The active model (:func:`active_model_id`, :func:`trace_model_id`, from
  :mod:`mltrail.tracking._model_context`).
* The shared client for a tracking URI (:func:`client_for_uri`,
  :func:`client`, :func:`run_client`). This module does not import the client
  class: ``mltrail.tracking`` registers it with :func:`set_client_factory`
  when the package is imported, which happens before any of its submodules
  (this one included) can be used.

Like MLflow, each thread has its own stack of active runs (a run started in a
worker thread does not become the main thread's active run); the active
experiment is process-wide. The experiment is remembered together with the
tracking URI it belongs to, so switching stores (or, with the embedded
default, directories) never sends runs to an experiment id of another store.

Runs still open when the interpreter exits are ended by an ``atexit`` hook:
FINISHED normally, KILLED after an uncaught ``KeyboardInterrupt`` (Ctrl-C) and
FAILED after another uncaught exception. Buffered stores are flushed after.

Example::

    from mltrail.tracking import context

    client = context.client()  # the client for the tracking URI in effect
    exp_id = context.experiment_id(client)  # where a new run or trace goes
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mltrail.entities import Run, RunStatus
from mltrail.exceptions import MltrailException, invalid
from mltrail.tracking._model_context import active_model_id as active_model_id
from mltrail.tracking._model_context import trace_model_id as trace_model_id
from mltrail.tracking._store_registry import cached_stores
from mltrail.tracking._uris import get_tracking_uri as get_tracking_uri
from mltrail.tracking._uris import resolve_tracking_uri as resolve_tracking_uri

if TYPE_CHECKING:
    from mltrail.tracking.client import MlflowClient

_log = logging.getLogger(__name__)


class ActiveRun(Run):
    """The run returned by ``start_run``: a :class:`Run` snapshot that is also a context manager.

    ``with mltrail.start_run() as run:`` ends the run on exit: FINISHED, or
    FAILED if the block raised, or KILLED on ``KeyboardInterrupt``.
    """

    def __init__(self, run: Run, tracking_uri: str) -> None:
        Run.__init__(self, run.info, run.data, run.inputs)
        self._tracking_uri = tracking_uri

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        status = exit_status(exc_type, exc)
        end_runs_through(self.info.run_id, status)
        return False  # never swallow the exception


def exit_status(exc_type: type[BaseException] | None, exc: BaseException | None = None) -> str:
    """FINISHED, KILLED for Ctrl-C, FAILED for any other exception.

    ``sys.exit()`` / ``sys.exit(0)`` inside a run is a normal end (FINISHED);
    another exit code is a failure.
    """
    if exc_type is None:
        return "FINISHED"
    if issubclass(exc_type, KeyboardInterrupt):
        return "KILLED"
    if issubclass(exc_type, SystemExit) and getattr(exc, "code", None) in (None, 0):
        return "FINISHED"
    return "FAILED"


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []
        self.last_run: tuple[str, str] | None = None  # (tracking_uri, run_id)
        with _stacks_lock:
            # Forget stacks of finished threads that hold no runs, so thread churn does not grow this.
            _all_stacks[:] = [(t, s) for t, s in _all_stacks if s or t.is_alive()]
            _all_stacks.append((threading.current_thread(), self.stack))


_all_stacks: list[tuple[threading.Thread, list[ActiveRun]]] = []
_stacks_lock = threading.Lock()
_state = _State()
_experiment_lock = threading.Lock()
_active_experiment: tuple[str, str] | None = None  # (tracking_uri, experiment_id)


def run_stack() -> list[ActiveRun]:
    """This thread's stack of active runs (innermost last)."""
    return _state.stack


def set_last_run(tracking_uri: str, run_id: str) -> None:
    _state.last_run = (tracking_uri, run_id)


def last_run() -> tuple[str, str] | None:
    return _state.last_run


def set_active_experiment(tracking_uri: str, experiment_id: str | None) -> None:
    global _active_experiment
    _active_experiment = None if experiment_id is None else (tracking_uri, experiment_id)


def active_experiment_id(tracking_uri: str) -> str | None:
    """The experiment chosen with ``set_experiment`` for this tracking URI, if any."""
    current = _active_experiment
    if current is not None and current[0] == tracking_uri:
        return current[1]
    return None


def experiment_lock() -> threading.Lock:
    return _experiment_lock


# ------------------------------------------------------------------ clients
DEFAULT_EXPERIMENT_ID = "0"
_client_factory: Callable[[str], MlflowClient] | None = None
_clients: dict[str, MlflowClient] = {}
_clients_lock = threading.Lock()


def set_client_factory(factory: Callable[[str], MlflowClient]) -> None:
    """Called once by ``mltrail.tracking`` with the client class (the layer above builds clients)."""
    global _client_factory
    _client_factory = factory


def client_for_uri(tracking_uri: str) -> MlflowClient:
    """One shared client per tracking URI (clients are cheap, but their caches are worth keeping)."""
    client = _clients.get(tracking_uri)
    if client is None:
        if _client_factory is None:  # only if mltrail.tracking's __init__ failed half-way
            raise RuntimeError("mltrail.tracking did not register its client class")
        with _clients_lock:
            client = _clients.get(tracking_uri)
            if client is None:
                client = _clients[tracking_uri] = _client_factory(tracking_uri)
    return client


def client() -> MlflowClient:
    """The shared client for the tracking URI in effect."""
    return client_for_uri(get_tracking_uri())


def run_client(run_id: str | None, start_run: Callable[[], ActiveRun]) -> tuple[MlflowClient, str]:
    """The client and run id to log to: an explicit run, else the active run, else ``start_run()``.

    A run started in this process logs to the store it was started in even if
    the tracking URI (or, for the embedded default, the working directory)
    changed since. ``start_run`` is passed in by the fluent API, which owns it.
    """
    stack = run_stack()
    if run_id is not None:
        for run in stack:
            if run.info.run_id == run_id:
                return client_for_uri(run._tracking_uri), run_id
        return client(), run_id
    run = stack[-1] if stack else start_run()
    return client_for_uri(run._tracking_uri), run.info.run_id


def experiment_id(client_: MlflowClient | None = None) -> str:
    """The experiment new runs and traces go to: ``set_experiment``, then env vars, then Default ("0").

    ``MLFLOW_EXPERIMENT_NAME`` creates the experiment when it does not exist;
    an id in ``MLFLOW_EXPERIMENT_ID`` must exist (and match the name if both are set).
    """
    client_ = client_ or client()
    chosen = active_experiment_id(client_.tracking_uri)
    if chosen is not None:
        return chosen
    name = os.environ.get("MLTRAIL_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    exp_id = os.environ.get("MLTRAIL_EXPERIMENT_ID") or os.environ.get("MLFLOW_EXPERIMENT_ID")
    if name:
        experiment = client_.get_experiment_by_name(name)
        if experiment is None:
            return client_.create_experiment(name)
        if exp_id and exp_id != experiment.experiment_id:
            raise invalid(
                f"The experiment id environment variable value `{exp_id}` does not match the id "
                f"`{experiment.experiment_id}` of the experiment named `{name}`"
            )
        return experiment.experiment_id
    if exp_id:
        try:
            return client_.get_experiment(exp_id).experiment_id
        except MltrailException as err:
            raise invalid(
                f"The experiment id environment variable value `{exp_id}` does not exist in the "
                "tracking store. Provide a valid experiment id."
            ) from err
    return DEFAULT_EXPERIMENT_ID


def terminate(run: ActiveRun, status: str) -> None:
    """Mark one run ended in the store it was started in, and remember it as the last run."""
    set_last_run(run._tracking_uri, run.info.run_id)
    client_for_uri(run._tracking_uri).set_terminated(run.info.run_id, RunStatus.normalize(status))


def end_runs_through(run_id: str, status: str) -> None:
    """End the runs on top of this thread's stack down to and including ``run_id``.

    Runs nested inside it that were left open end with it, so the stack never
    keeps a child whose parent is finished. Nothing happens if the run was
    already ended (e.g. by ``end_run()`` inside the ``with`` block).
    """
    stack = run_stack()
    if not any(r.info.run_id == run_id for r in stack):
        return
    while stack:
        run = stack.pop()
        terminate(run, status)
        if run.info.run_id == run_id:
            return


# ------------------------------------------------------------------ exit
_uncaught: type[BaseException] | None = None
_exit_hook_installed = False
_exit_hook_lock = threading.Lock()


def _recording_excepthook(previous: Any) -> Any:
    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        global _uncaught
        _uncaught = exc_type
        previous(exc_type, exc, tb)

    return hook


def install_exit_hook() -> None:
    """Register the ``atexit`` hook once (on the first ``start_run``)."""
    global _exit_hook_installed
    if _exit_hook_installed:
        return
    with _exit_hook_lock:
        if _exit_hook_installed:
            return
        sys.excepthook = _recording_excepthook(sys.excepthook)
        atexit.register(end_all_runs_at_exit)
        _exit_hook_installed = True


def active_runs_of_all_threads() -> list[ActiveRun]:
    """Every run active in any thread of this process (each thread's stack, outermost first)."""
    with _stacks_lock:
        return [run for _thread, stack in _all_stacks for run in stack]


def end_all_runs_at_exit() -> None:
    """End every run left open in any thread, then flush buffered stores."""
    status = exit_status(_uncaught)
    with _stacks_lock:
        stacks = [stack for _thread, stack in _all_stacks]
    for stack in stacks:
        while stack:
            run = stack.pop()
            try:
                terminate(run, status)
            except Exception:  # at exit a broken store must not hide the other runs
                _log.warning("Could not end run %s at exit", run.info.run_id, exc_info=True)
    for store in cached_stores():
        try:
            store.flush()
        except Exception:
            _log.warning("Could not flush %r at exit", store, exc_info=True)
