"""``mltrail sync`` and the replay at the next SDK start, against a real server (docs/offline.md).

A training script runs as a subprocess with ``MLTRAIL_OFFLINE=always`` (it
writes only to its journal); ``mltrail sync`` replays it, once killed with
SIGKILL in the middle of the replay and then run to the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow as official
import pytest
from click.testing import CliRunner

from mltrail.cli.main import cli
from mltrail.offline.journal import Journal
from mltrail.offline.settings import journal_dir
from mltrail.store.rest import RestTrackingStore
from support.live_server import start_server, stop_server

STEPS = 150

SCRIPT = textwrap.dedent(
    """
    import sys
    import mltrail

    with mltrail.start_run(run_name=sys.argv[1]) as run:
        mltrail.log_param("kind", "offline")
        for step in range({steps}):
            mltrail.log_metric("loss", step / 10, step=step, synchronous=True)
        mltrail.set_tag("done", "yes")
    print(run.info.run_id)
    """
).format(steps=STEPS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    stop_server(srv)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    """The environment of the training script and of ``mltrail sync``."""
    values = {
        "MLTRAIL_TRACKING_URI": server.url,
        "MLTRAIL_OFFLINE_DIR": str(tmp_path / "journals"),
        "MLTRAIL_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLTRAIL_OFFLINE_RETRY_SECONDS": "0.1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


def _train(env: dict[str, str], name: str, mode: str = "always") -> str:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, name], env={**env, "MLTRAIL_OFFLINE": mode},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "offline journal" in out.stderr  # the one warning names the journal
    return out.stdout.strip().splitlines()[-1]


def _journal(url: str) -> Journal:
    (journal,) = Journal.all_in(journal_dir(url))
    return journal


def test_sync_shows_pending_then_replays_once_even_when_killed_mid_replay(server, env):
    run_id = _train(env, "killed-mid-replay")
    client = official.MlflowClient(server.url)
    with pytest.raises(official.exceptions.MlflowException):
        client.get_run(run_id)  # always: nothing was sent
    journal = _journal(server.url)
    total = STEPS + 4  # create_run, the param, the metrics, the tag, end_run
    assert journal.pending() == total

    dry = CliRunner().invoke(cli, ["sync", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{journal.pending()} record(s) pending" in dry.output
    assert run_id in dry.output and "log_batch x" in dry.output and "create_run x1" in dry.output

    sync = subprocess.Popen(
        [sys.executable, "-m", "mltrail.cli.main", "sync"], env={**env, "MLTRAIL_OFFLINE_REPLAY_BATCH": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while journal.state().acked < 20:
        assert sync.poll() is None, "mltrail sync ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(sync.pid, signal.SIGKILL)
    sync.wait()
    interrupted = journal.state()
    assert 20 <= interrupted.acked < total
    assert interrupted.sent >= interrupted.acked

    done = CliRunner().invoke(cli, ["sync"])
    assert done.exit_code == 0, done.output
    assert "Replayed:" in done.output and "0 refused" in done.output
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, s / 10) for s in range(STEPS)]
    got = client.get_run(run_id)
    assert got.info.run_name == "killed-mid-replay" and got.info.status == "FINISHED"
    assert got.data.params == {"kind": "offline"} and got.data.tags["done"] == "yes"
    # Everything confirmed and its writer gone: the journal is deleted.
    assert not list(journal_dir(server.url).glob("*.jsonl"))
    again = CliRunner().invoke(cli, ["sync", "--dry-run"])
    assert "Nothing pending" in again.output


def test_the_next_sdk_start_replays_a_pending_journal(server, env):
    run_id = _train(env, "replayed-at-start")
    assert _journal(server.url).pending() > 0
    store = RestTrackingStore(server.url)  # MLTRAIL_OFFLINE=auto: replays what it finds
    deadline = time.monotonic() + 30
    while list(journal_dir(server.url).glob("*.jsonl")):
        assert time.monotonic() < deadline, "the journal was not replayed at start"
        time.sleep(0.05)
    history = official.MlflowClient(server.url).get_metric_history(run_id, "loss")
    assert len(history) == STEPS
    assert store.offline is not None and not store.offline.journaling


def test_sync_needs_an_http_server_and_a_reachable_one(tmp_path, env, monkeypatch):
    bad = CliRunner().invoke(cli, ["sync", "--tracking-uri", "sqlite:///x.db"])
    assert bad.exit_code == 2 and "needs an http(s) tracking server" in bad.output
    dead_url = "http://127.0.0.1:9"
    Journal.create(journal_dir(dead_url)).append("log_batch", {"run_id": "0" * 32, "params": []})
    down = CliRunner().invoke(cli, ["sync", "--tracking-uri", dead_url])
    assert down.exit_code == 1 and "TEMPORARILY_UNAVAILABLE" in down.output
    assert Path(journal_dir(dead_url)).is_dir()
