"""Datasets built from pandas DataFrames and numpy arrays (``from_pandas``, ``from_numpy``).

Digests follow MLflow's recipe in spirit: an MD5 over the size and a content
hash of at most the first 10,000 rows, cut to 8 hex digits, so the same data
always gets the same digest. Schemas use MLflow's JSON shapes
(``{"mlflow_colspec": [...]}`` for tables, ``{"mlflow_tensorspec": {...}}``
for arrays) so MLflow's UI and client read them.
"""

from __future__ import annotations

import json
from typing import Any

from mltrail.data.dataset import Dataset, short_digest
from mltrail.exceptions import invalid

MAX_DIGEST_ROWS = 10000

# numpy dtype kind/size -> MLflow's column type names.
_KIND_TYPES = {"b": "boolean", "U": "string", "S": "binary", "M": "datetime"}


def _column_type(dtype: Any, values: Any) -> str:
    kind = dtype.kind
    if kind in _KIND_TYPES:
        return _KIND_TYPES[kind]
    if kind in "iu":
        return "integer" if dtype.itemsize <= 4 and kind == "i" else "long"
    if kind == "f":
        return "float" if dtype.itemsize <= 4 else "double"
    # object / pandas string columns: name them by the values they hold.
    sample = [v for v in values[:100] if v is not None and v == v]
    if not sample:
        return "any"  # nothing but missing values: MLflow's name for "unknown"
    if all(isinstance(v, bytes) for v in sample):
        return "binary"
    if all(isinstance(v, bool) for v in sample):
        return "boolean"
    return "string"


def _sample(series: Any) -> list[Any]:
    """Up to 100 non-missing values (the first rows may all be missing)."""
    return series.dropna().head(100).tolist()


def pandas_schema(df: Any) -> dict[str, Any]:
    """``{"mlflow_colspec": [{"type", "name", "required"}, ...]}`` for a DataFrame."""
    import numpy as np

    columns = []
    for name in df.columns:
        series = df[name]
        dtype = series.dtype
        if str(dtype).startswith("datetime64"):
            dtype = np.dtype("M8[ns]")
        elif not isinstance(dtype, np.dtype):
            # pandas extension dtypes (Int64, boolean, string, category) say what they hold.
            dtype = np.dtype(getattr(dtype, "numpy_dtype", None) or "O")
        columns.append(
            {
                # Only object columns need a look at values, and 100 of them are enough.
                "type": _column_type(dtype, _sample(series) if dtype.kind == "O" else []),
                "name": str(name),
                "required": not bool(series.isna().any()),
            }
        )
    return {"mlflow_colspec": columns}


def pandas_digest(df: Any) -> str:
    """MLflow's pandas digest, so the same DataFrame gets the same digest in both tools.

    A hash (with the index) of the number columns and all-``str`` columns of
    the first 10,000 rows, in sorted column order (MLflow takes an index
    union), then the row count and every column name.
    """
    import numpy as np
    import pandas as pd

    head = df.head(MAX_DIGEST_ROWS)
    # MLflow checks str-ness over every row; the first 10,000 keep big frames cheap.
    string_columns = [c for c in head.columns if all(type(v) is str for v in head[c].tolist())]
    numeric_columns = list(head.select_dtypes(include=[np.number]).columns)
    head = head[pd.Index(string_columns).union(pd.Index(numeric_columns))]
    parts = [
        pd.util.hash_pandas_object(head).to_numpy().tobytes(),
        np.int64(len(df)).tobytes(),
        *(str(c).encode() for c in df.columns),
    ]
    return short_digest(parts)


def numpy_digest(features: Any, targets: Any = None) -> str:
    """MLflow's numpy digest: a hash of the first 10,000 flattened values plus every dimension."""
    import numpy as np
    import pandas as pd

    parts: list[bytes] = []
    for array in (features, targets):
        if array is None:
            continue
        flat = array.flatten()[:MAX_DIGEST_ROWS]
        try:
            parts.append(pd.util.hash_array(flat).tobytes())
        except TypeError:  # unhashable element types: fall back to the size
            parts.append(np.int64(flat.size).tobytes())
        parts.extend(np.int64(d).tobytes() for d in array.shape)
    return short_digest(parts)


class PandasDataset(Dataset):
    """A DataFrame with optional ``targets`` and ``predictions`` column names."""

    def __init__(
        self,
        df: Any,
        source: Any = None,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        for label, column in (("targets", targets), ("predictions", predictions)):
            if column is not None and column not in df.columns:
                raise invalid(f"The {label} column {column!r} is not in the DataFrame")
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(
            name=name,
            digest=digest or pandas_digest(df),
            source=source,
            schema=pandas_schema(df),
            profile={"num_rows": len(df), "num_elements": int(df.size)},
        )

    @property
    def df(self) -> Any:
        return self._df

    @property
    def targets(self) -> str | None:
        return self._targets

    @property
    def predictions(self) -> str | None:
        return self._predictions


def from_pandas(
    df: Any,
    source: Any = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset from a pandas DataFrame (``source``: a path or URI it was read from)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise invalid(f"from_pandas expects a pandas.DataFrame, got {type(df).__name__}")
    return PandasDataset(df, source=source, targets=targets, name=name, digest=digest, predictions=predictions)


def _tensor_spec(array: Any) -> str:
    shape = [-1, *array.shape[1:]] if array.ndim else []
    return json.dumps([{"type": "tensor", "tensor-spec": {"dtype": str(array.dtype), "shape": shape}}])


class NumpyDataset(Dataset):
    """Feature (and optional target) arrays."""

    def __init__(
        self,
        features: Any,
        source: Any = None,
        targets: Any = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        import numpy as np

        self._features = np.asarray(features)
        self._targets = None if targets is None else np.asarray(targets)
        computed = numpy_digest(self._features, self._targets)
        schema: dict[str, Any] = {"features": _tensor_spec(self._features)}
        profile: dict[str, Any] = {
            "features_shape": list(self._features.shape),
            "features_size": int(self._features.size),
            "features_nbytes": int(self._features.nbytes),
        }
        if self._targets is not None:
            schema["targets"] = _tensor_spec(self._targets)
            profile.update(
                targets_shape=list(self._targets.shape),
                targets_size=int(self._targets.size),
                targets_nbytes=int(self._targets.nbytes),
            )
        super().__init__(
            name=name, digest=digest or computed, source=source,
            schema={"mlflow_tensorspec": schema}, profile=profile,
        )

    @property
    def features(self) -> Any:
        return self._features

    @property
    def targets(self) -> Any:
        return self._targets


def from_numpy(
    features: Any, source: Any = None, targets: Any = None, name: str | None = None, digest: str | None = None
) -> NumpyDataset:
    """A dataset from numpy feature (and target) arrays."""
    return NumpyDataset(features, source=source, targets=targets, name=name, digest=digest)
