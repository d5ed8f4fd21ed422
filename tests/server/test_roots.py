"""No file outside the server's artifact roots is ever read, through any field (live server, SQLite and PostgreSQL).

The server's roots here: its artifacts destination (``<root>/mltrail-artifacts``,
behind ``mlflow-artifacts:/``) and ``<root>/allowed`` (``--allowed-artifact-roots``).
``<root>/outside`` holds a secret in every shape a read could look for
(``traces.json``, ``MLmodel``, a run's file). Every field a client controls that
names a location (an experiment's ``artifact_location``, a model version's
``source``, a trace's ``mlflow.artifactLocation`` tag) is pointed at it in every
encoding an attacker would try; the secret never comes back and every refusal
is a clear 400.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from mltrail.entities.trace import Span, TraceData
from mltrail.server.artifact_files import content_disposition
from server.test_artifact_mpu import CREDS as S3_CREDS
from server.test_artifact_mpu import s3, s3_endpoint  # noqa: F401  (fixtures: moto's local S3 server)
from support.live_server import LiveServer, start_server, stop_server

SECRET = "top-secret-content"
API = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def _plant_secrets(root: Path) -> Path:
    """``<root>/outside`` with a secret file, ``traces.json`` and ``MLmodel``; a symlink to it inside each root."""
    outside = root / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(SECRET)
    (outside / "MLmodel").write_text(SECRET)
    span = Span("tr-" + "a" * 32, "00000000000000aa", None, SECRET, 1, 2)
    (outside / "traces.json").write_text(json.dumps(TraceData([span]).to_dict()))
    for inside in (root / "mltrail-artifacts", root / "allowed"):
        inside.mkdir(parents=True, exist_ok=True)
        (inside / "link-out").symlink_to(outside, target_is_directory=True)
    (root / "allowed" / "ok").mkdir()
    return outside


def _server(root: Path, backend: str | None = None) -> LiveServer:
    _plant_secrets(root)
    return start_server(root, backend, "--allowed-artifact-roots", str(root / "allowed"))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = _server(tmp_path_factory.mktemp("roots"))
    yield srv
    stop_server(srv)


@pytest.fixture
def api(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _outside_400(resp: httpx.Response) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    assert SECRET not in resp.text
    body = resp.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "outside this server's artifact roots" in body["message"]


def _experiment(api: httpx.Client, location: str | None = None) -> str:
    body = {"name": _uid("exp")} | ({"artifact_location": location} if location else {})
    resp = api.post(f"{API}/experiments/create", json=body)
    assert resp.status_code == 200, (location, resp.text)
    return resp.json()["experiment_id"]


def _run(api: httpx.Client, exp_id: str) -> dict:
    resp = api.post(f"{API}/runs/create", json={"experiment_id": exp_id, "start_time": 1})
    assert resp.status_code == 200, resp.text
    return resp.json()["run"]["info"]


def _locations(root: Path) -> dict[str, str]:
    """Every spelling of a place outside the roots that experiment creation accepts (as MLflow does)."""
    outside = root / "outside"
    return {
        "absolute": str(outside),
        "file-triple-slash": f"file://{outside}",
        "file-localhost": f"file://localhost{outside}",
        "file-single-slash": f"file:{outside}",
        "file-encoded-slashes": "file:" + quote(str(outside), safe=""),
        "relative": "outside",  # pinned to the server's working directory (= root), still outside
        "symlink-in-destination": str(root / "mltrail-artifacts" / "link-out"),
        "symlink-in-allowed": str(root / "allowed" / "link-out"),
        "sibling-prefix": str(root / "allowed-but-not"),  # shares the root's prefix, not its folder
        "other-bucket": "s3://someone-elses-bucket/prefix",
        "http-host": "http://127.0.0.1:9/artifacts",
    }


def _place_run_secret(root: Path, run: dict) -> None:
    """Put a secret where a local run artifact URI points, so a read would find it."""
    uri = run["artifact_uri"]
    if uri.startswith(("s3:", "http:")):
        return
    path = uri.split(":", 1)[1] if uri.startswith("file:") else uri
    path = path.removeprefix("//localhost")
    target = Path(unquote(path))
    if not target.is_absolute():
        target = root / target
    target.mkdir(parents=True, exist_ok=True)
    (target / "secret.txt").write_text(SECRET)


@pytest.mark.parametrize("kind", list(_locations(Path("/r"))))
def test_run_artifacts_outside_the_roots_are_never_read(api, server, kind):
    location = _locations(server.root)[kind]
    run = _run(api, _experiment(api, location))
    _place_run_secret(server.root, run)
    run_id = run["run_id"]
    _outside_400(api.get("/get-artifact", params={"run_uuid": run_id, "path": "secret.txt"}))
    _outside_400(api.get(f"{API}/artifacts/list", params={"run_id": run_id}))
    _outside_400(api.get(f"{API}/artifacts/list", params={"run_id": run_id, "path": "sub"}))


def test_relative_location_is_stored_like_mlflow(api, server):
    exp_id = _experiment(api, "outside")
    got = api.get(f"{API}/experiments/get", params={"experiment_id": exp_id}).json()["experiment"]
    assert got["artifact_location"] == str(server.root / "outside")


@pytest.mark.parametrize(
    "location",
    [
        "{root}/mltrail-artifacts/%2e%2e/outside",
        "{root}/mltrail-artifacts/%252e%252e/outside",
        "file://{root}/mltrail-artifacts/..%2Foutside",
        "{root}/mltrail-artifacts/../outside",
        "{root}\\mltrail-artifacts\\..\\outside",
        "//evil-host/share",
        "file://evil-host/share",
        "C:/Windows",
        "{root}/outside\x00",
    ],
)
def test_traversal_spellings_are_refused_when_named(api, server, location):
    location = location.format(root=server.root)
    resp = api.post(f"{API}/experiments/create", json={"name": _uid("bad"), "artifact_location": location})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_locations_inside_the_roots_are_served(api, server):
    # The default (mlflow-artifacts:/ into the destination), and a folder under --allowed-artifact-roots.
    for location in (None, str(server.root / "allowed" / "ok"), f"file://{server.root}/allowed/ok/f"):
        run = _run(api, _experiment(api, location))
        if location is None:
            rel = run["artifact_uri"].split(":", 1)[1].lstrip("/")
            assert api.put(f"{PROXY}/{rel}/hello.txt", content=b"hello").status_code == 200
        else:
            _place_run_secret(server.root, run)
            folder = Path(run["artifact_uri"].removeprefix("file://"))
            (folder / "hello.txt").write_text("hello")
        got = api.get("/get-artifact", params={"run_uuid": run["run_id"], "path": "hello.txt"})
        assert got.status_code == 200 and got.text == "hello", (location, got.text)
        listed = api.get(f"{API}/artifacts/list", params={"run_id": run["run_id"]}).json()
        assert "hello.txt" in [f["path"] for f in listed["files"]]


def test_a_symlink_below_a_served_run_cannot_lead_out(api, server):
    run = _run(api, _experiment(api, str(server.root / "allowed" / "ok")))
    folder = Path(run["artifact_uri"])
    folder.mkdir(parents=True)
    (folder / "escape").symlink_to(server.root / "outside", target_is_directory=True)
    resp = api.get("/get-artifact", params={"run_uuid": run["run_id"], "path": "escape/secret.txt"})
    assert resp.status_code == 400 and SECRET not in resp.text
    assert "outside the artifact root" in resp.json()["message"]


def test_without_the_proxy_the_destination_is_the_root(tmp_path):
    """``--no-serve-artifacts``: runs live under the destination folder, which is served; nothing else is."""
    from mltrail.server.app import create_app
    from mltrail.server.config import ServerConfig

    _plant_secrets(tmp_path)
    app = create_app(
        ServerConfig(
            serve_artifacts=False,
            artifacts_destination=str(tmp_path / "mltrail-artifacts"),
            backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
        )
    )

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
            for location, status in ((None, 200), (str(tmp_path / "outside"), 400)):
                body = {"name": _uid("plain")} | ({"artifact_location": location} if location else {})
                exp_id = (await api.post(f"{API}/experiments/create", json=body)).json()["experiment_id"]
                run = (await api.post(f"{API}/runs/create", json={"experiment_id": exp_id})).json()["run"][
                    "info"
                ]
                folder = Path(run["artifact_uri"])
                folder.mkdir(parents=True)
                (folder / "f.txt").write_text(SECRET if status == 400 else "mine")
                got = await api.get("/get-artifact", params={"run_uuid": run["run_id"], "path": "f.txt"})
                assert got.status_code == status, got.text
                assert SECRET not in got.text

    asyncio.run(scenario())


def test_a_file_uri_destination_is_unescaped_into_its_folder(tmp_path):
    """``--artifacts-destination file:///.../with%20space``: the proxy stores under ``with space``."""
    from mltrail.server.app import create_app
    from mltrail.server.config import ServerConfig

    folder = tmp_path / "with space"
    destination = "file://" + quote(str(folder))
    app = create_app(
        ServerConfig(artifacts_destination=destination, backend_store_uri=f"sqlite:///{tmp_path}/db")
    )

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
            put = await api.put("/api/2.0/mlflow-artifacts/artifacts/a/f.txt", content=b"data")
            assert put.status_code == 200, put.text
            got = await api.get("/api/2.0/mlflow-artifacts/artifacts/a/f.txt")
            assert got.status_code == 200 and got.content == b"data"

    asyncio.run(scenario())
    assert (folder / "a" / "f.txt").read_bytes() == b"data"


# ------------------------------------------------------------------ model versions


def _model(api: httpx.Client) -> str:
    name = _uid("model")
    assert api.post(f"{API}/registered-models/create", json={"name": name}).status_code == 200
    return name


def _version(api: httpx.Client, name: str, source: str, run_id: str | None = None) -> httpx.Response:
    return api.post(f"{API}/model-versions/create", json={"name": name, "source": source, "run_id": run_id})


def test_model_version_sources_outside_the_roots_are_never_read(api, server):
    name = _model(api)
    ghost = uuid.uuid4().hex
    # MLflow registers a remote source whose run it cannot find; so does mltrail, but never reads it.
    resp = _version(api, name, "s3://someone-elses-bucket/model", ghost)
    assert resp.status_code == 200, resp.text
    # A local source inside its run's (out-of-root) artifact folder: accepted as MLflow does.
    run = _run(api, _experiment(api, str(server.root / "outside")))
    _place_run_secret(server.root, run)
    resp = _version(api, name, f"{run['artifact_uri']}", run["run_id"])
    assert resp.status_code == 200, resp.text
    for version in ("1", "2"):
        params = {"name": name, "version": version, "path": "secret.txt"}
        _outside_400(api.get("/model-versions/get-artifact", params=params))
    # A local path with no (or an unknown) run: MLflow's 400, never a lookup on disk.
    for run_id in (None, ghost):
        resp = _version(api, name, str(server.root / "outside"), run_id)
        assert resp.status_code == 400 and "Invalid model version source" in resp.json()["message"]
    for source in ("//evil-host/share/model", "file://evil-host/share/model"):
        assert _version(api, name, source, run["run_id"]).status_code == 400


def test_model_version_of_an_unknown_run_is_registered_and_resolved_later(api, server):
    name = _model(api)
    ghost = uuid.uuid4().hex
    resp = _version(api, name, f"runs:/{ghost}/model", ghost)
    assert resp.status_code == 200, resp.text
    got = api.get("/model-versions/get-artifact", params={"name": name, "version": "1", "path": "MLmodel"})
    assert got.status_code == 404 and got.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # A version of a known run in the roots downloads through runs:/.
    run = _run(api, _experiment(api))
    rel = run["artifact_uri"].split(":", 1)[1].lstrip("/")
    assert api.put(f"{PROXY}/{rel}/model/MLmodel", content=b"flavors: {}\n").status_code == 200
    assert _version(api, name, f"runs:/{run['run_id']}/model", run["run_id"]).status_code == 200
    got = api.get("/model-versions/get-artifact", params={"name": name, "version": "2", "path": "MLmodel"})
    assert got.status_code == 200 and got.text == "flavors: {}\n"


# ------------------------------------------------------------------ logged models


def test_logged_model_listing_outside_the_roots_is_refused(api, server):
    exp_id = _experiment(api, str(server.root / "outside"))
    resp = api.post("/api/2.0/mlflow/logged-models", json={"experiment_id": exp_id, "name": "m"})
    assert resp.status_code == 200, resp.text
    model = resp.json()["model"]["info"]
    folder = Path(model["artifact_uri"])
    folder.mkdir(parents=True)
    (folder / "secret.txt").write_text(SECRET)
    url = f"/api/2.0/mlflow/logged-models/{model['model_id']}/artifacts/directories"
    _outside_400(api.get(url))
    # In the roots, the same listing works.
    inside = api.post("/api/2.0/mlflow/logged-models", json={"experiment_id": _experiment(api), "name": "m"})
    listing = api.get(
        f"/api/2.0/mlflow/logged-models/{inside.json()['model']['info']['model_id']}/artifacts/directories"
    )
    assert listing.status_code == 200 and listing.json()["files"] == []


# ------------------------------------------------------------------ traces


def _start_trace(api: httpx.Client, exp_id: str, tags: dict[str, str] | None = None) -> str:
    trace_id = f"tr-{uuid.uuid4().hex}"
    info = {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}},
        "request_time": "2026-01-01T00:00:00Z",
        "state": "OK",
        "tags": tags or {},
    }
    resp = api.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert resp.status_code == 200, resp.text
    return trace_id


def _spans(api: httpx.Client, trace_id: str) -> list[dict]:
    resp = api.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id})
    assert resp.status_code == 200, resp.text
    assert SECRET not in resp.text
    return resp.json()["trace"]["spans"]


def _tag(api: httpx.Client, trace_id: str) -> str:
    info = api.get(f"/api/3.0/mlflow/traces/{trace_id}").json()["trace"]["trace_info"]
    return info["tags"]["mlflow.artifactLocation"]


def test_trace_artifact_location_tag_cannot_redirect_reads(api, server):
    outside = str(server.root / "outside")
    exp_id = _experiment(api)
    # Sent with the trace: ignored, the server names the location.
    trace_id = _start_trace(api, exp_id, {"mlflow.artifactLocation": outside})
    server_location = _tag(api, trace_id)
    assert server_location == f"mlflow-artifacts:/{exp_id}/traces/{trace_id}/artifacts"
    # Written later, in any spelling: refused, nothing changes.
    for value in (outside, f"file://{outside}", "s3://someone-elses-bucket/x", f"{outside}/../outside"):
        for version in ("2.0", "3.0"):
            resp = api.patch(
                f"/api/{version}/mlflow/traces/{trace_id}/tags",
                json={"key": "mlflow.artifactLocation", "value": value},
            )
            assert resp.status_code == 400 and "immutable" in resp.json()["message"], resp.text
    resp = api.request(
        "DELETE", f"/api/3.0/mlflow/traces/{trace_id}/tags", json={"key": "mlflow.artifactLocation"}
    )
    assert resp.status_code == 400
    assert _tag(api, trace_id) == server_location
    assert _spans(api, trace_id) == []


def test_trace_tag_stored_before_the_fix_is_not_followed(api, server):
    """A database written by an older server (the tag set to a secret folder): reads ignore it."""
    trace_id = _start_trace(api, _experiment(api))
    db = sqlite3.connect(server.root / "mltrail.db")
    with db:
        db.execute(
            "UPDATE trace_tags SET value = ? WHERE request_id = ? AND key = 'mlflow.artifactLocation'",
            (str(server.root / "outside"), trace_id),
        )
    db.close()
    assert _spans(api, trace_id) == []


def test_trace_files_are_read_from_the_servers_location_only(api, server):
    # In the roots: the client's fallback upload of traces.json through the proxy is served.
    exp_id = _experiment(api)
    trace_id = _start_trace(api, exp_id)
    span = Span(trace_id, "00000000000000bb", None, "served", 1, 2)
    body = json.dumps(TraceData([span]).to_dict()).encode()
    assert (
        api.put(f"{PROXY}/{exp_id}/traces/{trace_id}/artifacts/traces.json", content=body).status_code == 200
    )
    assert [s["name"] for s in _spans(api, trace_id)] == ["served"]
    # An experiment outside the roots: its trace files are never read.
    outside_exp = _experiment(api, str(server.root / "outside"))
    trace_id = _start_trace(api, outside_exp)
    folder = server.root / "outside" / "traces" / trace_id / "artifacts"
    folder.mkdir(parents=True)
    (folder / "traces.json").write_text((server.root / "outside" / "traces.json").read_text())
    assert _spans(api, trace_id) == []


# ------------------------------------------------------------------ names and control characters


@pytest.mark.parametrize("name", ["日本.txt", "🙂.txt", "naïve café.txt", 'quo"te.txt'])
def test_non_latin1_names_download_everywhere(api, name):
    run = _run(api, _experiment(api))
    rel = run["artifact_uri"].split(":", 1)[1].lstrip("/")
    assert api.put(f"{PROXY}/{rel}/{quote(name)}", content=name.encode()).status_code == 200
    model = _model(api)
    assert _version(api, model, run["artifact_uri"], run["run_id"]).status_code == 200
    for url, params in [
        (f"{PROXY}/{rel}/{quote(name)}", None),
        ("/get-artifact", {"run_uuid": run["run_id"], "path": name}),
        ("/model-versions/get-artifact", {"name": model, "version": "1", "path": name}),
    ]:
        resp = api.get(url, params=params)
        assert resp.status_code == 200, (url, resp.text)
        assert resp.content == name.encode()
        disposition = resp.headers["content-disposition"]
        assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
        assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    listed = api.get(f"{API}/artifacts/list", params={"run_id": run["run_id"]}).json()["files"]
    assert name in [f["path"] for f in listed]


def test_content_disposition_never_carries_line_breaks_or_quotes():
    value = content_disposition('a\r\nSet-Cookie: x="1".txt', "inline")
    assert "\r" not in value and "\n" not in value and value.isascii()
    assert value.startswith(
        "inline; filename=\"a__Set-Cookie: x=_1_.txt\"; filename*=UTF-8''a%0D%0ASet-Cookie"
    )
    assert content_disposition("dir/plain.txt") == 'attachment; filename="plain.txt"'


def test_official_client_downloads_non_latin1_names(server, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    try:
        client = MlflowClient(server.url)
        exp_id = client.create_experiment(_uid("names"))
        run = client.create_run(exp_id)
        src = tmp_path / "src"
        src.mkdir()
        for name in ("日本.txt", "🙂.txt"):
            (src / name).write_text(f"content of {name}")
            client.log_artifact(run.info.run_id, str(src / name), "docs")
        out = Path(client.download_artifacts(run.info.run_id, "docs", str(tmp_path / "a")))
        assert sorted(p.name for p in out.iterdir()) == sorted(["日本.txt", "🙂.txt"])
        one = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="docs/日本.txt", dst_path=str(tmp_path / "b")
        )
        assert Path(one).read_text() == "content of 日本.txt"
        two = mlflow.artifacts.download_artifacts(
            f"{run.info.artifact_uri}/docs/🙂.txt", dst_path=str(tmp_path / "c")
        )
        assert Path(two).read_text() == "content of 🙂.txt"
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("bad", ["%00", "a%00b.js", "%01x.js", "x%0d%0a.js", "app.js%00.png"])
def test_control_characters_in_static_paths_are_client_errors(api, bad):
    resp = api.get(f"/static/v-any/{bad}")
    assert resp.status_code in (400, 404), resp.text


@pytest.mark.parametrize("bad", ["tr-%00x", "tr-a%01b", "tr-%0d%0a"])
def test_control_characters_in_path_params_are_client_errors(api, bad):
    for method, url, body in [
        ("GET", f"/api/3.0/mlflow/traces/{bad}", None),
        ("PATCH", f"/api/3.0/mlflow/traces/{bad}/tags", {"key": "k", "value": "v"}),
        ("GET", f"/api/2.0/mlflow/logged-models/m-{bad}", None),
        ("DELETE", f"/api/2.0/mlflow/logged-models/m-{bad}/tags/k", None),
        ("GET", f"{PROXY}/{bad}", None),
        ("PUT", f"{PROXY}/{bad}", None),
    ]:
        resp = api.request(method, url, json=body) if body else api.request(method, url)
        assert resp.status_code in (400, 404), (method, url, resp.status_code, resp.text)
        assert resp.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory, postgres_uri) -> Iterator[LiveServer]:
    srv = _server(tmp_path_factory.mktemp("roots-pg"), postgres_uri)
    yield srv
    stop_server(srv)


def test_key_cases_on_postgresql(pg_server):
    with httpx.Client(base_url=pg_server.url, timeout=30) as api:
        root = pg_server.root
        for kind in (
            "absolute",
            "file-encoded-slashes",
            "relative",
            "symlink-in-destination",
            "other-bucket",
        ):
            run = _run(api, _experiment(api, _locations(root)[kind]))
            _place_run_secret(root, run)
            _outside_400(api.get("/get-artifact", params={"run_uuid": run["run_id"], "path": "secret.txt"}))
            _outside_400(api.get(f"{API}/artifacts/list", params={"run_id": run["run_id"]}))
        name = _model(api)
        assert _version(api, name, "s3://someone-elses-bucket/m", uuid.uuid4().hex).status_code == 200
        _outside_400(
            api.get("/model-versions/get-artifact", params={"name": name, "version": "1", "path": "x"})
        )
        trace_id = _start_trace(api, _experiment(api), {"mlflow.artifactLocation": str(root / "outside")})
        resp = api.patch(
            f"/api/3.0/mlflow/traces/{trace_id}/tags",
            json={"key": "mlflow.artifactLocation", "value": str(root / "outside")},
        )
        assert resp.status_code == 400
        assert _tag(api, trace_id).startswith("mlflow-artifacts:/")
        assert _spans(api, trace_id) == []
        for bad in ("tr-%00x", "tr-a%01b"):
            for url in (
                f"/api/3.0/mlflow/traces/{bad}",
                f"/api/2.0/mlflow/logged-models/m-{bad}",
                f"/get-artifact?run_uuid={bad}&path=x",
                f"/model-versions/get-artifact?name={bad}&version=1&path=x",
            ):
                resp = api.get(url)
                assert resp.status_code in (400, 404), (url, resp.status_code, resp.text)


# ------------------------------------------------------------------ remote roots (S3, moto's local server)


@pytest.fixture(scope="module")
def s3_roots_server(tmp_path_factory, request) -> Iterator[tuple[LiveServer, object, str]]:
    """A server whose default artifact root is ``s3://<bucket>/exp-root`` on a local S3-compatible server."""
    endpoint, client = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3")
    bucket = f"roots-{uuid.uuid4().hex[:10]}"
    for name in (bucket, f"{bucket}-other"):
        client.create_bucket(Bucket=name)
    srv = start_server(
        tmp_path_factory.mktemp("roots-s3"),
        None,
        "--default-artifact-root",
        f"s3://{bucket}/exp-root",
        env={**S3_CREDS, "MLFLOW_S3_ENDPOINT_URL": endpoint},
    )
    yield srv, client, bucket
    stop_server(srv)


def test_remote_locations_compare_bucket_and_key_prefix(s3_roots_server):
    srv, client, bucket = s3_roots_server
    with httpx.Client(base_url=srv.url, timeout=30) as api:
        inside = _run(api, _experiment(api))
        assert inside["artifact_uri"].startswith(f"s3://{bucket}/exp-root/")
        key = inside["artifact_uri"].removeprefix(f"s3://{bucket}/") + "/hello.txt"
        client.put_object(Bucket=bucket, Key=key, Body=b"hello")
        got = api.get("/get-artifact", params={"run_uuid": inside["run_id"], "path": "hello.txt"})
        assert got.status_code == 200 and got.text == "hello"
        for location in (
            f"s3://{bucket}/other-prefix",
            f"s3://{bucket}/exp-root-sibling",
            f"s3://{bucket}",
            f"s3://{bucket}-other/exp-root",
            f"s3://{bucket}/exp-root?versionId=1",
        ):
            run = _run(api, _experiment(api, location))
            key = run["artifact_uri"].split("/", 3)[3].split("?")[0] + "/secret.txt"
            client.put_object(
                Bucket=run["artifact_uri"].split("/")[2].split("?")[0], Key=key, Body=SECRET.encode()
            )
            _outside_400(api.get("/get-artifact", params={"run_uuid": run["run_id"], "path": "secret.txt"}))
            _outside_400(api.get(f"{API}/artifacts/list", params={"run_id": run["run_id"]}))
        for location in (f"s3://{bucket}/exp-root/../other", f"s3://{bucket}/exp-root/%2e%2e/other"):
            resp = api.post(
                f"{API}/experiments/create", json={"name": _uid("bad"), "artifact_location": location}
            )
            assert resp.status_code == 400, resp.text


def test_allowed_roots_option_is_parsed_and_pinned(tmp_path, monkeypatch):
    from mltrail.cli.server import build_config
    from mltrail.exceptions import MltrailException

    monkeypatch.chdir(tmp_path)
    config = build_config(allowed_artifact_roots=" shared/a , /srv/b,s3://bucket/p,, ")
    assert config.allowed_artifact_roots == (str(tmp_path / "shared" / "a"), "/srv/b", "s3://bucket/p")
    with pytest.raises(MltrailException, match="network paths"):
        build_config(allowed_artifact_roots="//evil-host/share")
