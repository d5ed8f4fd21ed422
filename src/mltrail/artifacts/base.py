"""The one small interface every artifact store implements.

:class:`ArtifactRepository` keeps MLflow's public method names so ported code
(``repo.log_artifact``, ``repo.list_artifacts``, ``repo.download_artifacts``)
works unchanged. The public methods live here, once: they run the path check
(:func:`~mltrail.artifacts.paths.validate_artifact_path`) and then call a few
small primitives (``_put_file``, ``_write_chunks``, ``_read_chunks``,
``_list_dir``, ``_delete``) that each backend implements. A backend therefore
never sees an unchecked path.

Example::

    repo = get_artifact_repository("/tmp/artifacts/0/abc")
    repo.log_bytes(b"hello", "notes/hello.txt")
    [f.path for f in repo.list_artifacts("notes")]   # ["notes/hello.txt"]
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from mltrail.artifacts.paths import join_artifact_path, resolve_under, validate_artifact_path
from mltrail.entities.files import FileInfo
from mltrail.exceptions import invalid, not_found

CHUNK_SIZE = 1024 * 1024
# Prefix of in-progress upload/download files; listings hide them.
TEMP_PREFIX = ".mltrail-partial-"


def atomic_write(dest: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``dest`` via a temp file in the same folder and a rename.

    A failure part-way (an exception from ``chunks``, a full disk) removes the
    temp file, so ``dest`` is either the complete new content or untouched.
    Returns the number of bytes written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    size = 0
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


def read_file_chunks(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a local file's bytes in chunks."""
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk


class ArtifactRepository(ABC):
    """Files under one artifact root (a run's artifacts, a model's files, ...).

    Paths given to every method are relative to :attr:`artifact_uri` and pass
    through the one path check; ``None`` or ``""`` means the root.
    """

    #: How many files ``log_artifacts``/``download_artifacts`` move at once.
    #: Remote stores raise it: each transfer mostly waits on the network.
    max_parallel_transfers: int = 1

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.artifact_uri!r})"

    # ---- primitives each backend implements (paths are already checked) ----

    @abstractmethod
    def _put_file(self, local_file: Path, rel: str) -> None:
        """Upload one local file to ``rel`` (a non-empty, checked path)."""

    @abstractmethod
    def _write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        """Store ``chunks`` as ``rel`` atomically: all of it or nothing."""

    @abstractmethod
    def _read_chunks(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        """Yield the file ``rel`` in chunks; RESOURCE_DOES_NOT_EXIST if missing."""

    @abstractmethod
    def _list_dir(self, rel: str) -> list[FileInfo]:
        """One level under ``rel``; paths relative to the root; ``[]`` if not a directory."""

    @abstractmethod
    def _delete(self, rel: str) -> None:
        """Delete the file or the whole tree at ``rel`` (``""``: everything)."""

    def _is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a directory. Stores without real directories treat
        a path with anything under it as one, as MLflow does."""
        return rel == "" or bool(self._list_dir(rel))

    def _download_file(self, rel: str, local_path: Path) -> None:
        """Fetch one file to ``local_path`` atomically (backends may do better)."""
        atomic_write(local_path, self._read_chunks(rel, CHUNK_SIZE))

    # ---- the public API (MLflow's names) ----

    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload one local file into ``artifact_path`` (a directory), keeping its name.

        Example::

            repo.log_artifact("metrics.csv", "reports")   # -> reports/metrics.csv
        """
        local = Path(local_file)
        if not local.is_file():
            raise invalid(f"Cannot log artifact: {str(local)!r} is not a file")
        rel = validate_artifact_path(join_artifact_path(validate_artifact_path(artifact_path), local.name))
        self._put_file(local, rel)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload every file under ``local_dir`` into ``artifact_path``, keeping the tree."""
        root = Path(local_dir)
        if not root.is_dir():
            raise invalid(f"Cannot log artifacts: {str(root)!r} is not a directory")
        base = validate_artifact_path(artifact_path)
        # Check every destination first so a bad name uploads nothing at all.
        uploads: list[tuple[Path, str]] = []
        for dirpath, _dirs, files in os.walk(root):
            sub = Path(dirpath).relative_to(root).as_posix()
            for name in sorted(files):
                rel = join_artifact_path(base, "" if sub == "." else sub, name)
                uploads.append((Path(dirpath) / name, validate_artifact_path(rel)))
        self._run_transfers([partial(self._put_file, local, rel) for local, rel in uploads])

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Store ``data`` as the file ``artifact_file`` (what ``log_text``/``log_dict`` build on)."""
        rel = validate_artifact_path(artifact_file)
        if not rel:
            raise invalid("artifact_file must name a file, not the artifact root")
        self._write_chunks(rel, [bytes(data)])

    def write_stream(self, path: str, chunks: Iterable[bytes]) -> None:
        """Store a stream of byte chunks as the file ``path``, atomically.

        If ``chunks`` raises part-way, nothing is left behind (no partial file).
        """
        rel = validate_artifact_path(path)
        if not rel:
            raise invalid("An artifact stream must name a file, not the artifact root")
        self._write_chunks(rel, chunks)

    def open_stream(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the bytes of the file ``path`` in chunks of at most ``chunk_size``."""
        rel = validate_artifact_path(path)
        if not rel:
            raise invalid("Cannot stream the artifact root; name a file")
        return self._read_chunks(rel, chunk_size)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of the file ``path`` (for small files)."""
        return b"".join(self.open_stream(path))

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and directories directly under ``path``, sorted by path.

        As in MLflow: paths are relative to the repository root, directories
        have ``file_size=None``, and a path that is a file or missing gives ``[]``.
        """
        rel = validate_artifact_path(path)
        return sorted(self._list_dir(rel), key=lambda f: f.path)

    def download_artifacts(
        self, artifact_path: str | None, dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        """Download a file or a whole directory tree; return its local path.

        ``dst_path`` (created if needed) defaults to a new temporary directory.
        The result is ``dst_path/artifact_path``.

        Example::

            local = repo.download_artifacts("model", dst_path="/tmp/out")   # "/tmp/out/model"
        """
        rel = validate_artifact_path(artifact_path)
        dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="mltrail-artifacts-"))
        dst = dst.absolute()
        dst.mkdir(parents=True, exist_ok=True)
        # The caller's spelling of dst_path is kept in the result (as MLflow
        # does); the real path is only used to check and write.
        shown = dst.joinpath(*rel.split("/")) if rel else dst
        if self._is_dir(rel):
            self._download_tree(rel, dst)
            resolve_under(dst, rel).mkdir(parents=True, exist_ok=True)
            return str(shown)
        self._download_file(rel, resolve_under(dst, rel))
        return str(shown)

    def _download_tree(self, rel: str, dst: Path) -> None:
        # Walk the listings first, checking every name (listings may come from a
        # remote server), so a hostile entry stops the download before any write.
        files: list[tuple[str, Path]] = []
        pending = [rel]
        while pending:
            current = pending.pop()
            entries = self._list_dir(current)
            if not entries:
                resolve_under(dst, current).mkdir(parents=True, exist_ok=True)
            for info in entries:
                child = validate_artifact_path(info.path)
                if posixpath.dirname(child) != current:
                    raise invalid(f"Artifact listing of {current!r} returned a foreign path {child!r}")
                if info.is_dir:
                    pending.append(child)
                else:
                    files.append((child, resolve_under(dst, child)))
        self._run_transfers([partial(self._download_file, child, target) for child, target in files])

    def _run_transfers(self, jobs: list[Callable[[], None]]) -> None:
        """Run uploads/downloads, several at once for remote stores.

        Every job is run even if one fails; the first failure is then raised.
        """
        if self.max_parallel_transfers <= 1 or len(jobs) <= 1:
            for job in jobs:
                job()
            return
        with ThreadPoolExecutor(max_workers=min(self.max_parallel_transfers, len(jobs))) as pool:
            futures = [pool.submit(job) for job in jobs]
            for future in futures:
                future.result()

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete the file or directory tree at ``artifact_path`` (everything when omitted).

        Deleting something that does not exist is not an error.
        """
        self._delete(validate_artifact_path(artifact_path))


def missing(rel: str) -> Exception:
    """The error every backend raises for a file that is not there."""
    return not_found(f"Artifact {rel!r} does not exist")
