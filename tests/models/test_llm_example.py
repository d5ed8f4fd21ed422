"""The brief's LLMWrapper example end to end with ``import mltrail as mlflow``.

Log and register the model in a script (as a user would run it), promote it,
load it by version, alias and stage, then serve it with ``mltrail models
serve`` and POST the brief's request. The OpenAI calls are answered by the
OpenAI-compatible server on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from model_helpers import llm_wrapper_brief, serve_model

BRIEF_SCRIPT = llm_wrapper_brief("import mltrail as mlflow")


@pytest.fixture
def logged(tmp_path, openai_server):
    """Run the brief's script in a fresh folder; return (tracking_uri, run_id)."""
    (tmp_path / "brief.py").write_text(BRIEF_SCRIPT)
    # A git work tree, so the run records the commit its code came from (lineage).
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "brief.py"], ["commit", "-q", "-m", "brief"]):
        subprocess.run([*git, *args], cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.run(
        [sys.executable, "brief.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return f"sqlite:///{tmp_path / 'mltrail.db'}", proc.stdout.strip().splitlines()[-1]


def test_llm_wrapper_log_register_load_serve(logged, openai_server, served):
    import mltrail as mlflow

    tracking_uri, run_id = logged
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()

    mv = client.get_model_version("MyLLMApp", "1")
    # As in MLflow 3: a runs:/ URI naming a logged model registers that model (models:/<model_id>).
    assert mv.model_id and mv.model_id.startswith("m-")
    assert (mv.run_id, mv.source) == (run_id, f"models:/{mv.model_id}")
    assert mv.run_link.endswith(f"/runs/{run_id}")
    run = client.get_run(mv.run_id)  # lineage: version -> run -> source
    assert run.data.params["base_model"] == "gpt-4o-mini"
    assert run.data.tags["mlflow.source.name"].endswith("brief.py")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=Path(tracking_uri[len("sqlite:///") :]).parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == head
    history = json.loads(run.data.tags["mlflow.log-model.history"])
    assert history[0]["model_id"] == mv.model_id  # the run's model, written once at its own location
    assert client.get_logged_model(mv.model_id).name == "llm_model"

    # Transition to production, as the brief suggests, and give it an alias.
    client.transition_model_version_stage("MyLLMApp", mv.version, "Production")
    client.set_registered_model_alias("MyLLMApp", "champion", mv.version)

    frame = pd.DataFrame({"prompt": ["Explain MLflow"]})
    assert mv.model_id.startswith("m-")  # the MLflow 3 logged model behind the version
    assert client.get_logged_model(mv.model_id).source_run_id == run_id
    for uri in (
        "models:/MyLLMApp/1",
        "models:/MyLLMApp@champion",
        "models:/MyLLMApp/Production",
        f"models:/{mv.model_id}",
    ):
        assert mlflow.pyfunc.load_model(uri).predict(frame) == ["Answer to: Explain MLflow"]
    sent = openai_server.requests[-1]["body"]
    assert sent["model"] == "ft:gpt-4o-mini:..." and sent["max_tokens"] == 256

    local = mlflow.artifacts.download_artifacts(artifact_uri="models:/MyLLMApp/1")
    reqs = Path(local, "requirements.txt").read_text().splitlines()
    assert any(r.startswith("openai==") for r in reqs)  # imported inside predict, still inferred

    server = serve_model("models:/MyLLMApp/Production", env={"MLTRAIL_TRACKING_URI": tracking_uri})
    served.append(server)
    response = httpx.post(
        f"{server.url}/invocations",
        headers={"Content-Type": "application/json"},
        content=json.dumps({"dataframe_records": [{"prompt": "Explain MLflow"}]}),
        timeout=60,
    )
    assert response.status_code == 200
    assert response.json() == {"predictions": ["Answer to: Explain MLflow"]}
    bad = httpx.post(f"{server.url}/invocations", json={"dataframe_records": "nope"}, timeout=60)
    assert bad.status_code == 400 and "dataframe_records" in bad.json()["message"]
