"""Section "sdk": each project's own client against its own server, for six client operations.

The ops section holds the client fixed (the official ``mlflow`` client) so that only
the server differs. This one shows what a user of each project gets end to end:
mltrail's SDK (``mltrail.MlflowClient`` from ``.venv``) against ``mltrail server``,
beside the official client against ``mlflow server``. The same driver code runs
both (``BENCH_SDK=mltrail`` switches its imports: mltrail's names are MLflow's),
synchronous logging on both sides, and the two take turns call by call.
"""

from __future__ import annotations

from common import NA
from driverproc import DriverProc
from report import EN_DASH, TIMES, Section
from sec_ops import interleaved, setup

OPS = (
    ("create_experiment", "op_create_experiment", "many"),
    ("create_run", "op_create_run", "runs"),
    (f"log_batch: 10 params, 5 tags, 10 metrics {TIMES} 10 steps", "op_log_run_data", "runs"),
    ("log_metric (single call)", "op_log_metric", "many"),
    ("get_run", "op_get_run", "many"),
    ("search_runs (3 clauses + order_by)", "op_search_runs", "many"),
)


def run(urls: dict[str, str], mlflow_driver: DriverProc | NA, quick: bool) -> list[Section]:
    """Times the six operations: mltrail's SDK on mltrail's URL, the official client on MLflow's."""
    sec = Section(
        "sdk",
        f"Each project's own SDK against its own server (median, min{EN_DASH}max)",
        columns=("mltrail", "mlflow"),
    )
    sec.notes.append(
        "mltrail column: mltrail's SDK against `mltrail server`; MLflow column: the official client "
        "against `mlflow server`"
    )
    drivers: dict[str, DriverProc | NA] = {"mlflow": mlflow_driver}
    ours: DriverProc | NA = NA("mltrail server did not start")
    if "mltrail" in urls:
        try:
            ours = DriverProc(urls["mltrail"], sdk="mltrail")
        except (RuntimeError, OSError, ValueError) as exc:
            ours = NA(f"mltrail SDK driver did not start: {exc}")
    drivers = {"mltrail": ours, **drivers}
    try:
        live, _ = setup({"mltrail": ours})  # the official client's driver was set up by the ops setup
        live["mlflow"] = mlflow_driver
        n = {"many": 10 if quick else 30, "runs": 10 if quick else 40}
        for label, op, size in OPS:
            times, last, _shares, _cpus = interleaved(live, op, n[size])
            row = sec.row(label)
            for name in ("mltrail", "mlflow"):
                row.set(name, times.get(name, NA("not run")))
            if op == "op_search_runs":
                sec.notes.append(
                    f"search_runs rows returned (should agree): { {k: a.get('rows') for k, a in last.items()} }"
                )
    finally:
        if isinstance(ours, DriverProc):
            ours.close()
    return [sec]
