"""A project whose script uses the official mlflow client, run by `mltrail run` against a live `mltrail server`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltrail
from support.live_server import running_server

pytest.importorskip("mlflow")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    with running_server(tmp_path / "server") as server:
        yield server.url


def test_official_mlflow_script_attaches_to_project_run_on_server(tmp_path, live_server):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "MLproject").write_text(textwrap.dedent("""
        name: official-client
        entry_points:
          main:
            parameters:
              lr: {type: float, default: 0.01}
            command: "python train.py --lr {lr}"
    """))
    (project / "train.py").write_text(textwrap.dedent("""
        import argparse
        import mlflow  # the official client, unchanged

        args = argparse.ArgumentParser()
        args.add_argument("--lr", type=float)
        lr = args.parse_args().lr
        with mlflow.start_run():
            mlflow.log_metric("loss", 1 - lr)
            mlflow.set_tag("client", "mlflow " + mlflow.__version__)
    """))
    env = {**os.environ, "MLFLOW_TRACKING_URI": live_server}
    proc = subprocess.run(
        [sys.executable, "-m", "mltrail", "run", str(project), "-P", "lr=0.25", "--env-manager", "local",
         "--experiment-name", "remote"],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr

    mltrail.set_tracking_uri(live_server)
    exp = mltrail.get_experiment_by_name("remote")
    (run,) = mltrail.MlflowClient().search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.25"}
    assert run.data.metrics == {"loss": 0.75}
    assert run.data.tags["client"].startswith("mlflow 3.")
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
