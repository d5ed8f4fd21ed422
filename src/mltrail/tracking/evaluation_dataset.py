"""``EvaluationDataset``: an evaluation dataset as the SDK hands it out (MLflow 3's class).

Wraps the stored metadata (:class:`mltrail.entities.evaluation_dataset.EvaluationDataset`)
and the store of the client it came from, so records are read and merged on the
same tracking URI: ``merge_records`` (dicts, a pandas DataFrame, traces or a ``search_traces``
DataFrame), ``records`` / ``to_df()`` (read on first use), ``delete_records``.
Re-exported as :class:`mltrail.genai.datasets.EvaluationDataset`; ``genai.evaluate``
accepts it as ``data``.

Example::

    ds = mltrail.genai.datasets.create_dataset("qa", experiment_id=exp_id)
    ds.merge_records([{"inputs": {"question": "2+2?"}, "expectations": {"answer": "4"}}])
    ds.to_df()[["inputs", "expectations"]]
"""

from __future__ import annotations

import getpass
import math
from typing import TYPE_CHECKING, Any

from mltrail.entities.dataset_record import DatasetRecord, DatasetRecordSourceType
from mltrail.entities.evaluation_dataset import EvaluationDataset as DatasetEntity
from mltrail.entities.trace import Trace
from mltrail.exceptions import invalid
from mltrail.tracking._default_tags import MLFLOW_USER

if TYPE_CHECKING:
    import pandas as pd

    from mltrail.store.datasets import DatasetStore

#: ``MlflowClient.search_datasets``' page size by default (MLflow's ``SEARCH_EVALUATION_DATASETS_MAX_RESULTS``).
CLIENT_SEARCH_DATASETS_MAX_RESULTS = 50
#: The columns of ``to_df()`` (MLflow's order).
DF_COLUMNS = (
    "inputs",
    "outputs",
    "expectations",
    "tags",
    "source_type",
    "source_id",
    "source",
    "created_time",
    "dataset_record_id",
)
_RECORD_FIELDS = ("inputs", "outputs", "expectations", "tags", "source")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no USER/LOGNAME variables
        return "unknown"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def records_from_traces(traces: list[Trace]) -> list[dict[str, Any]]:
    """Records from traces: root span inputs/outputs, expectation assessments, a TRACE source."""
    out = []
    for i, trace in enumerate(traces):
        if not isinstance(trace, Trace):
            raise invalid(f"Mixed types in trace list: element {i} is a {type(trace).__name__}, not a Trace")
        root = trace.data.root
        inputs = root.inputs if root is not None and root.inputs is not None else {}
        outputs = root.outputs if root is not None else None
        expectations = {a.name: a.value for a in (trace.info.assessments or []) if a.expectation is not None}
        source_data: dict[str, Any] = {"trace_id": trace.info.trace_id}
        if trace.info.session_id:
            source_data["session_id"] = trace.info.session_id
        out.append(
            {
                "inputs": inputs if isinstance(inputs, dict) else {"input": inputs},
                "outputs": outputs,
                "expectations": expectations,
                "source": {"source_type": "TRACE", "source_data": source_data},
            }
        )
    return out


def records_from_df(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Records from a DataFrame: a ``trace`` column (``search_traces``) or record columns."""
    if "trace" in df.columns:
        traces = [Trace.from_json(t) if isinstance(t, str) else t for t in df["trace"]]
        return records_from_traces(traces)
    rows = df.to_dict("records")
    return [{k: v for k, v in row.items() if k in _RECORD_FIELDS and not _missing(v)} for row in rows]


def _infer_sources(records: list[dict[str, Any]]) -> None:
    """MLflow's inference: a record with expectations is HUMAN, one without the key CODE."""
    for record in records:
        if "source" in record:
            continue
        if record.get("expectations"):
            record["source"] = {"source_type": DatasetRecordSourceType.HUMAN.value, "source_data": {}}
        elif "expectations" not in record:
            record["source"] = {"source_type": DatasetRecordSourceType.CODE.value, "source_data": {}}


class EvaluationDataset:
    """An evaluation dataset: metadata plus its records on the tracking server or database."""

    def __init__(self, entity: DatasetEntity, store: DatasetStore) -> None:
        self._entity = entity
        self._store = store
        self._records: list[DatasetRecord] | None = None

    def __repr__(self) -> str:
        return (
            f"EvaluationDataset(dataset_id={self.dataset_id!r}, name={self.name!r}, digest={self.digest!r})"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvaluationDataset):
            return self._entity == other._entity
        return isinstance(other, DatasetEntity) and self._entity == other

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------ metadata
    @property
    def dataset_id(self) -> str:
        return self._entity.dataset_id

    @property
    def name(self) -> str:
        return self._entity.name

    @property
    def digest(self) -> str:
        """The content digest: changes whenever a record's inputs, outputs or expectations do."""
        return self._entity.digest

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._entity.tags or {})

    @property
    def schema(self) -> str | None:
        """JSON of the field types seen in inputs, outputs and expectations (MLflow's layout)."""
        return self._entity.schema

    @property
    def profile(self) -> str | None:
        """JSON statistics (``{"num_records": n}``), ``None`` while empty."""
        return self._entity.profile

    @property
    def created_time(self) -> int:
        return self._entity.created_time

    @property
    def last_update_time(self) -> int:
        return self._entity.last_update_time

    @property
    def created_by(self) -> str | None:
        return self._entity.created_by

    @property
    def last_updated_by(self) -> str | None:
        return self._entity.last_updated_by

    @property
    def experiment_ids(self) -> list[str]:
        return list(self._entity.experiment_ids)

    @property
    def source(self) -> dict[str, str]:
        """Where the data lives (MLflow's ``EvaluationDatasetSource``: the dataset id)."""
        return {"dataset_id": self.dataset_id}

    @property
    def source_type(self) -> str:
        return "mlflow_evaluation_dataset"

    def to_entity(self) -> DatasetEntity:
        """The stored metadata."""
        return self._entity

    def to_dict(self) -> dict[str, Any]:
        """Metadata and records as plain data (tags as a dict)."""
        return {
            "dataset_id": self.dataset_id,
            "name": self.name,
            "digest": self.digest,
            "tags": self.tags,
            "schema": self.schema,
            "profile": self.profile,
            "created_time": self.created_time,
            "last_update_time": self.last_update_time,
            "created_by": self.created_by,
            "last_updated_by": self.last_updated_by,
            "experiment_ids": self.experiment_ids,
            "records": [r.to_dict() for r in self.records],
        }

    # ------------------------------------------------------------- records
    @property
    def records(self) -> list[DatasetRecord]:
        """Every record, read on first use (in the order they were added); the metadata is refreshed with them."""
        if self._records is None:
            self._records, _ = self._store.load_dataset_records(self.dataset_id)
            # Re-read the metadata with them, so digest, schema and profile describe these records.
            self._entity = self._store.get_dataset(self.dataset_id)
        return list(self._records)

    def list_versions(self) -> list[Any]:
        """Listed versions are Databricks-only in MLflow: ``NotImplementedError`` (the ``digest`` names the content)."""
        raise NotImplementedError("Dataset versions are only supported for Databricks datasets.")

    def has_records(self) -> bool:
        """Whether the records are already read (without reading them)."""
        return self._records is not None

    def merge_records(self, records: list[dict[str, Any]] | pd.DataFrame | list[Trace]) -> EvaluationDataset:
        """Add records; one with the inputs of a stored record updates it. Returns ``self``.

        ``records``: dicts (``inputs`` required; ``outputs``, ``expectations``,
        ``tags``, ``source`` optional), a DataFrame of those columns, a
        ``search_traces`` DataFrame or a list of traces. Records without a source
        are HUMAN when they have expectations, else CODE (MLflow's rule); each gets
        the ``mlflow.user`` tag.
        """
        if _is_dataframe(records):
            dicts = records_from_df(records)
        elif isinstance(records, list) and records and isinstance(records[0], Trace):
            dicts = records_from_traces(records)
        elif isinstance(records, list):
            dicts = [dict(r) if isinstance(r, dict) else r for r in records]
        else:
            raise invalid(
                f"Invalid records of type {type(records).__name__}: expected a list of dicts, "
                "a pandas DataFrame or a list of traces"
            )
        for i, record in enumerate(dicts):
            if not isinstance(record, dict):
                raise invalid(f"Record {i} is a {type(record).__name__}: each record must be a dictionary")
            if "inputs" not in record:
                raise invalid(f"Record {i} has no 'inputs' field: each record must have one")
        _infer_sources(dicts)
        user = _user()
        for record in dicts:
            tags = dict(record.get("tags") or {})
            tags.setdefault(MLFLOW_USER, user)
            record["tags"] = tags
        store = self._store
        store.upsert_dataset_records(self.dataset_id, dicts)
        self._entity = store.get_dataset(self.dataset_id)
        self._records = None
        return self

    def delete_records(self, record_ids: list[str]) -> int:
        """Delete records by ``dataset_record_id``; returns how many were deleted."""
        store = self._store
        deleted = store.delete_dataset_records(self.dataset_id, list(record_ids))
        self._entity = store.get_dataset(self.dataset_id)
        self._records = None
        return deleted

    def to_df(self) -> pd.DataFrame:
        """The records as a DataFrame (MLflow's columns: inputs, outputs, expectations, tags, source…)."""
        import pandas as pd  # lazy: pandas is optional and heavy

        rows = [
            {
                "inputs": r.inputs,
                "outputs": r.outputs,
                "expectations": r.expectations,
                "tags": r.tags,
                "source_type": r.source_type,
                "source_id": r.source_id,
                "source": r.source.to_dict() if r.source is not None else None,
                "created_time": r.created_time,
                "dataset_record_id": r.dataset_record_id,
            }
            for r in self.records
        ]
        return pd.DataFrame(rows, columns=list(DF_COLUMNS))


def _is_dataframe(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and type(value).__name__ == "DataFrame"
