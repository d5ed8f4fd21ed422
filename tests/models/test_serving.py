"""The scoring app: MLflow's request formats, params, CSV, errors; `models predict` and Dockerfiles."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

import mltrail.pyfunc
from mltrail.cli.models import models as models_cli
from mltrail.models import infer_signature
from mltrail.serving.app import create_scoring_app


class Shout(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        times = (params or {}).get("times", 1)
        return [p.upper() * times for p in model_input["prompt"]]


class Total(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.asarray(model_input).sum(axis=1)


@pytest.fixture
def shout_dir(tmp_path):
    sig = infer_signature(pd.DataFrame({"prompt": ["a"]}), ["A"], {"times": 1})
    mltrail.pyfunc.save_model(tmp_path / "shout", python_model=Shout(), signature=sig)
    return tmp_path / "shout"


@pytest.fixture
def client(shout_dir):
    return TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(shout_dir))))


def test_health_endpoints(client):
    assert client.get("/ping").status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/version").text == mltrail.__version__


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["prompt"], "data": [["ab"], ["c"]]}},
        {"dataframe_split": {"columns": ["prompt"], "data": [["ab"], ["c"]], "index": [5, 6]}},
        {"dataframe_records": [{"prompt": "ab"}, {"prompt": "c"}]},
        {"inputs": {"prompt": ["ab", "c"]}},
        {"instances": [{"prompt": "ab"}, {"prompt": "c"}]},
    ],
)
def test_json_formats(client, body):
    resp = client.post("/invocations", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": ["AB", "C"]}


def test_params_and_csv(client):
    resp = client.post("/invocations", json={"dataframe_records": [{"prompt": "x"}], "params": {"times": 3}})
    assert resp.json() == {"predictions": ["XXX"]}
    resp = client.post("/invocations", content=b"prompt\nhey\n", headers={"Content-Type": "text/csv"})
    assert resp.json() == {"predictions": ["HEY"]}


@pytest.mark.parametrize(
    ("body", "ctype", "status", "needle"),
    [
        (b'{"nope": 1}', "application/json", 400, "exactly one of the following keys"),
        (b'{"inputs": [1], "instances": [1]}', "application/json", 400, "exactly one of the following keys"),
        (b"{not json", "application/json", 400, "Invalid JSON"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b'{"dataframe_split": "x"}', "application/json", 400, "dataframe_split"),
        (b'{"dataframe_records": {"a": 1}}', "application/json", 400, "list of JSON objects"),
        (b'{"dataframe_records": [{"text": "x"}]}', "application/json", 400, "missing inputs ['prompt']"),
        (b'{"dataframe_records": [{"prompt": 3}]}', "application/json", 400, "Incompatible input types"),
        (
            b'{"dataframe_records": [{"prompt": "x"}], "params": {"times": "lots"}}',
            "application/json",
            400,
            "param 'times'",
        ),
        (b'{"dataframe_records": [{"prompt": "x"}], "params": [1]}', "application/json", 400, "params"),
        (b"x", "text/plain", 415, "content types"),
    ],
)
def test_bad_payloads_get_clear_errors(client, body, ctype, status, needle):
    resp = client.post("/invocations", content=body, headers={"Content-Type": ctype})
    assert resp.status_code == status
    payload = resp.json()
    assert needle in payload["message"] and payload["error_code"]


def test_model_failure_is_reported_not_a_traceback(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "t", python_model=Total())
    client = TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(tmp_path / "t"))))
    assert client.post("/invocations", json={"inputs": [[1, 2], [3, 4]]}).json() == {"predictions": [3, 7]}
    resp = client.post("/invocations", json={"inputs": "text"})
    assert resp.status_code == 400 and "Traceback" not in resp.text


def test_predict_cli_json_and_csv(shout_dir, tmp_path):
    runner = CliRunner()
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"dataframe_records": [{"prompt": "a"}], "params": {"times": 2}}))
    out = tmp_path / "out.json"
    result = runner.invoke(models_cli, ["predict", "-m", str(shout_dir), "-i", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == {"predictions": ["AA"]}
    csv = tmp_path / "in.csv"
    csv.write_text("prompt\nz\n")
    result = runner.invoke(models_cli, ["predict", "-m", str(shout_dir), "-i", str(csv), "-t", "csv"])
    assert json.loads(result.output) == {"predictions": ["Z"]}
    bad = tmp_path / "bad.json"
    bad.write_text('{"dataframe_records": [{"oops": 1}]}')
    result = runner.invoke(models_cli, ["predict", "-m", str(shout_dir), "-i", str(bad)])
    assert result.exit_code != 0 and "missing inputs" in result.output


def test_generate_dockerfile(shout_dir, tmp_path):
    result = CliRunner().invoke(
        models_cli, ["generate-dockerfile", "-m", str(shout_dir), "-d", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    dockerfile = (tmp_path / "d" / "Dockerfile").read_text()
    assert "COPY model/ /opt/ml/model/" in dockerfile and "EXPOSE 8080" in dockerfile
    assert "mltrail models serve" in dockerfile
    assert (tmp_path / "d" / "model" / "MLmodel").is_file()
    reqs = (tmp_path / "d" / "model" / "requirements.docker.txt").read_text()
    assert "cloudpickle==" in reqs and "mltrail" not in reqs
    # mltrail runs from this checkout, not from an index: the image installs the same code.
    assert "COPY mltrail-src/ /opt/mltrail/mltrail-src/" in dockerfile
    assert "pip install --no-cache-dir './mltrail-src[server,pandas]'" in dockerfile
    src = tmp_path / "d" / "mltrail-src"
    assert (src / "src" / "mltrail" / "serving" / "docker.py").is_file()
    assert not list(src.rglob("__pycache__"))
    # ... and that copy builds: the wheel the image would install.
    built = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert [p.name.startswith("mltrail-") for p in (tmp_path / "dist").glob("*.whl")] == [True]


def test_serve_with_two_workers(tmp_path, served):
    from model_helpers import serve_model

    # Models-from-code: worker processes load it without importing this test module.
    (tmp_path / "shout.py").write_text(
        "import mltrail\n"
        "class Shout(mltrail.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return [p.upper() * (params or {}).get('times', 1) for p in model_input['prompt']]\n"
        "mltrail.models.set_model(Shout())\n"
    )
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "shout.py"))
    server = serve_model(str(tmp_path / "m"), extra=("-w", "2"))
    served.append(server)
    import httpx

    for _ in range(4):
        resp = httpx.post(
            f"{server.url}/invocations",
            json={"inputs": {"prompt": ["a"]}, "params": {"times": 2}},
            timeout=60,
        )
        assert resp.json() == {"predictions": ["AA"]}


def test_serve_with_workers_fails_fast_on_unloadable_model(shout_dir):
    # shout_dir's class lives in this test module, which a fresh process cannot import.
    proc = subprocess.run(
        [sys.executable, "-m", "mltrail", "models", "serve", "-m", str(shout_dir), "-w", "2", "-p", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "Could not load model" in proc.stderr


def test_serve_unknown_model_fails_clearly(tmp_path):
    result = CliRunner().invoke(models_cli, ["serve", "-m", str(tmp_path / "missing"), "-p", "1"])
    assert result.exit_code != 0 and "No model found" in result.output


def test_body_size_limit(shout_dir):
    app = create_scoring_app(mltrail.pyfunc.load_model(str(shout_dir)), max_body_bytes=64)
    client = TestClient(app)
    big = json.dumps({"dataframe_records": [{"prompt": "x" * 100}]})
    resp = client.post("/invocations", content=big, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and "limit of 64 bytes" in resp.json()["message"]

    def chunked():
        yield big.encode()

    resp = client.post("/invocations", content=chunked(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert client.post("/invocations", json={"inputs": {"prompt": ["ok"]}}).json() == {"predictions": ["OK"]}


def test_env_requirements_drop_mltrail_and_slim_mlflow(tmp_path):
    from mltrail.models.envs import env_key, model_requirements

    (tmp_path / "requirements.txt").write_text("mlflow==3.17.2\nmltrail==0.1.0\ncloudpickle==3.1.3\npandas\n")
    reqs = model_requirements(tmp_path)
    assert reqs == ["mlflow-skinny==3.17.2", "cloudpickle==3.1.3", "pandas"]
    assert env_key(reqs, "uv") == env_key(list(reversed(reqs)), "uv") != env_key(reqs, "virtualenv")
