"""``mltrail server --static-prefix /mlflow``: every route under the prefix, nothing outside it.

One live server for the module; the official ``mlflow`` client talks to it with the
tracking URI ``http://host:port/mlflow``, as it would through a proxy forwarding that path.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from support.live_server import start_server, stop_server

PREFIX = "/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("prefix"), None, "--static-prefix", PREFIX, health_path=PREFIX + "/health"
    )
    yield srv
    stop_server(srv)


@pytest.fixture
def mlflow_client(server):
    import mlflow

    mlflow.set_tracking_uri(server.url + PREFIX)
    yield mlflow
    mlflow.set_tracking_uri(None)


def test_official_client_logs_and_reads_under_the_prefix(mlflow_client, tmp_path):
    mlflow = mlflow_client
    exp_id = mlflow.create_experiment("under-prefix")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_param("lr", "0.1")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        note = tmp_path / "note.txt"
        note.write_text("through the prefix")
        mlflow.log_artifact(str(note))  # the artifact proxy, mlflow-artifacts:/ under the prefix
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.data.params == {"lr": "0.1"}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1.0 / 3]
    found = mlflow.search_runs(experiment_ids=[exp_id], output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="note.txt", dst_path=str(tmp_path / "dl")
    )
    assert Path(local).read_text() == "through the prefix"


def test_nothing_answers_outside_the_prefix(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get(PREFIX + "/health").status_code == 200
        assert http.get(PREFIX + "/version").status_code == 200
        for path in ("/health", "/api/2.0/mlflow/experiments/get?experiment_id=0", "/", "/mlflowx/health"):
            res = http.get(path)
            assert res.status_code == 404, path
            assert res.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        bare = http.get(PREFIX + "?x=1")
        assert bare.status_code == 307 and bare.headers["location"] == PREFIX + "/?x=1"
        legacy = http.get(PREFIX + "/index.html")
        assert legacy.status_code == 307 and legacy.headers["location"] == PREFIX + "/"
        # The ajax API the UI calls, and OTLP's /v1/traces, are under it too.
        exps = http.post(PREFIX + "/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 10})
        assert exps.status_code == 200 and exps.json()["experiments"]
        otlp = http.post(
            PREFIX + "/v1/traces",
            content=b"",
            headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "0"},
        )
        assert otlp.status_code != 404, otlp.text


def test_ui_page_and_assets_use_the_prefix(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        page = http.get(PREFIX + "/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        urls = re.findall(r'(?:href|src)="([^"#]+)"', page.text)
        assert urls and all(u.startswith(PREFIX + "/static/v-") for u in urls), urls
        for url in urls:
            assert http.get(url).status_code == 200, url
        # The scripts find the prefix from their own URL (root.js) and build every API URL on it.
        base = urls[0].rsplit("/", 1)[0]
        root = http.get(base + "/root.js")
        assert root.status_code == 200 and "import.meta.url" in root.text
        api = http.get(base + "/api.js").text
        assert "from './root.js'" in api
        assert "ROOT + '/ajax-api/2.0/mlflow/'" in api
        assert not re.search(r"""(?<!ROOT \+ )['"]/(ajax-api|get-artifact|model-versions)""", api), (
            "a URL without ROOT"
        )
        assert http.get("/static/" + base.rsplit("/", 1)[1] + "/app.js").status_code == 404


def test_redirects_stay_under_the_prefix_and_on_the_proxys_scheme(server):
    # The router's trailing-slash redirect is built from the path with the prefix taken off:
    # it must still lead back under the prefix (nothing answers outside it). And behind a TLS
    # proxy on the same host sending X-Forwarded-Proto (docs/security.md), it stays on https.
    path = PREFIX + "/api/2.0/mlflow/experiments/get/?experiment_id=0"
    target = PREFIX + "/api/2.0/mlflow/experiments/get?experiment_id=0"
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as http:
        direct = http.get(path)
        behind_proxy = http.get(path, headers={"X-Forwarded-Proto": "https"})
        followed = http.get(direct.headers["location"])
    assert direct.status_code == behind_proxy.status_code == 307
    assert direct.headers["location"] == f"{server.url}{target}"
    assert behind_proxy.headers["location"] == f"{server.url.replace('http://', 'https://')}{target}"
    assert behind_proxy.headers["x-content-type-options"] == "nosniff"
    assert followed.status_code == 200 and followed.json()["experiment"]["name"] == "Default"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mlflow", "must begin with a '/'"),
        ("/mlflow/", "should not end with a '/'"),
        ("/ml{x}", "must not contain '{' or '}'"),
        ('/a"b', "plain URL path"),
        ("/a//b", "empty path segment"),
    ],
)
def test_bad_prefixes_are_refused_before_start(value, message):
    from mltrail.cli.server import server as server_command

    result = CliRunner().invoke(server_command, ["--static-prefix", value])
    assert result.exit_code == 2
    assert message in result.output
