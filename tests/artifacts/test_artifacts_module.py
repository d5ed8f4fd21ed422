"""``mltrail.artifacts`` as ``mlflow.artifacts``: download/list/load by URI, runs:/ through the real client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mltrail.artifacts as artifacts
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "store" / "0" / "run" / "artifacts"
    (r / "model").mkdir(parents=True)
    (r / "model" / "MLmodel").write_text("flavors: {}\n")
    (r / "config.json").write_text(json.dumps({"lr": 0.1, "layers": [1, 2]}))
    (r / "config.yaml").write_text("lr: 0.1\nname: x\n")
    (r / "notes.txt").write_text("héllo")
    (r / "list.json").write_text("[1, 2]")
    return r


@pytest.mark.parametrize("form", ["path", "file"])
def test_download_by_uri(root, tmp_path, form):
    base = str(root) if form == "path" else f"file://{root}"
    out = artifacts.download_artifacts(artifact_uri=f"{base}/model", dst_path=str(tmp_path / "dl"))
    assert out == str(tmp_path / "dl" / "model")
    assert (Path(out) / "MLmodel").read_text() == "flavors: {}\n"
    single = artifacts.download_artifacts(artifact_uri=f"{base}/notes.txt")
    assert Path(single).name == "notes.txt" and Path(single).read_text() == "héllo"


def test_relative_uri_is_taken_from_the_working_directory(root, monkeypatch):
    monkeypatch.chdir(root)
    assert artifacts.load_text("notes.txt") == "héllo"
    out = artifacts.download_artifacts(artifact_uri="model", dst_path="out")
    assert out == str(root / "out" / "model") and (root / "out" / "model" / "MLmodel").is_file()


def test_list_by_uri(root):
    infos = artifacts.list_artifacts(artifact_uri=f"{root}/model")
    assert [(f.path, f.is_dir, f.file_size) for f in infos] == [("model/MLmodel", False, 12)]


def test_load_helpers(root):
    assert artifacts.load_text(f"{root}/notes.txt") == "héllo"
    assert artifacts.load_dict(f"{root}/config.json") == {"lr": 0.1, "layers": [1, 2]}
    assert artifacts.load_dict(f"file://{root}/config.yaml") == {"lr": 0.1, "name": "x"}
    assert artifacts.load_dict(f"{root}/list.json") == [1, 2]  # valid JSON comes back as is, as in MLflow
    with pytest.raises(MltrailException, match="JSON or YAML object"):
        artifacts.load_dict(f"{root}/notes.txt")


def test_load_image(root):
    pil = pytest.importorskip("PIL.Image")
    pil.new("RGB", (3, 2), (255, 0, 0)).save(root / "red.png")
    img = artifacts.load_image(f"{root}/red.png")
    assert img.size == (3, 2) and img.getpixel((0, 0)) == (255, 0, 0)


def test_load_from_s3(s3_bucket):
    repo = artifacts.get_artifact_repository(f"s3://{s3_bucket}/r")
    repo.log_bytes(b'{"a": 1}', "d/c.json")
    assert artifacts.load_dict(f"s3://{s3_bucket}/r/d/c.json") == {"a": 1}
    assert [f.path for f in artifacts.list_artifacts(artifact_uri=f"s3://{s3_bucket}/r/d")] == ["d/c.json"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either artifact_uri or run_id"),
        ({"artifact_uri": "/x", "run_id": "abc"}, "not both"),
        ({"artifact_uri": "/x/y", "artifact_path": "z"}, "artifact_path goes with run_id"),
        ({"artifact_uri": "runs:/abc/../../etc"}, "'..'"),
        ({"run_id": "abc", "artifact_path": "../x"}, "'..'"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(MltrailException) as info:
        artifacts.download_artifacts(**kwargs)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert message in info.value.message


@pytest.mark.parametrize("uri", ["ftp://host/x", "hdfs://nn/x", "mlflow-artifacts:/x#y"])
def test_unsupported_or_unsafe_uris(uri):
    with pytest.raises(MltrailException) as info:
        artifacts.get_artifact_repository(uri, tracking_uri="http://127.0.0.1:1")
    assert info.value.error_code == INVALID_PARAMETER_VALUE


def test_runs_uri_through_the_tracking_client(sqlite_uri, tmp_path):
    from mltrail.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_uri)
    exp = client.create_experiment("arts", artifact_location=str(tmp_path / "exp-arts"))
    run = client.create_run(exp)
    run_id = run.info.run_id
    repo = artifacts.get_artifact_repository(run.info.artifact_uri)
    repo.log_bytes(b"the answer", "outputs/answer.txt")
    repo.log_bytes(b'{"k": "v"}', "outputs/meta.json")

    out = artifacts.download_artifacts(
        run_id=run_id, artifact_path="outputs", tracking_uri=sqlite_uri, dst_path=str(tmp_path / "dl")
    )
    assert sorted(p.name for p in Path(out).iterdir()) == ["answer.txt", "meta.json"]
    got = artifacts.download_artifacts(
        artifact_uri=f"runs:/{run_id}/outputs/answer.txt", tracking_uri=sqlite_uri
    )
    assert Path(got).read_bytes() == b"the answer"
    listed = artifacts.list_artifacts(run_id=run_id, artifact_path="outputs", tracking_uri=sqlite_uri)
    assert [f.path for f in listed] == ["outputs/answer.txt", "outputs/meta.json"]
    repo_via_runs = artifacts.get_artifact_repository(f"runs:/{run_id}/outputs", tracking_uri=sqlite_uri)
    assert repo_via_runs.read_bytes("meta.json") == b'{"k": "v"}'
    with pytest.raises(MltrailException) as info:
        artifacts.download_artifacts(artifact_uri="runs:/0123456789abcdef/x", tracking_uri=sqlite_uri)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_unknown_model_uri_is_a_clear_error(sqlite_uri):
    from mltrail.tracking import MlflowClient

    if not hasattr(MlflowClient, "get_model_version"):
        pytest.skip("the model registry client has not landed yet")
    with pytest.raises(MltrailException):
        artifacts.download_artifacts(artifact_uri="models:/NoSuchModel/1", tracking_uri=sqlite_uri)


def test_import_stays_light():
    code = (
        "import sys, mltrail.artifacts; "
        "print(sorted(m for m in ('httpx','boto3','botocore','PIL','sqlalchemy','mltrail.tracking') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
