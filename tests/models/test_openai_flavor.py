"""The OpenAI flavor: save/log/load, the pyfunc wrapper against the loopback fake, both ways with mlflow 3.17.2."""

from __future__ import annotations

import warnings

import openai
import pandas as pd
import pytest
import yaml

import mltrail
import mltrail.openai
import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from support.live_server import start_server, stop_server

mlflow = pytest.importorskip("mlflow")

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Q: {question}"}]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


def _mlflow_save(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mlflow.openai.save_model is deprecated in 3.17
        # Explicit requirements: skips mlflow's slow requirement inference.
        mlflow.openai.save_model(*args, pip_requirements=["openai"], **kwargs)


def test_layout_and_signature_match_mlflow(tmp_path):
    mltrail.openai.save_model(
        "gpt-4o-mini", openai.chat.completions, tmp_path / "ours", messages=MESSAGES, temperature=0
    )
    _mlflow_save(
        "gpt-4o-mini", "chat.completions", str(tmp_path / "theirs"), messages=MESSAGES, temperature=0
    )
    ours = yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp_path / "theirs" / "MLmodel").read_text())
    assert set(ours["flavors"]["openai"]) == set(theirs["flavors"]["openai"])
    for key in ("loader_module", "data"):
        assert ours["flavors"]["python_function"][key] == theirs["flavors"]["python_function"][key]
    assert ours["signature"] == theirs["signature"]
    model_yaml = (tmp_path / "ours" / "model.yaml").read_text()
    assert yaml.safe_load(model_yaml) == yaml.safe_load((tmp_path / "theirs" / "model.yaml").read_text())
    assert "api_key" not in model_yaml.lower()
    assert mltrail.openai.load_model(str(tmp_path / "ours")) == {
        "model": "gpt-4o-mini",
        "task": "chat.completions",
        "messages": MESSAGES,
        "temperature": 0,
    }


def test_chat_predict_fills_the_template_per_row(tmp_path, openai_server):
    mltrail.openai.save_model(
        "gpt-4o-mini", "chat.completions", tmp_path / "m", messages=MESSAGES, temperature=0
    )
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(pd.DataFrame({"question": ["a?", "b?"]})) == ["Answer to: Q: a?", "Answer to: Q: b?"]
    assert model.predict(["c?"], params={"max_tokens": 5}) == ["Answer to: Q: c?"]
    sent = openai_server.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Q: c?"},
    ]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("gpt-4o-mini", 0, 5)


def test_named_variables_and_embeddings(tmp_path, openai_server):
    two = [{"role": "user", "content": "{greeting}, {name}"}]
    mltrail.openai.save_model("gpt-4o-mini", "chat.completions", tmp_path / "two", messages=two)
    model = mltrail.pyfunc.load_model(str(tmp_path / "two"))
    assert [c.name for c in model.metadata.signature.inputs] == ["greeting", "name"]
    assert model.predict(pd.DataFrame({"greeting": ["Hi"], "name": ["Ann"]})) == ["Answer to: Hi, Ann"]
    with pytest.raises(MltrailException, match="name"):
        model.predict(pd.DataFrame({"greeting": ["Hi"]}))

    mltrail.openai.save_model("text-embedding-3-small", openai.embeddings, tmp_path / "emb")
    vectors = mltrail.pyfunc.load_model(str(tmp_path / "emb")).predict(["one", "two words"])
    assert len(vectors) == 2 and all(isinstance(x, float) for x in vectors[0])


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(MltrailException, match="Unsupported task"):
        mltrail.openai.save_model("gpt-4o-mini", "chat", tmp_path / "a")
    with pytest.raises(MltrailException, match="'role' and 'content'"):
        mltrail.openai.save_model("gpt-4o-mini", "chat.completions", tmp_path / "b", messages=["hi"])
    assert not (tmp_path / "b").exists()


def test_both_ways_with_mlflow(tmp_path, openai_server):
    mltrail.openai.save_model("gpt-4o-mini", "chat.completions", tmp_path / "ours", messages=MESSAGES)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "ours"))
    assert theirs.predict(pd.DataFrame({"question": ["x?"]})) == ["Answer to: Q: x?"]
    _mlflow_save("gpt-4o-mini", "chat.completions", str(tmp_path / "mlflows"), messages=MESSAGES)
    ours = mltrail.pyfunc.load_model(str(tmp_path / "mlflows"))
    assert ours.predict(pd.DataFrame({"question": ["y?"]})) == ["Answer to: Q: y?"]


def test_logged_through_mltrail_server_both_ways(live, openai_server):
    mltrail.set_tracking_uri(live.url)
    mlflow.set_tracking_uri(live.url)
    try:
        with mltrail.start_run():
            info = mltrail.openai.log_model("gpt-4o-mini", "chat.completions", name="qa", messages=MESSAGES)
        assert mlflow.pyfunc.load_model(info.model_uri).predict(["s?"]) == ["Answer to: Q: s?"]
        with warnings.catch_warnings(), mlflow.start_run():
            warnings.simplefilter("ignore", FutureWarning)
            theirs = mlflow.openai.log_model(
                "gpt-4o-mini", "chat.completions", name="qa", messages=MESSAGES, pip_requirements=["openai"]
            )
        assert mltrail.pyfunc.load_model(theirs.model_uri).predict(["t?"]) == ["Answer to: Q: t?"]
    finally:
        mlflow.set_tracking_uri(None)
