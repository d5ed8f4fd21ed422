"""``--expose-prometheus``: request counts, latency histograms and errors per endpoint on ``/metrics``.

Read with prometheus_client's own parser, from a live server; with two workers
the counts of both processes add up on whichever worker answers the scrape.
"""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.live_server import running_server

API = "/api/2.0/mlflow"
RUNS_GET = f"{API}/runs/get"
ARTIFACT_TEMPLATE = "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one ``GET /metrics``."""
    resp = httpx.get(url + "/metrics", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain"), resp.text
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_per_endpoint_with_bounded_labels(tmp_path):
    with (
        running_server(tmp_path, None, "--expose-prometheus", str(tmp_path / "prom")) as server,
        httpx.Client(base_url=server.url, timeout=30) as api,
    ):
        run_ids = [
            api.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
            for _ in range(3)
        ]
        for run_id in run_ids:
            assert api.get(RUNS_GET, params={"run_id": run_id}).status_code == 200
        assert api.get(RUNS_GET, params={"run_id": "missing"}).status_code == 404
        for run_id in run_ids:  # a parameterised route, with a different id each time
            assert (
                api.put(f"/api/2.0/mlflow-artifacts/artifacts/{run_id}/a.txt", content=b"x").status_code
                == 200
            )
        assert api.get(f"/no/such/{run_ids[0]}").status_code == 404
        assert (
            api.post(f"{API}/runs/delete", data={"run_id": run_ids[0]}).status_code == 400
        )  # refused by the guard
        for _ in range(2):
            assert api.get("/health").status_code == 200
        samples = scrape(server.url)

    total = "mlflow_http_request_total"
    assert value(samples, total, method="POST", path=f"{API}/runs/create", status="200") == 3
    assert value(samples, total, method="GET", path=RUNS_GET, status="200") == 3
    assert value(samples, total, method="GET", path=RUNS_GET, status="404") == 1
    assert value(samples, total, method="PUT", path=ARTIFACT_TEMPLATE, status="200") == 3
    assert value(samples, total, method="GET", path="other", status="404") == 1
    assert value(samples, total, method="POST", path=f"{API}/runs/delete", status="400") == 1
    # Errors per endpoint: only answers with status >= 400.
    errors = "mlflow_http_request_errors_total"
    assert value(samples, errors, method="GET", path=RUNS_GET, status="404") == 1
    assert value(samples, errors, method="POST", path=f"{API}/runs/delete", status="400") == 1
    assert value(samples, errors, method="GET", path=RUNS_GET, status="200") == 0
    # The latency histogram: one observation per request, in cumulative buckets.
    hist = "mlflow_http_request_duration_seconds"
    assert value(samples, f"{hist}_count", method="GET", path=RUNS_GET, status="200") == 3
    assert value(samples, f"{hist}_bucket", method="GET", path=RUNS_GET, status="200", le="+Inf") == 3
    assert value(samples, f"{hist}_sum", method="GET", path=RUNS_GET, status="200") > 0
    # Never a raw path with an id in a label; probes and the scrape itself are not counted.
    paths = {dict(labels).get("path") for _, labels in samples}
    assert not any(run_id in (p or "") for p in paths for run_id in run_ids)
    assert not {"/health", "/metrics", "/version"} & paths


def test_two_workers_add_up(tmp_path):
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: cleared at start
    (prom / "keep.txt").write_text("not ours")
    with running_server(tmp_path, None, "--workers", "2", "--expose-prometheus", str(prom)) as server:
        assert not (prom / "counter_999999.db").exists() and (prom / "keep.txt").exists()
        sent = 0
        deadline = time.monotonic() + 120
        # A fresh connection per request lets either worker accept it; go on until both have counted.
        while len(list(prom.glob("counter_*.db"))) < 2 or sent < 20:
            assert time.monotonic() < deadline, "the second worker never served a request"
            assert (
                httpx.get(server.url + f"{API}/experiments/get", params={"experiment_id": "0"}).status_code
                == 200
            )
            sent += 1
        # Whichever worker answers the scrape, it reports both workers' counts.
        for _ in range(4):
            samples = scrape(server.url)
            got = value(
                samples,
                "mlflow_http_request_total",
                method="GET",
                path=f"{API}/experiments/get",
                status="200",
            )
            assert got == sent


def test_only_admins_read_metrics_when_logins_are_on(tmp_path):
    with basic_auth_server(
        tmp_path, "--expose-prometheus", str(tmp_path / "prom"), users=("viewer",)
    ) as server:
        admin = (ADMIN, ADMIN_PASSWORD)
        assert httpx.get(server.url + "/metrics", timeout=30).status_code == 401
        refused = httpx.get(server.url + "/metrics", auth=("viewer", PASSWORD), timeout=30)
        assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
        allowed = httpx.get(server.url + "/metrics", auth=admin, timeout=30)
        assert allowed.status_code == 200 and "mlflow_http_request_total" in allowed.text
