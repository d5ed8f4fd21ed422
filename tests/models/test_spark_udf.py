"""``mltrail.pyfunc.spark_udf`` on a real local Spark (pyspark, local[2], Arrow), against the official mlflow's.

One SparkSession and one SQLite tracking store serve the whole module: Spark takes
seconds to start. Models are logged once (an sklearn classifier and small
PythonModels from a code file shipped with the model), then scored through
``runs:/``, ``models:/Name@alias`` and ``models:/m-…`` URIs.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql.types import FloatType

import mltrail
import mltrail.sklearn
from mltrail.exceptions import MltrailException
from mltrail.models.schema_types import Array, Map, Object, Property
from mltrail.models.signature import ColSpec, ModelSignature, ParamSchema, ParamSpec, Schema

_MODELS_CODE = textwrap.dedent('''
    """PythonModels for the spark_udf tests, shipped with each model as code."""
    import os

    import numpy as np
    import pandas as pd

    from mltrail.pyfunc import PythonModel


    class ScoreModel(PythonModel):
        """Two named outputs (a struct) and a ``scale`` param."""

        def predict(self, context, model_input, params=None):
            score = model_input["x"].astype(float) * (params or {}).get("scale", 1.0)
            return pd.DataFrame({"label": np.where(score > 2, "high", "low"), "score": score})


    class MatrixModel(PythonModel):
        """No signature; a float matrix with three columns per row."""

        def predict(self, context, model_input, params=None):
            x = model_input.iloc[:, 0].to_numpy(dtype=float)
            return np.column_stack([x, x * 10, -x])


    class TokensModel(PythonModel):
        """One list of strings per row (array<string>)."""

        def predict(self, context, model_input, params=None):
            return [str(t).split() for t in model_input["text"]]


    class ComplexModel(PythonModel):
        """Array, struct and map columns in; an array and a struct (per row) out."""

        def predict(self, context, model_input, params=None):
            scaled = [[float(v) * row["a"] for v in xs] for xs, row in zip(model_input["xs"], model_input["obj"])]
            info = [
                {"tag": row["b"], "total": float(sum(xs)) + float(sum(m.values()))}
                for xs, row, m in zip(model_input["xs"], model_input["obj"], model_input["m"])
            ]
            return pd.DataFrame({"scaled": scaled, "info": info})


    class LoadCounter(PythonModel):
        """Writes its process id to ``model_config['load_log']`` on every load; predicts the process id."""

        def load_context(self, context):
            with open(context.model_config["load_log"], "a") as fh:
                fh.write(f"{os.getpid()}\\n")

        def predict(self, context, model_input, params=None):
            return pd.Series([os.getpid()] * len(model_input), dtype="int64")
''')


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's Python
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mltrail-spark-udf-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # Small frames in one partition: one Python worker (and one import of pandas, sklearn, mlflow) per job.
        .config("spark.default.parallelism", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if saved is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Log every model once into one SQLite store; the URIs and what each test needs to check them."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("spark-udf")
    code = root / "spark_udf_test_models.py"
    code.write_text(_MODELS_CODE)
    sys.path.insert(0, str(root))
    try:
        import spark_udf_test_models as models
    finally:
        sys.path.remove(str(root))
    uri = f"sqlite:///{root}/mltrail.db"
    mltrail.set_tracking_uri(uri)
    try:
        x = pd.DataFrame({"a": np.linspace(-3, 3, 24), "b": np.arange(24, dtype=float) % 5})
        clf = LogisticRegression().fit(x, (x["a"] + x["b"] > 1.5).astype(int))
        score_sig = ModelSignature(
            Schema([ColSpec("double", "x")]),
            Schema([ColSpec("string", "label"), ColSpec("double", "score")]),
            ParamSchema([ParamSpec("scale", "double", 1.0)]),
        )
        with mltrail.start_run() as run:
            clf_info = mltrail.sklearn.log_model(
                clf, name="clf", input_example=x.head(3), registered_model_name="spark-udf-clf"
            )
            kw = {"code_paths": [str(code)]}
            mltrail.pyfunc.log_model("score", python_model=models.ScoreModel(), signature=score_sig, **kw)
            mltrail.pyfunc.log_model("matrix", python_model=models.MatrixModel(), **kw)
            tokens_sig = ModelSignature(Schema([ColSpec("string", "text")]))
            mltrail.pyfunc.log_model("tokens", python_model=models.TokensModel(), signature=tokens_sig, **kw)
            mltrail.pyfunc.log_model("counter", python_model=models.LoadCounter(), **kw)
            complex_sig = ModelSignature(
                Schema([
                    ColSpec(Array("double"), "xs"),
                    ColSpec(Object([Property("a", "long"), Property("b", "string")]), "obj"),
                    ColSpec(Map("double"), "m"),
                ]),
                Schema([
                    ColSpec(Array("double"), "scaled"),
                    ColSpec(Object([Property("tag", "string"), Property("total", "double")]), "info"),
                ]),
            )  # fmt: skip
            mltrail.pyfunc.log_model(
                "complex", python_model=models.ComplexModel(), signature=complex_sig, **kw
            )
        mltrail.MlflowClient().set_registered_model_alias("spark-udf-clf", "champion", "1")
    finally:
        mltrail.set_tracking_uri(None)
    return {
        "tracking_uri": uri,
        "run_id": run.info.run_id,
        "clf_model_id": clf_info.model_id,
        "clf": clf,
        "x": x,
        "root": root,
    }


@pytest.fixture
def tracking(store: dict[str, object]) -> Iterator[dict[str, object]]:
    mltrail.set_tracking_uri(store["tracking_uri"])
    yield store
    mltrail.set_tracking_uri(None)


def test_sklearn_by_run_uri_binds_columns_every_way(spark, tracking) -> None:
    """runs:/ URI; udf() by signature names, udf("a", "b") by position, udf(struct) by field names."""
    from pyspark.sql.functions import struct

    x = tracking["x"]
    expected = tracking["clf"].predict(x).tolist()
    sdf = spark.createDataFrame(x)  # collect() keeps the pandas order: no sort needed
    predict = mltrail.pyfunc.spark_udf(spark, f"runs:/{tracking['run_id']}/clf", result_type="long")
    # The struct's fields are out of order and there is an extra column: names decide, not positions.
    out = sdf.select(
        "a",
        predict().alias("all"),
        predict("a", "b").alias("positional"),
        predict(struct("b", "a")).alias("by_struct"),
    )
    assert out.schema["all"].dataType.simpleString() == "bigint"
    rows = out.collect()
    assert [r["all"] for r in rows] == expected
    assert [r["positional"] for r in rows] == expected
    assert [r["by_struct"] for r in rows] == expected
    assert predict.metadata.signature.inputs.input_names() == ["a", "b"]


def test_registry_alias_and_model_id_uris(spark, tracking) -> None:
    """models:/Name@alias with the type from the signature (a 1-D tensor: MLflow's array), models:/m-… as int."""
    x = tracking["x"]
    expected = tracking["clf"].predict(x).tolist()
    sdf = spark.createDataFrame(x)
    by_alias = mltrail.pyfunc.spark_udf(spark, "models:/spark-udf-clf@champion")
    by_id = mltrail.pyfunc.spark_udf(spark, f"models:/{tracking['clf_model_id']}", result_type="int")
    out = sdf.select("a", by_alias().alias("alias"), by_id("a", "b").alias("id"))
    assert out.schema["alias"].dataType.simpleString() == "array<bigint>"
    assert out.schema["id"].dataType.simpleString() == "int"
    rows = out.collect()
    assert [r["alias"] for r in rows] == [[v] for v in expected]
    assert [r["id"] for r in rows] == expected


def test_struct_result_from_signature_with_params(spark, tracking) -> None:
    run = tracking["run_id"]
    sdf = spark.createDataFrame(pd.DataFrame({"x": [0.5, 1.5, 3.0]}))
    plain = mltrail.pyfunc.spark_udf(spark, f"runs:/{run}/score")
    scaled = mltrail.pyfunc.spark_udf(spark, f"runs:/{run}/score", params={"scale": 2})
    out = sdf.select("x", plain().alias("p"), scaled("x").alias("s"))
    assert out.schema["p"].dataType.simpleString() == "struct<label:string,score:double>"
    rows = out.collect()
    assert [(r["p"]["label"], r["p"]["score"]) for r in rows] == [("low", 0.5), ("low", 1.5), ("high", 3.0)]
    assert [(r["s"]["label"], r["s"]["score"]) for r in rows] == [("low", 1.0), ("high", 3.0), ("high", 6.0)]
    # Params are checked against the signature on the driver, before any Spark job.
    with pytest.raises(MltrailException, match="scale") as err:
        mltrail.pyfunc.spark_udf(spark, f"runs:/{run}/score", params={"scale": "big"})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_result_types_follow_mlflow_rules(spark, tracking) -> None:
    """Array of all numeric columns, leftmost column as string/float, a DDL struct, per-row string lists."""
    run = tracking["run_id"]
    sdf = spark.createDataFrame(pd.DataFrame({"v": [1.0, 2.0], "text": ["a b", "c"]}))
    uri = f"runs:/{run}/matrix"
    as_array = mltrail.pyfunc.spark_udf(spark, uri, result_type="array<double>")
    as_string = mltrail.pyfunc.spark_udf(spark, uri, result_type="string")
    as_float = mltrail.pyfunc.spark_udf(spark, uri, result_type=FloatType())
    as_struct = mltrail.pyfunc.spark_udf(spark, uri, result_type="first double, second double")
    tokens = mltrail.pyfunc.spark_udf(spark, f"runs:/{run}/tokens", result_type="array<string>")
    out = sdf.select(
        "v",
        as_array("v").alias("arr"),
        as_string("v").alias("str"),
        as_float("v").alias("flt"),
        as_struct("v").alias("st"),
        tokens("text").alias("tok"),
    )
    rows = out.collect()
    assert [r["arr"] for r in rows] == [[1.0, 10.0, -1.0], [2.0, 20.0, -2.0]]
    assert [r["str"] for r in rows] == ["1.0", "2.0"]
    assert [r["flt"] for r in rows] == [1.0, 2.0]
    assert out.schema["flt"].dataType.simpleString() == "float"
    assert [(r["st"]["first"], r["st"]["second"]) for r in rows] == [(1.0, 10.0), (2.0, 20.0)]
    assert [r["tok"] for r in rows] == [["a", "b"], ["c"]]


def test_incompatible_result_type_fails_the_job_with_a_clear_message(spark, tracking) -> None:
    sdf = spark.createDataFrame(pd.DataFrame({"v": [1.0]}))
    as_bool = mltrail.pyfunc.spark_udf(spark, f"runs:/{tracking['run_id']}/matrix", result_type="boolean")
    with pytest.raises(Exception, match="did not produce any values compatible with the requested type"):
        sdf.select(as_bool("v")).collect()


def test_model_is_loaded_once_per_python_worker(spark, tracking) -> None:
    from pyspark.sql.functions import spark_partition_id

    log = Path(tracking["root"]) / "loads.txt"
    counter = mltrail.pyfunc.spark_udf(
        spark, f"runs:/{tracking['run_id']}/counter", result_type="long", model_config={"load_log": str(log)}
    )
    # More tasks than Spark keeps Python workers (two run at a time on local[2]), so workers run several.
    sdf = spark.range(0, 24 * 20, numPartitions=24)
    rows = sdf.select(spark_partition_id().alias("task"), counter("id").alias("pid")).collect()
    tasks_by_pid: dict[int, set[int]] = {}
    for r in rows:
        tasks_by_pid.setdefault(r["pid"], set()).add(r["task"])
    loads = log.read_text().split()
    # Each worker process that scored loaded the model exactly once, whatever number of tasks it ran.
    assert sorted(loads) == sorted(str(pid) for pid in tasks_by_pid)
    assert max(len(t) for t in tasks_by_pid.values()) > 1
    assert sum(len(t) for t in tasks_by_pid.values()) == 24


def test_bad_arguments_are_refused_on_the_driver(spark, tracking) -> None:
    run = tracking["run_id"]
    clf = f"runs:/{run}/clf"
    cases = [
        ({"env_manager": "docker"}, "Invalid env_manager"),
        ({"prebuilt_env_uri": "/tmp/env.tar.gz"}, "prebuilt_env_uri"),
        ({"result_type": "map<int, string>"}, "Invalid 'spark_udf' result type"),
        ({"result_type": "date"}, "Invalid 'spark_udf' result type"),
        ({"result_type": "no such type<"}, "Invalid result_type"),
        ({"result_type": 3}, "DataType or a DDL string"),
    ]
    for kwargs, message in cases:
        with pytest.raises(MltrailException, match=message) as err:
            mltrail.pyfunc.spark_udf(spark, clf, **kwargs)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", kwargs
    with pytest.raises(MltrailException) as missing:
        mltrail.pyfunc.spark_udf(spark, str(Path(tracking["root"]) / "no-model-here"))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # No signature: udf() has no columns to bind.
    matrix = mltrail.pyfunc.spark_udf(spark, f"runs:/{run}/matrix")
    with pytest.raises(MltrailException, match="no column names were specified"):
        matrix()


def test_same_predictions_as_mlflow_spark_udf(spark, tracking) -> None:
    """The official mlflow's spark_udf on the same model folder gives the same columns and values."""
    import mlflow.pyfunc

    local = mltrail.artifacts.download_artifacts(f"runs:/{tracking['run_id']}/clf")
    sdf = spark.createDataFrame(tracking["x"])
    columns = []
    for name, sdk in (("mltrail", mltrail.pyfunc), ("mlflow", mlflow.pyfunc)):
        inferred = sdk.spark_udf(spark, local)
        as_double = sdk.spark_udf(spark, local, result_type="double")
        as_strings = sdk.spark_udf(spark, local, result_type="array<string>")
        columns += [inferred().alias(f"{name}_inferred"), as_double("a", "b").alias(f"{name}_double"),
                    as_strings("a", "b").alias(f"{name}_strings")]  # fmt: skip
    out = sdf.select("a", *columns)
    for kind in ("inferred", "double", "strings"):
        assert out.schema[f"mltrail_{kind}"].dataType == out.schema[f"mlflow_{kind}"].dataType
    rows = out.collect()
    for kind in ("inferred", "double", "strings"):
        assert [r[f"mltrail_{kind}"] for r in rows] == [r[f"mlflow_{kind}"] for r in rows], kind
    assert [r["mltrail_double"] for r in rows] == [float(v) for v in tracking["clf"].predict(tracking["x"])]


_COMPLEX_ROWS = [
    ([1.0, 2.0], {"a": 2, "b": "x"}, {"k": 0.5}),
    ([3.0], {"a": -1, "b": "y"}, {}),
]
_COMPLEX_DDL = "xs array<double>, obj struct<a:bigint,b:string>, m map<string,double>"


def test_array_struct_and_map_columns_in_and_out(spark, tracking) -> None:
    """Spark array/struct/map columns bound to Array/Object/Map inputs; the result type from the signature."""
    sdf = spark.createDataFrame(_COMPLEX_ROWS, _COMPLEX_DDL)
    uri = f"runs:/{tracking['run_id']}/complex"
    inferred = mltrail.pyfunc.spark_udf(spark, uri)
    just_array = mltrail.pyfunc.spark_udf(spark, uri, result_type="scaled array<double>")
    nested = mltrail.pyfunc.spark_udf(spark, uri, result_type="info struct<tag:string,total:double>")
    out = sdf.select(inferred().alias("p"), just_array("xs", "obj", "m").alias("a"), nested().alias("n"))
    expected_type = "struct<scaled:array<double>,info:struct<tag:string,total:double>>"
    assert out.schema["p"].dataType.simpleString() == expected_type
    rows = out.collect()
    assert [r["p"]["scaled"] for r in rows] == [[2.0, 4.0], [-3.0]]
    assert [(r["p"]["info"]["tag"], r["p"]["info"]["total"]) for r in rows] == [("x", 3.5), ("y", 3.0)]
    assert [r["a"]["scaled"] for r in rows] == [[2.0, 4.0], [-3.0]]  # a struct picks its fields by name
    assert [r["n"]["info"].asDict() for r in rows] == [{"tag": "x", "total": 3.5}, {"tag": "y", "total": 3.0}]


_ENV_MODEL = textwrap.dedent("""
    import os
    import sys

    import pandas as pd

    import mltrail


    class WhereAmI(mltrail.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            print("a model that prints must not break the pipe")
            n = len(model_input)
            return pd.DataFrame({
                "prefix": [sys.prefix] * n,
                "pid": [os.getpid()] * n,
                "scaled": [[float(v) * (params or {}).get("k", 1.0) for v in xs] for xs in model_input["xs"]],
            })


    mltrail.models.set_model(WhereAmI())
""")


def test_env_manager_uv_scores_inside_the_models_environment(spark, tmp_path, monkeypatch) -> None:
    """uv builds the model's environment once (cached); each Python worker scores through one process there."""
    monkeypatch.setenv("MLTRAIL_ENV_ROOT", str(tmp_path / "envs"))
    (tmp_path / "where.py").write_text(_ENV_MODEL)
    sig = ModelSignature(
        Schema([ColSpec(Array("double"), "xs")]),
        Schema([ColSpec("string", "prefix"), ColSpec("long", "pid"), ColSpec(Array("double"), "scaled")]),
        ParamSchema([ParamSpec("k", "double", 1.0)]),
    )
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "where.py"), signature=sig)
    udf = mltrail.pyfunc.spark_udf(spark, str(tmp_path / "m"), env_manager="uv", params={"k": 2.0})
    (env,) = (tmp_path / "envs").iterdir()  # built on the driver, before any Spark job
    ready = env / ".mltrail-env-ready"
    stamp = ready.stat().st_mtime_ns
    sdf = spark.createDataFrame([([float(i)],) for i in range(12)], "xs array<double>").repartition(4)
    from pyspark.sql.functions import spark_partition_id

    rows = sdf.select("xs", udf().alias("p"), spark_partition_id().alias("part")).collect()
    assert {r["p"]["prefix"] for r in rows} == {str(env)}
    assert sorted(r["p"]["scaled"][0] for r in rows) == [2.0 * i for i in range(12)]
    # One scoring process per Python worker: a task's rows all go to one process, and no task starts
    # more than one (Spark decides how many workers it forks, so a busy machine may get one per task).
    by_part: dict[int, set[int]] = {}
    for r in rows:
        by_part.setdefault(r["part"], set()).add(r["p"]["pid"])
    assert all(len(pids) == 1 for pids in by_part.values())
    assert len(set().union(*by_part.values())) <= len(by_part) == 4
    again = mltrail.pyfunc.spark_udf(spark, str(tmp_path / "m"), env_manager="uv")
    (row,) = spark.createDataFrame([([3.0],)], "xs array<double>").select(again("xs").alias("p")).collect()
    assert row["p"]["scaled"] == [3.0] and row["p"]["prefix"] == str(env)
    assert ready.stat().st_mtime_ns == stamp and len(list((tmp_path / "envs").iterdir())) == 1  # cached


def test_env_manager_conda_without_conda_is_a_clear_error(spark, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no conda on it
    for var in ("CONDA_EXE", "MLFLOW_CONDA_HOME"):
        monkeypatch.delenv(var, raising=False)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(_write(tmp_path / "where.py", _ENV_MODEL)))
    with pytest.raises(
        MltrailException, match="env_manager 'conda' needs conda, which is not installed"
    ) as err:
        mltrail.pyfunc.spark_udf(spark, str(tmp_path / "m"), env_manager="conda")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
