"""The files of MLflow's FileStore (an ``mlruns`` folder): YAML documents, key files, local URIs.

One place for how the ``mlruns`` readers (:mod:`.mlruns`, :mod:`.mlruns_genai`) open them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml's loader when PyYAML has it: a large folder holds one YAML file per run, trace and model.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; ``{}`` when it is missing, unreadable or not a mapping."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_meta(folder: Path) -> dict[str, Any]:
    """``folder/meta.yaml`` (experiments, runs, logged models, registered models and versions)."""
    return read_yaml(folder / "meta.yaml")


def key_files(folder: Path) -> dict[str, str]:
    """``{key: content}`` of every file under ``folder`` (nested folders make ``a/b`` keys)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def local_uri(uri: str | None) -> str | None:
    """A ``file://`` URI as its path; any other URI (or ``None``) as it is."""
    if uri and uri.startswith("file://"):
        return uri[len("file://") :]
    return uri


def located(uri: str | None, own: Path) -> str | None:
    """Where an entity's files are: ``uri`` as recorded, or ``own`` when ``uri`` is a local path that
    is gone but ``own`` exists (an ``mlruns`` folder moved or copied from another machine)."""
    path = local_uri(uri)
    if path and "://" not in path and not Path(path).exists() and own.is_dir():
        return str(own)
    return path
