"""The one path check: a table of every traversal pattern, and symlinks that leave the root."""

from __future__ import annotations

import os

import pytest

from mltrail.artifacts.paths import (
    is_local_uri,
    resolve_under,
    split_artifact_uri,
    validate_artifact_location,
    validate_artifact_path,
)
from mltrail.entities import FileInfo
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException

ACCEPTED = [
    (None, ""),
    ("", ""),
    (".", ""),
    ("model", "model"),
    ("model/MLmodel", "model/MLmodel"),
    ("./model//MLmodel/", "model/MLmodel"),
    ("a/./b", "a/b"),
    ("file name with spaces.txt", "file name with spaces.txt"),
    ("100%.txt", "100%.txt"),
    ("a%20b.txt", "a%20b.txt"),  # an encoded space is harmless and kept as given
    ("..hidden/x..y/...", "..hidden/x..y/..."),
    ("dir/a:b.txt", "dir/a:b.txt"),
    ("epoch:3.txt", "epoch:3.txt"),
    ("ünïcødé/文件.json", "ünïcødé/文件.json"),
]

REJECTED = [
    ("..", "'..'"),
    ("../etc/passwd", "'..'"),
    ("a/../../b", "'..'"),
    ("a/..", "'..'"),
    ("/etc/passwd", "absolute"),
    ("//evil-host/share", "absolute"),
    ("C:\\Windows\\x", "backslash"),
    ("C:/Windows/x", "absolute"),
    ("C:x", "drive"),
    ("a\\..\\b", "backslash"),
    ("\\..\\x", "backslash"),
    ("a\x00b", "NUL"),
    ("a\nb", "control"),
    ("a\x1bb", "control"),
    ("a\x7fb", "control"),
    ("%2e%2e%2fetc", "percent-encoded"),
    ("%2E%2E/etc", "percent-encoded"),
    ("..%2fetc", "percent-encoded"),
    ("%252e%252e%252fetc", "percent-encoded"),
    ("%25252e%25252e%25252f", "percent-encoded"),
    ("a%2Fb", "percent-encoded"),
    ("a%5Cb", "percent-encoded"),
    ("a%5c..%5cb", "percent-encoded"),
    ("a%00.txt", "percent-encoded"),
    ("a%250a.txt", "percent-encoded"),
    ("file.txt#frag", "'#'"),
    ("a%23b", "'#'"),
    ("file.txt;type=a", "';'"),
    ("file:///etc/passwd", "URI"),
    ("file:etc", "URI"),
    ("FILE:/etc", "URI"),
    ("c:relative", "drive"),
    ("s3://bucket/key", "URI"),
    ("http://h/x", "URI"),
    ("x" * 5000, "longer than"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_paths_are_normalized(raw, expected):
    assert validate_artifact_path(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejected_paths(raw, reason):
    with pytest.raises(MltrailException) as info:
        validate_artifact_path(raw)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert info.value.get_http_status_code() == 400
    assert reason.lower() in info.value.message.lower()


def test_non_string_path_is_rejected():
    with pytest.raises(MltrailException) as info:
        validate_artifact_path(123)  # type: ignore[arg-type]
    assert info.value.error_code == INVALID_PARAMETER_VALUE


def test_resolve_under_plain_and_missing(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert resolve_under(root, "") == root.resolve()
    assert resolve_under(root, "a/b.txt") == root.resolve() / "a" / "b.txt"  # need not exist


def test_resolve_under_rejects_symlink_leaving_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("s3cr3t")
    os.symlink(outside, root / "link_dir")
    os.symlink(outside / "secret.txt", root / "link_file")
    os.symlink("/etc", root / "abs_link")
    for rel in ("link_dir", "link_dir/secret.txt", "link_dir/new.txt", "link_file", "abs_link/passwd"):
        with pytest.raises(MltrailException) as info:
            resolve_under(root, rel)
        assert info.value.error_code == INVALID_PARAMETER_VALUE
        assert "outside the artifact root" in info.value.message


def test_resolve_under_allows_symlink_inside_root(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    os.symlink(root / "real", root / "alias")
    assert resolve_under(root, "alias/x.txt") == (root / "real" / "x.txt").resolve()


def test_resolve_under_root_itself_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "root")
    assert resolve_under(tmp_path / "root", "x") == real.resolve() / "x"


def test_resolve_under_sibling_prefix_is_outside(tmp_path):
    # "/x/root-evil" starts with "/x/root" as a string but is not under it.
    root = tmp_path / "root"
    evil = tmp_path / "root-evil"
    root.mkdir()
    evil.mkdir()
    os.symlink(evil, root / "l")
    with pytest.raises(MltrailException):
        resolve_under(root, "l/x")


LOCATIONS_OK = [
    "s3://bucket/prefix/0",
    "s3://bucket",
    "mlflow-artifacts:/0/abc/artifacts",
    "mlflow-artifacts://host:5000/0",
    "https://host/api/2.0/mlflow-artifacts/artifacts/0",
    "/srv/mltrail-artifacts",
    "file:///srv/mltrail-artifacts",
    "gs://bucket/x?versioned=true",
    "s3://bucket/a%20b",
]

LOCATIONS_BAD = [
    ("s3://bucket/x#frag", "'#'"),
    ("s3://bucket/x;params", "';'"),
    ("http://h/p;x=1", "';'"),
    ("s3://bucket/../other", "'..'"),
    ("s3://bucket/a/%2e%2e/b", "'..'"),
    ("s3://bucket/a/%252e%252e/b", "'..'"),
    ("http://h/x?path=../../etc", "'..'"),
    ("http://h/x?path=%2e%2e%2fetc", "'..'"),
    ("file:///srv/../etc", "'..'"),
    ("s3://bucket/a\\..\\b", "backslash"),
    ("s3://bucket/a\x00", "NUL"),
    ("s3://bucket/a\nb", "control"),
    ("runs:/abc/model", "runs:"),
    ("", "non-empty"),
    ("   ", "non-empty"),
]


@pytest.mark.parametrize("uri", LOCATIONS_OK)
def test_locations_accepted(uri):
    assert validate_artifact_location(uri) == uri


@pytest.mark.parametrize(("uri", "reason"), LOCATIONS_BAD)
def test_locations_rejected(uri, reason):
    with pytest.raises(MltrailException) as info:
        validate_artifact_location(uri)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert reason.lower() in info.value.message.lower()


@pytest.mark.parametrize(
    "uri", ["/etc", "relative/dir", "file:///etc/passwd", "file://localhost/etc", "//host/share/x", "C:/x"]
)
def test_local_locations_rejected_when_not_allowed(uri):
    with pytest.raises(MltrailException) as info:
        validate_artifact_location(uri, allow_local=False, what="model version source")
    assert "model version source" in info.value.message
    assert "local" in info.value.message


def test_location_errors_never_echo_credentials():
    with pytest.raises(MltrailException) as info:
        validate_artifact_location("https://alice:hunter2@host/x#frag")
    assert "hunter2" not in info.value.message
    assert "alice" not in info.value.message
    assert "host/x" in info.value.message


def test_is_local_uri():
    assert is_local_uri("/a/b") and is_local_uri("a") and is_local_uri("file:///a") and is_local_uri("//h/x")
    assert not is_local_uri("s3://b/x") and not is_local_uri("mlflow-artifacts:/x")


def test_split_artifact_uri():
    assert split_artifact_uri("s3://b/x/y") == ("s3://b/x", "y")
    assert split_artifact_uri("/tmp/a/b.txt") == ("/tmp/a", "b.txt")
    assert split_artifact_uri("mlflow-artifacts:/0/r/artifacts/m") == ("mlflow-artifacts:/0/r/artifacts", "m")
    assert split_artifact_uri("s3://b") == ("s3://b", "")
    assert split_artifact_uri("model") == (".", "model")


def test_file_info_round_trip():
    f = FileInfo("model/MLmodel", False, 312)
    assert f.to_dict() == {"path": "model/MLmodel", "is_dir": False, "file_size": 312}
    assert FileInfo.from_dict(f.to_dict()) == f
    d = FileInfo("model", True, None)
    assert d.to_dict() == {"path": "model", "is_dir": True}
    assert FileInfo.from_dict({"path": "x", "is_dir": False, "file_size": "7"}) == FileInfo("x", False, 7)
