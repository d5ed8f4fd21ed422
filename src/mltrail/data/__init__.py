"""``mltrail.data``: datasets for ``log_input``, with MLflow's constructor names.

Example::

    import pandas as pd
    import mltrail as mlflow

    df = pd.DataFrame({"question": ["What is MLflow?"], "score": [8.0]})
    ds = mlflow.data.from_pandas(df, source="eval.csv", name="eval-set", targets="score")
    with mlflow.start_run():
        mlflow.log_input(ds, context="evaluation")
"""

from mltrail.data.dataset import Dataset, DatasetSource, resolve_source, to_dataset_input
from mltrail.data.tabular import NumpyDataset, PandasDataset, from_numpy, from_pandas

__all__ = [
    "Dataset",
    "DatasetSource",
    "NumpyDataset",
    "PandasDataset",
    "from_numpy",
    "from_pandas",
    "resolve_source",
    "to_dataset_input",
]
