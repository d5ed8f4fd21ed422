"""The record an artifact listing returns: one file or directory under a root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One artifact: a path relative to the listed root, whether it is a directory,
    and its size in bytes (``None`` for directories).

    ``to_dict`` gives MLflow's REST JSON shape (``file_size`` is left out when
    unknown, as MLflow's protobuf JSON does); ``from_dict`` also accepts the
    string-encoded int64 some proto JSON encoders emit.

    Example::

        FileInfo("model/MLmodel", False, 312).to_dict()
        # {"path": "model/MLmodel", "is_dir": False, "file_size": 312}
    """

    path: str
    is_dir: bool
    file_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "is_dir": self.is_dir}
        if self.file_size is not None:
            out["file_size"] = self.file_size
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileInfo:
        size = d.get("file_size")
        return cls(
            path=str(d["path"]),
            is_dir=bool(d.get("is_dir", False)),
            file_size=None if size is None or size == "" else int(size),
        )
