"""Batch scoring on Apache Spark: ``mltrail.pyfunc.spark_udf`` (MLflow's ``mlflow.pyfunc.spark_udf``).

``spark_udf(spark, model_uri)`` returns a Spark column function that scores any
``python_function`` model in Spark's Python workers:

* the driver downloads the model once (``runs:/``, ``models:/Name@alias``,
  ``models:/m-…``, paths, ``mlflow-artifacts:/``), zips it and ships the archive
  with ``SparkContext.addFile`` (``SparkSession.addArtifacts`` on Spark Connect),
  so executors on other machines get it the same way a local run does;
* each executor unpacks the archive once (into Spark's own per-application file
  folder, removed when the application ends) and each Python worker process
  loads the model once, on its first batch, and keeps it for every later task;
* batches travel as Arrow record batches into an iterator-of-batches
  ``pandas_udf``; the predictions are shaped into the UDF's ``result_type``
  with MLflow's rules (leftmost matching column for a scalar type, all matching
  columns for an array type, named fields for a struct), taken from the model
  signature's outputs when ``result_type`` is not given;
* with ``env_manager="uv"|"virtualenv"|"conda"`` the model's environment is built
  once (cached) and each Python worker scores through one process running there
  (``spark_env``).

Nothing here imports pyspark, pandas or numpy at module level: ``import
mltrail.pyfunc`` stays light, and only the functions Spark runs need them.

Example::

    predict = mltrail.pyfunc.spark_udf(spark, "models:/churn@champion", result_type="double")
    df.withColumn("score", predict()).show()       # columns bound by the signature's input names
    df.withColumn("score", predict(struct("a", "b")))  # or named through a struct
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import threading
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.model import Model
from mltrail.models.signature import Schema
from mltrail.pyfunc import spark_env
from mltrail.pyfunc._api import FLAVOR_NAME, load_model
from mltrail.pyfunc._spark_input import bind_columns, model_input
from mltrail.pyfunc._spark_types import resolve_result_type, to_spark_values
from mltrail.pyfunc.enforce import enforce_params

_logger = logging.getLogger(__name__)

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")


# ---------------------------------------------------------------------------------------------- driver side
def spark_udf(
    spark: Any,
    model_uri: str,
    result_type: Any = None,
    env_manager: str | None = None,
    params: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    prebuilt_env_uri: str | None = None,
    model_config: str | os.PathLike | dict[str, Any] | None = None,
) -> Callable[..., Any]:
    """A Spark UDF that scores the ``python_function`` model at ``model_uri``.

    Args:
        spark: the ``SparkSession``.
        model_uri: any model URI ``mltrail.pyfunc.load_model`` takes.
        result_type: a ``pyspark.sql.types.DataType`` or a DDL string (``"double"``,
            ``"array<string>"``, ``"label string, score double"``). ``None``: from the
            signature's outputs (one output: its type; several: a struct of them), or
            ``double`` when the model has no output schema.
        env_manager: ``"local"`` (the default): the workers' own Python scores the model.
            ``"uv"``, ``"virtualenv"``, ``"conda"``: the model's environment is built from its
            requirements (once, cached as for ``mltrail models serve --env-manager``) and each
            Python worker scores in one process running there (see ``mltrail.pyfunc.spark_env``).
        params: inference parameters, checked against the signature's params on the driver.
        extra_env: environment variables set in the Python workers while they score.
        prebuilt_env_uri: Databricks only; refused.
        model_config: passed to ``load_model(model_config=...)`` in every worker.

    Returns:
        A function of Spark columns: ``udf()`` binds the columns named by the input
        signature, ``udf("a", "b")`` binds columns by position to the signature's names
        (``"0"``, ``"1"``, … without a signature), ``udf(struct("a", "b"))`` by the struct's
        field names. Its ``metadata`` attribute is the model's ``Model``.

    Example::

        predict = mltrail.pyfunc.spark_udf(spark, "runs:/<run_id>/model", result_type="array<double>")
        scored = df.withColumn("proba", predict("x1", "x2"))
    """
    from pyspark.sql.functions import pandas_udf  # lazy: pyspark is an optional dependency

    manager = _check_env_manager(env_manager, prebuilt_env_uri)
    workdir = _driver_workdir()
    from mltrail.models.download import download_model

    local = download_model(str(model_uri), dst_path=workdir)
    meta = Model.load(local)
    if FLAVOR_NAME not in meta.flavors:
        raise invalid(
            f"Model at '{model_uri}' has no '{FLAVOR_NAME}' flavor, so spark_udf cannot score it "
            f"(flavors: {', '.join(meta.flavors) or 'none'})"
        )
    spark_type = resolve_result_type(result_type, meta)
    sig = meta.signature
    if sig is not None and sig.params is not None:
        params = enforce_params(params, sig.params)
    elif params:
        _logger.warning("The model's signature declares no params: %s are passed to predict as given", params)
    env = {k: str(v) for k, v in (extra_env or {}).items()}
    if manager != "local":
        env = {**spark_env.build_environment(Path(local), manager), **env}
    archive = _ship_model(spark, local, Path(workdir))
    tracking_uri = _tracking_uri()
    if tracking_uri and "MLFLOW_TRACKING_URI" not in env:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    plan = _Plan(
        archive=archive,
        input_schema=sig.inputs if sig is not None else None,
        result_type=spark_type,
        params=params,
        model_config=model_config if not isinstance(model_config, os.PathLike) else str(model_config),
        env=env,
        env_manager=manager,
    )
    udf = pandas_udf(_udf_function(plan), returnType=spark_type)
    udf.metadata = meta

    @functools.wraps(udf)
    def bound(*cols: Any) -> Any:
        if cols:
            return udf(*cols)
        return udf(*_signature_columns(plan.input_schema))

    bound.metadata = meta
    return bound


def _check_env_manager(env_manager: str | None, prebuilt_env_uri: str | None) -> str:
    """The env manager to use (``"local"`` by default); refuses unknown ones and Databricks' prebuilt envs."""
    if prebuilt_env_uri is not None:
        raise invalid(
            "prebuilt_env_uri is a Databricks feature (environments built by mlflow.pyfunc.build_model_env); "
            "leave it unset: spark_udf(env_manager='uv'|'virtualenv') builds and caches the model's environment"
        )
    manager = env_manager or "local"
    if manager not in ENV_MANAGERS:
        raise invalid(f"Invalid env_manager {env_manager!r}: use one of {', '.join(ENV_MANAGERS)}")
    return manager


def _driver_workdir() -> str:
    """A private folder for this UDF's download and archive, removed when the driver exits.

    Spark reads the archive whenever a new executor joins, so it lives as long as the driver.
    """
    path = tempfile.mkdtemp(prefix="mltrail-spark-udf-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _tracking_uri() -> str | None:
    from mltrail.tracking import get_tracking_uri

    try:
        return get_tracking_uri()
    except Exception:  # a broken tracking setup must not stop scoring a local model
        return None


def _ship_model(spark: Any, local: Path, workdir: Path) -> str:
    """Zip the model folder and hand it to Spark's file distribution; the name executors ask for.

    Each call gets its own name: Spark refuses a second, different file under a name it has.
    """
    import zipfile  # lazy: keeps `import mltrail.pyfunc` light

    name = f"mltrail-model-{uuid.uuid4().hex}.zip"
    archive = workdir / name
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(local.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(local).as_posix())
    if _is_spark_connect(spark):
        spark.addArtifacts(str(archive), file=True)
    else:
        spark.sparkContext.addFile(str(archive))
    return name


def _is_spark_connect(spark: Any) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _signature_columns(schema: Schema | None) -> list[str]:
    """The columns ``udf()`` binds: the input signature's names, in order."""
    if schema is None or not schema.inputs:
        raise invalid(
            "Attempting to apply udf on zero columns because no column names were specified as arguments "
            "or inferred from the model signature."
        )
    if not schema.has_input_names():
        raise invalid(
            f"Cannot apply udf because no column names specified. The udf expects {len(schema.inputs)} "
            f"columns with types: {schema.to_dict()}. Input column names could not be inferred from the "
            "model signature (column names not found)."
        )
    if any(not spec.required for spec in schema.inputs):
        raise invalid(
            "Cannot apply UDF without column names specified when model signature contains optional columns."
        )
    return [str(spec.name) for spec in schema.inputs]


# ---------------------------------------------------------------------------------------------- worker side
@dataclass
class _Plan:
    """Everything a Python worker needs to score, pickled into the UDF (small: no model inside)."""

    archive: str
    input_schema: Schema | None
    result_type: Any
    params: dict[str, Any] | None
    model_config: Any
    env: dict[str, str] = field(default_factory=dict)
    env_manager: str = "local"


def _udf_function(plan: _Plan) -> Callable[..., Any]:
    """The iterator-of-batches function ``pandas_udf`` wraps (type hints tell Spark its kind)."""
    import pandas as pd
    from pyspark.sql.types import StructType

    def score(batches):
        return score_batches(plan, batches)

    out = pd.DataFrame if isinstance(plan.result_type, StructType) else pd.Series
    # Set rather than written: pyspark reads the hints with get_type_hints, which cannot see this scope.
    # pyspark recognises typing.Union/Tuple/Iterator only (not `X | Y`).
    score.__annotations__ = {
        "batches": typing.Iterator[typing.Tuple[typing.Union[pd.Series, pd.DataFrame], ...]],  # noqa: UP006, UP007
        "return": typing.Iterator[out],
    }
    return score


_models: dict[str, Any] = {}
_models_lock = threading.Lock()
load_count = 0  # models loaded by this process (read by tests through a UDF)


def cached_model(plan: _Plan) -> Any:
    """This process's loaded copy of the plan's model: loaded on first use, then reused for every batch.

    With an env manager, the "model" is the process scoring it in the model's environment
    (``spark_env.EnvScorer``), started again if it died.
    """
    global load_count
    model = _models.get(plan.archive)
    if model is not None and (plan.env_manager == "local" or model.alive()):
        return model
    with _models_lock:
        model = _models.get(plan.archive)
        if model is None or (plan.env_manager != "local" and not model.alive()):
            model_dir = _unpacked(plan.archive)
            if plan.env_manager == "local":
                model = load_model(str(model_dir), model_config=plan.model_config)
            else:
                model = spark_env.scorer_for(plan.env_manager, model_dir, plan.model_config)
                atexit.register(model.close)
            _models[plan.archive] = model
            load_count += 1
    return model


def _unpacked(archive: str) -> Path:
    """The shipped model, unzipped once per executor next to Spark's copy of the archive.

    The folder is built under a temporary name and renamed into place, so a second worker process
    on the same executor either finds it complete or builds its own and keeps the first one's.
    """
    import zipfile

    from pyspark import SparkFiles

    zipped = Path(SparkFiles.get(archive))
    target = zipped.with_suffix("")
    if target.is_dir():
        return target
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=zipped.parent))
    try:
        with zipfile.ZipFile(zipped) as zf:
            zf.extractall(build)  # names are ours; extractall also refuses absolute and '..' paths
        try:
            build.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


@contextmanager
def _environ(update: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in update}
    os.environ.update(update)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def score_batches(plan: _Plan, batches: Iterator[Any]) -> Iterator[Any]:
    """Score each Arrow batch Spark hands the worker; yields one result batch per input batch."""
    import pandas as pd

    with _environ(plan.env):
        model = cached_model(plan)
        for batch in batches:
            args = (batch,) if isinstance(batch, pd.Series | pd.DataFrame) else tuple(batch)
            if len(args[0]) == 0:
                continue
            frame = bind_columns(args, plan.input_schema)
            if plan.env_manager != "local":
                result = model.predict(frame, plan.params)  # the child makes tensors itself
            elif plan.params is not None:
                result = model.predict(model_input(frame, plan.input_schema), params=plan.params)
            else:
                result = model.predict(model_input(frame, plan.input_schema))
            yield to_spark_values(result, plan.result_type, len(frame))
