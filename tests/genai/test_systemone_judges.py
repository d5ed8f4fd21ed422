"""``make_judge`` on TypeSafe System One models, side by side with the official ``mlflow`` 3.17 judges.

One ``mltrail server`` whose AI gateway has ``jev`` (a TypeSafe model, served by the loopback
fake of TypeSafe's API, :mod:`support.typesafe_server`) and ``chat`` (an OpenAI model, served
by the OpenAI fake). The same judge script runs under ``import mlflow`` and under
``import mltrail as mlflow``: a ``gateway:/jev`` judge chats, is refused as a System One
endpoint and asks System One; ``typesafe:/`` goes to TypeSafe directly; ``gateway:/chat``
stays on chat. Both libraries must send TypeSafe the same question and give the same feedback
(value, rationale, source, metadata), or refuse with the same message.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from judge_kit import as_official, trace

from mltrail.evaluation.judge import JudgeCallError
from mltrail.genai.judges import _systemone
from support.gateway_kit import SERVER_KEY, official_store
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer
from support.systemone_kit import CHAT, JEV, system_one_gateway
from support.typesafe_server import TEST_API_KEY, TypeSafeServer

OFFICIAL = "import mlflow\n"
OURS = "import mltrail as mlflow\n"
SCRIPT = """
judge = mlflow.genai.make_judge(
    name=NAME, instructions=INSTRUCTIONS, feedback_value_type=VALUE_TYPE, model=MODEL, **OPTIONS
)
feedback = judge(**ROW)
"""


def _polite(name: str, question: dict[str, Any], state: dict[str, Any]) -> float | str:
    """System One's answer: "please" is polite; a choice picks ``warm`` when polite, else its last label."""
    polite = "please" in json.dumps(state)
    if question["type"] == "noul":
        return 0.9 if polite else 0.2
    labels = list(question["criteria"])
    return "warm" if polite and "warm" in labels else labels[-1]


def _chat_verdict(request: dict[str, Any]) -> str:
    """The chat model's answer: the JSON verdict both libraries' chat judges read."""
    prompt = json.dumps(request["messages"])
    return json.dumps({"rationale": "Checked the reply.", "result": "please" in prompt})


@pytest.fixture(scope="module")
def typesafe():
    with TypeSafeServer(TEST_API_KEY) as server:
        server.set_responder(_polite)
        yield server


@pytest.fixture(scope="module")
def openai():
    with OpenAIServer(_chat_verdict) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"MLTRAIL_SECRET_KEY": SERVER_KEY}
    live = start_server(tmp_path_factory.mktemp("systemone-judges"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def gateway(server, typesafe, openai):
    """The gateway's secrets, model definitions and endpoints, made with the official client."""
    store = official_store(server.url)
    flips = [("flip-official", "typesafe", "jev-1.13"), ("flip-ours", "typesafe", "jev-1.13")]
    secrets, made = system_one_gateway(store, typesafe.base_url, openai.base_url, [JEV, CHAT, *flips])
    return store, secrets, made


@pytest.fixture
def env(server, gateway, monkeypatch):
    """Both libraries pointed at the server; TypeSafe's key for direct ``typesafe:/`` judges."""
    import mlflow

    import mltrail

    monkeypatch.delenv("MLTRAIL_GATEWAY_URL", raising=False)
    monkeypatch.delenv("MLTRAIL_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("TYPESAFE_API_KEY", TEST_API_KEY)
    mlflow.set_tracking_uri(server.url)
    mltrail.set_tracking_uri(server.url)
    yield


def run(header: str, **names: Any) -> Any:
    """The judge script under ``header``'s import: its feedback, or the exception it raised."""
    scope = {"OPTIONS": {}, **names}
    try:
        exec(compile(header + SCRIPT, "<judge script>", "exec"), scope)
    except Exception as err:
        return err
    return scope["feedback"]


def facts(result: Any) -> dict[str, Any]:
    """What a caller sees of a feedback (or a refusal), in plain values."""
    if isinstance(result, Exception):
        return {"error_code": getattr(result, "error_code", None), "message": getattr(result, "message", "")}
    source = result.source
    return {
        "name": result.name,
        "value": result.value,
        "rationale": result.rationale,
        "source": (str(getattr(source.source_type, "value", source.source_type)), source.source_id),
        "metadata": dict(result.metadata or {}),
        "error": result.error,
    }


def both(typesafe, **names: Any) -> tuple[dict, dict, list, list]:
    """The script's facts under the official client and under mltrail, and what TypeSafe was sent by each."""
    before = len(typesafe.requests)
    theirs = facts(run(OFFICIAL, **names))
    middle = len(typesafe.requests)
    ours = facts(run(OURS, **names))
    sent = [r["body"] for r in typesafe.requests[before:]]
    return theirs, ours, sent[: middle - before], sent[middle - before :]


POLITE = {"outputs": "Yes, please sit down."}
CASES = {
    "gateway-bool": dict(
        MODEL="gateway:/jev", INSTRUCTIONS="Is the reply {{ outputs }} polite?", VALUE_TYPE=bool, ROW=POLITE
    ),
    "gateway-bool-no": dict(
        MODEL="gateway:/jev",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW={"outputs": "Sit down."},
    ),
    "gateway-choice": dict(
        MODEL="gateway:/jev",
        INSTRUCTIONS="How does {{ outputs }} answer {{ inputs }}, given {{ expectations }}?",
        VALUE_TYPE=Literal["warm", "cold", "neutral"],
        ROW={"inputs": {"q": "Sit?"}, "outputs": "Yes, please.", "expectations": {"tone": "warm"}},
    ),
    "gateway-numbers": dict(
        MODEL="gateway:/jev",
        INSTRUCTIONS="Rate {{ outputs }}.",
        VALUE_TYPE=Literal[1, 2, 3],
        ROW={"outputs": "ok"},
    ),
    "gateway-decisions": dict(
        MODEL="gateway:/jev",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW=POLITE,
        OPTIONS={"model_api": "decisions"},
    ),
    "typesafe-direct": dict(
        MODEL="typesafe:/jev-1.13",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW=POLITE,
    ),
    "typesafe-own-authorization": dict(
        MODEL="typesafe:/jev-1.13",
        INSTRUCTIONS="Is {{ outputs }} warm or cold?",
        VALUE_TYPE=Literal["warm", "cold"],
        ROW=POLITE,
        OPTIONS={"extra_headers": {"Authorization": f"Bearer {TEST_API_KEY}"}},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_system_one_feedback_parity_with_official_mlflow(env, typesafe, case, monkeypatch):
    names = {"NAME": "polite", "OPTIONS": {}, **CASES[case]}
    if names["MODEL"].startswith("typesafe:/"):
        names["OPTIONS"] = {**names["OPTIONS"], "base_url": typesafe.base_url}
    if "extra_headers" in names["OPTIONS"]:
        monkeypatch.delenv("TYPESAFE_API_KEY")
    theirs, ours, sent_by_them, sent_by_us = both(typesafe, **names)
    assert ours == theirs
    assert ours["error"] is None and ours["rationale"] is None
    assert ours["source"] == ("LLM_JUDGE", names["MODEL"])
    assert ours["metadata"]["typesafe.model"] == "jev-1.13"
    assert ours["metadata"]["guideline"] == names["INSTRUCTIONS"]
    assert ours["metadata"]["mlflow.assessment.judgeInputTokens"].isdigit()
    # One System One question each, the same one: the values as state, the variables renamed to it.
    assert len(sent_by_us) == 1 and sent_by_us == sent_by_them
    [question] = sent_by_us[0]["questions"].values()
    assert "state.outputs" in question["instructions"] and "{{" not in question["instructions"]
    assert sent_by_us[0]["state"]["outputs"] == names["ROW"]["outputs"]


def test_system_one_values(env, typesafe):
    """What the fake's answers become: a probability over a half is True, a choice its literal."""
    values = {}
    for case in ("gateway-bool", "gateway-bool-no", "gateway-choice", "gateway-numbers"):
        values[case] = facts(run(OURS, NAME="j", OPTIONS={}, **CASES[case]))
    assert values["gateway-bool"]["value"] is True
    assert values["gateway-bool"]["metadata"]["typesafe.probability"] == "0.9"
    assert values["gateway-bool-no"]["value"] is False
    assert values["gateway-choice"]["value"] == "warm"
    assert json.loads(values["gateway-choice"]["metadata"]["typesafe.probabilities"])["warm"] == 0.9
    assert values["gateway-choice"]["metadata"]["typesafe.confidence"] == "0.9"
    assert values["gateway-numbers"]["value"] == 3


def test_a_chat_endpoint_stays_on_chat(env, typesafe, openai):
    """``gateway:/chat`` is an ordinary chat endpoint: both judges chat, and never ask System One."""
    names = dict(
        NAME="polite",
        MODEL="gateway:/chat",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW=POLITE,
    )
    chats = len(openai.requests)
    theirs, ours, sent_by_them, sent_by_us = both(typesafe, **names)
    assert sent_by_them == sent_by_us == []
    assert len(openai.requests) == chats + 2
    assert ours["value"] is True and ours["rationale"] == "Checked the reply."
    for key in ("name", "value", "rationale", "source", "error"):
        assert ours[key] == theirs[key], key
    assert ours["metadata"]["guideline"] == theirs["metadata"]["guideline"] == names["INSTRUCTIONS"]


@pytest.mark.parametrize("header", [OFFICIAL, OURS], ids=["official", "ours"])
def test_an_endpoint_no_longer_serving_system_one_falls_back_to_chat(env, gateway, openai, header):
    """A remembered System One endpoint reconfigured to a chat model: the System One route refuses it
    (422, "not a System One model"), and the judge falls back to chat."""
    store, secrets, made = gateway
    endpoint = "flip-official" if header == OFFICIAL else "flip-ours"
    names = dict(
        NAME="polite",
        MODEL=f"gateway:/{endpoint}",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW=POLITE,
    )
    first = facts(run(header, **names))
    assert first["metadata"]["typesafe.model"] == "jev-1.13" and first["rationale"] is None
    store.update_gateway_model_definition(
        made[endpoint].model_definition_id,
        secret_id=secrets["openai"].secret_id,
        model_name="gpt-4o-mini",
        provider="openai",
    )
    chats = len(openai.requests)
    second = facts(run(header, **names))
    assert len(openai.requests) == chats + 1
    assert second["value"] is True and second["rationale"] == "Checked the reply."
    assert not any(k.startswith("typesafe.") for k in second["metadata"])


REFUSALS = {
    "decisions-on-a-chat-endpoint": dict(
        MODEL="gateway:/chat", VALUE_TYPE=bool, ROW=POLITE, OPTIONS={"model_api": "decisions"}
    ),
    "trace-on-a-system-one-endpoint": dict(
        MODEL="gateway:/jev", INSTRUCTIONS="Was {{ trace }} polite?", VALUE_TYPE=bool, ROW="trace"
    ),
    "trace-on-typesafe": dict(
        MODEL="typesafe:/jev-1.13", INSTRUCTIONS="Was {{ trace }} polite?", VALUE_TYPE=bool, ROW="trace"
    ),
    "inference-params-on-typesafe": dict(
        MODEL="typesafe:/jev-1.13", VALUE_TYPE=bool, ROW=POLITE, OPTIONS={"inference_params": {"top_p": 1}}
    ),
    "free-text-on-system-one": dict(MODEL="gateway:/jev", VALUE_TYPE=str, ROW=POLITE),
    "float-on-typesafe": dict(MODEL="typesafe:/jev-1.13", VALUE_TYPE=float, ROW=POLITE),
    "ambiguous-labels": dict(MODEL="typesafe:/jev-1.13", VALUE_TYPE=Literal[1, "1"], ROW=POLITE),
    "no-key": dict(MODEL="typesafe:/jev-1.13", VALUE_TYPE=bool, ROW=POLITE, NO_KEY=True),
    "empty-authorization": dict(
        MODEL="typesafe:/jev-1.13",
        VALUE_TYPE=bool,
        ROW=POLITE,
        OPTIONS={"extra_headers": {"authorization": " "}},
    ),
    "base-url-with-credentials": dict(
        MODEL="typesafe:/jev-1.13",
        VALUE_TYPE=bool,
        ROW=POLITE,
        OPTIONS={"base_url": "http://u:p@localhost:1/v1"},
    ),
    "not-a-model-api": dict(
        MODEL="gateway:/jev", VALUE_TYPE=bool, ROW=POLITE, OPTIONS={"model_api": "responses"}
    ),
    "decisions-on-anthropic": dict(
        MODEL="anthropic:/claude-3-5-haiku-latest",
        VALUE_TYPE=bool,
        ROW=POLITE,
        OPTIONS={"model_api": "decisions"},
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_match_official_mlflow(env, typesafe, case, monkeypatch):
    names = {"NAME": "polite", "INSTRUCTIONS": "Is the reply {{ outputs }} polite?", "OPTIONS": {}}
    names.update(REFUSALS[case])
    if names.pop("NO_KEY", False):
        monkeypatch.delenv("TYPESAFE_API_KEY")
    if names["MODEL"].startswith("typesafe:/") and "base_url" not in names["OPTIONS"]:
        names["OPTIONS"] = {**names["OPTIONS"], "base_url": typesafe.base_url}
    if names["ROW"] == "trace":
        theirs = facts(run(OFFICIAL, **{**names, "ROW": {"trace": as_official(trace(1, outputs="Sit."))}}))
        ours = facts(run(OURS, **{**names, "ROW": {"trace": trace(1, outputs="Sit.")}}))
        sent = []
    else:
        theirs, ours, _, sent = both(typesafe, **names)
    assert ours == theirs
    assert ours["error_code"] == "INVALID_PARAMETER_VALUE" and ours["message"]
    assert sent == []


def test_a_failed_system_one_call_is_an_error_feedback(env, typesafe):
    """A refused TypeSafe call is mltrail's error feedback (the official client raises), with MLflow's text."""
    names = dict(
        NAME="polite",
        MODEL="typesafe:/jev-1.13",
        INSTRUCTIONS="Is the reply {{ outputs }} polite?",
        VALUE_TYPE=bool,
        ROW=POLITE,
        OPTIONS={"base_url": typesafe.base_url, "extra_headers": {"Authorization": "Bearer wrong-key"}},
    )
    with pytest.warns(UserWarning, match="gave no verdict"):
        ours = run(OURS, **names)
    assert ours.value is None and ours.error.error_code == "UNAUTHENTICATED"
    assert ours.error.error_message.startswith("TypeSafe evaluation failed with HTTP 401.")
    assert "wrong-key" not in ours.error.error_message
    theirs = run(OFFICIAL, **names)
    assert theirs.message.startswith("TypeSafe evaluation failed with HTTP 401.")


@pytest.mark.parametrize(
    ("status", "detail", "fallback"),
    [
        (422, "Gateway endpoint does not use the TypeSafe provider.", True),  # older servers' wording
        (
            422,
            "Gateway endpoint does not use a System One model. Use a TypeSafe or OpenRouter Jev decision model.",
            True,
        ),
        (404, "Not Found", True),  # a server without the System One route
        (404, "Gateway endpoint 'x' not found", False),
        (400, "Gateway endpoint does not use the TypeSafe provider.", False),
        (422, "something else", False),
    ],
)
def test_which_refusals_mean_not_a_system_one_endpoint(status, detail, fallback):
    """MLflow's client reads these answers of the System One route as "fall back to chat"; so does ours."""
    err = JudgeCallError("refused", "BAD_REQUEST", status=status, detail=detail)
    assert _systemone._says_not_system_one(err) is fallback


def test_model_api_round_trips_through_scorer_serialization():
    from mlflow.genai.judges import make_judge as official_make_judge
    from mlflow.genai.scorers import Scorer as OfficialScorer

    from mltrail.genai.judges import ModelAPI, make_judge
    from mltrail.genai.scorers.serialization import dump_scorer, load_scorer

    args = dict(
        name="polite",
        instructions="Is {{ outputs }} polite?",
        feedback_value_type=bool,
        model="gateway:/jev",
        model_api="decisions",
    )
    ours = dump_scorer(make_judge(**args))
    theirs = official_make_judge(**args).model_dump()
    mine, official = ours["instructions_judge_pydantic_data"], theirs["instructions_judge_pydantic_data"]
    assert mine["model_api"] == official["model_api"] == "decisions"
    default = dump_scorer(make_judge(**{**args, "model_api": "default"}))
    assert "model_api" not in default["instructions_judge_pydantic_data"]  # as MLflow: only a chosen API
    assert load_scorer(theirs).model_api is ModelAPI.DECISIONS
    assert OfficialScorer.model_validate(ours).model_api == "decisions"
