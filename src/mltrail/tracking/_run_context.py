"""The fluent API's state: the active-run stack, the last run, the active experiment.

Like MLflow, each thread has its own stack of active runs (a run started in a
worker thread does not become the main thread's active run); the active
experiment is process-wide. The experiment is remembered together with the
tracking URI it belongs to, so switching stores (or, with the embedded
default, directories) never sends runs to an experiment id of another store.

Runs still open when the interpreter exits are ended by an ``atexit`` hook:
FINISHED normally, KILLED after an uncaught ``KeyboardInterrupt`` (Ctrl-C) and
FAILED after another uncaught exception. Buffered stores are flushed after.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import Any

from mltrail.entities import Run, RunStatus

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


def terminate(run: ActiveRun, status: str) -> None:
    """Mark one run ended in the store it was started in, and remember it as the last run."""
    from mltrail.tracking.fluent import client_for_uri

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
    from mltrail.tracking._store_registry import cached_stores

    for store in cached_stores():
        try:
            store.flush()
        except Exception:
            _log.warning("Could not flush %r at exit", store, exc_info=True)
