"""Artifacts in a folder on this machine: plain paths and ``file://`` URIs.

Every file-system path is produced by :func:`~mltrail.artifacts.paths.resolve_under`,
so neither ``..`` nor a symlink can lead outside the root. Writes go to a temp
file beside the target and are renamed into place, so readers never see a
half-written artifact.

Example::

    repo = LocalArtifactRepository("file:///srv/mltrail-artifacts/0/abc/artifacts")
    repo.log_artifact("model.pkl", "model")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mltrail.artifacts.base import TEMP_PREFIX, ArtifactRepository, atomic_write, missing, read_file_chunks
from mltrail.artifacts.paths import resolve_under
from mltrail.entities.files import FileInfo
from mltrail.exceptions import invalid


def local_path_from_uri(uri: str) -> Path:
    """The absolute local path for a plain path or a ``file:`` URI.

    ``file:///a/b`` and ``file://localhost/a/b`` name ``/a/b``; a ``file:``
    URI naming another host is rejected (it would silently mean a local path).
    """
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise invalid(f"file: URI names a remote host {parts.netloc!r}; only local paths are supported")
        if parts.query or parts.fragment:
            raise invalid("file: URIs cannot carry a query or '#' fragment")
        path = unquote(parts.path)
        if "\x00" in path:
            raise invalid("NUL bytes are not allowed in a path")
        return Path(path).absolute()
    if "\x00" in uri:
        raise invalid("NUL bytes are not allowed in a path")
    return Path(uri).expanduser().absolute()


class LocalArtifactRepository(ArtifactRepository):
    """An artifact root that is a folder on the local disk (created on first write)."""

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = local_path_from_uri(artifact_uri)

    def _path(self, rel: str) -> Path:
        return resolve_under(self.root, rel)

    def _put_file(self, local_file: Path, rel: str) -> None:
        atomic_write(self._path(rel), read_file_chunks(local_file))

    def _write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        atomic_write(self._path(rel), chunks)

    def _read_chunks(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        path = self._path(rel)
        if not path.is_file():
            raise missing(rel)
        return read_file_chunks(path, chunk_size)

    def _download_file(self, rel: str, local_path: Path) -> None:
        path = self._path(rel)
        if not path.is_file():
            raise missing(rel)
        atomic_write(local_path, read_file_chunks(path))

    def _is_dir(self, rel: str) -> bool:
        return rel == "" or self._path(rel).is_dir()

    def _list_dir(self, rel: str) -> list[FileInfo]:
        folder = self._path(rel)
        if not folder.is_dir():
            return []
        infos: list[FileInfo] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue  # an upload still in flight
                child = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    real = resolve_under(self.root, child)
                except Exception:
                    continue  # a symlink leading outside the root is not an artifact
                if real.is_dir():
                    infos.append(FileInfo(child, True, None))
                elif real.is_file():
                    infos.append(FileInfo(child, False, real.stat().st_size))
        return infos

    def _delete(self, rel: str) -> None:
        self._path(rel)  # refuse paths that resolve outside the root
        # Act on the lexical path so that deleting a symlink removes the link,
        # never the tree it points at.
        target = self.root.joinpath(*rel.split("/")) if rel else self.root
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
