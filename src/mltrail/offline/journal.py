"""The offline journal on disk: append-only, fsync'd records, one per write.

A server's journal directory (:func:`mltrail.offline.settings.journal_dir`)
holds one journal per SDK process that went offline, named by a random id:

``<id>.jsonl``
    One JSON record a line: ``{"seq", "op", "body", "check", "time"}``; ``seq``
    counts from 1. Every append is written with one ``write`` and fsync'd
    before the call returns. A line cut short by a crash is ignored and cut off
    before the next append.
``<id>.state``
    ``{"acked", "sent", "experiments", "runs", "uploaded"}``: the last record the
    server confirmed, the last record ever sent (records up to it may already be
    applied: they are replayed with ``check``), the server ids of experiments
    created offline, the artifact URIs of runs created offline and the artifact
    files already uploaded.
    Replaced atomically (write, fsync, rename).
``<id>.owner``
    Locked (``flock``) by the writing process while it lives, so a replay in
    another process knows whether the journal can still grow.
``<id>.artifacts/<run_id>/``
    Artifacts of runs created offline, uploaded at replay.
``replay.lock``
    Held by the one process replaying this directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # POSIX; on Windows the locks are advisory no-ops (one process per journal directory)
    import fcntl
except ImportError:  # pragma: no cover - not on this platform
    fcntl = None  # type: ignore[assignment]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class Record:
    """One journaled write."""

    seq: int
    op: str
    body: dict[str, Any]
    check: bool = False
    time: int = 0


@dataclass
class State:
    """How far a journal's replay got (see the module docstring)."""

    acked: int = 0
    sent: int = 0
    experiments: dict[str, str] = field(default_factory=dict)
    #: run id -> the server's artifact URI, for runs created offline (their artifacts are uploaded there).
    runs: dict[str, str] = field(default_factory=dict)
    #: "run_id/path" -> [size, mtime_ns] of each artifact file already uploaded.
    uploaded: dict[str, list[int]] = field(default_factory=dict)


def try_lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` without waiting: the open descriptor, or None when held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken with :func:`try_lock`."""
    os.close(fd)  # closing the descriptor drops the flock


class Journal:
    """One process's journal in ``directory`` (created with a new id unless ``journal_id`` is given).

    Example::

        journal = Journal.create(Path("~/.mltrail/offline/ab12cd34ef56").expanduser())
        seq = journal.append("log_batch", {"run_id": run_id, "metrics": [...]})
    """

    def __init__(self, directory: Path, journal_id: str) -> None:
        self.directory = directory
        self.id = journal_id
        self.path = directory / f"{journal_id}.jsonl"
        self.state_path = directory / f"{journal_id}.state"
        self.owner_path = directory / f"{journal_id}.owner"
        self.artifacts = directory / f"{journal_id}.artifacts"
        #: One file per run created online whose artifacts were journaled: it holds the run's artifact URI.
        self.artifact_uris = directory / f"{journal_id}.artifact-uris"
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._owner_fd: int | None = None
        self.last_seq = 0

    @classmethod
    def create(cls, directory: Path) -> Journal:
        """A new journal owned by this process (its ``.owner`` lock held until the process ends)."""
        directory.mkdir(parents=True, exist_ok=True)
        journal = cls(directory, uuid.uuid4().hex)
        journal._owner_fd = try_lock(journal.owner_path)
        return journal

    @classmethod
    def all_in(cls, directory: Path) -> list[Journal]:
        """Every journal in ``directory``, oldest first."""
        if not directory.is_dir():
            return []
        paths = sorted(directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        journals = [cls(directory, p.stem) for p in paths]
        for j in journals:
            j.last_seq = j.records()[-1].seq if j.path.exists() and j.path.stat().st_size else 0
        # Oldest by first write: the state of a record's own file is what orders it.
        return journals

    # ------------------------------------------------------------ writing
    def _open(self) -> int:
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            size = os.fstat(fd).st_size
            if size:  # continue after the last whole line (a crash may have cut the last one)
                data = os.pread(fd, size, 0)
                end = data.rfind(b"\n") + 1
                if end != size:
                    os.ftruncate(fd, end)
                self.last_seq = max((r.seq for r in _parse(data[:end])), default=0)
            self._fd = fd
            _fsync_dir(self.directory)
        return self._fd

    def append(self, op: str, body: dict[str, Any], check: bool = False) -> int:
        """Write one record durably (fsync'd) and return its sequence number."""
        with self._lock:
            fd = self._open()
            seq = self.last_seq + 1
            line = (
                json.dumps(
                    {"seq": seq, "op": op, "body": body, "check": check, "time": int(time.time() * 1000)},
                    separators=(",", ":"),
                    allow_nan=True,
                ).encode()
                + b"\n"
            )
            os.write(fd, line)
            os.fsync(fd)
            self.last_seq = seq
            return seq

    def close(self) -> None:
        """Close the file (and drop the owner lock)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._owner_fd is not None:
                unlock(self._owner_fd)
                self._owner_fd = None

    # ------------------------------------------------------------ reading
    def records(self, after: int = 0) -> list[Record]:
        """The whole records with ``seq > after``, in order (a cut-short last line is left out)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [r for r in _parse(data[: data.rfind(b"\n") + 1]) if r.seq > after]

    def state(self) -> State:
        """The replay state (all zero when the journal was never replayed)."""
        try:
            raw = json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return State()
        return State(
            int(raw.get("acked", 0)),
            int(raw.get("sent", 0)),
            dict(raw.get("experiments") or {}),
            dict(raw.get("runs") or {}),
            dict(raw.get("uploaded") or {}),
        )

    def save_state(self, state: State) -> None:
        """Replace the state file atomically and durably."""
        tmp = self.state_path.with_suffix(".state.tmp")
        data = json.dumps(dataclasses.asdict(state)).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.state_path)
        _fsync_dir(self.directory)

    def pending(self) -> int:
        """How many records the server has not confirmed yet."""
        return max(0, self._last_on_disk() - self.state().acked)

    def artifacts_pending(self) -> bool:
        """Whether an artifact file of a run created offline is not uploaded yet (or changed since)."""
        if not self.artifacts.is_dir():
            return False
        state = self.state()
        uploaded = state.uploaded
        for path in self.artifacts.rglob("*"):
            run_id = path.relative_to(self.artifacts).parts[0]
            if path.is_file() and state.runs.get(run_id) != "":  # "": its run was refused
                stat = path.stat()
                key = path.relative_to(self.artifacts).as_posix()
                if uploaded.get(key) != [stat.st_size, stat.st_mtime_ns]:
                    return True
        return False

    def remember_artifact_uri(self, run_id: str, artifact_uri: str) -> None:
        """Keep where a run created online takes its journaled artifacts (the replay uploads them there)."""
        self.artifact_uris.mkdir(parents=True, exist_ok=True)
        target = self.artifact_uris / run_id
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_text(artifact_uri, encoding="utf-8")
            os.replace(tmp, target)

    def artifact_uri_of(self, run_id: str) -> str | None:
        """The artifact URI kept by :meth:`remember_artifact_uri`, or None."""
        try:
            return (self.artifact_uris / run_id).read_text(encoding="utf-8") or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _last_on_disk(self) -> int:
        recs = self.records()
        return recs[-1].seq if recs else 0

    @contextlib.contextmanager
    def writer_gone(self) -> Iterator[bool]:
        """Whether no live process owns this journal (its ``.owner`` lock is free), held for the block."""
        if self._owner_fd is not None:
            yield False
            return
        fd = try_lock(self.owner_path)
        try:
            yield fd is not None
        finally:
            if fd is not None:
                unlock(fd)

    def remove(self) -> None:
        """Delete the journal's files (once every record is confirmed and its writer is gone)."""
        import shutil

        for path in (self.path, self.state_path, self.owner_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        shutil.rmtree(self.artifacts, ignore_errors=True)
        shutil.rmtree(self.artifact_uris, ignore_errors=True)


def _parse(data: bytes) -> list[Record]:
    out = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            out.append(
                Record(
                    int(raw["seq"]),
                    str(raw["op"]),
                    dict(raw.get("body") or {}),
                    bool(raw.get("check")),
                    int(raw.get("time") or 0),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line: skipped, never fatal to the rest of the journal
    return out
