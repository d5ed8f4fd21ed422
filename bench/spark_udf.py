"""Section "spark": batch scoring of 1,000,000 rows on Spark local[2] with mltrail's and MLflow's ``spark_udf``.

One worker process (``--worker``) starts one SparkSession (local[2], Arrow on),
saves one scikit-learn model (a logistic regression on 8 features) with mltrail,
caches a DataFrame of N rows in 8 partitions, and scores it with
``mltrail.pyfunc.spark_udf`` and ``mlflow.pyfunc.spark_udf`` on the same model
folder, alternating the two, into Spark's ``noop`` sink (every row is computed,
nothing is written). Two shapes: ``result_type="double"`` with the columns named,
and ``udf()`` binding the columns by the signature (its type from the signature's
outputs). MLflow is the official client in ``.venv`` (mlflow-skinny 3.17.2).

    python bench/spark_udf.py            # 1,000,000 rows, 3 repetitions, prints the table and the ratios
    python bench/spark_udf.py --quick    # 100,000 rows, 1 repetition
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

FEATURES = 8
PARTITIONS = 8
SHAPES = (
    ("double", "result_type='double', columns by name"),
    ("inferred", "udf() by signature, type inferred"),
)


# ------------------------------------------------------------------ worker (one Spark, both SDKs)
def worker(rows: int, reps: int, folder: str) -> dict:
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from sklearn.linear_model import LogisticRegression

    import mltrail.pyfunc
    import mltrail.sklearn

    names = [f"f{i}" for i in range(FEATURES)]
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(2000, FEATURES)), columns=names)
    clf = LogisticRegression().fit(x, (x.sum(axis=1) > 0).astype(int))
    model_dir = str(Path(folder) / "model")
    mltrail.sklearn.save_model(clf, model_dir, input_example=x.head(5))

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-spark-udf")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        df = spark.range(rows, numPartitions=PARTITIONS).select(
            *[(F.rand(seed=i) * 2 - 1).alias(n) for i, n in enumerate(names)]
        )
        df = df.cache()
        df.count()
        sdks = {"mltrail": mltrail.pyfunc, "mlflow": mlflow.pyfunc}
        udfs = {}
        for sdk, module in sdks.items():
            udfs[(sdk, "double")] = (module.spark_udf(spark, model_dir, result_type="double"), names)
            udfs[(sdk, "inferred")] = (module.spark_udf(spark, model_dir), [])
        # Warm-up: Python workers started, both libraries imported in them, the JIT of the JVM side.
        small = df.limit(1000)
        for udf, cols in udfs.values():
            small.select(udf(*cols).alias("p")).write.format("noop").mode("overwrite").save()
        times: dict[str, dict[str, list[float]]] = {
            shape: {"mltrail": [], "mlflow": []} for shape, _ in SHAPES
        }
        check: dict[str, float] = {}
        for rep in range(reps):
            order = ("mltrail", "mlflow") if rep % 2 == 0 else ("mlflow", "mltrail")
            for shape, _ in SHAPES:
                for sdk in order:
                    udf, cols = udfs[(sdk, shape)]
                    t0 = time.perf_counter()
                    df.select(udf(*cols).alias("p")).write.format("noop").mode("overwrite").save()
                    times[shape][sdk].append(time.perf_counter() - t0)
        for sdk in sdks:
            udf, cols = udfs[(sdk, "double")]
            check[sdk] = df.select(F.sum(udf(*cols)).alias("s")).collect()[0]["s"]
        if check["mltrail"] != check["mlflow"]:
            raise AssertionError(f"the two UDFs disagree: {check}")
        return {"times": times, "positives": check["mltrail"], "rows": rows}
    finally:
        spark.stop()


# ------------------------------------------------------------------ parent
def measure(rows: int, reps: int) -> dict:
    """The worker in its own process (its own JVM); its timings, or {"na": reason}."""
    from common import VENV_BIN

    folder = tempfile.mkdtemp(prefix="bench-spark-")
    try:
        res = subprocess.run(
            [str(VENV_BIN / "python"), __file__, "--worker", "--rows", str(rows), "--reps", str(reps),
             "--dir", folder],
            capture_output=True, text=True, cwd=folder, timeout=1800,
        )  # fmt: skip
        if res.returncode != 0:
            return {"na": f"worker failed: {(res.stderr.strip().splitlines() or [res.returncode])[-1]}"}
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def run(quick: bool):
    """bench/run.py's entry: a Section with one row per UDF shape."""
    from common import NA
    from report import Section

    rows, reps = (100_000, 1) if quick else (1_000_000, 3)
    sec = Section("spark", f"Batch scoring on Spark: spark_udf over {rows:,} rows, local[2]")
    sec.columns = ("mltrail", "mlflow")
    out = measure(rows, reps)
    for shape, label in SHAPES:
        row = sec.row(f"{label}, {rows:,} rows")
        for sdk in ("mltrail", "mlflow"):
            row.set(sdk, NA(out["na"]) if "na" in out else out["times"][shape][sdk])
    sec.notes.append(
        f"One SparkSession (local[2], Arrow, {PARTITIONS} cached partitions), one scikit-learn model saved by "
        "mltrail; each UDF scores every row into the noop sink after a warm-up. Both UDFs' sums agree."
    )
    return sec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--dir", default=".", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.rows, args.reps, args.dir)))
        return 0
    from report import to_markdown

    sec = run(args.quick)
    print(to_markdown(sec))
    for r in sec.rows:
        values = {k: v for k, v in r.values.items() if isinstance(v, dict) and "median" in v}
        if len(values) == 2:
            ratio = values["mlflow"]["median"] / values["mltrail"]["median"]
            print(f"{r.op}: mltrail is {ratio:.2f}x MLflow's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
