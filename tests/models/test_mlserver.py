"""``mltrail models serve --enable-mlserver``: a real MLServer process speaking the V2 inference protocol.

MLServer cannot live in the main test venv (it pins older starlette, fastapi and
protobuf), so the serving side runs from its own venv, built once per session
with uv: mltrail from this working tree with its ``mlserver`` extra, plus the
main venv's exact scikit-learn, numpy, pandas and cloudpickle so that pickled
models load there. The CLI's own checks (help, the missing-mlserver message,
the settings it hands MLServer) and the scoring server's ``--timeout`` run in
the main venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner
from model_helpers import serve_model

import mltrail.pyfunc
import mltrail.sklearn
from mltrail.cli.models import models as models_cli
from mltrail.models import infer_signature
from mltrail.serving.mlserver import DEFAULT_MODEL_NAME, RUNTIME, mlserver_env
from support.live_server import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]

# Models-from-code: the MLServer venv loads it without this test module.
ECHO_MODEL = """
import time

import mltrail


class Echo(mltrail.pyfunc.PythonModel):
    # DataFrame in, list out: each prompt repeated n times; a 'sleep' column makes it slow.
    def predict(self, context, model_input, params=None):
        if "sleep" in model_input:
            time.sleep(float(model_input["sleep"].max()))
        return [p * int(n) for p, n in zip(model_input["prompt"], model_input["n"])]


mltrail.models.set_model(Echo())
"""


def _v2_frame(columns: dict[str, tuple[str, list]], content_type: str | None = "pd") -> dict:
    """A V2 inference request with one named input per column."""
    body: dict = {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}
            for name, (datatype, data) in columns.items()
        ]
    }
    if content_type:
        body["parameters"] = {"content_type": content_type}
    return body


# ---------------------------------------------------------------- the CLI, in the main venv


def test_serve_help_lists_enable_mlserver_and_timeout():
    result = CliRunner().invoke(models_cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--enable-mlserver" in result.output
    assert "--timeout" in result.output
    assert "V2" in result.output


def test_enable_mlserver_without_mlserver_fails_with_install_hint(tmp_path):
    assert importlib.util.find_spec("mlserver") is None, "the main venv must not have mlserver"
    (tmp_path / "echo.py").write_text(ECHO_MODEL)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "echo.py"))
    flags = ("--enable-mlserver", "-p", str(free_port()))
    # A subprocess, not CliRunner: were mlserver importable, the command would exec MLServer.
    proc = subprocess.run(
        [sys.executable, "-m", "mltrail", "models", "serve", "-m", str(tmp_path / "m"), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "--enable-mlserver needs MLServer in the serving environment: pip install mlserver" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mlserver_settings_from_the_serve_options(tmp_path):
    env = mlserver_env(tmp_path, host="0.0.0.0", port=8123, workers=1, timeout=30, base={})
    assert env["MLSERVER_HOST"] == "0.0.0.0"
    assert env["MLSERVER_HTTP_PORT"] == "8123"
    assert env["MLSERVER_PARALLEL_WORKERS"] == "0"  # one worker: the model runs in MLServer's process
    assert env["MLSERVER_MODEL_NAME"] == DEFAULT_MODEL_NAME == "mlflow-model"
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == RUNTIME
    assert env["MLSERVER_MODEL_URI"] == str(tmp_path)
    assert json.loads(env["MLSERVER_MODEL_EXTRA"]) == {"timeout": 30}

    user = {"MLSERVER_MODEL_NAME": "clf", "MLSERVER_MODEL_EXTRA": '{"k": 1}', "MLSERVER_GRPC_PORT": "9"}
    env = mlserver_env(tmp_path, host="h", port=1, workers=3, timeout=5, base=user)
    assert env["MLSERVER_MODEL_NAME"] == "clf"  # the user's name wins
    assert env["MLSERVER_GRPC_PORT"] == "9"  # other MLSERVER_* variables pass through
    assert env["MLSERVER_PARALLEL_WORKERS"] == "3"
    assert json.loads(env["MLSERVER_MODEL_EXTRA"]) == {"k": 1, "timeout": 5}

    with pytest.raises(ValueError, match="MLSERVER_MODEL_EXTRA"):
        mlserver_env(tmp_path, host="h", port=1, workers=1, timeout=5, base={"MLSERVER_MODEL_EXTRA": "[1"})


def test_parallel_workers_with_a_uvloop_mlserver_cannot_run_are_refused(monkeypatch):
    import mltrail.serving.mlserver as launcher

    versions = {"mlserver": (1, 7, 1), "uvloop": (0, 23, 0)}
    monkeypatch.setattr(launcher, "_version", versions.get)
    assert launcher.parallel_workers_problem(1) is None  # the model in MLServer's own process
    assert "pip install 'uvloop<0.22'" in launcher.parallel_workers_problem(2)
    versions["uvloop"] = (0, 21, 0)
    assert launcher.parallel_workers_problem(2) is None


def test_scoring_server_timeout_answers_504(tmp_path, served):
    (tmp_path / "echo.py").write_text(ECHO_MODEL)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "echo.py"))
    # MLflow's variable sets --timeout, as it does for `mlflow models serve`.
    server = serve_model(str(tmp_path / "m"), env={"MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "1"})
    served.append(server)
    fast = httpx.post(
        f"{server.url}/invocations", json={"dataframe_records": [{"prompt": "ab", "n": 2}]}, timeout=30
    )
    assert fast.status_code == 200
    assert fast.json() == {"predictions": ["abab"]}
    slow = httpx.post(
        f"{server.url}/invocations",
        json={"dataframe_records": [{"prompt": "ab", "n": 2, "sleep": 4}]},
        timeout=30,
    )
    assert slow.status_code == 504
    assert slow.json() == {
        "error_code": "DEADLINE_EXCEEDED",
        "message": "Request processing time exceeded limit (1 s)",
    }


# ---------------------------------------------------------------- a real MLServer, in its own venv


@pytest.fixture(scope="session")
def mlserver_venv(tmp_path_factory) -> Path:
    """A venv with mlserver and this working tree's mltrail (built once per session with uv)."""
    from uv import find_uv_bin

    uv = find_uv_bin()
    venv = tmp_path_factory.mktemp("mlserver") / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    # The main venv's versions: the sklearn model pickled here must unpickle there.
    pins = [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "numpy", "pandas", "cloudpickle")]
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    proc = subprocess.run([*install, "-e", f"{REPO}[pandas,mlserver]", *pins], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


@dataclass
class MLServerProcess:
    url: str
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def start_mlserver(mlserver_venv, tmp_path_factory) -> Iterator:
    """Starts ``<venv>/bin/mltrail models serve --enable-mlserver`` and stops every one it started."""
    started: list[MLServerProcess] = []

    def start(model_dir: Path, *extra: str, model_name: str = "mlflow-model", env: dict | None = None):
        mltrail_cli = str(mlserver_venv / "bin" / "mltrail")
        work = tmp_path_factory.mktemp("mlserver-run")  # MLServer may write .metrics/.envs here
        port = free_port()
        log = work / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    mltrail_cli,
                    "models",
                    "serve",
                    "-m",
                    str(model_dir),
                    "--enable-mlserver",
                    "-p",
                    str(port),
                    *extra,
                ],
                cwd=work,
                env={
                    **os.environ,
                    "MLSERVER_GRPC_PORT": str(free_port()),
                    "MLSERVER_METRICS_PORT": str(free_port()),
                    **(env or {}),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its inference workers share the group, stopped with it
            )
        server = MLServerProcess(f"http://127.0.0.1:{port}", proc, log)
        started.append(server)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"MLServer exited with {proc.returncode}:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/v2/models/{model_name}/ready", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"MLServer not ready after 120 s:\n{server.output()}")

    yield start
    for server in started:
        stop_process(server.proc)
        try:
            os.killpg(server.proc.pid, signal.SIGKILL)  # any inference worker left behind
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def echo_server(start_mlserver, tmp_path_factory) -> MLServerProcess:
    """The custom PythonModel (no signature) served by MLServer with a 2-second timeout."""
    root = tmp_path_factory.mktemp("echo")
    (root / "echo.py").write_text(ECHO_MODEL)
    mltrail.pyfunc.save_model(root / "m", python_model=str(root / "echo.py"))
    return start_mlserver(root / "m", "--timeout", "2")


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 0.5, 2.5], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    y = [0, 0, 1, 1, 0, 1]
    clf = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("sk") / "clf"
    mltrail.sklearn.save_model(clf, path, signature=infer_signature(X, clf.predict(X)))
    return path, clf


@pytest.fixture(scope="module")
def sklearn_server(start_mlserver, sklearn_model) -> MLServerProcess:
    """The sklearn model behind two MLServer inference workers, under the user's model name."""
    return start_mlserver(sklearn_model[0], "-w", "2", model_name="clf", env={"MLSERVER_MODEL_NAME": "clf"})


@pytest.mark.slow
def test_mlserver_health_and_model_metadata(echo_server):
    assert httpx.get(f"{echo_server.url}/v2/health/live", timeout=10).status_code == 200
    assert httpx.get(f"{echo_server.url}/v2/health/ready", timeout=10).status_code == 200
    meta = httpx.get(f"{echo_server.url}/v2/models/mlflow-model", timeout=10)
    assert meta.status_code == 200
    assert meta.json()["name"] == "mlflow-model"
    assert meta.json()["parameters"] == {"content_type": "pd"}  # no signature: inputs become a DataFrame
    assert httpx.get(f"{echo_server.url}/v2/models/other", timeout=10).status_code == 404


@pytest.mark.slow
def test_mlserver_infers_a_custom_python_model(echo_server):
    body = _v2_frame({"prompt": ("BYTES", ["ab", "c"]), "n": ("INT64", [2, 3])})
    answer = httpx.post(f"{echo_server.url}/v2/models/mlflow-model/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["model_name"] == "mlflow-model"
    assert [(o["name"], o["datatype"], o["data"]) for o in out["outputs"]] == [
        ("output-1", "BYTES", ["abab", "ccc"])
    ]
    assert out["outputs"][0]["parameters"] == {"content_type": "str"}


@pytest.mark.slow
def test_mlserver_also_answers_mlflow_invocations(echo_server):
    assert httpx.get(f"{echo_server.url}/ping", timeout=10).status_code == 200
    ok = httpx.post(
        f"{echo_server.url}/invocations",
        json={"dataframe_split": {"columns": ["prompt", "n"], "data": [["x", 3]]}},
        timeout=30,
    )
    assert ok.status_code == 200
    assert ok.json() == {"predictions": ["xxx"]}
    bad = httpx.post(f"{echo_server.url}/invocations", json={"rows": []}, timeout=30)
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "BAD_REQUEST"
    assert "dataframe_split" in bad.json()["message"]


@pytest.mark.slow
def test_mlserver_bad_requests_get_4xx_and_the_server_keeps_serving(echo_server):
    url = f"{echo_server.url}/v2/models/mlflow-model/infer"
    # A tensor whose data does not fit its declared shape: MLServer's numpy codec fails, a 400.
    wrong_shape = _v2_frame({"prompt": ("BYTES", ["a"]), "n": ("INT64", [1])})
    wrong_shape["inputs"][1].update(shape=[3], parameters={"content_type": "np"})
    answer = httpx.post(url, json=wrong_shape, timeout=30)
    assert answer.status_code == 400
    assert "Could not decode the inference request" in answer.json()["error"]
    # The model fails on the input (no 'n' column): 400 with the model's error.
    answer = httpx.post(url, json=_v2_frame({"prompt": ("BYTES", ["a"])}), timeout=30)
    assert answer.status_code == 400
    assert "Encountered an unexpected error while evaluating the model" in answer.json()["error"]
    # Not a V2 request at all: MLServer's validation error.
    assert httpx.post(url, json={"instances": [1]}, timeout=30).status_code == 422
    # An unknown request content type.
    answer = httpx.post(url, json=_v2_frame({"prompt": ("BYTES", ["a"])}, content_type="nope"), timeout=30)
    assert answer.status_code == 400
    assert "nope" in answer.json()["error"]

    assert echo_server.proc.poll() is None
    body = _v2_frame({"prompt": ("BYTES", ["ok"]), "n": ("INT64", [1])})
    assert httpx.post(url, json=body, timeout=30).json()["outputs"][0]["data"] == ["ok"]


@pytest.mark.slow
def test_mlserver_timeout_answers_504(echo_server):
    body = _v2_frame({"prompt": ("BYTES", ["a"]), "n": ("INT64", [1]), "sleep": ("FP64", [6.0])})
    answer = httpx.post(f"{echo_server.url}/v2/models/mlflow-model/infer", json=body, timeout=30)
    assert answer.status_code == 504
    assert answer.json() == {"error": "Request processing time exceeded limit (2 s)"}


@pytest.mark.slow
def test_mlserver_serves_sklearn_with_parallel_workers(sklearn_server, sklearn_model):
    _, clf = sklearn_model
    rows = pd.DataFrame({"a": [0.2, 2.8, 1.9, 0.1], "b": [1.0, 0.0, 0.0, 1.0]})
    expected = clf.predict(rows).tolist()
    meta = httpx.get(f"{sklearn_server.url}/v2/models/clf", timeout=10).json()
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [("a", "FP64"), ("b", "FP64")]
    assert meta["parameters"] == {"content_type": "pd"}  # from the model's column signature

    columns = {"a": ("FP64", rows["a"].tolist()), "b": ("FP64", rows["b"].tolist())}
    url = f"{sklearn_server.url}/v2/models/clf/infer"
    for content_type in ("pd", None):  # explicit, or the signature's default
        answer = httpx.post(url, json=_v2_frame(columns, content_type), timeout=30)
        assert answer.status_code == 200, answer.text
        (output,) = answer.json()["outputs"]
        assert output["datatype"] == "INT64"
        assert output["data"] == expected

    missing = httpx.post(url, json=_v2_frame({"a": columns["a"]}), timeout=30)
    assert missing.status_code == 400
    assert "'b'" in missing.json()["error"]
    assert (
        httpx.post(f"{sklearn_server.url}/v2/models/mlflow-model/infer", json={"inputs": []}).status_code
        == 404
    )


@pytest.mark.slow
def test_an_isolated_uv_environment_gets_mlserver_too(tmp_path):
    """From this venv (no mlserver): --env-manager uv builds an env with mltrail[mlserver] and serves there."""
    (tmp_path / "echo.py").write_text(ECHO_MODEL)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "echo.py"))
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "MLTRAIL_ENV_ROOT": str(tmp_path / "envs"),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
    }
    argv = [
        "models",
        "serve",
        "-m",
        str(tmp_path / "m"),
        "-p",
        str(port),
        "--enable-mlserver",
        "--env-manager",
        "uv",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mltrail", *argv],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        (built,) = (tmp_path / "envs").iterdir()
        assert (built / "bin" / "mlserver").exists()
        body = _v2_frame({"prompt": ("BYTES", ["ab"]), "n": ("INT64", [3])})
        reply = httpx.post(f"http://127.0.0.1:{port}/v2/models/mlflow-model/infer", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        assert reply.json()["outputs"][0]["data"] == ["ababab"]
    finally:
        stop_process(proc)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- agents under MLServer

AGENT_MODEL = """
import mltrail
from mltrail.pyfunc import ResponsesAgent
from mltrail.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent


class Echo(ResponsesAgent):
    def predict(self, request):
        return ResponsesAgentResponse(output=[self.create_text_output_item("echo: " + request.input[-1].content, "m1")])

    def predict_stream(self, request):
        for word in request.input[-1].content.split():
            yield ResponsesAgentStreamEvent(**self.create_text_delta(word, item_id="m1"))


mltrail.models.set_model(Echo())
"""


@pytest.fixture(scope="module")
def agent_server(start_mlserver, tmp_path_factory) -> MLServerProcess:
    root = tmp_path_factory.mktemp("agent")
    (root / "agent.py").write_text(AGENT_MODEL)
    mltrail.set_tracking_uri(f"sqlite:///{root / 'traces.db'}")
    try:
        mltrail.pyfunc.save_model(root / "m", python_model=str(root / "agent.py"))
    finally:
        mltrail.set_tracking_uri(None)
    return start_mlserver(root / "m")


@pytest.mark.slow
def test_mlserver_serves_a_responses_agent_over_v2_and_invocations(agent_server):
    url = agent_server.url
    meta = httpx.get(f"{url}/v2/models/mlflow-model", timeout=10).json()
    assert {"name": "input", "content_type": "pd_json"} in [
        {"name": i["name"], "content_type": i["parameters"]["content_type"]} for i in meta["inputs"]
    ]
    # V2: one agent request, its field as a JSON document (typed by the signature's metadata).
    messages = [{"role": "user", "content": "hi"}]
    body = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": [json.dumps(messages)]}]}
    reply = httpx.post(f"{url}/v2/models/mlflow-model/infer", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    assert outputs["object"]["data"] == ["response"]
    assert outputs["output"]["shape"] == [1, 1]
    assert outputs["output"]["parameters"]["content_type"] == "pd_json"
    (items,) = [json.loads(d) for d in outputs["output"]["data"]]
    assert items[0]["content"][0]["text"] == "echo: hi"
    # MLflow's /invocations: the agent's own request body, the response unwrapped.
    resp = httpx.post(f"{url}/invocations", json={"input": messages}, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["object"] == "response" and "predictions" not in resp.json()
    assert resp.json()["output"][0]["content"][0]["text"] == "echo: hi"
    # "stream": true -> server-sent events from predict_stream.
    stream = httpx.post(
        f"{url}/invocations", json={"input": [{"role": "user", "content": "a b"}], "stream": True}, timeout=60
    )
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")]
    assert [e["delta"] for e in events] == ["a", "b"]
    # A request that does not fit the agent's schema: MLflow's 400, over both protocols.
    bad = httpx.post(f"{url}/invocations", json={"input": "hello"}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad.text
    body["inputs"][0]["data"] = [json.dumps("hello")]
    bad_v2 = httpx.post(f"{url}/v2/models/mlflow-model/infer", json=body, timeout=60)
    assert bad_v2.status_code == 400 and "input" in bad_v2.json()["error"], bad_v2.text
