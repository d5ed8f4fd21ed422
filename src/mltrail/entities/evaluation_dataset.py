"""Evaluation datasets (MLflow 3's ``EvaluationDataset`` entity): metadata as stored.

A plain record: what the store keeps about a dataset (name, tags, digest,
schema, profile, times, users, experiments). Its records are read through the
store (``load_dataset_records``); the SDK's
:class:`mltrail.genai.datasets.EvaluationDataset` wraps this entity with
``merge_records``, ``records`` and ``to_df``.

``to_dict`` / ``from_dict`` are the REST JSON of MLflow's ``mlflow.datasets.Dataset``
message: ``tags`` travels as a JSON-encoded string, ``schema`` and ``profile`` are
JSON strings as stored.

The ``digest`` names the dataset's content: it is computed from its records
(inputs, outputs and expectations), so two datasets with the same records have
the same digest, and any change to a record changes it.

Example::

    ds = EvaluationDataset.from_dict(response["dataset"])
    ds.tags["team"], ds.digest, ds.experiment_ids
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mltrail.exceptions import invalid

#: Prefix of dataset ids (MLflow's ``d-<uuid hex>``) and of record ids (``dr-<uuid hex>``).
DATASET_ID_PREFIX = "d-"
RECORD_ID_PREFIX = "dr-"


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


@dataclass
class EvaluationDataset:
    """An evaluation dataset's metadata (MLflow's ``mlflow.entities.EvaluationDataset`` fields)."""

    dataset_id: str
    name: str
    digest: str
    created_time: int
    last_update_time: int
    tags: dict[str, str] | None = None
    schema: str | None = None
    profile: str | None = None
    created_by: str | None = None
    last_updated_by: str | None = None
    experiment_ids: list[str] = field(default_factory=list)

    @property
    def num_records(self) -> int:
        """How many records the dataset holds (from its ``profile``)."""
        try:
            return int(json.loads(self.profile or "{}").get("num_records", 0))
        except (ValueError, AttributeError, TypeError):
            return 0

    def to_dict(self) -> dict[str, Any]:
        """The REST JSON (MLflow's ``Dataset`` message; unset optional fields left out)."""
        out: dict[str, Any] = {"dataset_id": self.dataset_id, "name": self.name}
        if self.tags is not None:
            out["tags"] = json.dumps(self.tags)
        for key in ("schema", "profile"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["digest"] = self.digest
        out["created_time"] = self.created_time
        out["last_update_time"] = self.last_update_time
        for key in ("created_by", "last_updated_by"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.experiment_ids:
            out["experiment_ids"] = [str(e) for e in self.experiment_ids]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationDataset:
        """A dataset from its REST JSON (``tags`` as a JSON string or a dict)."""
        if not isinstance(data, dict) or not data.get("dataset_id"):
            raise invalid(f"Invalid dataset {data!r}: 'dataset_id' is required")
        tags = data.get("tags")
        if isinstance(tags, str):
            tags = json.loads(tags) if tags else {}
        return cls(
            dataset_id=data["dataset_id"],
            name=data.get("name", ""),
            digest=data.get("digest", ""),
            created_time=_int(data.get("created_time")),
            last_update_time=_int(data.get("last_update_time")),
            tags=tags,
            schema=data.get("schema"),
            profile=data.get("profile"),
            created_by=data.get("created_by"),
            last_updated_by=data.get("last_updated_by"),
            experiment_ids=[str(e) for e in data.get("experiment_ids") or []],
        )
