"""Multipart uploads and presigned downloads through the artifact proxy.

A live ``mltrail server`` whose ``--artifacts-destination`` is a bucket on a
local S3-compatible server (moto's), driven by the official ``mlflow`` 3.17.2
client and by raw HTTP. The servers run with the access log on, which is how
the tests see what went through the server and what went straight to S3.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import httpx
import mlflow
import pytest
import requests
from moto.server import ThreadedMotoServer

from mltrail.server.artifact_files import MPU_UNSUPPORTED, PRESIGNED_UNSUPPORTED
from support.live_server import LiveServer, free_port, start_server, stop_server

MIB = 1024 * 1024
PROXY = "/api/2.0/mlflow-artifacts"
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PREFIX = "proxied"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    name = f"mpu-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, s3_endpoint, bucket) -> Iterator[LiveServer]:
    """``mltrail server`` proxying to ``s3://<bucket>/proxied``, logging every request at debug level."""
    server = start_server(
        tmp_path_factory.mktemp("mpu-s3"),
        None,
        "--artifacts-destination", f"s3://{bucket}/{PREFIX}", "--access-log", "--log-level", "debug",
        env={**CREDS, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint},
    )  # fmt: skip
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``mltrail server`` proxying to a local folder (its default), with the access log on."""
    server = start_server(tmp_path_factory.mktemp("mpu-local"), None, "--access-log")
    yield server
    stop_server(server)


@pytest.fixture
def official_client(monkeypatch):
    """The official client set to upload files of 1 MiB and more in 5 MiB parts through the proxy."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MIB))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    yield mlflow
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


class LogWatch:
    """What a server logged from now on."""

    def __init__(self, server: LiveServer) -> None:
        self.path = server.log
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            return fh.read().decode(errors="replace")


def _run_in(client, server: LiveServer, tmp_path: Path, name: str, size: int):
    """Start a run on ``server`` and write a ``size``-byte file of random bytes."""
    client.set_tracking_uri(server.url)
    exp = client.set_experiment(f"mpu-{uuid.uuid4().hex[:8]}")
    data = os.urandom(size)
    local = tmp_path / name
    local.write_bytes(data)
    return exp.experiment_id, local, data


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["error_code"] == code, body
    return body["message"]


def _pending_uploads(s3, bucket: str, key: str) -> list[dict]:
    return [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) if u["Key"] == key]


def _signatures(urls: list[str]) -> list[str]:
    return [parse_qs(urlsplit(u).query)["X-Amz-Signature"][0] for u in urls]


# ------------------------------------------------------------------ S3 destination


def test_official_client_uploads_parts_straight_to_s3(official_client, s3_server, s3, bucket, tmp_path):
    exp_id, local, data = _run_in(official_client, s3_server, tmp_path, "weights.bin", 12 * MIB)
    watch = LogWatch(s3_server)
    with official_client.start_run() as run:
        official_client.log_artifact(str(local), "model")
    run_path = f"{exp_id}/{run.info.run_id}/artifacts"
    key = f"{PREFIX}/{run_path}/model/weights.bin"

    obj = s3.get_object(Bucket=bucket, Key=key)
    assert obj["Body"].read() == data
    # Assembled from the client's three 5 MiB parts (the proxy's own streamed uploads use 8 MiB parts).
    assert obj["ETag"].endswith('-3"')
    assert not _pending_uploads(s3, bucket, key)

    log = watch.text()
    assert f'"POST {PROXY}/mpu/create/{run_path}/model HTTP/1.1" 200' in log
    assert f'"POST {PROXY}/mpu/complete/{run_path}/model HTTP/1.1" 200' in log
    # The 12 MiB never went through the server: no upload on the proxy's PUT path.
    assert f"PUT {PROXY}/artifacts/" not in log
    assert "X-Amz-Signature" not in log

    listed = official_client.MlflowClient().list_artifacts(run.info.run_id, "model")
    assert [(f.path, f.file_size) for f in listed] == [("model/weights.bin", 12 * MIB)]


def test_official_client_downloads_through_a_presigned_url(official_client, s3_server, monkeypatch, tmp_path):
    exp_id, local, data = _run_in(official_client, s3_server, tmp_path, "big.bin", 6 * MIB)
    with official_client.start_run() as run:
        official_client.log_artifact(str(local))
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(2 * MIB))
    watch = LogWatch(s3_server)
    out = official_client.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="big.bin", dst_path=str(tmp_path / "dl")
    )
    assert Path(out).read_bytes() == data
    log = watch.text()
    run_path = f"{exp_id}/{run.info.run_id}/artifacts"
    assert f'"GET {PROXY}/presigned/{run_path}/big.bin HTTP/1.1" 200' in log
    assert f"GET {PROXY}/artifacts/{run_path}/big.bin" not in log
    assert "X-Amz-Signature" not in log


def test_presigned_download_answer(s3_server, s3, bucket):
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/direct/notes.txt", Body=b"hello")
    with httpx.Client(base_url=s3_server.url, timeout=30) as api:
        resp = api.get(f"{PROXY}/presigned/direct/notes.txt")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"url", "headers", "file_size"}
        assert body["headers"] == {} and body["file_size"] == 5
        got = requests.get(body["url"], timeout=30)
        assert got.content == b"hello"
        # Saved, never rendered, by a browser that follows the URL.
        assert got.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'
        assert "X-Amz-Signature" not in LogWatch(s3_server).text()
        _error(api.get(f"{PROXY}/presigned/direct/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_abort_leaves_no_object_and_no_pending_upload(s3_server, s3, bucket):
    key = f"{PREFIX}/aborted/data.bin"
    watch = LogWatch(s3_server)
    with httpx.Client(base_url=s3_server.url, timeout=30) as api:
        resp = api.post(f"{PROXY}/mpu/create/aborted", json={"path": "/home/me/data.bin", "num_parts": 2})
        assert resp.status_code == 200, resp.text
        created = resp.json()
        assert [c["part_number"] for c in created["credentials"]] == [1, 2]
        assert all(c["headers"] == {} for c in created["credentials"])
        upload_id = created["upload_id"]
        put = requests.put(created["credentials"][0]["url"], data=b"p" * (5 * MIB), timeout=60)
        assert put.status_code == 200 and put.headers["ETag"]
        assert [u["UploadId"] for u in _pending_uploads(s3, bucket, key)] == [upload_id]

        resp = api.post(
            f"{PROXY}/mpu/abort/aborted", json={"path": "/home/me/data.bin", "upload_id": upload_id}
        )
        assert resp.status_code == 200 and resp.json() == {}
        assert not _pending_uploads(s3, bucket, key)
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/aborted/").get("KeyCount", 0) == 0

        # The upload is gone for good: aborting it again is S3's NoSuchUpload, a 404 and not a 500.
        # (Completing it would be the same on S3; moto answers that one with its own 500.)
        again = api.post(f"{PROXY}/mpu/abort/aborted", json={"path": "data.bin", "upload_id": upload_id})
        _error(again, 404, "RESOURCE_DOES_NOT_EXIST")

    log = watch.text()
    for signature in _signatures([c["url"] for c in created["credentials"]]):
        assert signature not in log
    assert "X-Amz-Signature" not in log and "Traceback" not in log


def test_official_client_aborts_a_failed_upload(
    official_client, s3_server, s3, bucket, monkeypatch, tmp_path
):
    # 1 MiB parts upload fine but S3 refuses to join parts under 5 MiB: the client must abort.
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(MIB))
    exp_id, local, _ = _run_in(official_client, s3_server, tmp_path, "small-parts.bin", 3 * MIB)
    watch = LogWatch(s3_server)
    with official_client.start_run() as run, pytest.raises(requests.HTTPError, match="EntityTooSmall"):
        official_client.log_artifact(str(local))
    run_path = f"{exp_id}/{run.info.run_id}/artifacts"
    log = watch.text()
    assert f'"POST {PROXY}/mpu/complete/{run_path} HTTP/1.1" 400' in log
    assert f'"POST {PROXY}/mpu/abort/{run_path} HTTP/1.1" 200' in log
    key = f"{PREFIX}/{run_path}/small-parts.bin"
    assert not _pending_uploads(s3, bucket, key)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0


def test_windows_client_path_keeps_only_the_file_name(s3_server, s3, bucket):
    with httpx.Client(base_url=s3_server.url, timeout=30) as api:
        resp = api.post(f"{PROXY}/mpu/create/win", json={"path": "C:\\Users\\me\\model.pkl", "num_parts": 1})
        assert resp.status_code == 200, resp.text
        created = resp.json()
        put = requests.put(created["credentials"][0]["url"], data=b"pickled", timeout=30)
        parts = [{"part_number": 1, "etag": put.headers["ETag"], "url": created["credentials"][0]["url"]}]
        body = {"path": "C:\\Users\\me\\model.pkl", "upload_id": created["upload_id"], "parts": parts}
        assert api.post(f"{PROXY}/mpu/complete/win", json=body).json() == {}
    assert s3.get_object(Bucket=bucket, Key=f"{PREFIX}/win/model.pkl")["Body"].read() == b"pickled"


# ------------------------------------------------------------------ bad input

TRAVERSALS = ["../escape", "a/../../escape", "%2e%2e/escape", "/etc", "C:/x", "a\\..\\b", "a/%00/b"]


@pytest.mark.parametrize("bad", TRAVERSALS, ids=repr)
def test_traversal_in_the_url_path_is_refused(s3_server, bad):
    # Every byte percent-encoded, so the HTTP client cannot normalise dot segments away.
    encoded = "".join(f"%{b:02X}" for b in bad.encode())
    with httpx.Client(base_url=s3_server.url, timeout=30) as api:
        create = {"path": "f.bin", "num_parts": 1}
        _error(api.post(f"{PROXY}/mpu/create/{encoded}", json=create), 400, "INVALID_PARAMETER_VALUE")
        complete = {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 1, "etag": "e"}]}
        _error(api.post(f"{PROXY}/mpu/complete/{encoded}", json=complete), 400, "INVALID_PARAMETER_VALUE")
        abort = {"path": "f.bin", "upload_id": "u"}
        _error(api.post(f"{PROXY}/mpu/abort/{encoded}", json=abort), 400, "INVALID_PARAMETER_VALUE")
        _error(api.get(f"{PROXY}/presigned/{encoded}"), 400, "INVALID_PARAMETER_VALUE")


BAD_CREATES = [
    {"num_parts": 1},
    {"path": "", "num_parts": 1},
    {"path": "/tmp/", "num_parts": 1},
    {"path": "/tmp/..", "num_parts": 1},
    {"path": "C:\\Users\\..", "num_parts": 1},
    {"path": "/tmp/%2e%2e", "num_parts": 1},
    {"path": "/tmp/evil#x", "num_parts": 1},
    {"path": 7, "num_parts": 1},
    {"path": "f.bin", "num_parts": 0},
    {"path": "f.bin", "num_parts": -1},
    {"path": "f.bin", "num_parts": 10_001},
    {"path": "f.bin", "num_parts": 10**30},
    {"path": "f.bin", "num_parts": "many"},
    {"path": "f.bin", "num_parts": True},
    {"path": "f.bin", "num_parts": 2.5},
    {"path": "f.bin", "num_parts": None},
    {"path": "f.bin", "num_parts": [1]},
    [],
    "f.bin",
]

GOOD_PART = {"part_number": 1, "etag": '"abc"'}
BAD_COMPLETES = [
    {"path": "f.bin", "parts": [GOOD_PART]},
    {"path": "f.bin", "upload_id": "", "parts": [GOOD_PART]},
    {"path": "f.bin", "upload_id": 5, "parts": [GOOD_PART]},
    {"path": "f.bin", "upload_id": "u" * 5000, "parts": [GOOD_PART]},
    {"path": "f.bin", "upload_id": "u"},
    {"path": "f.bin", "upload_id": "u", "parts": []},
    {"path": "f.bin", "upload_id": "u", "parts": "1"},
    {"path": "f.bin", "upload_id": "u", "parts": [1, 2]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": "one", "etag": "e"}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"etag": "e"}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 0, "etag": "e"}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 10_001, "etag": "e"}]},
    {"path": "f.bin", "upload_id": "u", "parts": [GOOD_PART, GOOD_PART]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 1}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 1, "etag": ""}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": 1, "etag": 3}]},
    {"path": "f.bin", "upload_id": "u", "parts": [{"part_number": n, "etag": "e"} for n in range(1, 10_002)]},
    {"upload_id": "u", "parts": [GOOD_PART]},
]

BAD_ABORTS = [
    {"path": "f.bin"},
    {"path": "f.bin", "upload_id": ""},
    {"path": "f.bin", "upload_id": ["u"]},
    {"path": "f.bin", "upload_id": "u\nv"},
    {"upload_id": "u"},
]


def _check_bad(server: LiveServer, endpoint: str, body: object) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        message = _error(api.post(f"{PROXY}/{endpoint}/bad-input", json=body), 400, "INVALID_PARAMETER_VALUE")
        assert message


@pytest.mark.parametrize("body", BAD_CREATES, ids=repr)
def test_bad_create_requests(s3_server, body):
    _check_bad(s3_server, "mpu/create", body)


@pytest.mark.parametrize("body", BAD_COMPLETES, ids=lambda b: repr(b)[:80])
def test_bad_complete_requests(s3_server, body):
    _check_bad(s3_server, "mpu/complete", body)


@pytest.mark.parametrize("body", BAD_ABORTS, ids=repr)
def test_bad_abort_requests(s3_server, body):
    _check_bad(s3_server, "mpu/abort", body)


def test_malformed_json_and_messages(s3_server):
    with httpx.Client(base_url=s3_server.url, timeout=30) as api:
        for endpoint in ("create", "complete", "abort"):
            resp = api.post(
                f"{PROXY}/mpu/{endpoint}/x",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            )
            _error(resp, 400, "INVALID_PARAMETER_VALUE")
        too_many = api.post(f"{PROXY}/mpu/create/x", json={"path": "f.bin", "num_parts": 10_001})
        assert "10000" in _error(too_many, 400, "INVALID_PARAMETER_VALUE")
        no_id = api.post(f"{PROXY}/mpu/abort/x", json={"path": "f.bin"})
        assert (
            _error(no_id, 400, "INVALID_PARAMETER_VALUE")
            == "Missing value for required parameter 'upload_id'"
        )
        # A well-formed request naming an upload S3 never issued: 404, not a server error.
        body = {"path": "f.bin", "upload_id": "no-such-upload"}
        _error(api.post(f"{PROXY}/mpu/abort/x", json=body), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "Traceback" not in s3_server.log.read_text(errors="replace")


# ------------------------------------------------------------------ local destination


def test_local_destination_answers_like_mlflow(local_server):
    with httpx.Client(base_url=local_server.url, timeout=30) as api:
        create = api.post(f"{PROXY}/mpu/create/0/r/artifacts", json={"path": "/tmp/f.bin", "num_parts": 2})
        assert _error(create, 501, "NOT_IMPLEMENTED") == MPU_UNSUPPORTED
        complete = {"path": "f.bin", "upload_id": "u", "parts": [GOOD_PART]}
        resp = api.post(f"{PROXY}/mpu/complete/0/r/artifacts", json=complete)
        assert _error(resp, 501, "NOT_IMPLEMENTED") == MPU_UNSUPPORTED
        resp = api.post(f"{PROXY}/mpu/abort/0/r/artifacts", json={"path": "f.bin", "upload_id": "u"})
        assert _error(resp, 501, "NOT_IMPLEMENTED") == MPU_UNSUPPORTED
        assert (
            _error(api.get(f"{PROXY}/presigned/0/r/artifacts/f.bin"), 501, "NOT_IMPLEMENTED")
            == PRESIGNED_UNSUPPORTED
        )
        # Bad paths are still refused first.
        bad = quote("../x", safe="")
        _error(api.post(f"{PROXY}/mpu/create/{bad}", json={"path": "f.bin"}), 400, "INVALID_PARAMETER_VALUE")


def test_official_client_falls_back_to_put_on_a_local_destination(
    official_client, local_server, monkeypatch, tmp_path
):
    exp_id, local, data = _run_in(official_client, local_server, tmp_path, "fallback.bin", 2 * MIB)
    watch = LogWatch(local_server)
    with official_client.start_run() as run:
        official_client.log_artifact(str(local), "files")
    run_path = f"{exp_id}/{run.info.run_id}/artifacts"
    assert (local_server.artifacts / run_path / "files" / "fallback.bin").read_bytes() == data
    log = watch.text()
    assert f'"POST {PROXY}/mpu/create/{run_path}/files HTTP/1.1" 501' in log
    assert f'"PUT {PROXY}/artifacts/{run_path}/files/fallback.bin HTTP/1.1" 200' in log

    # Presigned downloads fall back to the proxy the same way.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    out = official_client.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="files/fallback.bin", dst_path=str(tmp_path / "dl")
    )
    assert Path(out).read_bytes() == data
    log = watch.text()
    assert f'"GET {PROXY}/presigned/{run_path}/files/fallback.bin HTTP/1.1" 501' in log
    assert f'"GET {PROXY}/artifacts/{run_path}/files/fallback.bin HTTP/1.1" 200' in log


# ------------------------------------------------------------------ /server-info


def _server_info(server: LiveServer) -> dict:
    resp = httpx.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=30)
    assert resp.status_code == 200, resp.text
    ajax = httpx.get(f"{server.url}/ajax-api/3.0/mlflow/server-info", timeout=30)
    assert ajax.json() == resp.json()
    return resp.json()


def test_server_info_advertises_multipart_for_an_s3_destination(s3_server, local_server):
    s3_info = _server_info(s3_server)
    assert s3_info["store_type"] == "SqlStore"
    assert s3_info["multipart_uploads_enabled"] is True
    assert s3_info["multipart_downloads_enabled"] is True
    assert s3_info["workspaces_enabled"] is False
    local_info = _server_info(local_server)
    assert local_info["multipart_uploads_enabled"] is False
    assert local_info["multipart_downloads_enabled"] is False


def test_official_client_goes_multipart_on_the_servers_word(monkeypatch, s3_server, s3, bucket, tmp_path):
    """No MLFLOW_ENABLE_PROXY_MULTIPART_* in the environment: the 3.17 client asks /server-info."""
    from mlflow.utils.server_info import _clear_server_info_cache

    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MIB))
    _clear_server_info_cache()
    try:
        exp_id, local, data = _run_in(mlflow, s3_server, tmp_path, "auto.bin", 11 * MIB)
        watch = LogWatch(s3_server)
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(local))
        run_path = f"{exp_id}/{run.info.run_id}/artifacts"
        obj = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/{run_path}/auto.bin")
        assert obj["Body"].read() == data
        assert obj["ETag"].endswith('-3"')
        log = watch.text()
        assert "GET /api/3.0/mlflow/server-info HTTP/1.1" in log
        assert f'"POST {PROXY}/mpu/complete/{run_path} HTTP/1.1" 200' in log
        assert f"PUT {PROXY}/artifacts/" not in log
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        _clear_server_info_cache()
