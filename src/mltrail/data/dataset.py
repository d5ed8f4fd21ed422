"""Datasets a run can record with ``log_input``: identity, source, schema and profile.

A dataset is known by its ``name`` and a short content ``digest``; ``source``
says where it came from (a file, a URL, or the code that built it) and
``schema``/``profile`` describe its shape. ``to_entity()`` gives the
:class:`mltrail.entities.Dataset` record the store keeps, in MLflow's format
(``source``, ``schema`` and ``profile`` are JSON strings).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from mltrail.entities import Dataset as DatasetEntity
from mltrail.entities import DatasetInput, InputTag
from mltrail.exceptions import invalid

CONTEXT_TAG = "mlflow.data.context"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")


class DatasetSource:
    """Where a dataset came from, with MLflow's ``source_type`` names."""

    def __init__(self, source_type: str, payload: dict[str, Any]) -> None:
        self.source_type = source_type
        self._payload = payload

    def to_dict(self) -> dict[str, Any]:
        return dict(self._payload)

    def to_json(self) -> str:
        return json.dumps(self._payload)

    @property
    def uri(self) -> str | None:
        return self._payload.get("uri") or self._payload.get("url")

    def __repr__(self) -> str:
        return f"DatasetSource({self.source_type!r}, {self._payload!r})"


def resolve_source(source: Any) -> DatasetSource:
    """A URL -> ``http``; another ``scheme://`` -> that scheme; a path -> ``local``; ``None`` -> ``code``."""
    if source is None:
        from mltrail.tracking._default_tags import default_tags

        return DatasetSource("code", {"tags": default_tags()})
    if isinstance(source, DatasetSource):
        return source
    if hasattr(source, "_to_dict") and hasattr(source, "_get_source_type"):  # an MLflow DatasetSource
        return DatasetSource(source._get_source_type(), source._to_dict())
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        match = _SCHEME.match(text)
        if match is None:  # kept as given, like MLflow
            return DatasetSource("local", {"uri": text})
        scheme = match.group(1).lower()
        if scheme in ("http", "https"):
            return DatasetSource("http", {"url": text})
        if scheme == "file":
            return DatasetSource("local", {"uri": text})
        return DatasetSource(scheme, {"uri": text})
    raise invalid(f"Unsupported dataset source {type(source).__name__}: use a path, a URI or None")


def short_digest(parts: list[bytes]) -> str:
    """MLflow-style digest: the first 8 hex digits of an MD5 over the parts."""
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


class Dataset:
    """A dataset's identity; subclasses compute the digest, schema and profile from data.

    Example::

        ds = Dataset(name="eval-set", digest="1a2b3c4d", source="s3://bucket/eval.parquet")
        mltrail.log_input(ds, context="evaluation")
    """

    def __init__(
        self,
        name: str | None = None,
        digest: str | None = None,
        source: Any = None,
        schema: Any = None,
        profile: dict[str, Any] | None = None,
    ) -> None:
        self._name = name or "dataset"
        self._source = resolve_source(source)
        self._schema = schema
        self._profile = profile
        self._digest = digest or self._compute_digest()

    def _compute_digest(self) -> str:
        return short_digest([self._name.encode(), self._source.to_json().encode()])

    @property
    def name(self) -> str:
        return self._name

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def source(self) -> DatasetSource:
        return self._source

    @property
    def schema(self) -> Any:
        return self._schema

    @property
    def profile(self) -> dict[str, Any] | None:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        """The dataset as MLflow's JSON-string fields."""
        d = {
            "name": self.name,
            "digest": self.digest,
            "source": self._source.to_json(),
            "source_type": self._source.source_type,
        }
        if self.schema is not None:
            d["schema"] = json.dumps(self.schema)
        if self.profile is not None:
            d["profile"] = json.dumps(self.profile)
        return d

    def to_entity(self) -> DatasetEntity:
        d = self.to_dict()
        return DatasetEntity(
            name=d["name"],
            digest=d["digest"],
            source_type=d["source_type"],
            source=d["source"],
            schema=d.get("schema"),
            profile=d.get("profile"),
        )

    # MLflow's name for the same thing, so MLflow-style callers keep working.
    _to_mlflow_entity = to_entity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, digest={self.digest!r})"


def to_dataset_input(dataset: Any, context: str | None = None, tags: dict[str, Any] | None = None) -> DatasetInput:
    """The :class:`~mltrail.entities.DatasetInput` ``log_input`` records for ``dataset``."""
    if isinstance(dataset, DatasetEntity):
        entity = dataset
    elif hasattr(dataset, "_to_mlflow_entity"):  # ours, or a dataset made by the mlflow package
        entity = dataset._to_mlflow_entity()
        if not isinstance(entity, DatasetEntity):
            entity = DatasetEntity(
                name=entity.name, digest=entity.digest, source_type=entity.source_type,
                source=entity.source, schema=entity.schema, profile=entity.profile,
            )
    else:
        raise invalid(
            f"Cannot log {type(dataset).__name__} as a dataset: use mltrail.data.from_pandas, "
            "from_numpy or mltrail.data.Dataset"
        )
    input_tags = [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
    if context is not None:
        input_tags.insert(0, InputTag(CONTEXT_TAG, str(context)))
    return DatasetInput(dataset=entity, tags=input_tags)
