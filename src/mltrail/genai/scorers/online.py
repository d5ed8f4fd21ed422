"""Online evaluation: the worker that judges new traces with the experiments' started scorers.

``mltrail server`` runs one :class:`OnlineScoringWorker` in a thread of its main
process (one per server whatever ``--workers``; ``--no-scorer-worker`` turns it off),
and ``mltrail scorer-worker --backend-store-uri …`` runs one on its own. Each pass:

1. reads the started scorers (``sample_rate > 0``) at their latest version;
2. for each, takes up to ``batch_size`` finished traces of its experiment that began
   after the scorer was started and that no worker has taken yet;
3. keeps a trace when it is *sampled* (a hash of trace and scorer below the sample
   rate: the same answer in every worker and every pass) and matches the filter
   (``search_traces`` grammar, evaluated when the trace is first seen);
4. *claims* it in the ledger (a unique row per trace and scorer version, so of
   several workers on one database exactly one judges it), runs the scorer on the
   trace's root span inputs/outputs (and the trace itself, and its expectations),
   and logs the feedback on the trace (source ``LLM_JUDGE`` for judges, ``CODE``
   for ``@scorer`` functions; a failing scorer logs an error feedback).

A trace whose spans have not arrived yet is left for a later pass (up to
``span_wait`` seconds after it ended). A claim left by a worker that stopped
mid-judging is taken over after ``stale_claim`` seconds. Once a worker has seen
every trace of a scorer, its later passes read only the traces that began in the
last ``lookback`` seconds (an index range, not the experiment's whole history): a
trace logged more than ``lookback`` after it began is not judged.

Security: a ``@scorer`` registration is Python source, and this worker runs it with
the worker's rights. With logins on, only users with EDIT on the experiment can
register one; ``run_code=False`` (``--no-code-scorers``,
``MLTRAIL_SCORER_WORKER_CODE=false``) runs judges and built-in scorers only.

Example::

    worker = OnlineScoringWorker("postgresql://u:p@db/mltrail", poll_interval=2)
    worker.run_once()                # one pass; returns how many traces were judged
    worker.start(); ...; worker.stop()
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mltrail.entities.assessment import (
    DEFAULT_FEEDBACK_NAME,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
)
from mltrail.exceptions import invalid
from mltrail.genai.scorers.base import Scorer, ScorerKind
from mltrail.genai.scorers.serialization import UnrunnableScorer, load_scorer
from mltrail.store.sql.scorers import DONE, ERROR, SKIPPED, ActiveScorer, SqlScorerStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, client_workspace_for

_log = logging.getLogger("mltrail.scorer_worker")

#: Metadata keys on each logged feedback: which registered scorer (and version) made it.
SCORER_ID_KEY = "mltrail.onlineScoring.scorerId"
SCORER_VERSION_KEY = "mltrail.onlineScoring.scorerVersion"
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_CALL_TIMEOUT = 300.0
_CODE_KINDS = (ScorerKind.DECORATOR, ScorerKind.CLASS)


def sampled(trace_id: str, scorer_id: str, sample_rate: float) -> bool:
    """Whether ``trace_id`` falls in the scorer's sample (deterministic: the same in every worker)."""
    if sample_rate >= 1:
        return True
    if sample_rate <= 0:
        return False
    digest = hashlib.sha256(f"{scorer_id}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample_rate


def env_flag(name: str, default: bool) -> bool:
    """A boolean environment variable (``1/true/yes/on`` or ``0/false/no/off``)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


class OnlineScoringWorker:
    """Judges new traces with the started scorers of every experiment in one database."""

    def __init__(
        self,
        backend_store_uri: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        batch_size: int = 50,
        threads: int = 4,
        span_wait: float = 60.0,
        stale_claim: float = 900.0,
        lookback: float = 3600.0,
        run_code: bool = True,
        name: str | None = None,
    ) -> None:
        self.scorers = SqlScorerStore(backend_store_uri)
        self.traces = SqlTraceStore(backend_store_uri)
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.threads = max(1, threads)
        self.span_wait = span_wait
        self.stale_claim = stale_claim
        self.lookback = lookback
        self._floor: dict[tuple[str, int], int] = {}
        self.run_code = run_code
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._loaded: dict[tuple[str, int], Scorer | Exception] = {}
        self._warned: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ one pass
    def run_once(self) -> int:
        """One pass over every started scorer; returns how many traces got feedback (or an error)."""
        judged = 0
        for active in self.scorers.active_scorers():
            scorer = self._scorer(active)
            if scorer is not None:
                judged += self._judge_new(active, scorer)
        return judged

    def _scorer(self, active: ActiveScorer) -> Scorer | None:
        key = (active.version.scorer_id, active.version.scorer_version)
        if key not in self._loaded:
            try:
                self._loaded[key] = load_scorer(active.version.serialized_scorer)
            except Exception as err:  # a registration this worker cannot run: say so once
                self._loaded[key] = err
        found = self._loaded[key]
        if isinstance(found, UnrunnableScorer):
            found = invalid(f"{found.name!r} is of a kind mltrail cannot run")
            self._loaded[key] = found
        if isinstance(found, Exception):
            self._warn_once(
                key,
                "cannot load scorer %r (experiment %s): %s",
                active.version.scorer_name,
                active.config.experiment_id,
                found,
            )
            return None
        if found.kind in _CODE_KINDS and not self.run_code:
            self._warn_once(
                key,
                "not running code scorer %r (experiment %s): code scorers are off",
                found.name,
                active.config.experiment_id,
            )
            return None
        return found

    def _warn_once(self, key: tuple[str, int], message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning("scorer worker: " + message, *args)

    def _judge_new(self, active: ActiveScorer, scorer: Scorer) -> int:
        key = (active.version.scorer_id, active.version.scorer_version)
        now_ms = int(time.time() * 1000)
        stale = now_ms - int(self.stale_claim * 1000)
        floor = max(self._floor.get(key, 0), active.config.started_time)
        found = self.scorers.unjudged_traces(active, self.batch_size, stale_before_ms=stale, since_ms=floor)
        rate, scorer_id = active.config.sample_rate, active.version.scorer_id
        chosen = [tid for tid, _ in found if sampled(tid, scorer_id, rate)]
        matching = self._matching(active, chosen)
        todo = []
        for trace_id, ts in found:
            if trace_id not in matching:  # not sampled or filtered out: recorded, never looked at again
                self.scorers.claim(trace_id, active, SKIPPED, self.name)
            elif self.scorers.claim(trace_id, active, worker=self.name, stale_before_ms=stale):
                todo.append((trace_id, ts))
        if len(todo) <= 1 or self.threads == 1:
            done = [self._judge(active, scorer, tid) for tid, _ in todo]
        else:
            with ThreadPoolExecutor(
                min(self.threads, len(todo)), thread_name_prefix="MltrailOnlineScorer"
            ) as pool:
                done = list(pool.map(lambda item: self._judge(active, scorer, item[0]), todo))
        if len(found) < self.batch_size:
            # Every trace since the floor was seen: later passes start LOOKBACK before now (traces may
            # be logged a while after they began), or at the oldest trace left for later.
            left = [ts for (_, ts), ok in zip(todo, done, strict=True) if not ok]
            self._floor[key] = max(floor, min([now_ms - int(self.lookback * 1000), *left]))
        return sum(done)

    def _matching(self, active: ActiveScorer, trace_ids: list[str]) -> set[str]:
        """The ids among ``trace_ids`` that the scorer's filter keeps."""
        filt = active.config.filter_string
        if not filt or not trace_ids:
            return set(trace_ids)
        safe = [t for t in trace_ids if "'" not in t and "\\" not in t]
        if not safe:
            return set()
        listed = ", ".join(f"'{t}'" for t in safe)
        infos, _ = self.traces.search_traces(
            [active.config.experiment_id],
            filter_string=f"({filt}) AND trace.request_id IN ({listed})",
            max_results=len(safe),
        )
        return {info.trace_id for info in infos}

    def _judge(self, active: ActiveScorer, scorer: Scorer, trace_id: str) -> int:
        try:
            trace = self.traces.get_trace(trace_id)
            root = trace.data.root
            if root is None and self._spans_may_come(trace):
                self.scorers.release(trace_id, active)
                return 0
            # A judge on a gateway:/ endpoint must reach the endpoint of the trace's own workspace.
            workspace = None if active.workspace == DEFAULT_WORKSPACE else active.workspace
            with client_workspace_for(workspace):
                feedbacks = self._run(scorer, trace, root)
            for feedback in feedbacks:
                feedback.trace_id = trace_id
                feedback["metadata"] = {
                    **(feedback.metadata or {}),
                    SCORER_ID_KEY: active.version.scorer_id,
                    SCORER_VERSION_KEY: str(active.version.scorer_version),
                }
                if root is not None:
                    feedback["span_id"] = root.span_id
                self.traces.create_assessment(feedback)
        except Exception:  # the database went away, the trace was deleted...: try again later
            _log.warning(
                "scorer worker: judging trace %s with %r failed; will retry:\n%s",
                trace_id,
                scorer.name,
                traceback.format_exc(),
            )
            self._release_quietly(trace_id, active)
            return 0
        failed = any(getattr(f, "error", None) is not None for f in feedbacks)
        self.scorers.finish(trace_id, active, ERROR if failed else DONE)
        return 1

    def _spans_may_come(self, trace: Any) -> bool:
        info = trace.info
        ended_ms = (info.request_time or 0) + (info.execution_duration or 0)
        return time.time() * 1000 - ended_ms < self.span_wait * 1000

    def _run(self, scorer: Scorer, trace: Any, root: Any) -> list[Feedback]:
        expectations = {a.name: a.value for a in (trace.info.assessments or []) if a.expectation is not None}
        kwargs = {
            "inputs": getattr(root, "inputs", None),
            "outputs": getattr(root, "outputs", None),
            "expectations": expectations or None,
            "trace": trace,
        }
        source = _source(scorer)
        try:
            if not scorer.timeout:
                scorer = _with_timeout(scorer)
            feedbacks = as_feedbacks(scorer.name, scorer.run(**kwargs))
        except Exception as exc:  # the scorer's failure is the trace's error feedback
            error = AssessmentError("SCORER_ERROR", str(exc), traceback.format_exc())
            return [Feedback(name=scorer.name, source=source, error=error)]
        for feedback in feedbacks:
            if feedback.source is None or feedback.source.source_type == AssessmentSourceType.CODE:
                feedback["source"] = source.to_proto_json()
        return feedbacks

    def _release_quietly(self, trace_id: str, active: ActiveScorer) -> None:
        try:
            self.scorers.release(trace_id, active)
        except Exception:  # left as a claim: taken over once stale
            _log.debug("scorer worker: could not release %s", trace_id, exc_info=True)

    # ------------------------------------------------------------ the loop
    def run_forever(self, parent_pid: int | None = None) -> None:
        """Pass after pass until :meth:`stop` (or until ``parent_pid`` is gone)."""
        _log.info("scorer worker %s polling every %gs", self.name, self.poll_interval)
        while not self._stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                _log.info("scorer worker: the server process is gone; stopping")
                return
            try:
                judged = self.run_once()
            except Exception:  # e.g. the database is briefly away: log and go on
                _log.warning("scorer worker: pass failed:\n%s", traceback.format_exc())
                judged = 0
            if not judged:
                self._stop.wait(self.poll_interval)

    def start(self) -> None:
        """Run :meth:`run_forever` in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="mltrail-scorer-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop and wait up to ``timeout`` seconds for the current pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def as_feedbacks(name: str, value: Any) -> list[Feedback]:
    """What a scorer's ``run`` returned (already checked by it) as the feedbacks to log."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, Feedback):
            item = Feedback(name=name, value=item)
        elif item.name == DEFAULT_FEEDBACK_NAME:
            item.name = name
        out.append(item)
    return out


def _source(scorer: Scorer) -> AssessmentSource:
    model = getattr(scorer, "model", None)
    if scorer.kind in _CODE_KINDS or not hasattr(scorer, "judge_model"):
        return AssessmentSource(AssessmentSourceType.CODE, scorer.name)
    return AssessmentSource(AssessmentSourceType.LLM_JUDGE, model or scorer.judge_model)


def _with_timeout(scorer: Scorer) -> Scorer:
    """A copy of ``scorer`` that gives up after :data:`DEFAULT_CALL_TIMEOUT` (one hung call must not stop the worker)."""
    bounded = copy.copy(scorer)
    bounded.timeout = DEFAULT_CALL_TIMEOUT
    return bounded
