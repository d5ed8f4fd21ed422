"""Replaying journals to the server, in order, so that an interrupted replay can simply run again.

Per journal: records after the last confirmed one are sent in batches to
``POST /api/2.0/mltrail/offline/replay``. Before a batch is sent its last
``seq`` is saved as ``sent``; after the server answers, as ``acked``. A replay
killed in between sends the same records again, flagged ``check``, and the
server leaves out what it already holds (see
:mod:`mltrail.server.handlers.offline`). Then the artifacts of runs created
offline are uploaded (files not uploaded yet, or changed since), and a journal
whose records are all confirmed and whose writer has exited is deleted.

Example::

    report = replay_directory(journal_dir(url), session.send, tracking_uri=url)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrail.offline.journal import Journal, Record, State, try_lock, unlock
from mltrail.offline.settings import replay_batch
from mltrail.protocol.offline import OFFLINE, Replay, ReplayRecord

_log = logging.getLogger("mltrail.offline")

Send = Callable[..., dict[str, Any]]
Progress = Callable[[int], None]

#: The body key holding the id an experiment was given offline (not sent to the server).
OFFLINE_EXPERIMENT_KEY = "_offline_id"
#: Prefix of the experiment ids handed out offline.
OFFLINE_EXPERIMENT_PREFIX = "offline-"


@dataclass
class Refused:
    """A record the server refused (the replay went on with the next one)."""

    journal: str
    seq: int
    op: str
    error_code: str
    message: str


@dataclass
class ReplayReport:
    """What one replay did."""

    applied: int = 0
    duplicates: int = 0
    artifacts: int = 0
    removed: int = 0
    refused: list[Refused] = field(default_factory=list)


def pending_records(directory: Path) -> list[tuple[Journal, list[Record]]]:
    """Every journal in ``directory`` with its records not yet confirmed by the server."""
    return [(j, j.records(after=j.state().acked)) for j in Journal.all_in(directory)]


def _wire(record: Record, state: State) -> ReplayRecord | None:
    """The record as sent, placeholders replaced; None when it names an experiment never created."""
    body = {k: v for k, v in record.body.items() if k != OFFLINE_EXPERIMENT_KEY}
    exp = body.get("experiment_id")
    if isinstance(exp, str) and exp.startswith(OFFLINE_EXPERIMENT_PREFIX):
        if exp not in state.experiments:
            return None
        body["experiment_id"] = state.experiments[exp]
    return ReplayRecord(record.seq, record.op, body, check=record.check or record.seq <= state.sent)


def _refuse(report: ReplayReport, journal: Journal, record: Record, error_code: str, message: str) -> None:
    report.refused.append(Refused(journal.id, record.seq, record.op, error_code, message))
    _log.warning(
        "The server refused offline record %s (%s) of journal %s: %s: %s",
        record.seq, record.op, journal.path, error_code, message,
    )  # fmt: skip


def _batches(records: list[Record], size: int) -> list[list[Record]]:
    """Batches of at most ``size``; a ``create_experiment`` ends its batch (later records need its id)."""
    out: list[list[Record]] = []
    current: list[Record] = []
    for record in records:
        current.append(record)
        if len(current) >= size or record.op == "create_experiment":
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def replay_journal(
    journal: Journal, send: Send, tracking_uri: str, report: ReplayReport, progress: Progress | None = None
) -> None:
    """Replay one journal's unconfirmed records, then its artifacts (call with the directory's lock held)."""
    state = journal.state()
    records = journal.records(after=state.acked)
    for batch in _batches(records, replay_batch()):
        wire = []
        for record in batch:
            sent = _wire(record, state)
            if sent is None:  # its experiment's create_experiment was refused: so is this record
                _refuse(
                    report,
                    journal,
                    record,
                    "RESOURCE_DOES_NOT_EXIST",
                    f"experiment {record.body.get('experiment_id')} could not be created on the server",
                )
                if record.op == "create_run":
                    state.runs[record.body["run_id"]] = ""
            else:
                wire.append(sent)
        state.sent = max(state.sent, batch[-1].seq)
        journal.save_state(state)
        answer = send(OFFLINE.replay, Replay(journal.id, wire)) if wire else {}
        by_seq = {r.seq: r for r in batch}
        for outcome in answer.get("results", ()):
            record = by_seq.get(int(outcome.get("seq", -1)))
            if record is None:
                continue
            if outcome.get("error_code"):
                _refuse(report, journal, record, outcome["error_code"], outcome.get("message", ""))
                if record.op == "create_run":
                    state.runs[record.body["run_id"]] = ""  # its artifacts have nowhere to go
                continue
            if outcome.get("duplicate"):
                report.duplicates += 1
            else:
                report.applied += 1
            if record.op == "create_experiment" and outcome.get("experiment_id"):
                placeholder = record.body.get(OFFLINE_EXPERIMENT_KEY)
                if placeholder:
                    state.experiments[placeholder] = str(outcome["experiment_id"])
            run = outcome.get("run")
            if record.op == "create_run" and run:
                state.runs[record.body["run_id"]] = run["info"]["artifact_uri"]
        state.acked = batch[-1].seq
        journal.save_state(state)
        if progress is not None:
            progress(len(batch))
    report.artifacts += _upload_artifacts(journal, state, tracking_uri)


def _upload_artifacts(journal: Journal, state: State, tracking_uri: str) -> int:
    """Upload journaled artifact files that are new or changed since the last upload.

    They belong to runs created offline (uploaded once their ``create_run`` is
    confirmed) or to runs created online whose uploads failed while the server
    was away (uploaded to the artifact URI kept with them).
    """
    if not journal.artifacts.is_dir():
        return 0
    from mltrail.artifacts import get_artifact_repository  # only when there is something to upload

    count = 0
    for run_dir in sorted(p for p in journal.artifacts.iterdir() if p.is_dir()):
        uri = state.runs.get(run_dir.name, journal.artifact_uri_of(run_dir.name))
        if not uri:
            continue  # its create_run is not confirmed yet, or was refused (the files stay in the journal)
        repo = None
        for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(run_dir).as_posix()
            stat = path.stat()
            mark = [stat.st_size, stat.st_mtime_ns]
            key = f"{run_dir.name}/{rel}"
            if state.uploaded.get(key) == mark:
                continue
            repo = repo or get_artifact_repository(uri, tracking_uri=tracking_uri)
            parent = rel.rpartition("/")[0]
            repo.log_artifact(str(path), parent or None)
            state.uploaded[key] = mark
            journal.save_state(state)
            count += 1
    return count


def replay_directory(
    directory: Path,
    send: Send,
    tracking_uri: str,
    progress: Progress | None = None,
) -> ReplayReport | None:
    """Replay every journal in ``directory``; None when another process is replaying it now."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = try_lock(directory / "replay.lock")
    if fd is None:
        return None
    report = ReplayReport()
    try:
        for journal in Journal.all_in(directory):
            replay_journal(journal, send, tracking_uri, report, progress)
            with journal.writer_gone() as gone:
                if gone and journal.pending() == 0 and not journal.artifacts_pending():
                    journal.remove()
                    report.removed += 1
    finally:
        unlock(fd)
    return report
