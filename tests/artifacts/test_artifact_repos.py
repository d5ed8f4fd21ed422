"""One contract for every artifact backend: local disk, S3 (moto server), HTTP proxy."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mltrail.artifacts import get_artifact_repository
from mltrail.entities import FileInfo
from mltrail.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MltrailException


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def local_tree(tmp_path) -> Path:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.json").write_text('{"b": 1}')
    (src / "sub" / "deeper" / "c.bin").write_bytes(bytes(range(256)) * 10)
    (src / "empty.txt").write_bytes(b"")
    return src


def test_log_artifact_list_and_download_file(repo_uri, tmp_path):
    repo = get_artifact_repository(repo_uri)
    f = tmp_path / "notes.txt"
    f.write_text("hello artifacts")
    repo.log_artifact(f)
    repo.log_artifact(f, "docs/v1")
    assert repo.list_artifacts() == [FileInfo("docs", True, None), FileInfo("notes.txt", False, 15)]
    assert repo.list_artifacts("docs") == [FileInfo("docs/v1", True, None)]
    assert repo.list_artifacts("docs/v1") == [FileInfo("docs/v1/notes.txt", False, 15)]
    assert repo.list_artifacts("notes.txt") == []  # a file lists as nothing, as in MLflow
    assert repo.list_artifacts("missing") == []
    out = repo.download_artifacts("docs/v1/notes.txt", tmp_path / "out")
    assert out == str((tmp_path / "out" / "docs" / "v1" / "notes.txt").absolute())
    assert Path(out).read_text() == "hello artifacts"


def test_log_artifacts_tree_and_download_directory(repo_uri, local_tree, tmp_path):
    repo = get_artifact_repository(repo_uri)
    repo.log_artifacts(local_tree, "run-output")
    assert [f.path for f in repo.list_artifacts("run-output")] == [
        "run-output/a.txt",
        "run-output/empty.txt",
        "run-output/sub",
    ]
    sizes = {f.path: f.file_size for f in repo.list_artifacts("run-output/sub/deeper")}
    assert sizes == {"run-output/sub/deeper/c.bin": 2560}
    out = Path(repo.download_artifacts("run-output", tmp_path / "dl"))
    assert out == (tmp_path / "dl" / "run-output").absolute()
    assert _tree(out) == _tree(local_tree)
    # Without dst_path: a fresh temporary directory; "" downloads the whole root.
    everything = Path(repo.download_artifacts(""))
    assert _tree(everything / "run-output") == _tree(local_tree)


def test_bytes_and_streams(repo_uri):
    repo = get_artifact_repository(repo_uri)
    repo.log_bytes(b"x" * 10_000, "stream/data.bin")
    assert repo.read_bytes("stream/data.bin") == b"x" * 10_000
    chunks = list(repo.open_stream("stream/data.bin", chunk_size=4096))
    assert b"".join(chunks) == b"x" * 10_000
    assert len(chunks) >= 3

    repo.write_stream("stream/gen.txt", (f"line {i}\n".encode() for i in range(1000)))
    assert repo.read_bytes("stream/gen.txt") == "".join(f"line {i}\n" for i in range(1000)).encode()

    repo.log_bytes(b"v2", "stream/data.bin")  # overwrite replaces
    assert repo.read_bytes("stream/data.bin") == b"v2"
    repo.log_bytes(b"", "stream/empty")
    assert repo.read_bytes("stream/empty") == b""


def test_failed_stream_writes_nothing(repo_uri):
    repo = get_artifact_repository(repo_uri)
    repo.log_bytes(b"old", "keep.txt")

    def broken():
        yield b"partial data " * 1000
        raise RuntimeError("producer died")

    for target in ("half.txt", "keep.txt"):
        with pytest.raises(RuntimeError, match="producer died"):
            repo.write_stream(target, broken())
    assert [f.path for f in repo.list_artifacts()] == ["keep.txt"]
    assert repo.read_bytes("keep.txt") == b"old"  # the old content survives a failed overwrite
    with pytest.raises(MltrailException) as info:
        repo.read_bytes("half.txt")
    assert info.value.error_code == RESOURCE_DOES_NOT_EXIST


def test_write_stream_consumes_chunks_in_the_callers_thread(repo_uri):
    # The server feeds uploads from its event loop and can only hand chunks over
    # in the worker thread that called write_stream.
    repo = get_artifact_repository(repo_uri)
    caller = threading.get_ident()
    seen: set[int] = set()

    def chunks():
        for _ in range(3):
            seen.add(threading.get_ident())
            yield b"abc" * 1000

    repo.write_stream("threads.bin", chunks())
    assert seen == {caller}
    assert repo.read_bytes("threads.bin") == b"abc" * 3000


def test_missing_file_is_resource_does_not_exist(repo_uri, tmp_path):
    repo = get_artifact_repository(repo_uri)
    for call in (
        lambda: repo.read_bytes("nope.txt"),
        lambda: repo.download_artifacts("nope.txt", tmp_path / "x"),
    ):
        with pytest.raises(MltrailException) as info:
            call()
        assert info.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert not (tmp_path / "x" / "nope.txt").exists()


def test_delete(repo_uri):
    repo = get_artifact_repository(repo_uri)
    for name in ("a/b", "a/bc", "a/b2/x", "top.txt"):
        repo.log_bytes(b"1", name)
    repo.delete_artifacts("a/b")
    assert [f.path for f in repo.list_artifacts("a")] == ["a/b2", "a/bc"]  # "a/bc" is not under "a/b"
    repo.delete_artifacts("a/b2")
    assert [f.path for f in repo.list_artifacts("a")] == ["a/bc"]
    repo.delete_artifacts("does/not/exist")  # not an error
    repo.delete_artifacts()
    assert repo.list_artifacts() == []


BAD_PATHS = [
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/passwd",
    "%2e%2e%2fescape",
    "%252e%252e%252fx",
    "a\\..\\b",
    "a\x00b",
    "x#y",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_traversal_rejected_by_every_method(repo_uri, bad, tmp_path):
    repo = get_artifact_repository(repo_uri)
    f = tmp_path / "f.txt"
    f.write_text("data")
    d = tmp_path / "d"
    d.mkdir()
    (d / "g.txt").write_text("g")
    calls = [
        lambda: repo.log_artifact(f, bad),
        lambda: repo.log_artifacts(d, bad),
        lambda: repo.log_bytes(b"x", bad),
        lambda: repo.write_stream(bad, [b"x"]),
        lambda: repo.open_stream(bad),
        lambda: repo.read_bytes(bad),
        lambda: repo.list_artifacts(bad),
        lambda: repo.download_artifacts(bad, tmp_path / "dl"),
        lambda: repo.delete_artifacts(bad),
    ]
    for call in calls:
        with pytest.raises(MltrailException) as info:
            call()
        assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert repo.list_artifacts() == []
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "dl").exists()


def test_artifact_file_must_name_a_file(repo_uri):
    repo = get_artifact_repository(repo_uri)
    for call in (
        lambda: repo.log_bytes(b"x", ""),
        lambda: repo.write_stream(".", [b"x"]),
        lambda: repo.open_stream(""),
    ):
        with pytest.raises(MltrailException) as info:
            call()
        assert info.value.error_code == INVALID_PARAMETER_VALUE


def test_log_artifact_input_errors(repo_uri, tmp_path):
    repo = get_artifact_repository(repo_uri)
    with pytest.raises(MltrailException, match="not a file"):
        repo.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(MltrailException, match="not a directory"):
        repo.log_artifacts(tmp_path / "missing-dir")
