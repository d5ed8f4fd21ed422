"""Shared helpers for the benchmark harness: paths, ports, statistics, process memory.

Everything here uses the standard library only, because parts of the harness run
under the peers' interpreter (``.bench-venv``) as well as mltrail's (``.venv``).
"""

from __future__ import annotations

import os
import socket
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV_BIN = ROOT / ".venv" / "bin"
BENCH_VENV = ROOT / ".bench-venv"
BENCH_BIN = BENCH_VENV / "bin"
# mlflow-migration needs Python >= 3.12: its own venv (section ``migrate``, bench/sec_migrate.py).
MIGRATE_VENV = ROOT / ".bench-venv-migrate"
MIGRATE_BIN = MIGRATE_VENV / "bin"

# The three servers, in the column order every table uses.
SERVERS = ("mltrail", "mlflow", "fasttrackml")
#: ``mltrail server --workers`` in every section (``bench/run.py --mltrail-workers``; 1, its default).
MLTRAIL_WORKERS_ENV = "BENCH_MLTRAIL_WORKERS"
LABELS = {"mltrail": "mltrail", "mlflow": "MLflow", "fasttrackml": "FastTrackML"}


@dataclass
class NA:
    """A figure that could not be measured, with the reason shown in the table."""

    reason: str

    def to_json(self) -> dict:
        return {"na": self.reason}


def free_port() -> int:
    """A free TCP port on loopback (the OS picks; a race with others is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize(samples: list[float]) -> dict:
    """Median with min and max: the one shape every timing takes in results.json."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers 200 (used to poll a server until it is ready)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (servers like ``mlflow server`` fork workers)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_until_idle(pids: list[int], threshold: float = 0.05, window: float = 1.0, limit: float = 60.0) -> float:
    """Wait until the processes (with descendants) together use under ``threshold`` of a core
    over ``window`` seconds, at most ``limit`` seconds; returns the seconds waited.

    A server answering its health check may still be warming up (MLflow's workers keep
    importing for a while): measuring then would charge that CPU to whoever runs first.
    """
    t0 = time.perf_counter()
    before = sum(cpu_seconds(p) for p in pids)
    while time.perf_counter() - t0 < limit:
        time.sleep(window)
        after = sum(cpu_seconds(p) for p in pids)
        if after - before < threshold * window:
            break
        before = after
    return time.perf_counter() - t0


def rss_bytes(pid: int, tree: bool = True) -> int:
    """Resident memory of a process (and by default its descendants), from /proc (bytes).

    Shared pages of forked workers are counted once per process, as ``ps`` does;
    that overstates a pre-fork server a little and is said so in the docs.
    """
    total = 0
    for p in process_tree(pid) if tree else [pid]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def dir_size(path: Path) -> int:
    """Bytes used by the files under ``path`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total
