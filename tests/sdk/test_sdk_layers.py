"""``mltrail.artifacts`` sits below the SDK: it resolves ``runs:/`` and ``models:/`` URIs
through hooks ``mltrail.tracking`` registers, and still works when a program imports it alone.

Each case that checks what a fresh interpreter imports runs a real Python subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mltrail
from mltrail.tracking import context


def _python(tmp_path: Path, code: str) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mltrail.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _logged_run(tmp_path: Path) -> str:
    mltrail.set_tracking_uri(f"sqlite:///{tmp_path / 'mltrail.db'}")
    with mltrail.start_run() as run:
        mltrail.log_text("hello from a run", "notes/hello.txt")
    with pytest.warns(UserWarning, match="holds no MLmodel file"):  # a folder, not a model: still registered
        mltrail.register_model(f"runs:/{run.info.run_id}/notes", "HookModel")
    return run.info.run_id


def test_importing_artifacts_loads_no_sdk_and_resolving_a_run_uri_loads_it(tmp_path):
    run_id = _logged_run(tmp_path)
    out = _python(
        tmp_path,
        "import json, sys\n"
        "import mltrail.artifacts as a\n"
        "before = sorted(m for m in sys.modules if m.startswith(('mltrail.tracking', 'mltrail.models')))\n"
        f"text = a.load_text('runs:/{run_id}/notes/hello.txt')\n"
        "model = open(a.download_artifacts('models:/HookModel/1', dst_path='out') + '/hello.txt').read()\n"
        "print(json.dumps({'before': before, 'text': text, 'model': model,\n"
        "                  'after': 'mltrail.tracking' in sys.modules}))\n",
    )
    assert out == {"before": [], "text": "hello from a run", "model": "hello from a run", "after": True}


def test_resolvers_are_registered_by_the_sdk(tmp_path):
    run_id = _logged_run(tmp_path)
    root = mltrail.get_run(run_id).info.artifact_uri
    assert mltrail.artifacts.resolve_artifact_uri(f"runs:/{run_id}/notes") == f"{root}/notes"
    assert mltrail.artifacts.resolve_artifact_uri("models:/HookModel/1") == f"{root}/notes"
    assert mltrail.artifacts.resolve_artifact_uri(f"runs:/{run_id}") == root


def test_the_context_hands_out_one_client_per_uri_and_the_active_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mltrail.db'}"
    mltrail.set_tracking_uri(uri)
    assert context.client() is context.client_for_uri(uri)
    assert context.client().tracking_uri == uri
    assert context.experiment_id() == "0"
    exp = mltrail.set_experiment("layers")
    assert context.experiment_id() == exp.experiment_id
    with mltrail.start_run() as run:
        client, run_id = context.run_client(None, mltrail.start_run)
        assert (client, run_id) == (context.client(), run.info.run_id)
        assert context.run_stack()[-1].info.run_id == run.info.run_id
    assert context.run_stack() == []
