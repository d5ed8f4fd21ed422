"""S3 specifics against a real local S3-compatible server (moto's HTTP server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mltrail.artifacts import get_artifact_repository, load_text
from mltrail.artifacts.s3 import S3ArtifactRepository
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException


def _boto(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def test_large_file_goes_multipart_and_round_trips(s3_bucket, s3_server, tmp_path):
    big = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    big.write_bytes(block * 9)  # above the 8 MiB multipart threshold
    repo = get_artifact_repository(f"s3://{s3_bucket}/big")
    repo.log_artifact(big, "weights")
    head = _boto(s3_server).head_object(Bucket=s3_bucket, Key="big/weights/big.bin")
    assert head["ContentLength"] == 9 * 1024 * 1024
    assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5>-<parts>"
    out = Path(repo.download_artifacts("weights/big.bin", tmp_path / "dl"))
    assert out.read_bytes() == big.read_bytes()
    # A streamed write of many chunks becomes a multipart upload too, one object.
    repo.write_stream("stream.bin", (block for _ in range(17)))
    head = _boto(s3_server).head_object(Bucket=s3_bucket, Key="big/stream.bin")
    assert head["ContentLength"] == 17 * 1024 * 1024 and head["ETag"].endswith('-3"')
    assert b"".join(repo.open_stream("stream.bin")) == block * 17


def test_failed_multipart_stream_leaves_nothing(s3_bucket, s3_server):
    repo = get_artifact_repository(f"s3://{s3_bucket}/mp")

    def broken():
        for _ in range(20):  # two full 8 MiB parts go out before the failure
            yield b"z" * (1024 * 1024)
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        repo.write_stream("half.bin", broken())
    client = _boto(s3_server)
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
    assert not client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_bucket_root_and_keys(s3_bucket, s3_server):
    repo = get_artifact_repository(f"s3://{s3_bucket}")
    assert isinstance(repo, S3ArtifactRepository) and repo.prefix == ""
    repo.log_bytes(b"hello", "x/y.txt")
    keys = [o["Key"] for o in _boto(s3_server).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["x/y.txt"]
    assert load_text(f"s3://{s3_bucket}/x/y.txt") == "hello"


def test_objects_with_unsafe_names_are_not_listed(s3_bucket, s3_server, tmp_path):
    # Someone wrote keys straight into the bucket; they must never reach a local disk.
    client = _boto(s3_server)
    client.put_object(Bucket=s3_bucket, Key="p/ok.txt", Body=b"ok")
    client.put_object(Bucket=s3_bucket, Key="p/evil#frag", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="p/dir/", Body=b"")  # a "folder marker"
    repo = get_artifact_repository(f"s3://{s3_bucket}/p")
    assert [f.path for f in repo.list_artifacts()] == ["dir", "ok.txt"]
    out = Path(repo.download_artifacts("", tmp_path / "dl"))
    assert sorted(p.name for p in out.iterdir()) == ["dir", "ok.txt"]


def test_endpoint_from_mltrail_variable(s3_bucket, s3_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    monkeypatch.setenv("MLTRAIL_S3_ENDPOINT_URL", s3_server)
    repo = get_artifact_repository(f"s3://{s3_bucket}/m")
    repo.log_bytes(b"1", "one")
    assert repo.read_bytes("one") == b"1"


def test_missing_bucket_gives_clear_error(s3_bucket):
    repo = get_artifact_repository("s3://no-such-bucket-here/x")
    with pytest.raises(MltrailException, match="NoSuchBucket"):
        repo.log_bytes(b"1", "a")


@pytest.mark.parametrize("uri", ["s3://b/x#frag", "s3://b/a/../b", "s3://b/x;y", "s3://b/%2e%2e/x"])
def test_bad_s3_uris(uri):
    with pytest.raises(MltrailException) as info:
        get_artifact_repository(uri)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
