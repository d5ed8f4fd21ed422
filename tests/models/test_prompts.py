"""The Prompt Registry through mltrail's SDK, on an embedded SQLite file and over HTTP to ``mltrail server``.

Every test that touches a store runs twice (``env`` fixture): once on a fresh
SQLite file, once against a live server; prompt names are unique per test so
the shared server and the process-wide prompt cache never mix tests.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest

import mltrail
from mltrail.entities.prompt import PromptModelConfig, PromptVersion, parse_prompt_uri
from mltrail.exceptions import MltrailException
from support.live_server import start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("prompts-server"), timeout=120)
    yield s
    stop_server(s)


@pytest.fixture(params=["sqlite", "server"])
def env(request, tmp_path):
    """``(client, name)``: the SDK pointed at a backend, and a prompt name unique to the test."""
    uri = (
        f"sqlite:///{tmp_path / 'prompts.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("server").url
    )
    mltrail.set_tracking_uri(uri)
    yield mltrail.MlflowClient(uri), f"p-{uuid.uuid4().hex[:10]}"
    mltrail.set_tracking_uri(None)


def _code(fn) -> str:
    with pytest.raises(MltrailException) as info:
        fn()
    return info.value.error_code


CHAT = [
    {"role": "system", "content": "You are a {{ style }} assistant."},
    {"role": "user", "content": "{{question}}"},
]


# ------------------------------------------------------------------------- entities (no store)


def test_format_text_all_missing_partial():
    pv = PromptVersion("qa", 1, "Hello {{ title }} {{name}}! {{ title }}")
    assert pv.variables == {"title", "name"} and pv.is_text_prompt
    assert pv.format(title="Ms", name="Ada", unused="x") == "Hello Ms Ada! Ms"
    with pytest.raises(MltrailException, match="Missing variables: \\['name'\\]") as info:
        pv.format(title="Ms")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    partial = pv.format(title="Ms", allow_partial=True)
    assert isinstance(partial, PromptVersion) and partial.template == "Hello Ms {{name}}! Ms"
    assert partial.variables == {"name"} and partial.format(name="Ada") == "Hello Ms Ada! Ms"
    # A value is inserted once, never scanned again for placeholders.
    assert pv.format(title="{{name}}", name="\\u00e9") == "Hello {{name}} \\u00e9! {{name}}"
    assert pv.to_single_brace_format() == "Hello {title} {name}! {title}"
    assert pv.uri == "prompts:/qa/1" and "Hello {{ title }}" in repr(pv)


def test_format_chat_and_jinja():
    pv = PromptVersion("qa", 2, CHAT)
    assert not pv.is_text_prompt and pv.variables == {"style", "question"}
    assert pv.format(style="terse", question="Why?") == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Why?"},
    ]
    partial = pv.format(style="terse", allow_partial=True)
    assert partial.template[1]["content"] == "{{question}}"
    assert pv.to_single_brace_format()[0]["content"] == "You are a {style} assistant."
    jinja = PromptVersion("j", 1, "Hi {% if name %}{{ name }}{% else %}guest{% endif %}!")
    assert jinja.format(name="Ada") == "Hi Ada!" and jinja.format() == "Hi guest!"


def test_template_and_config_validation():
    for bad in (5, None, [], ["text"], [{"content": "no role"}], [{"role": "user", "content": 3}]):
        assert _code(lambda b=bad: PromptVersion("p", 1, b)) == "INVALID_PARAMETER_VALUE"
    cfg = PromptModelConfig.from_dict({"model_name": "gpt-4o-mini", "temperature": 0.5, "seed": 7})
    assert cfg.extra_params == {"seed": 7}
    assert cfg.to_dict() == {"model_name": "gpt-4o-mini", "temperature": 0.5, "seed": 7}
    for bad in (
        {"temperature": -1},
        {"top_p": 2},
        {"max_tokens": 0},
        {"max_tokens": 1.5},
        {"stop_sequences": "x"},
    ):
        assert _code(lambda b=bad: PromptModelConfig.from_dict(b)) == "INVALID_PARAMETER_VALUE"


def test_prompt_uris():
    assert parse_prompt_uri("prompts:/qa/3") == ("qa", "3", None)
    assert parse_prompt_uri("prompts:/qa@prod") == ("qa", None, "prod")
    assert parse_prompt_uri("prompts:/qa@latest") == ("qa", None, "latest")
    for bad in ("prompts:/qa", "prompts:/qa/Production", "models:/qa/1", "prompts:/@x", "prompts:/qa/1/2"):
        assert _code(lambda b=bad: parse_prompt_uri(b)) == "INVALID_PARAMETER_VALUE"


# ---------------------------------------------------------------------------- registry, both backends


def test_register_text_then_chat_versions(env):
    client, name = env
    v1 = mltrail.genai.register_prompt(
        name, "Answer {{question}}", commit_message="first", tags={"team": "a"}
    )
    v2 = mltrail.genai.register_prompt(
        name,
        CHAT,
        commit_message="chat",
        tags={"team": "b", "author": "ada"},
        response_format={"type": "object", "properties": {"answer": {"type": "string"}}},
        model_config=PromptModelConfig(model_name="gpt-4o-mini", temperature=0.2),
    )
    assert (v1.version, v2.version) == (1, 2)
    got1, got2 = client.get_prompt_version(name, 1), client.get_prompt_version(name, "2")
    assert got1.template == "Answer {{question}}" and got1.is_text_prompt and got1.commit_message == "first"
    assert got1.tags == {"team": "a"} and got1.creation_timestamp > 0 and got1.uri == f"prompts:/{name}/1"
    assert got2.template == CHAT and got2.variables == {"style", "question"}
    assert got2.response_format["properties"] == {"answer": {"type": "string"}}
    assert got2.model_config == {"model_name": "gpt-4o-mini", "temperature": 0.2}
    assert got2.tags == {"team": "b", "author": "ada"}
    prompt = client.get_prompt(name)
    # The prompt keeps its first commit message as description; tags follow the latest registration.
    assert prompt.description == "first" and prompt.tags["team"] == "b" and prompt.tags["author"] == "ada"
    assert "mlflow.prompt.is_prompt" not in prompt.tags
    # The rows are MLflow's: a registered model and versions marked with the prompt tags.
    mv = client.get_model_version(name, "2")
    assert mv.tags["mlflow.prompt.is_prompt"] == "true" and mv.tags["_mlflow_prompt_type"] == "chat"
    assert json.loads(mv.tags["mlflow.prompt.text"]) == CHAT and mv.source == "dummy-source"
    assert client.get_model_version(name, "1").tags["_mlflow_prompt_type"] == "text"
    assert [p.version for p in client.search_prompt_versions(name)] == [2, 1]
    explicit = client.create_prompt_version(name, "Third {{x}}", description="via client")
    assert explicit.version == 3 and client.load_prompt(name, cache_ttl_seconds=0).version == 3


def test_load_by_name_version_alias_and_latest(env):
    client, name = env
    for text in ("one {{x}}", "two {{x}}", "three {{x}}"):
        mltrail.genai.register_prompt(name, text)
    assert mltrail.genai.load_prompt(name).template == "three {{x}}"
    assert mltrail.genai.load_prompt(name, version=1).template == "one {{x}}"
    assert mltrail.genai.load_prompt(f"prompts:/{name}/2").format(x=1) == "two 1"
    assert mltrail.genai.load_prompt(f"prompts:/{name}@latest").version == 3
    mltrail.genai.set_prompt_alias(name, alias="production", version=1)
    assert mltrail.genai.load_prompt(f"prompts:/{name}@production").version == 1
    mltrail.genai.set_prompt_alias(name, alias="production", version=2)  # moving an alias refreshes the cache
    assert mltrail.genai.load_prompt(f"prompts:/{name}@production").version == 2
    assert client.get_prompt_version_by_alias(name, "production").aliases == ["production"]
    assert client.parse_prompt_uri(f"prompts:/{name}@production") == (name, "2")
    mltrail.genai.register_prompt(name, "four {{x}}")  # a new version refreshes @latest
    assert mltrail.genai.load_prompt(name).version == 4
    mltrail.genai.delete_prompt_alias(name, "production")
    assert (
        _code(lambda: mltrail.genai.load_prompt(f"prompts:/{name}@production")) == "RESOURCE_DOES_NOT_EXIST"
    )
    assert mltrail.genai.load_prompt(f"prompts:/{name}@production", allow_missing=True) is None
    assert mltrail.genai.load_prompt("no-such-prompt", allow_missing=True) is None
    assert _code(lambda: mltrail.genai.load_prompt(name, version=9)) == "RESOURCE_DOES_NOT_EXIST"
    assert (
        _code(lambda: mltrail.genai.load_prompt(f"prompts:/{name}/1", version=1)) == "INVALID_PARAMETER_VALUE"
    )
    assert _code(lambda: mltrail.genai.set_prompt_alias(name, "prod", 9)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: mltrail.genai.set_prompt_alias(name, "latest", 1)) == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {}  # the refused aliases were not written


def test_tags_and_model_config(env):
    _client, name = env
    mltrail.genai.register_prompt(name, "x {{y}}", tags={"owner": "a"})
    mltrail.genai.set_prompt_tag(name, "stage", "dev")
    assert mltrail.genai.get_prompt_tags(name) == {
        "owner": "a",
        "stage": "dev",
        "_mlflow_experiment_ids": ",0,",
    }
    mltrail.genai.delete_prompt_tag(name, "stage")
    assert "stage" not in mltrail.genai.get_prompt_tags(name)
    assert mltrail.genai.load_prompt(name, 1).tags == {"owner": "a"}  # cached from here on
    mltrail.genai.set_prompt_version_tag(name, 1, "reviewed", "yes")  # invalidates the cached version
    assert mltrail.genai.load_prompt(name, 1).tags == {"owner": "a", "reviewed": "yes"}
    mltrail.genai.delete_prompt_version_tag(name, 1, "reviewed")
    assert mltrail.genai.load_prompt(name, 1).tags == {"owner": "a"}
    mltrail.genai.set_prompt_model_config(name, 1, {"model_name": "m", "max_tokens": 10})
    assert mltrail.genai.load_prompt(name, 1).model_config == {"model_name": "m", "max_tokens": 10}
    assert (
        _code(lambda: mltrail.genai.set_prompt_model_config(name, 1, {"top_k": -1}))
        == "INVALID_PARAMETER_VALUE"
    )
    mltrail.genai.delete_prompt_model_config(name, 1)
    assert mltrail.genai.load_prompt(name, 1).model_config is None
    assert _code(lambda: mltrail.genai.get_prompt_tags("no-such-prompt")) == "RESOURCE_DOES_NOT_EXIST"


def test_search_prompts_and_models_stay_apart(env):
    client, name = env
    mltrail.genai.register_prompt(f"{name}-greet", "Hi {{n}}", tags={"lang": "en"})
    mltrail.genai.register_prompt(f"{name}-Farewell", "Bye {{n}}", tags={"lang": "fr"})
    client.create_registered_model(f"{name}-model")
    client.create_model_version(f"{name}-model", "s3://bucket/model")

    def names(page):
        return sorted(p.name for p in page)

    assert names(mltrail.genai.search_prompts(f"name LIKE '{name}%'")) == [
        f"{name}-Farewell",
        f"{name}-greet",
    ]
    assert names(mltrail.search_prompts(f"name ILIKE '{name}-farewell'")) == [f"{name}-Farewell"]
    assert names(mltrail.genai.search_prompts(f"name LIKE '{name}%' AND tags.lang = 'en'")) == [
        f"{name}-greet"
    ]
    assert names(mltrail.genai.search_prompts(f"experiment_id = '0' AND name LIKE '{name}%'")) == [
        f"{name}-Farewell",
        f"{name}-greet",
    ]
    assert mltrail.genai.search_prompts(f"experiment_id = '12345' AND name LIKE '{name}%'") == []
    assert len(mltrail.genai.search_prompts(f"name LIKE '{name}%'", max_results=1)) == 1
    first = client.search_prompts(f"name LIKE '{name}%'", max_results=1, order_by=["name DESC"])
    second = client.search_prompts(
        f"name LIKE '{name}%'", max_results=1, order_by=["name DESC"], page_token=first.token
    )
    assert [p.name for p in first + second] == [f"{name}-greet", f"{name}-Farewell"]
    # Model searches leave prompts out unless the filter names the prompt tag (MLflow 3).
    assert names(client.search_registered_models(f"name LIKE '{name}%'")) == [f"{name}-model"]
    assert names(
        client.search_registered_models(f"name LIKE '{name}%' AND tags.`mlflow.prompt.is_prompt` != 'true'")
    ) == [f"{name}-model"]
    assert (
        len(
            client.search_registered_models(
                f"name LIKE '{name}%' AND tags.`mlflow.prompt.is_prompt` = 'true'"
            )
        )
        == 2
    )
    assert [mv.name for mv in client.search_model_versions(f"name LIKE '{name}%'")] == [f"{name}-model"]
    both = client.search_model_versions(f"name LIKE '{name}%' AND tag.`mlflow.prompt.is_prompt` = 'true'")
    assert sorted(mv.name for mv in both) == [f"{name}-Farewell", f"{name}-greet"]
    assert _code(lambda: mltrail.genai.search_prompts("experiment_id = 'abc'")) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: mltrail.genai.search_prompts("name >< 'x'")) == "INVALID_PARAMETER_VALUE"


def test_delete_versions_and_prompts(env):
    client, name = env
    mltrail.genai.register_prompt(name, "a {{x}}")
    mltrail.genai.register_prompt(name, "b {{x}}")
    assert mltrail.genai.load_prompt(name).version == 2
    client.delete_prompt_version(name, 2)
    assert _code(lambda: client.get_prompt_version(name, 2)) == "RESOURCE_DOES_NOT_EXIST"
    assert mltrail.genai.load_prompt(name).version == 1  # @latest follows the deletion
    assert mltrail.genai.register_prompt(name, "c {{x}}").version == 3  # numbers are never reused
    client.delete_prompt(name)
    assert client.get_prompt(name) is None
    assert _code(lambda: mltrail.genai.load_prompt(name, 1)) == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model(f"{name}-model")
    assert _code(lambda: client.delete_prompt(f"{name}-model")) == "INVALID_PARAMETER_VALUE"
    # A model is never deleted as a prompt.
    assert client.get_registered_model(f"{name}-model").name == f"{name}-model"


def test_bad_input_writes_nothing(env):
    client, name = env
    bad_calls = [
        lambda: mltrail.genai.register_prompt("has space", "x"),
        lambda: mltrail.genai.register_prompt("a/b", "x"),
        lambda: mltrail.genai.register_prompt("", "x"),
        lambda: mltrail.genai.register_prompt(name, 42),
        lambda: mltrail.genai.register_prompt(name, []),
        lambda: mltrail.genai.register_prompt(name, [{"role": "user", "content": 1}]),
        lambda: mltrail.genai.register_prompt(name, "x", response_format="json"),
        lambda: mltrail.genai.register_prompt(name, "x", model_config={"temperature": -0.5}),
        lambda: mltrail.genai.register_prompt(name, "x", tags=["not", "a", "dict"]),
    ]
    for call in bad_calls:
        assert _code(call) == "INVALID_PARAMETER_VALUE"
    assert client.get_prompt(name) is None
    # Refused by the store after the prompt was created: the new prompt is removed again.
    assert _code(lambda: mltrail.genai.register_prompt(name, "x" * 200_000)) == "INVALID_PARAMETER_VALUE"
    assert client.get_prompt(name) is None
    assert (
        client.search_registered_models(f"name = '{name}' AND tags.`mlflow.prompt.is_prompt` = 'true'") == []
    )
    # A model's name is not available to prompts, and the model is left untouched.
    client.create_registered_model(f"{name}-m")
    assert _code(lambda: mltrail.genai.register_prompt(f"{name}-m", "x")) == "INVALID_PARAMETER_VALUE"
    assert client.get_latest_versions(f"{name}-m") == []
    assert _code(lambda: client.get_prompt_version(f"{name}-m", 1)) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: client.create_prompt_version(f"{name}-m", "x")) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: client.get_prompt_version("missing-prompt", 1)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: client.delete_prompt_version(name, "one")) == "INVALID_PARAMETER_VALUE"
    # Messages speak of prompts, not registered models.
    with pytest.raises(MltrailException, match="Prompt with name=missing-prompt not found") as info:
        client.create_prompt_version("missing-prompt", "x")
    assert "Registered Model" not in info.value.message


def test_load_in_run_links_run(env):
    client, name = env
    mltrail.genai.register_prompt(name, "a {{x}}")
    mltrail.genai.register_prompt(name, "b {{x}}")
    with mltrail.start_run() as run:
        mltrail.genai.load_prompt(name, 1)
        mltrail.genai.load_prompt(f"prompts:/{name}/2")
        mltrail.genai.load_prompt(name)  # version 2 again: no duplicate
    tag = client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"]
    # Byte for byte what MLflow writes (json.dumps, version as a string).
    assert tag == json.dumps([{"name": name, "version": "1"}, {"name": name, "version": "2"}])
    assert [p.version for p in client.list_logged_prompts(run.info.run_id)] == [1, 2]
    client.detach_prompt_from_run(run.info.run_id, f"prompts:/{name}/1")
    assert client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"] == json.dumps(
        [{"name": name, "version": "2"}]
    )
    assert (
        _code(lambda: client.detach_prompt_from_run(run.info.run_id, f"prompts:/{name}/1"))
        == "INVALID_PARAMETER_VALUE"
    )
    client.link_prompt_version_to_run(run.info.run_id, f"prompts:/{name}/1")
    assert [p.version for p in client.list_logged_prompts(run.info.run_id)] == [2, 1]
    outside = client.create_run(run.info.experiment_id)
    assert "mlflow.linkedPrompts" not in outside.data.tags
    assert _code(lambda: client.link_prompt_version_to_run(outside.info.run_id, f"prompts:/{name}/7")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_concurrent_loads_link_every_prompt_once(env):
    client, name = env
    names = [f"{name}-{i}" for i in range(6)]
    for n in names:
        mltrail.genai.register_prompt(n, "t {{x}}")
    errors: list[BaseException] = []

    def load(n: str) -> None:
        try:
            for _ in range(3):
                mltrail.genai.load_prompt(n, 1)
        except BaseException as err:  # reported below
            errors.append(err)

    with mltrail.start_run() as run:
        threads = [threading.Thread(target=load, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    entries = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"])
    assert sorted(e["name"] for e in entries) == sorted(names) and all(e["version"] == "1" for e in entries)


def test_trace_links(env):
    client, name = env
    mltrail.genai.register_prompt(name, "Q: {{q}}")
    mltrail.genai.register_prompt(name, "Question: {{q}}")

    @mltrail.trace
    def answer(q: str) -> str:
        return mltrail.genai.load_prompt(name, 1).format(q=q)

    assert answer("why") == "Q: why"
    trace = mltrail.get_trace(mltrail.get_last_active_trace_id())
    expected = json.dumps([{"name": name, "version": "1"}])
    assert trace.info.tags["mlflow.linkedPrompts"] == expected
    assert trace.data.spans[0].attributes["mlflow.linkedPrompts"] == expected
    client.link_prompt_versions_to_trace([client.get_prompt_version(name, 2)], trace.info.trace_id)
    stored = mltrail.get_trace(trace.info.trace_id).info.tags["mlflow.linkedPrompts"]
    assert json.loads(stored) == [{"name": name, "version": "1"}, {"name": name, "version": "2"}]
    assert _code(lambda: client.link_prompt_versions_to_trace(["prompts:/x/1"], trace.info.trace_id)) == (
        "INVALID_PARAMETER_VALUE"
    )
