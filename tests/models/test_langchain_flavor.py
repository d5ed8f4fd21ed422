"""The LangChain flavor from code: save/log/load, invoke/batch/stream, and both ways with mlflow 3.17.2."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

import mltrail
import mltrail.langchain
import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.serving.app import create_scoring_app
from support.live_server import start_server, stop_server

mlflow = pytest.importorskip("mlflow")

CHAIN = """
import {lib}
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "Tell me about {{topic}}")])
chain = prompt | ChatOpenAI(model="gpt-4o-mini", temperature=0) | StrOutputParser()
{lib}.models.set_model(chain)
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@pytest.fixture
def chain_file(tmp_path, openai_server):
    def write(lib: str):
        path = tmp_path / f"chain_{lib}.py"
        path.write_text(CHAIN.format(lib=lib))
        return path

    return write


def test_save_load_invoke_batch_stream(chain_file, tmp_path, openai_server):
    mltrail.langchain.save_model(
        str(chain_file("mltrail")), tmp_path / "m", input_example={"topic": "MLflow"}
    )
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert set(meta["flavors"]["langchain"]) == {"code", "langchain_version", "streamable"}
    py = meta["flavors"]["python_function"]
    assert py["loader_module"] == "mlflow.langchain"
    assert (py["model_code_path"], py["predict_stream_fn"], py["streamable"]) == (
        "chain_mltrail.py",
        "predict_stream",
        True,
    )
    reqs = (tmp_path / "m" / "requirements.txt").read_text()
    assert "langchain-core==" in reqs and "langchain-openai==" in reqs
    assert [c["name"] for c in yaml.safe_load(meta["signature"]["inputs"])] == ["topic"]

    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    # With a signature a dict is a one-row table, so the answer is a list (as in mlflow).
    assert model.predict({"topic": "tracing"}) == ["Answer to: Tell me about tracing"]
    assert model.predict([{"topic": "a"}, {"topic": "b"}]) == [
        "Answer to: Tell me about a",
        "Answer to: Tell me about b",
    ]
    assert model.predict(pd.DataFrame({"topic": ["c"]})) == ["Answer to: Tell me about c"]
    assert "".join(model.predict_stream({"topic": "streams"})) == "Answer to: Tell me about streams"
    assert openai_server.requests[-1]["body"]["stream"] is True
    runnable = mltrail.langchain.load_model(str(tmp_path / "m"))
    assert runnable.invoke({"topic": "x"}) == "Answer to: Tell me about x"


def test_served_chain_answers_dataframe_records(chain_file, tmp_path):
    mltrail.langchain.save_model(
        str(chain_file("mltrail")), tmp_path / "m", input_example={"topic": "MLflow"}
    )
    client = TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(tmp_path / "m"))))
    resp = client.post("/invocations", json={"dataframe_records": [{"topic": "serving"}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": ["Answer to: Tell me about serving"]}


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(MltrailException, match="models-from-code"):
        mltrail.langchain.save_model(object(), tmp_path / "a")
    (tmp_path / "not_chain.py").write_text("import mltrail\nmltrail.models.set_model(42)\n")
    with pytest.raises(MltrailException, match="Runnable"):
        mltrail.langchain.save_model(str(tmp_path / "not_chain.py"), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_mltrail_chain_loads_in_mlflow_and_back(chain_file, tmp_path):
    mltrail.langchain.save_model(str(chain_file("mltrail")), tmp_path / "ours")
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "ours"))
    assert theirs.predict({"topic": "a"}) == "Answer to: Tell me about a"
    assert "".join(theirs.predict_stream({"topic": "s"})) == "Answer to: Tell me about s"
    assert (
        mlflow.langchain.load_model(str(tmp_path / "ours")).invoke({"topic": "b"})
        == "Answer to: Tell me about b"
    )

    mlflow.langchain.save_model(str(chain_file("mlflow")), str(tmp_path / "mlflows"), pip_requirements=["x"])
    ours = mltrail.pyfunc.load_model(str(tmp_path / "mlflows"))
    assert ours.predict([{"topic": "c"}]) == ["Answer to: Tell me about c"]
    assert "".join(ours.predict_stream({"topic": "d"})) == "Answer to: Tell me about d"
    assert (
        mltrail.langchain.load_model(str(tmp_path / "mlflows")).invoke({"topic": "e"})
        == "Answer to: Tell me about e"
    )


def test_logged_through_mltrail_server_both_ways(chain_file, live):
    mltrail.set_tracking_uri(live.url)
    mlflow.set_tracking_uri(live.url)
    try:
        with mltrail.start_run():
            info = mltrail.langchain.log_model(lc_model=str(chain_file("mltrail")), name="chain")
        model = mlflow.pyfunc.load_model(info.model_uri)
        assert model.predict({"topic": "server"}) == "Answer to: Tell me about server"
        with mlflow.start_run():
            theirs = mlflow.langchain.log_model(
                lc_model=str(chain_file("mlflow")), name="chain", pip_requirements=["x"]
            )
        assert (
            mltrail.pyfunc.load_model(theirs.model_uri).predict({"topic": "m"})
            == "Answer to: Tell me about m"
        )
    finally:
        mlflow.set_tracking_uri(None)


CHAT_CHAIN = """
import {lib}
from langchain_core.output_parsers import StrOutputParser
from langchain_openai import ChatOpenAI

{lib}.models.set_model(ChatOpenAI(model="gpt-4o-mini") | StrOutputParser())
"""


def test_chat_requests_become_messages_and_answers_chat_completions(tmp_path, openai_server):
    (tmp_path / "chat.py").write_text(CHAT_CHAIN.format(lib="mltrail"))
    mltrail.langchain.save_model(str(tmp_path / "chat.py"), tmp_path / "m")
    request = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    ours = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    answer = ours.predict(request)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Answer to: hi"}
    assert openai_server.requests[-1]["body"]["messages"] == request["messages"]
    chunks = list(ours.predict_stream(request))
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "Answer to: hi"
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(request)
    assert theirs["choices"][0]["message"]["content"] == answer["choices"][0]["message"]["content"]
    assert theirs["object"] == answer["object"]
