"""A newcomer's first hour: one store for the embedded SDK and the server, and clear errors.

- The embedded SDK (no tracking URI, or a database URI) and ``mltrail server``
  on the same ``./mltrail.db`` share artifacts both ways, ``mlflow-artifacts:/``
  locations included: the SDK finds the server's proxied files on disk.
- An evaluation whose judge cannot be reached warns (judge, error, "N of M
  rows") and still gives a metrics dict, NaN where no row was scored.
- ``mltrail db upgrade`` on a database that cannot be opened prints one line.
- ``mltrail server`` refuses a busy port before it says "listening", and a port
  outside 1..65535.
- Registering a source without an MLmodel file warns, and registers.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import mltrail
from mltrail.cli.main import cli
from mltrail.metrics.genai import answer_correctness
from support.live_server import free_port, running_server, server_env


class Echo(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [str(p).upper() for p in model_input["prompt"]]


def test_embedded_sdk_and_server_read_each_others_proxied_artifacts(tmp_path, monkeypatch):
    import mlflow

    root = tmp_path / "project"
    with running_server(root) as server:
        monkeypatch.chdir(root)  # a newcomer's script runs beside ./mltrail.db
        official = mlflow.MlflowClient(tracking_uri=server.url)
        assert official.get_experiment("0").artifact_location == "mlflow-artifacts:/0"

        # The embedded SDK, no tracking URI, in the server's Default experiment (mlflow-artifacts:/0).
        with mltrail.start_run() as run:
            mltrail.log_text("written by the embedded SDK", "notes/embedded.txt")
            mltrail.pyfunc.log_model("model", python_model=Echo())
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/0/")
        local = root / "mltrail-artifacts" / "0" / run.info.run_id / "artifacts" / "notes" / "embedded.txt"
        assert local.read_text() == "written by the embedded SDK"
        # ... which the server serves to the official client over HTTP.
        got = Path(official.download_artifacts(run.info.run_id, "notes/embedded.txt", str(tmp_path)))
        assert got.read_text() == "written by the embedded SDK"

        # The official client writes through the server; the embedded SDK reads it back.
        theirs = official.create_run("0")
        (tmp_path / "via_server.txt").write_text("written through the server")
        official.log_artifact(theirs.info.run_id, str(tmp_path / "via_server.txt"))
        assert mltrail.artifacts.load_text(f"runs:/{theirs.info.run_id}/via_server.txt") == (
            "written through the server"
        )

        # Registry and models:/ resolve too (what `mltrail models serve -m models:/MyLLMApp/1` does).
        mltrail.register_model(f"runs:/{run.info.run_id}/model", "MyLLMApp")
        model = mltrail.pyfunc.load_model("models:/MyLLMApp/1")
        assert list(model.predict(pd.DataFrame({"prompt": ["hello"]}))) == ["HELLO"]


def test_a_server_started_later_serves_what_the_embedded_sdk_wrote(tmp_path, monkeypatch):
    import httpx
    import mlflow

    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    mltrail.set_experiment("before-the-server")
    with mltrail.start_run() as run:
        mltrail.log_text("written before any server ran", "notes.txt")
        mltrail.pyfunc.log_model("model", python_model=Echo())
    mltrail.register_model(f"runs:/{run.info.run_id}/model", "Early")
    with running_server(root) as server:
        got = httpx.get(f"{server.url}/get-artifact", params={"run_id": run.info.run_id, "path": "notes.txt"})
        assert got.status_code == 200 and got.text == "written before any server ran"
        official = mlflow.MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        version = official.get_model_version("Early", "1")
        assert version.run_id == run.info.run_id
        # The model's files live once, at its LoggedModel's location (MLflow 3), served by the server.
        # (The official client's ModelVersion leaves model_id unread: the source names the model.)
        assert version.source.startswith("models:/m-")
        model_id = version.source.removeprefix("models:/")
        assert "MLmodel" in {f.path for f in official.list_logged_model_artifacts(model_id)}


def test_embedded_sdk_follows_a_custom_artifacts_destination(tmp_path, monkeypatch):
    import mlflow

    root, destination = tmp_path / "project", tmp_path / "bucket"
    with running_server(root, None, "--artifacts-destination", str(destination)) as server:
        official = mlflow.MlflowClient(tracking_uri=server.url)
        run = official.create_run("0")
        (tmp_path / "a.txt").write_text("kept in the custom destination")
        official.log_artifact(run.info.run_id, str(tmp_path / "a.txt"))
        assert (destination / "0" / run.info.run_id / "artifacts" / "a.txt").is_file()

        mltrail.set_tracking_uri(f"sqlite:///{root / 'mltrail.db'}")
        monkeypatch.setenv("MLFLOW_ARTIFACTS_DESTINATION", str(destination))  # as the server was given it
        assert mltrail.artifacts.load_text(f"runs:/{run.info.run_id}/a.txt") == "kept in the custom destination"


def test_unreachable_judge_warns_with_judge_error_and_row_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("MLTRAIL_GENAI_JUDGE_MAX_RETRIES", "0")
    df = pd.DataFrame(
        {"inputs": ["What does tracking log?", "Where?"], "truth": ["Metrics.", "Here."], "response": ["Metrics.", "There."]}
    )
    with pytest.warns(UserWarning) as caught:
        result = mltrail.evaluate(
            data=df,
            predictions="response",
            targets="truth",
            extra_metrics=[answer_correctness("openai:/gpt-4o-mini")],
        )
    (message,) = [str(w.message) for w in caught if "judge" in str(w.message)]
    assert "'openai:/gpt-4o-mini'" in message
    assert "failed on 2 of 2 rows" in message
    assert "could not be reached" in message
    assert "sk-test-not-a-real-key" not in message
    assert isinstance(result.metrics, dict)
    assert math.isnan(result.metrics["answer_correctness/v1/mean"])
    assert "answer_correctness/v1/p90" not in result.metrics  # as in MLflow: no p90 of no scores
    assert math.isnan(mltrail.get_run(result.run_id).data.metrics["answer_correctness/v1/mean"])


def test_db_upgrade_on_a_database_that_cannot_be_opened_is_one_line(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    result = CliRunner().invoke(cli, ["db", "upgrade", f"sqlite:///{blocker / 'mltrail.db'}"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot open the database sqlite:///")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_db_upgrade_says_when_it_creates_a_new_sqlite_file(tmp_path):
    # As in MLflow, a missing SQLite file is created; a mistyped path must not pass for an upgrade.
    uri = f"sqlite:///{tmp_path / 'mltrial.db'}"
    first = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert first.exit_code == 0
    assert first.output.splitlines()[0] == f"Created a new SQLite database at {tmp_path / 'mltrial.db'} (there was none)"
    again = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert again.exit_code == 0 and "Created" not in again.output


@pytest.mark.postgres
def test_db_upgrade_on_a_missing_postgres_database_is_one_line(postgres_uri):
    missing = postgres_uri.rsplit("/", 1)[0] + "/mltrail_no_such_database"
    result = CliRunner().invoke(cli, ["db", "upgrade", missing])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: Cannot open the database") and "mltrail_no_such_database" in line
    assert "does not exist" in line


def _server(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", *args],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_server_refuses_a_busy_port_before_saying_listening(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _server("--port", str(port), "--backend-store-uri", f"sqlite:///{tmp_path / 'm.db'}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "listening" not in output
    (line,) = output.strip().splitlines()
    assert line.startswith(f"Error: Cannot listen on 127.0.0.1:{port}") and "in use" in line


@pytest.mark.parametrize("port", ["80000", "0", "-1"])
def test_server_refuses_a_port_outside_1_to_65535(port):
    proc = _server("--port", port)
    assert proc.returncode == 2
    assert "listening" not in proc.stdout + proc.stderr
    assert f"{port} is not in the range 1<=x<=65535" in proc.stderr


def test_registering_a_source_without_mlmodel_warns_and_registers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with mltrail.start_run() as run:
        mltrail.log_text("not a model", "notes/readme.txt")
        mltrail.pyfunc.log_model("model", python_model=Echo())
    client = mltrail.MlflowClient()
    client.create_registered_model("Notes")
    with pytest.warns(UserWarning, match=r"source 'runs:/[0-9a-f]+/notes' holds no MLmodel file"):
        mv = client.create_model_version("Notes", f"runs:/{run.info.run_id}/notes", run_id=run.info.run_id)
    assert client.get_model_version("Notes", mv.version).source.endswith("/notes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real model: no warning
        mltrail.register_model(f"runs:/{run.info.run_id}/model", "Notes")
