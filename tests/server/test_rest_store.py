"""mltrail's own SDK over HTTP: RestTrackingStore against a live server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mltrail.entities import Metric, Param, RunTag, ViewType
from mltrail.exceptions import MltrailException
from mltrail.store.rest import RestTrackingStore
from support.live_server import free_port


@pytest.fixture
def store(live_server):
    s = RestTrackingStore(live_server.url)
    yield s
    s.flush()


def test_buffered_metrics_arrive_in_order_after_flush(store):
    exp_id = store.create_experiment(f"rest-{time.time_ns()}")
    run = store.create_run(exp_id, "me", None, [RunTag("a", "b")], "buffered")
    run_id = run.info.run_id
    for i in range(2500):
        store.log_metric(run_id, Metric("loss", float(i), 1000 + i, i))
    store.flush()
    history = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(2500))
    assert [m.value for m in history] == [float(i) for i in range(2500)]
    page = store.get_metric_history(run_id, "loss", max_results=100)
    assert len(page) == 100 and page.token


def test_reads_see_buffered_writes_and_sync_errors_raise(store):
    exp_id = store.create_experiment(f"rest-{time.time_ns()}")
    run_id = store.create_run(exp_id, "me", 1, [], None).info.run_id
    store.log_metric(run_id, Metric("acc", 0.5, 1, 0))
    assert store.get_run(run_id).data.metrics == {"acc": 0.5}  # get_run flushes first
    store.log_metric(run_id, Metric("now", 1.0, 1, 0), synchronous=True)
    with pytest.raises(MltrailException) as err:
        store.log_metric("f" * 32, Metric("x", 1.0, 1, 0), synchronous=True)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # A failing background send surfaces at flush().
    store.log_metric("e" * 32, Metric("x", 1.0, 1, 0))
    with pytest.raises(MltrailException):
        store.flush()
    store.log_batch(run_id, [Metric("b", 2.0, 1, 0)], [Param("p", "1")], [RunTag("t", "v")])
    store.update_run_info(run_id, "FINISHED", 5, "named")
    got = store.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "named"
    assert got.data.params == {"p": "1"} and got.data.tags["t"] == "v"
    found = store.search_runs([exp_id], "params.p = '1'", ViewType.ALL)
    assert [r.info.run_id for r in found] == [run_id]
    assert store.get_experiment_by_name("no-such-experiment") is None


def test_sdk_over_http(live_server, monkeypatch):
    import mltrail

    mltrail.set_tracking_uri(live_server.url)
    try:
        mltrail.set_experiment(f"sdk-{time.time_ns()}")
        with mltrail.start_run() as run:
            mltrail.log_param("model", "gpt-4o-mini")
            for i in range(1200):
                mltrail.log_metric("tokens", float(i), step=i)
        client = mltrail.MlflowClient() if hasattr(mltrail, "MlflowClient") else mltrail.Client()
        history = client.get_metric_history(run.info.run_id, "tokens")
        assert len(history) == 1200
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    finally:
        mltrail.set_tracking_uri(None)


def test_unreachable_server_names_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    store = RestTrackingStore(url)
    store.http.max_retries = 1
    with pytest.raises(MltrailException) as err:
        store.get_experiment("0")
    assert url in str(err.value) and err.value.error_code == "TEMPORARILY_UNAVAILABLE"


class _DefaultExperimentHandler(BaseHTTPRequestHandler):
    """A quiet handler that can answer a GetExperiment call with the Default experiment."""

    def send_default_experiment(self):
        body = json.dumps({"experiment": {"experiment_id": "0", "name": "Default"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_with_backoff_on_5xx():
    """A flaky server answering 503 twice: the call still succeeds."""
    hits = []

    class Flaky(_DefaultExperimentHandler):
        def do_GET(self):
            hits.append(self.path)
            if len(hits) <= 2:
                self.send_response(503)
                self.end_headers()
                return
            self.send_default_experiment()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = RestTrackingStore(f"http://127.0.0.1:{server.server_address[1]}")
        store.http.backoff = 0.01
        assert store.get_experiment("0").name == "Default"
        assert len(hits) == 3
    finally:
        server.shutdown()


def _recording_server():
    seen = []

    class Recorder(_DefaultExperimentHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_default_experiment()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_auth_from_mlflow_environment(monkeypatch):
    server, seen = _recording_server()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
        RestTrackingStore(url).get_experiment("0")
        assert seen[-1]["Authorization"] == "Bearer tok-123"
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
        store = RestTrackingStore(url)
        store.get_experiment("0")
        store.get_experiment("0")
        assert seen[-1]["Authorization"] == "Basic YWxpY2U6cHc="
    finally:
        server.shutdown()
