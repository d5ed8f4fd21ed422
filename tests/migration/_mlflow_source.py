"""Build a real MLflow store with the official client (in a child process, so its global state
never touches the test's process): experiments, runs, metrics, params, tags, a dataset input,
artifacts, a deleted run and experiment, a registered model with stages, aliases and tags, a prompt,
a trace (two spans, a feedback and an expectation) and a logged model with a file and a metric value
(logged by run ``r2``), registered as version 3 of the model."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

_SCRIPT = r"""
import json, sys
import mlflow
from mlflow import MlflowClient
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.data.meta_dataset import MetaDataset

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
exp_id = mlflow.set_experiment("churn").experiment_id
mlflow.set_experiment_tag("team", "ml")
with mlflow.start_run(run_name="first") as r1:
    mlflow.log_params({"lr": "0.1", "depth": "3"})
    mlflow.set_tag("stage", "dev")
    for step in range(40):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_000 + step)
    mlflow.log_metric("acc", float("nan"), step=0, timestamp=5)
    mlflow.log_text("hello", "notes/readme.txt")
    mlflow.log_dict({"a": 1}, "model/MLmodel.json")
    ds = MetaDataset(HTTPDatasetSource("https://example.com/train.csv"), name="train", digest="abc123")
    mlflow.log_input(ds, context="training")
with mlflow.start_run(run_name="second") as r2:
    mlflow.log_metric("loss", 0.5)
    mlflow.end_run("FAILED")
with mlflow.start_run(run_name="gone") as r3:
    mlflow.log_param("p", "1")
client.delete_run(r3.info.run_id)
old = client.create_experiment("old")
r4 = client.create_run(old, run_name="in-old")
client.log_metric(r4.info.run_id, "m", 1.0, step=1)
client.set_terminated(r4.info.run_id)
client.delete_experiment(old)

client.create_registered_model("clf", tags={"owner": "me"}, description="a classifier")
v1 = client.create_model_version("clf", r1.info.artifact_uri + "/model", run_id=r1.info.run_id, tags={"k": "v"})
v2 = client.create_model_version("clf", f"runs:/{r2.info.run_id}/model", run_id=r2.info.run_id)
client.transition_model_version_stage("clf", "1", "Production")
client.set_registered_model_alias("clf", "champion", "2")
mlflow.genai.register_prompt(name="greet", template="Hello {{name}}")
with mlflow.start_span("step") as span:
    span.set_inputs({"q": "hi"})
    with mlflow.start_span("inner"):
        pass
mlflow.flush_trace_async_logging()
tid = mlflow.get_last_active_trace_id()
mlflow.log_feedback(trace_id=tid, name="quality", value=0.9, rationale="fine")
mlflow.log_expectation(trace_id=tid, name="expected", value={"a": 1})
lm = client.create_logged_model(exp_id, name="agent", source_run_id=r1.info.run_id,
                                params={"temp": "0.1"}, tags={"t": "1"}, model_type="agent")
import pathlib, tempfile
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "MLmodel").write_text("flavors: {}")
client.log_model_artifacts(lm.model_id, str(folder))
client.log_metric(r2.info.run_id, "score", 0.8, step=1, timestamp=7, model_id=lm.model_id)
client.finalize_logged_model(lm.model_id, "READY")
client.create_model_version("clf", f"models:/{lm.model_id}", run_id=r1.info.run_id, model_id=lm.model_id)
extra = {}
if sys.argv[2] == "files":  # more of what an mlruns folder keeps for GenAI
    (folder / "sub").mkdir()
    (folder / "sub" / "weights.bin").write_bytes(b"0123456789")
    client.log_model_artifacts(lm.model_id, str(folder))
    gone = client.create_logged_model(exp_id, name="dropped")
    client.delete_logged_model(gone.model_id)
    mlflow.set_active_model(model_id=lm.model_id)
    mlflow.start_run(run_id=r2.info.run_id)
    with mlflow.start_span("in-run") as span:
        span.set_outputs({"a": 2})
    mlflow.end_run("FAILED")
    mlflow.flush_trace_async_logging()
    extra = {"run_trace": mlflow.get_last_active_trace_id(), "gone": gone.model_id}
extra.update({"trace": tid, "model": lm.model_id})
print(json.dumps({**extra, "exp": exp_id, "old": old, "r1": r1.info.run_id, "r2": r2.info.run_id,
                  "r3": r3.info.run_id, "r4": r4.info.run_id}))
"""

_MORE = r"""
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
client = mlflow.MlflowClient()
client.log_metric(sys.argv[2], "loss", 0.01, step=40, timestamp=2_000)
client.set_tag(sys.argv[2], "reviewed", "yes")
"""


def build_source(uri: str, cwd: Path) -> dict[str, str]:
    """Fill the MLflow store at ``uri`` (artifacts under ``cwd``); the ids it made.

    A ``file:`` URI makes an ``mlruns`` folder (MLflow's FileStore, allowed by
    ``MLFLOW_ALLOW_FILE_STORE``), with more GenAI data: a logged model's nested file, a
    deleted logged model, and a trace inside run ``r2`` made with the model active.
    """
    kind = "files" if uri.startswith("file:") else "full"
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, uri, kind],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cached_sqlite_source(path: Path) -> tuple[str, dict[str, str]]:
    """A copy at ``path`` of an MLflow SQLite store filled by :func:`build_source`, and its ids.

    Built once per machine and MLflow version (whichever xdist worker gets there first, under
    a file lock), so the test modules that read one do not each pay for the official client.
    Its artifacts stay in the cache folder, which the copies only read.
    """
    from support.mlflow_db import mlflow_sqlite_uri

    digest = hashlib.sha1(_SCRIPT.encode()).hexdigest()[:10]  # a changed script builds a new one
    name = f"migration-source-{version('mlflow-skinny')}-{digest}"
    cache = Path(tempfile.gettempdir()) / "mltrail-test-cache" / name
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / "migration-source.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "ids.json").exists():
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir()
            ids = build_source(mlflow_sqlite_uri(cache / "mlflow.db"), cache)
            (cache / "ids.json").write_text(json.dumps(ids))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache / "mlflow.db", path)
    return f"sqlite:///{path}", json.loads((cache / "ids.json").read_text())


def log_more(uri: str, cwd: Path, run_id: str) -> None:
    """One more metric point and a tag on a run, through the official client."""
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    subprocess.run(
        [sys.executable, "-c", _MORE, uri, run_id], cwd=cwd, env=env, check=True, capture_output=True
    )
