"""Local-disk specifics: file:// URIs, symlinks that leave the root, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import TEMP_PREFIX
from mltrail.artifacts.local import LocalArtifactRepository
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException


def test_uri_forms(tmp_path):
    root = tmp_path / "arts"
    for uri in (str(root), f"file://{root}", f"file://localhost{root}"):
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == root
    spaced = tmp_path / "with space"
    assert get_artifact_repository(f"file://{tmp_path}/with%20space").root == spaced
    # Relative paths are taken from the working directory (the test's tmp_path).
    assert get_artifact_repository("mltrail-artifacts/0").root == tmp_path / "mltrail-artifacts" / "0"


@pytest.mark.parametrize("uri", ["file://evil-host/share", "file:///x#frag", "file:///x?y=1"])
def test_bad_file_uris(uri):
    with pytest.raises(MltrailException) as info:
        LocalArtifactRepository(uri)
    assert info.value.error_code == INVALID_PARAMETER_VALUE


def test_root_created_lazily(tmp_path):
    repo = get_artifact_repository(str(tmp_path / "lazy"))
    assert repo.list_artifacts() == []
    assert not (tmp_path / "lazy").exists()
    repo.log_bytes(b"1", "x")
    assert (tmp_path / "lazy" / "x").read_bytes() == b"1"


@pytest.fixture
def escaping_repo(tmp_path):
    """A root with symlinks pointing outside it (a file, a folder) and one pointing inside."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (root / "inner" / "ok.txt").write_text("fine")
    os.symlink(outside, root / "out_dir")
    os.symlink(outside / "secret.txt", root / "out_file")
    os.symlink(root / "inner", root / "in_dir")
    return LocalArtifactRepository(str(root)), outside


def test_symlinks_leaving_root_are_rejected_everywhere(escaping_repo, tmp_path):
    repo, outside = escaping_repo
    # Listing hides them; a link that stays inside is a normal directory.
    assert [f.path for f in repo.list_artifacts()] == ["in_dir", "inner"]
    assert [f.path for f in repo.list_artifacts("in_dir")] == ["in_dir/ok.txt"]
    for rel in ("out_file", "out_dir/secret.txt"):
        for call in (
            lambda rel=rel: repo.read_bytes(rel),
            lambda rel=rel: repo.download_artifacts(rel, tmp_path / "dl"),
            lambda rel=rel: repo.delete_artifacts(rel),
            lambda rel=rel: repo.log_bytes(b"overwrite", rel),
        ):
            with pytest.raises(MltrailException) as info:
                call()
            assert info.value.error_code == INVALID_PARAMETER_VALUE
            assert "outside the artifact root" in info.value.message
    with pytest.raises(MltrailException):
        repo.list_artifacts("out_dir")
    with pytest.raises(MltrailException):
        repo.log_bytes(b"planted", "out_dir/planted.txt")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    # Downloading the whole root skips what listing hides: no secret comes along.
    out = Path(repo.download_artifacts("", tmp_path / "all"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "in_dir",
        "in_dir/ok.txt",
        "inner",
        "inner/ok.txt",
    ]


def test_deleting_inner_symlink_removes_link_not_target(escaping_repo):
    repo, _ = escaping_repo
    repo.delete_artifacts("in_dir")
    assert [f.path for f in repo.list_artifacts()] == ["inner"]
    assert repo.read_bytes("inner/ok.txt") == b"fine"


def test_failed_write_leaves_no_temp_file(tmp_path):
    repo = LocalArtifactRepository(str(tmp_path / "r"))
    repo.log_bytes(b"v1", "d/file.txt")

    def broken():
        yield b"half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        repo.write_stream("d/file.txt", broken())
    assert [p.name for p in (tmp_path / "r" / "d").iterdir()] == ["file.txt"]
    assert repo.read_bytes("d/file.txt") == b"v1"


def test_in_flight_uploads_are_not_listed(tmp_path):
    repo = LocalArtifactRepository(str(tmp_path / "r"))
    repo.log_bytes(b"done", "a.txt")
    (tmp_path / "r" / f"{TEMP_PREFIX}abc").write_bytes(b"half")
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]


def test_download_into_existing_tree_and_nested_empty_dir(tmp_path):
    repo = LocalArtifactRepository(str(tmp_path / "r"))
    (tmp_path / "r" / "m" / "empty").mkdir(parents=True)
    repo.log_bytes(b"x", "m/data/x.bin")
    out = Path(repo.download_artifacts("m", tmp_path / "dst"))
    assert (out / "empty").is_dir()
    assert (out / "data" / "x.bin").read_bytes() == b"x"
    # A second download over the first overwrites cleanly.
    repo.log_bytes(b"y", "m/data/x.bin")
    repo.download_artifacts("m", tmp_path / "dst")
    assert (out / "data" / "x.bin").read_bytes() == b"y"


def test_download_result_keeps_callers_spelling_of_dst(tmp_path):
    real = tmp_path / "real-dst"
    real.mkdir()
    os.symlink(real, tmp_path / "dst-link")
    repo = LocalArtifactRepository(str(tmp_path / "r"))
    repo.log_bytes(b"1", "d/f.txt")
    assert repo.download_artifacts("d/f.txt", tmp_path / "dst-link") == str(
        tmp_path / "dst-link" / "d" / "f.txt"
    )
    assert repo.download_artifacts("d", tmp_path / "dst-link") == str(tmp_path / "dst-link" / "d")
    assert (real / "d" / "f.txt").read_bytes() == b"1"
