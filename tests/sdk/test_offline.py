"""Offline logging against a real ``mltrail server`` that is killed and started again (docs/offline.md).

The server runs as a subprocess on one port and one SQLite file for the whole
module; tests kill it (SIGKILL) mid-run or before a run and start it again, and
read the result back with the official ``mlflow`` client.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import mlflow as official
import pytest

import mltrail
from mltrail.entities import Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.offline.guard import OfflineWarning
from mltrail.offline.journal import Journal
from mltrail.offline.replay import replay_directory
from mltrail.offline.settings import journal_dir
from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from mltrail.store._http import HttpSession
from mltrail.store.rest import RestTrackingStore
from mltrail.tracking._store_registry import get_tracking_store
from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.restartable_server import RestartableServer

FAST = {
    "MLTRAIL_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLTRAIL_OFFLINE_RETRY_SECONDS": "0.1",
    "MLTRAIL_OFFLINE_RETRY_MAX_SECONDS": "0.3",
}


@pytest.fixture(scope="module")
def journals(tmp_path_factory):
    """One offline directory for the module (the cached SDK store reads it once)."""
    path = tmp_path_factory.mktemp("offline")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLTRAIL_OFFLINE_DIR", str(path))
        for key, value in FAST.items():
            mp.setenv(key, value)
        yield path


@pytest.fixture(scope="module")
def server(tmp_path_factory, journals):
    srv = RestartableServer(tmp_path_factory.mktemp("server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _fast_env(monkeypatch, journals):
    # clean_fluent_state restores MLTRAIL_* variables after each test: set them again per test.
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(journals))
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)


def _official(server: RestartableServer) -> official.MlflowClient:
    return official.MlflowClient(tracking_uri=server.url)


def _wait_replayed(store: RestTrackingStore, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while store.offline.journaling:
        assert time.monotonic() < deadline, "the SDK did not replay its journal after the server came back"
        time.sleep(0.05)


def _history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_server_killed_mid_run_then_restarted_gets_everything_once_in_order(server, tmp_path):
    mltrail.set_tracking_uri(server.url)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "epoch5.bin").write_bytes(b"\x00weights" * 100)
    with mltrail.start_run(run_name="resilient") as run:
        mltrail.log_param("lr", 0.1)
        for step in range(3):
            mltrail.log_metric("loss", 1.0 / (step + 1), step=step)
        mltrail.flush_async_logging()
        server.kill()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mltrail.log_param("epochs", 6)  # no exception in the training loop
            for step in range(3, 6):
                mltrail.log_metric("loss", 1.0 / (step + 1), step=step)
            mltrail.set_tag("phase", "offline")
            mltrail.log_metrics({"acc": 0.9, "f1": 0.8}, step=5)
            # Artifacts of this run (created online) wait in the journal too.
            mltrail.log_text("written while the server was away", "notes/offline.txt")
            mltrail.log_artifacts(str(tmp_path / "ckpt"), "checkpoints")
            mltrail.flush_async_logging()
    store = get_tracking_store(server.url)
    offline_warnings = [w for w in caught if issubclass(w.category, OfflineWarning)]
    assert len(offline_warnings) == 1
    assert str(store.offline.journal().path) in str(offline_warnings[0].message)
    assert store.offline.journaling

    server.start()
    _wait_replayed(store)
    client = _official(server)
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "resilient"
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None
    assert got.data.params == {"lr": "0.1", "epochs": "6"}
    assert got.data.tags["phase"] == "offline"
    assert _history(client, run.info.run_id, "loss") == [(s, 1.0 / (s + 1)) for s in range(6)]
    assert _history(client, run.info.run_id, "acc") == [(5, 0.9)]
    notes = client.download_artifacts(run.info.run_id, "notes/offline.txt", str(tmp_path / "dl"))
    assert Path(notes).read_text() == "written while the server was away"
    ckpt = client.download_artifacts(run.info.run_id, "checkpoints/epoch5.bin", str(tmp_path / "dl"))
    assert Path(ckpt).read_bytes() == b"\x00weights" * 100
    # Logging is online again: a new write reaches the server at once.
    mltrail.MlflowClient().set_tag(run.info.run_id, "after", "yes")
    assert client.get_run(run.info.run_id).data.tags["after"] == "yes"


def test_run_started_while_the_server_is_down_keeps_its_id_experiment_and_artifacts(server, tmp_path):
    server.kill()
    mltrail.set_tracking_uri(server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OfflineWarning)
        experiment = mltrail.set_experiment("made-offline")
        with mltrail.start_run() as run:
            mltrail.log_params({"depth": 3, "model": "tree"})
            mltrail.log_metric("auc", 0.75, step=0)
            mltrail.log_metric("auc", 0.8, step=1)
            mltrail.log_text("hello offline", "notes/readme.txt")
            (tmp_path / "weights.bin").write_bytes(b"\x00\x01\x02")
            mltrail.log_artifact(str(tmp_path / "weights.bin"), "model")
            mltrail.delete_tag("mlflow.source.name")
            with mltrail.start_run(nested=True) as child:
                mltrail.log_metric("inner", 1.0)

            @mltrail.trace(name="predict")
            def predict(x):
                return x * 2

            assert predict(21) == 42
            mltrail.flush_trace_async_logging()
        mltrail.end_run()
    assert experiment.experiment_id.startswith("offline-")
    assert len(run.info.run_id) == 32

    server.start()
    store = get_tracking_store(server.url)
    _wait_replayed(store)
    client = _official(server)
    exp = client.get_experiment_by_name("made-offline")
    got = client.get_run(run.info.run_id)
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.status == "FINISHED"
    assert got.data.params == {"depth": "3", "model": "tree"}
    assert "mlflow.source.name" not in got.data.tags
    assert _history(client, run.info.run_id, "auc") == [(0, 0.75), (1, 0.8)]
    kid = client.get_run(child.info.run_id)
    assert kid.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert kid.info.status == "FINISHED"
    notes = client.download_artifacts(run.info.run_id, "notes/readme.txt", str(tmp_path / "dl"))
    assert Path(notes).read_text() == "hello offline"
    weights = client.download_artifacts(run.info.run_id, "model/weights.bin", str(tmp_path / "dl"))
    assert Path(weights).read_bytes() == b"\x00\x01\x02"
    (trace,) = client.search_traces(locations=[exp.experiment_id])
    assert [span.name for span in trace.data.spans] == ["predict"]
    assert trace.data.spans[0].outputs == 42


def test_a_replay_sent_again_after_an_interruption_adds_nothing_twice(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("MLTRAIL_OFFLINE", "always")
    monkeypatch.setenv("MLTRAIL_OFFLINE_REPLAY_BATCH", "7")
    store = RestTrackingStore(server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OfflineWarning)
        run = store.create_run("0", "me", None, [], "replayed-twice")
        for step in range(40):
            store.log_metric(run.info.run_id, Metric("x", float(step), 1000 + step, step), synchronous=True)
        store.log_batch(run.info.run_id, metrics=[Metric("nan", float("nan"), 5, 0)])
        store.log_param(run.info.run_id, Param("p", "1"))
        store.set_tag(run.info.run_id, RunTag("t", "v"))
        store.update_run_info(run.info.run_id, "FINISHED", 2000, None)
    client = _official(server)
    with pytest.raises(official.exceptions.MlflowException):
        client.get_run(run.info.run_id)  # always: nothing is sent until a replay

    first = store.offline.replay()
    assert first is not None and first.applied == 45 and not first.refused
    # As if the client died after the server applied everything but before it saved "acked".
    journal = Journal(journal_dir(server.url), store.offline.journal().id)
    state = journal.state()
    assert (state.acked, state.sent) == (45, 45)
    state.acked = 10
    journal.save_state(state)
    again = store.offline.replay()
    assert again is not None and again.duplicates == 0 and not again.refused
    assert [v for _, v in _history(client, run.info.run_id, "x")] == [float(s) for s in range(40)]
    assert len(client.get_metric_history(run.info.run_id, "nan")) == 1
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"p": "1"} and got.data.tags["t"] == "v"
    # A create_run sent again is recognised as the same run.
    state.acked = 0
    journal.save_state(state)
    third = store.offline.replay()
    assert third.duplicates == 1
    assert len(client.get_metric_history(run.info.run_id, "x")) == 40


def test_never_keeps_raising_and_writes_no_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAIL_OFFLINE", "never")
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(tmp_path / "journal"))
    dead = RestartableServer(tmp_path / "dead").url  # a free port nobody listens on
    store = RestTrackingStore(dead)
    assert store.offline is None
    with pytest.raises(MltrailException) as err:
        store.create_run("0", "me", None, [], "x")
    assert err.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert not (tmp_path / "journal").exists()


def test_bad_offline_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("MLTRAIL_OFFLINE", "sometimes")
    with pytest.raises(MltrailException, match="MLTRAIL_OFFLINE must be one of auto, never, always"):
        RestTrackingStore("http://127.0.0.1:9")


def test_replay_endpoint_checks_its_input(server):
    url = server.url + "/api/2.0/mltrail/offline/replay"
    bad_journal = httpx.post(url, json={"journal": "../x", "records": []})
    assert bad_journal.status_code == 400 and bad_journal.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    too_many = httpx.post(url, json={"journal": "j", "records": [{"seq": i, "op": "x"} for i in range(501)]})
    assert too_many.status_code == 400 and too_many.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    not_a_list = httpx.post(url, json={"journal": "j", "records": "nope"})
    assert not_a_list.status_code == 400
    answer = httpx.post(url, json={"journal": "j", "records": [
        {"seq": 1, "op": "drop_table", "body": {}},
        {"seq": 2, "op": "create_run", "body": {"run_id": "NOT-HEX", "experiment_id": "0"}},
        {"seq": 3, "op": "log_batch", "body": {"run_id": "0" * 32, "metrics": "no"}},
        {"seq": 4, "op": "log_batch", "body": {"run_id": "f" * 32, "params": [{"key": "a", "value": "1"}]}},
            {"seq": 5, "op": "log_trace", "body": {"experiment_id": "0", "trace_info": {"request_time": "x"}}},
            {"seq": 6, "op": "delete_tag", "body": {"run_id": "e" * 32, "key": "k"}, "check": True},
    ]})  # fmt: skip
    assert answer.status_code == 200
    outcomes = answer.json()["results"]
    assert [o["seq"] for o in outcomes] == [1, 2, 3, 4, 5, 6]
    assert [o.get("error_code") for o in outcomes] == [
        "INVALID_PARAMETER_VALUE", "INVALID_PARAMETER_VALUE", "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST",  # a checked delete_tag forgives a gone tag, not a run
    ]  # fmt: skip
    assert "drop_table" in outcomes[0]["message"]


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_replayed_records_apply_once_on_postgresql_and_mariadb(backend, request, tmp_path):
    uri = request.getfixturevalue(f"{backend}_uri")
    asyncio.run(_replay_twice(uri, tmp_path))


async def _replay_twice(uri: str, tmp_path: Path) -> None:
    app = create_app(ServerConfig(backend_store_uri=uri, artifacts_destination=str(tmp_path / "art")))
    run_id = uuid.uuid4().hex
    name = f"offline-{uuid.uuid4().hex[:8]}"
    first = [
        {"seq": 1, "op": "create_experiment", "body": {"name": name}},
    ]
    metrics = [{"key": "m", "value": i / 2, "timestamp": 100 + i, "step": i} for i in range(5)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        url = "/api/2.0/mltrail/offline/replay"
        created = (await c.post(url, json={"journal": "j1", "records": first})).json()["results"][0]
        exp_id = created["experiment_id"]
        rest = [
            {"seq": 2, "op": "create_run", "body": {"run_id": run_id, "experiment_id": exp_id, "run_name": "r"}},
            {"seq": 3, "op": "log_batch", "body": {"run_id": run_id, "metrics": metrics,
                                                    "params": [{"key": "p", "value": "1"}]}},
            {"seq": 4, "op": "update_run", "body": {"run_id": run_id, "status": "FINISHED", "end_time": 200}},
        ]  # fmt: skip
        for check in (False, True):  # the second time as after an interrupted replay
            again = (await c.post(url, json={"journal": "j1", "records": first})).json()["results"][0]
            assert again["experiment_id"] == exp_id
            records = [{**r, "check": check} for r in rest]
            outcomes = (await c.post(url, json={"journal": "j1", "records": records})).json()["results"]
            assert not [o for o in outcomes if "error_code" in o], outcomes
            assert bool(outcomes[0].get("duplicate")) is check
        run = (await c.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})).json()["run"]
        assert run["info"]["experiment_id"] == exp_id and run["info"]["status"] == "FINISHED"
        history = await c.get(
            "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}
        )
        assert [(m["step"], m["value"]) for m in history.json()["metrics"]] == [(i, i / 2) for i in range(5)]


def test_a_cut_short_record_is_ignored_and_refused_records_do_not_block_the_rest(
    server, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(tmp_path / "journal"))
    directory = journal_dir(server.url)
    journal = Journal.create(directory)
    journal.append(
        "create_experiment", {"name": "", "_offline_id": "offline-000000000001"}
    )  # refused: no name
    run_a, run_b = uuid.uuid4().hex, uuid.uuid4().hex
    journal.append("create_run", {"run_id": run_a, "experiment_id": "offline-000000000001"})
    journal.append("create_run", {"run_id": run_b, "experiment_id": "0", "run_name": "kept"})
    journal.append("log_batch", {"run_id": run_b, "params": [{"key": "p", "value": "1"}]})
    journal.close()
    with open(journal.path, "ab") as f:  # the process died in the middle of writing a record
        f.write(b'{"seq":5,"op":"log_batch","body":{"run_id":"')
    again = Journal(directory, journal.id)
    assert [r.seq for r in again.records()] == [1, 2, 3, 4]
    again.append("set_experiment_tag", {"experiment_id": "0", "key": "after", "value": "crash"})
    assert [r.seq for r in again.records()] == [1, 2, 3, 4, 5]
    again.close()

    session = HttpSession(server.url)
    report = replay_directory(directory, session.send, server.url)
    session.close()
    assert [(r.seq, r.error_code) for r in report.refused] == [
        (1, "INVALID_PARAMETER_VALUE"), (2, "RESOURCE_DOES_NOT_EXIST"),
    ]  # fmt: skip
    assert report.applied == 3 and report.removed == 1
    client = _official(server)
    assert client.get_run(run_b).data.params == {"p": "1"}
    assert client.get_experiment("0").tags["after"] == "crash"
    assert not list(directory.glob("*.jsonl"))


def test_the_journal_keeps_the_logging_order_of_buffered_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAIL_OFFLINE", "always")
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(tmp_path / "journal"))
    store = RestTrackingStore(RestartableServer(tmp_path / "none").url)  # never contacted: always
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OfflineWarning)
        run = store.create_run("0", "me", None, [], "ordered")
        store.log_metric(run.info.run_id, Metric("a", 1.0, 1, 0))  # buffered
        store.log_param(run.info.run_id, Param("p", "x"))  # journaled after the buffered metric
        store.log_metric(run.info.run_id, Metric("a", 2.0, 2, 1))
        store.update_run_info(run.info.run_id, "FAILED", 3, None)
    records = store.offline.journal().records()
    assert [r.op for r in records] == ["create_run", "log_batch", "log_batch", "log_batch", "update_run"]
    assert [r.body.get("metrics", r.body.get("params")) for r in records[1:4]] == [
        [{"key": "a", "value": 1.0, "timestamp": 1}],
        [{"key": "p", "value": "x"}],
        [{"key": "a", "value": 2.0, "timestamp": 2, "step": 1}],
    ]
    assert store.get_run(run.info.run_id).info.run_name == "ordered"  # answered from the journal's copy


class _Gateway(BaseHTTPRequestHandler):
    """A proxy with no server behind it: 502 for every call, or no answer at all (``hang``)."""

    hang = False

    def do_POST(self):
        if self.hang:
            time.sleep(1)  # longer than MLTRAIL_HTTP_REQUEST_TIMEOUT
            self.close_connection = True
            return
        self.send_response(502)
        self.send_header("Content-Length", "11")
        self.end_headers()
        self.wfile.write(b"Bad Gateway")

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("hang", [False, True], ids=["502", "timeout"])
def test_a_gateway_error_or_a_timeout_also_switches_to_the_journal(hang, tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAIL_OFFLINE_DIR", str(tmp_path / "journal"))
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_TIMEOUT", "0.3")
    handler = type("Handler", (_Gateway,), {"hang": hang})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        store = RestTrackingStore(f"http://127.0.0.1:{httpd.server_address[1]}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store.log_param("f" * 32, Param("p", "1"))  # no exception
        assert [w.category for w in caught] == [OfflineWarning]
        (record,) = store.offline.journal().records()
        # The call may have reached a server behind the gateway: replayed with check.
        assert (record.op, record.check, record.body["params"]) == (
            "log_batch",
            True,
            [{"key": "p", "value": "1"}],
        )
        store.offline.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_with_logins_a_replay_needs_edit_on_each_records_experiment(tmp_path):
    with basic_auth_server(tmp_path / "auth", users=("ann",)) as live:  # READ by default
        admin = httpx.Client(base_url=live.url, auth=(ADMIN, ADMIN_PASSWORD), timeout=30)
        user = httpx.Client(base_url=live.url, auth=("ann", PASSWORD), timeout=30)
        mine = admin.post("/api/2.0/mlflow/experiments/create", json={"name": "ann-can-edit"}).json()[
            "experiment_id"
        ]
        grant = {"experiment_id": mine, "username": "ann", "permission": "EDIT"}
        assert admin.post("/api/2.0/mlflow/experiments/permissions/create", json=grant).status_code == 200
        url = "/api/2.0/mltrail/offline/replay"

        def replay(client, exp_id, op="create_run"):
            body = (
                {"name": "new-offline"}
                if op == "create_experiment"
                else {"run_id": uuid.uuid4().hex, "experiment_id": exp_id}
            )
            return client.post(url, json={"journal": "j", "records": [{"seq": 1, "op": op, "body": body}]})

        assert httpx.post(live.url + url, json={"journal": "j", "records": []}).status_code == 401
        assert replay(user, "0").status_code == 403  # READ only on the Default experiment
        ok = replay(user, mine)
        assert ok.status_code == 200 and "error_code" not in ok.json()["results"][0]
        assert replay(user, None, "create_experiment").status_code == 403  # new experiments: admins
        assert replay(admin, None, "create_experiment").status_code == 200
