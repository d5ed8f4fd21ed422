"""The offline hook of the REST tracking store: journal writes while the server is unreachable.

:class:`OfflineGuard` stands between a REST store's write methods and the
wire. A write is sent as usual; when the server cannot be reached (refused or
dropped connection, timeout, 502/503/504 after the transport's retries) and
``MLTRAIL_OFFLINE`` is not ``never``, the write is appended to this process's
journal instead, one warning names the journal, and every later write goes to
the journal too (so the server receives them in order) until a background
thread finds the server back and has replayed everything.

Runs created offline get their id here (a uuid4 hex, like the server's), which
the server keeps at replay; experiments created offline get a placeholder id
(``offline-…``) resolved by name at replay. Their artifacts are written under
the journal directory and uploaded at replay, as are the files of runs created
online whose upload failed while the server was away.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from mltrail.entities import Experiment, Run, RunInfo
from mltrail.exceptions import MltrailException
from mltrail.offline import settings
from mltrail.offline.journal import Journal
from mltrail.offline.replay import (
    OFFLINE_EXPERIMENT_KEY,
    OFFLINE_EXPERIMENT_PREFIX,
    ReplayReport,
    replay_directory,
)

T = TypeVar("T")
_log = logging.getLogger("mltrail.offline")


_guards: dict[tuple[str, str, str], OfflineGuard] = {}
_guards_lock = threading.Lock()


def guard_for(session: Any, is_unreachable: Callable[[BaseException], bool]) -> OfflineGuard | None:
    """The one guard of this process for ``session``'s server (None with ``MLTRAIL_OFFLINE=never``).

    The tracking and trace stores of one server share it, so their writes share
    one journal and keep their order. ``session`` has ``base_url``, ``send`` and
    ``reachable()`` (:class:`mltrail.store._http.HttpSession`).
    """
    mode = settings.mode()
    if mode == "never":
        return None
    key = (session.base_url, mode, str(settings.journal_dir(session.base_url)))
    with _guards_lock:
        guard = _guards.get(key)
        if guard is None:
            guard = _guards[key] = OfflineGuard(
                session.base_url, session.send, session.reachable, is_unreachable
            )
        return guard


class OfflineWarning(UserWarning):
    """Issued once per process and server when logging switches to the offline journal."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class OfflineGuard:
    """Journal a REST store's writes while its server is unreachable; replay them when it is back.

    ``send(route, body)`` is the store's transport (used to replay); ``probe()``
    answers whether the server is up; ``is_unreachable(err)`` says whether an
    error means the server could not be reached.

    Example::

        guard = OfflineGuard(url, session.send, probe, unreachable)
        guard.write("log_batch", body, lambda: session.send(T.log_batch, body))
    """

    def __init__(
        self,
        base_url: str,
        send: Callable[..., dict[str, Any]],
        probe: Callable[[], bool],
        is_unreachable: Callable[[BaseException], bool],
    ) -> None:
        self.base_url = base_url
        self.directory: Path = settings.journal_dir(base_url)
        self.mode = settings.mode()
        self._send = send
        self._probe = probe
        self._is_unreachable = is_unreachable
        self._lock = threading.RLock()
        self._journal: Journal | None = None
        self._journaling = self.mode == "always"
        self._warned = False
        self._thread: threading.Thread | None = None
        self._runs: dict[str, RunInfo] = {}
        self._offline_runs: dict[str, Run] = {}
        self._experiments: dict[str, Experiment] = {}
        self._artifact_uris: dict[str, str] = {}
        self.last_report: ReplayReport | None = None
        self._stop = threading.Event()
        # Registered before the stores' and the fluent API's exit hooks, so it runs after them (LIFO).
        atexit.register(self._tidy_at_exit)
        if self.mode == "auto" and any(self.directory.glob("*.jsonl")):
            self._start_replayer(first_wait=0.0)  # journals left by an earlier process

    # ----------------------------------------------------------- state
    @property
    def journaling(self) -> bool:
        """Whether writes go to the journal now."""
        return self._journaling

    def journal(self) -> Journal:
        """This process's journal (created on first use)."""
        with self._lock:
            if self._journal is None:
                self._journal = Journal.create(self.directory)
            return self._journal

    def _tidy_at_exit(self) -> None:
        """Delete this process's journal when the server confirmed all of it (else leave it for later)."""
        with self._lock:
            journal = self._journal
            if journal is None:
                return
            try:
                done = journal.pending() == 0 and not journal.artifacts_pending()
            except OSError:
                return
            journal.close()
            if done:
                journal.remove()

    def _go_offline(self, err: BaseException | None) -> None:
        self._journaling = True
        if not self._warned:
            self._warned = True
            why = f" ({err})" if err is not None else ""
            warnings.warn(
                f"mltrail: the tracking server {self.base_url} cannot be reached{why}; runs keep logging to "
                f"the offline journal {self.journal().path}, replayed when the server is back "
                "(or by `mltrail sync`). MLTRAIL_OFFLINE=never raises instead.",
                OfflineWarning,
                stacklevel=4,
            )
        if self.mode == "auto":
            self._start_replayer()

    # ----------------------------------------------------------- writes
    def write(
        self,
        op: str,
        body: Any,
        online: Callable[[], T],
        offline: Callable[[], T] | None = None,
    ) -> T | None:
        """``online()``, or when the server is unreachable (or already journaling) journal ``body``.

        ``body`` (a ``msgspec`` Struct or a dict) is what the replay sends as the
        record's body; ``offline()`` gives the call's answer when journaled.
        """
        with self._lock:
            if self._journaling:
                return self._append(op, body, offline, check=False)
        try:
            return online()
        except MltrailException as err:
            if not self._is_unreachable(err):
                raise
            with self._lock:
                self._go_offline(err)
                # A timeout or a gateway error may hide a request that arrived: replayed with check.
                return self._append(op, body, offline, check=True)

    def _append(self, op: str, body: Any, offline: Callable[[], T] | None, check: bool) -> T | None:
        if not self._warned:
            self._go_offline(None)
        data = body if isinstance(body, dict) else msgspec.to_builtins(body)
        self.journal().append(op, data, check=check)
        return offline() if offline is not None else None

    # ----------------------------------------------------------- answers made offline
    def offline_run(self, body: Any) -> Run:
        """The answer to ``create_run`` made offline: the run as the server will hold it."""
        run_id = body["run_id"]
        artifacts = self.journal().artifacts / run_id
        artifacts.mkdir(parents=True, exist_ok=True)
        tags = [{"key": t["key"], "value": t.get("value", "")} for t in body.get("tags", ())]
        name = body.get("run_name") or next((t["value"] for t in tags if t["key"] == "mlflow.runName"), "")
        info = {
            "run_id": run_id, "experiment_id": body.get("experiment_id") or "0", "run_name": name,
            "user_id": body.get("user_id", ""), "status": "RUNNING", "start_time": body.get("start_time"),
            "artifact_uri": artifacts.as_uri(), "lifecycle_stage": "active",
        }  # fmt: skip
        run = Run.from_dict({"info": info, "data": {"tags": tags}})
        self._runs[run_id] = run.info
        self._offline_runs[run_id] = run
        return run

    def offline_run_of(self, run_id: str) -> Run | None:
        """A run this process created offline (what ``get_run`` answers for it while offline)."""
        return self._offline_runs.get(run_id)

    def new_run_id(self) -> str:
        """A run id for a run created offline (the server keeps it at replay)."""
        return uuid.uuid4().hex

    def offline_run_info(self, body: dict[str, Any]) -> RunInfo:
        """The answer to ``update_run`` made offline."""
        run_id = body["run_id"]
        known = self._runs.get(run_id) or RunInfo.from_dict({"run_id": run_id, "experiment_id": ""})
        if body.get("status") is not None:
            known.status = str(body["status"])
        if body.get("end_time") is not None:
            known.end_time = int(body["end_time"])
        if body.get("run_name"):
            known.run_name = body["run_name"]
        self._runs[run_id] = known
        return known

    def experiment_record(self, body: Any) -> dict[str, Any]:
        """A ``create_experiment`` record carrying the placeholder id it gets if created offline."""
        record = msgspec.to_builtins(body)
        record[OFFLINE_EXPERIMENT_KEY] = OFFLINE_EXPERIMENT_PREFIX + uuid.uuid4().hex[:12]
        return record

    def new_experiment(self, body: dict[str, Any]) -> str:
        """The experiment of a ``create_experiment`` record made offline: its placeholder id (resolved by name at replay)."""
        exp_id = body[OFFLINE_EXPERIMENT_KEY]
        tags = {t["key"]: t.get("value", "") for t in body.get("tags", ())}
        self._experiments[body["name"]] = Experiment(
            exp_id, body["name"], body.get("artifact_location", ""), "active", tags, _now_ms(), _now_ms()
        )
        return exp_id

    def offline_experiment(
        self, name: str | None = None, experiment_id: str | None = None
    ) -> Experiment | None:
        """An experiment created offline by this process, by name or placeholder id."""
        for exp in self._experiments.values():
            if exp.name == name or exp.experiment_id == experiment_id:
                return exp
        return None

    def note_artifact_uri(self, run_id: str, artifact_uri: str) -> None:
        """Remember a run's artifact URI, learnt online (its uploads can be journaled later)."""
        self._artifact_uris[run_id] = artifact_uri

    def artifact_uri_of(self, run_id: str) -> str | None:
        """The artifact URI of a run this process saw online or created offline, or None."""
        if run_id in self._offline_runs:
            return self._offline_runs[run_id].info.artifact_uri
        return self._artifact_uris.get(run_id)

    def journal_artifacts(
        self, run_id: str, artifact_uri: str, local_path: Path, artifact_path: str | None, err: BaseException
    ) -> None:
        """Keep a file or folder whose upload failed with the server away; the replay uploads it.

        ``local_path`` goes where ``log_artifact`` would put it: under
        ``artifact_path``, a folder as its contents (what ``log_artifacts`` does;
        the caller passes the folder's own name in ``artifact_path`` when it
        wants the folder kept).
        """
        import shutil

        with self._lock:
            journal = self.journal()
            target = journal.artifacts / run_id
            for part in (artifact_path or "").split("/"):
                if part in ("", "."):
                    continue
                if part == "..":
                    raise MltrailException(
                        f"Invalid artifact path {artifact_path!r}", "INVALID_PARAMETER_VALUE"
                    )
                target = target / part
            target.mkdir(parents=True, exist_ok=True)
            if local_path.is_dir():
                shutil.copytree(local_path, target, dirs_exist_ok=True)
            else:
                shutil.copy2(local_path, target / local_path.name)
            journal.remember_artifact_uri(run_id, artifact_uri)
            if not self._journaling:
                self._go_offline(err)

    def read(self, online: Callable[[], T], offline: Callable[[], T]) -> T:
        """A read that has an offline answer (an experiment created offline): ``offline()`` when unreachable."""
        try:
            return online()
        except MltrailException as err:
            if not self._is_unreachable(err):
                raise
            with self._lock:
                if not self._journaling:
                    self._go_offline(err)
            return offline()

    # ----------------------------------------------------------- replay
    def _start_replayer(self, first_wait: float | None = None) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=self._replay_loop, args=(first_wait,), name="mltrail-offline-replay", daemon=True
        )
        self._thread.start()

    def _replay_loop(self, first_wait: float | None) -> None:
        wait, longest = settings.retry_seconds()
        delay = wait if first_wait is None else first_wait
        while True:
            if self._stop.wait(delay):
                return
            delay = wait if delay == 0 else min(delay * 2, longest)
            try:
                if not self._probe():
                    continue
                self.last_report = self.replay()
            except Exception as err:  # the server went away again, or a record cannot be sent: retry later
                _log.debug("offline replay to %s failed: %s", self.base_url, err)
                continue
            if self.last_report is None:
                continue  # another process is replaying this directory
            with self._lock:
                if self._journal is None or self._journal.pending() == 0:
                    if self._journaling:
                        _log.warning(
                            "mltrail: offline journal replayed to %s; logging online again", self.base_url
                        )
                    self._journaling = False
                    return

    def stop(self) -> None:
        """Stop retrying in the background for good (the journal stays for the next process or ``mltrail sync``)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def replay(self, progress: Callable[[int], None] | None = None) -> ReplayReport | None:
        """Replay this server's journals now (None when another process is replaying them)."""
        return replay_directory(self.directory, self._send, self.base_url, progress)
