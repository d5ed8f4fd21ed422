"""Prompts over ``mltrail server``: its REST behaviour, and the official mlflow 3.17.2 client both ways.

A prompt registered by the official client is loaded by mltrail's SDK with the
same template and ``format()`` result, and vice versa; the official client's
``load_prompt`` inside a run links it exactly as mltrail does.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

import mltrail
from support.live_server import start_server, stop_server

mlflow = pytest.importorskip("mlflow")

API = "/api/2.0/mlflow"
CHAT = [
    {"role": "system", "content": "You are a {{style}} assistant."},
    {"role": "user", "content": "{{ question }}"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("prompts-interop"), timeout=120)
    yield s
    stop_server(s)


@pytest.fixture
def name() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def ours(server):
    """mltrail's SDK pointed at the server."""
    mltrail.set_tracking_uri(server.url)
    yield mltrail.MlflowClient(server.url)
    mltrail.set_tracking_uri(None)


@pytest.fixture
def official(server, monkeypatch):
    """The official client pointed at the server, with its prompt cache emptied."""
    from mlflow.prompt.registry_utils import PromptCache

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    PromptCache._reset_instance()
    yield mlflow.MlflowClient(server.url)
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _rest(server, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, server.url + API + path, timeout=10, **kwargs)


# --------------------------------------------------------------------------- REST


def test_rest_searches_leave_prompts_out(server, ours, name):
    mltrail.genai.register_prompt(name, "Hi {{n}}")
    ours.create_registered_model(f"{name}-model")
    ours.create_model_version(f"{name}-model", "s3://bucket/m")

    def search(path: str, flt: str) -> list[str]:
        r = _rest(server, "GET", path, params={"filter": flt})
        assert r.status_code == 200, r.text
        body = r.json()
        return sorted(x["name"] for x in body.get("registered_models", body.get("model_versions", [])))

    assert search("/registered-models/search", f"name LIKE '{name}%'") == [f"{name}-model"]
    assert search(
        "/registered-models/search", f"name LIKE '{name}%' AND tag.`mlflow.prompt.is_prompt` != 'true'"
    ) == [f"{name}-model"]
    assert search(
        "/registered-models/search", f"tags.`mlflow.prompt.is_prompt` = 'true' AND name ILIKE '{name}'"
    ) == [name]
    assert search("/model-versions/search", f"name LIKE '{name}%'") == [f"{name}-model"]
    assert search(
        "/model-versions/search", f"name = '{name}' AND tag.`mlflow.prompt.is_prompt` = 'true'"
    ) == [name]
    r = _rest(
        server, "GET", "/registered-models/search", params={"filter": "tags.`mlflow.prompt.is_prompt` = "}
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_rest_prompt_sources_and_latest_alias(server, ours, name):
    mltrail.genai.register_prompt(name, "one {{x}}")
    mltrail.genai.register_prompt(name, "two {{x}}")
    prompt_tags = [
        {"key": "mlflow.prompt.is_prompt", "value": "true"},
        {"key": "mlflow.prompt.text", "value": "x"},
    ]
    # A prompt version's source is one of MLflow's placeholders, nothing else.
    for source in ("/etc/passwd", "s3://bucket/x", "runs:/abc/model"):
        r = _rest(
            server,
            "POST",
            "/model-versions/create",
            json={"name": name, "source": source, "tags": prompt_tags},
        )
        assert r.status_code == 400 and "Invalid prompt source" in r.json()["message"], r.text
    for source in ("dummy-source", "prompt-template"):
        r = _rest(
            server,
            "POST",
            "/model-versions/create",
            json={"name": name, "source": source, "tags": prompt_tags},
        )
        assert r.status_code == 200, r.text
    # ... and a model version never takes a prompt version as its source.
    ours.create_registered_model(f"{name}-m")
    r = _rest(
        server, "POST", "/model-versions/create", json={"name": f"{name}-m", "source": f"models:/{name}/1"}
    )
    assert r.status_code == 400 and "Prompt versions cannot be used" in r.json()["message"]
    assert ours.get_latest_versions(f"{name}-m") == []
    # The reserved alias "latest" names the newest version.
    r = _rest(server, "GET", "/registered-models/alias", params={"name": name, "alias": "latest"})
    assert r.status_code == 200 and r.json()["model_version"]["version"] == "4"
    ours.create_registered_model(f"{name}-empty")
    r = _rest(server, "GET", "/registered-models/alias", params={"name": f"{name}-empty", "alias": "latest"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# ---------------------------------------------------------------- the official client


def test_official_client_prompt_workflow(server, official, name):
    v1 = mlflow.genai.register_prompt(name, "Answer {{question}}", commit_message="first", tags={"team": "a"})
    v2 = mlflow.genai.register_prompt(name, CHAT, commit_message="chat")
    assert (v1.version, v2.version) == (1, 2)
    assert mlflow.genai.load_prompt(name).version == 2  # @latest
    assert mlflow.genai.load_prompt(name, version=1).format(question="Why?") == "Answer Why?"
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").template == "Answer {{question}}"
    found = mlflow.genai.search_prompts(f"name LIKE '{name}%'")
    assert [p.name for p in found] == [name] and found[0].tags["team"] == "a"
    assert official.search_registered_models(f"name LIKE '{name}%'") == []
    assert [v.version for v in official.search_prompt_versions(name)] == [2, 1]
    official.set_prompt_version_tag(name, 1, "reviewed", "yes")
    assert official.get_prompt_version(name, 1).tags == {"team": "a", "reviewed": "yes"}
    mlflow.genai.delete_prompt_alias(name, "production")
    official.delete_prompt_version(name, 2)
    assert mlflow.genai.load_prompt(name, cache_ttl_seconds=0).version == 1
    official.delete_prompt(name)
    assert official.get_prompt(name) is None


def test_official_prompt_loads_in_mltrail(server, official, ours, name):
    mlflow.genai.register_prompt(
        name,
        "Summarize {{ text }} as a {{style}}.",
        commit_message="text",
        tags={"owner": "ada"},
        model_config={"model_name": "gpt-4o-mini", "temperature": 0.1},
    )
    mlflow.genai.register_prompt(
        name, CHAT, response_format={"type": "object", "properties": {"a": {"type": "string"}}}
    )
    mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
    theirs1, theirs2 = official.get_prompt_version(name, 1), official.get_prompt_version(name, 2)
    mine1 = mltrail.genai.load_prompt(f"prompts:/{name}@prod")
    mine2 = mltrail.genai.load_prompt(name)
    assert mine1.version == 1 and mine2.version == 2
    assert mine1.template == theirs1.template and mine2.template == theirs2.template
    assert mine1.variables == theirs1.variables and mine2.variables == theirs2.variables
    assert mine1.format(text="a report", style="haiku") == theirs1.format(text="a report", style="haiku")
    assert mine2.format(style="kind", question="Why?") == theirs2.format(style="kind", question="Why?")
    assert mine1.commit_message == "text" and mine1.tags == theirs1.tags == {"owner": "ada"}
    assert mine1.model_config == theirs1.model_config == {"model_name": "gpt-4o-mini", "temperature": 0.1}
    assert mine2.response_format == theirs2.response_format
    assert mine1.to_single_brace_format() == theirs1.to_single_brace_format()
    assert mine1.aliases == theirs1.aliases == ["prod"]


def test_mltrail_prompt_loads_in_official(server, official, ours, name):
    mltrail.genai.register_prompt(
        name,
        "Translate {{ text }} to {{lang}}.",
        commit_message="mine",
        tags={"owner": "bob"},
        response_format={"type": "string"},
        model_config={"model_name": "m", "max_tokens": 100, "seed": 3},
    )
    mltrail.genai.register_prompt(name, CHAT, commit_message="chat")
    mltrail.genai.set_prompt_alias(name, alias="prod", version=2)
    theirs1 = mlflow.genai.load_prompt(name, version=1)
    theirs2 = mlflow.genai.load_prompt(f"prompts:/{name}@prod")
    mine1, mine2 = ours.get_prompt_version(name, 1), ours.get_prompt_version(name, 2)
    assert theirs1.template == mine1.template and theirs2.template == mine2.template == CHAT
    assert theirs1.format(text="hi", lang="fr") == mine1.format(text="hi", lang="fr") == "Translate hi to fr."
    assert theirs2.format(style="calm", question="?") == mine2.format(style="calm", question="?")
    assert theirs1.commit_message == "mine" and theirs1.tags == {"owner": "bob"}
    assert theirs1.response_format == {"type": "string"}
    assert theirs1.model_config == {"model_name": "m", "max_tokens": 100, "seed": 3}
    assert not theirs2.is_text_prompt and theirs2.aliases == ["prod"]
    assert [p.name for p in mlflow.genai.search_prompts(f"name = '{name}'")] == [name]
    assert mlflow.genai.load_prompt(name).version == 2


def test_official_load_in_run_links_like_mltrail(server, official, ours, name):
    mlflow.genai.register_prompt(name, "a {{x}}")
    mlflow.genai.register_prompt(name, "b {{x}}")
    with mlflow.start_run() as run:
        mlflow.genai.load_prompt(name, version=1)
        mlflow.genai.load_prompt(f"prompts:/{name}/2")
        mlflow.genai.load_prompt(name, version=1)
    theirs = ours.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"]
    assert theirs == json.dumps([{"name": name, "version": "1"}, {"name": name, "version": "2"}])
    with mltrail.start_run() as mine:
        mltrail.genai.load_prompt(name, version=1)
        mltrail.genai.load_prompt(f"prompts:/{name}/2")
        mltrail.genai.load_prompt(name, version=1)
    assert ours.get_run(mine.info.run_id).data.tags["mlflow.linkedPrompts"] == theirs
    # Each side reads the other's links.
    assert [p.version for p in ours.list_logged_prompts(run.info.run_id)] == [1, 2]
    # Linking an already linked version adds no duplicate.
    official.link_prompt_version_to_run(mine.info.run_id, official.get_prompt_version(name, 1))
    assert ours.get_run(mine.info.run_id).data.tags["mlflow.linkedPrompts"] == theirs


def test_model_links_match(server, official, ours, name):
    mltrail.genai.register_prompt(name, "a {{x}}")
    mltrail.genai.register_prompt(name, "b {{x}}")
    theirs = official.create_logged_model(experiment_id="0", name="agent").model_id
    mine = official.create_logged_model(experiment_id="0", name="agent").model_id
    official.link_prompt_version_to_model(name, "1", theirs)
    official.link_prompt_version_to_model(name, "2", theirs)
    ours.link_prompt_version_to_model(name, 1, mine)
    ours.link_prompt_version_to_model(name, 2, mine)
    ours.link_prompt_version_to_model(name, 2, mine)
    tag = official.get_logged_model(theirs).tags["mlflow.linkedPrompts"]
    assert official.get_logged_model(mine).tags["mlflow.linkedPrompts"] == tag
    assert json.loads(tag) == [{"name": name, "version": "1"}, {"name": name, "version": "2"}]
