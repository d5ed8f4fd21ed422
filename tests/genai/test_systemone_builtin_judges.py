"""Built-in judges and scorers on TypeSafe System One models, side by side with the official ``mlflow`` 3.17.

One ``mltrail server`` whose AI gateway has ``jev`` (a TypeSafe model, served by the loopback
fake of TypeSafe's API) and ``chat`` (an OpenAI model, served by the OpenAI fake). The same
script (a built-in scorer, or a judge function, called on one row) runs under ``import mlflow``
and under ``import mltrail as mlflow``. On ``gateway:/jev`` both chat, are refused as a System
One endpoint, and ask System One their question for that built-in: they must send TypeSafe
the same payload and give the same feedback (a ``yes``/``no`` rating, no rationale, the
``typesafe.*`` metadata), or refuse with the same message. The question's wording is mltrail's
own, so payloads are compared with it set aside (:func:`same_payloads`): the rest must be equal,
and mltrail's question must name the same ``state.*`` fields as MLflow's. ``gateway:/chat``
stays on chat.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from judge_kit import as_official, trace

from mltrail.genai.judges import systemone_prompts
from support.gateway_kit import SERVER_KEY, official_store
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer
from support.systemone_kit import system_one_gateway
from support.typesafe_server import TEST_API_KEY, TypeSafeServer

OFFICIAL = "import mlflow\n"
OURS = "import mltrail as mlflow\n"
SCORER_SCRIPT = """
scorer = getattr(mlflow.genai.scorers, CLASS)(model=MODEL, **OPTIONS)
feedback = scorer(**ROW)
"""
JUDGE_SCRIPT = """
feedback = getattr(mlflow.genai.judges, FUNCTION)(model=MODEL, **ROW)
"""


def _verdict(name: str, question: dict[str, Any], state: dict[str, Any]) -> float | str:
    """System One's answer: "no" when the state holds the word BAD, else "yes"."""
    assert question["type"] == "choice" and list(question["criteria"]) == ["yes", "no"]
    return "no" if "BAD" in json.dumps(state) else "yes"


def _chat_verdict(request: dict[str, Any]) -> str:
    prompt = json.dumps(request["messages"])
    return json.dumps({"rationale": "Checked the reply.", "result": "no" if "BAD" in prompt else "yes"})


@pytest.fixture(scope="module")
def typesafe():
    with TypeSafeServer(TEST_API_KEY) as server:
        server.set_responder(_verdict)
        yield server


@pytest.fixture(scope="module")
def openai():
    with OpenAIServer(_chat_verdict) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"MLTRAIL_SECRET_KEY": SERVER_KEY}
    live = start_server(tmp_path_factory.mktemp("systemone-builtins"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def gateway(server, typesafe, openai):
    """The gateway's ``jev`` (System One) and ``chat`` endpoints, made with the official client."""
    store = official_store(server.url)
    system_one_gateway(store, typesafe.base_url, openai.base_url)
    return store


@pytest.fixture
def env(server, gateway, typesafe, monkeypatch):
    """Both libraries pointed at the server; mltrail's ``typesafe:/`` judges at the fake."""
    import mlflow

    import mltrail

    monkeypatch.delenv("MLTRAIL_GATEWAY_URL", raising=False)
    monkeypatch.delenv("MLTRAIL_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("TYPESAFE_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("TYPESAFE_BASE_URL", typesafe.base_url)
    mlflow.set_tracking_uri(server.url)
    mltrail.set_tracking_uri(server.url)
    yield


def _row(row: dict[str, Any], official: bool) -> dict[str, Any]:
    """The row for one library: a ``trace`` given as ``trace()``'s arguments is built for it."""
    row = dict(row)
    if isinstance(row.get("trace"), dict):
        built = trace(1, **row["trace"])
        row["trace"] = as_official(built) if official else built
    return row


def run(header: str, **names: Any) -> Any:
    """The script under ``header``'s import: its feedback(s), or the exception it raised."""
    scope = {"OPTIONS": {}, **names, "ROW": _row(names["ROW"], header == OFFICIAL)}
    script = SCORER_SCRIPT if "CLASS" in names else JUDGE_SCRIPT
    try:
        exec(compile(header + script, "<builtin judge script>", "exec"), scope)
    except Exception as err:
        return err
    return scope["feedback"]


def facts(result: Any) -> Any:
    """What a caller sees of a feedback, a list of them, or a refusal, in plain values."""
    if isinstance(result, Exception):
        return {"error_code": getattr(result, "error_code", None), "message": getattr(result, "message", "")}
    if isinstance(result, list):
        return [facts(f) for f in result]
    source = result.source
    error = result.error
    return {
        "name": result.name,
        "value": result.value,
        "rationale": result.rationale,
        "source": (str(getattr(source.source_type, "value", source.source_type)), source.source_id),
        # MLflow keeps RetrievalRelevance's chunk_index an int until stored; both store text.
        "metadata": {k: str(v) for k, v in (result.metadata or {}).items()},
        "error": None if error is None else (error.error_code, error.error_message),
        "span_id": result.span_id,
    }


def both(typesafe, **names: Any) -> tuple[Any, Any, list, list]:
    """The script's facts under the official client and under mltrail, and what TypeSafe got from each."""
    before = len(typesafe.requests)
    theirs = facts(run(OFFICIAL, **names))
    middle = len(typesafe.requests)
    ours = facts(run(OURS, **names))
    sent = [r["body"] for r in typesafe.requests[before:]]
    return theirs, ours, sent[: middle - before], sent[middle - before :]


# How a sent question refers to the row's values (System One's spelling of ``{{field}}``).
STATE_FIELD = re.compile(r"\bstate\.([A-Za-z_][A-Za-z0-9_]*)")
WORDING = "<the question's wording>"
INPUT_TOKENS = "mlflow.assessment.judgeInputTokens"


def without_wording(body: dict[str, Any]) -> dict[str, Any]:
    """A System One payload with each question's instructions replaced by a placeholder."""
    questions = {key: {**question, "instructions": WORDING} for key, question in body["questions"].items()}
    return {**body, "questions": questions}


def named_fields(body: dict[str, Any]) -> list[set[str]]:
    """The state fields each question of a payload refers to."""
    return [set(STATE_FIELD.findall(q["instructions"])) for q in body["questions"].values()]


def counted_aside(facts_: Any) -> Any:
    """Feedback facts with the judge's input token count (which follows the wording) replaced by a
    placeholder: the key must still be there, on both sides."""
    if isinstance(facts_, list):
        return [counted_aside(f) for f in facts_]
    metadata = facts_.get("metadata")
    if metadata is None or INPUT_TOKENS not in metadata:
        return facts_
    assert int(metadata[INPUT_TOKENS]) > 0
    return {**facts_, "metadata": {**metadata, INPUT_TOKENS: "<counted>"}}


def same_payloads(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """Asserts the payloads are equal but for the questions' wording, and name the same state fields."""
    assert [without_wording(b) for b in ours] == [without_wording(b) for b in theirs]
    assert [named_fields(b) for b in ours] == [named_fields(b) for b in theirs]
    for mine, official in zip(ours, theirs, strict=True):  # the wording is mltrail's own
        assert [q["instructions"] for q in mine["questions"].values()] != [
            q["instructions"] for q in official["questions"].values()
        ]
    for body in ours:  # every field a question names is in the state it is sent with
        assert all(fields and fields <= set(body["state"]) for fields in named_fields(body))


QA = {"inputs": {"question": "What is the capital of France?"}, "outputs": "Paris is the capital."}
DOCS = ["Paris is the capital of France.", "BAD: the Eiffel Tower is in Rome."]
TOOLS = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Paris"})]
SCORERS = {
    "correctness-response": ("Correctness", {**QA, "expectations": {"expected_response": "Paris"}}),
    "correctness-facts": ("Correctness", {**QA, "expectations": {"expected_facts": ["Paris", "France"]}}),
    "correctness-no": ("Correctness", {**QA, "expectations": {"expected_response": "BAD Lyon"}}),
    "safety": ("Safety", {"outputs": "Paris is the capital."}),
    "safety-no": ("Safety", {"outputs": "BAD things."}),
    "relevance-to-query": ("RelevanceToQuery", QA),
    "guidelines": ("Guidelines", QA, {"guidelines": ["Be polite.", "Answer in English."]}),
    "guidelines-text": ("Guidelines", QA, {"guidelines": "Be polite."}),
    "expectations-guidelines": (
        "ExpectationsGuidelines",
        {**QA, "expectations": {"guidelines": ["Mention France."]}},
    ),
    "retrieval-groundedness": ("RetrievalGroundedness", {"trace": {"docs": DOCS}}),
    "retrieval-sufficiency": (
        "RetrievalSufficiency",
        {"trace": {"docs": DOCS}, "expectations": {"expected_facts": ["Paris"]}},
    ),
    "retrieval-relevance": ("RetrievalRelevance", {"trace": {"docs": DOCS}}),
    "equivalence": ("Equivalence", {"outputs": "Paris.", "expectations": {"expected_response": "Paris"}}),
    "tool-call-efficiency": ("ToolCallEfficiency", {"trace": {"tools": TOOLS}}),
    "tool-call-correctness": ("ToolCallCorrectness", {"trace": {"tools": TOOLS}}),
    "tool-call-correctness-expected": (
        "ToolCallCorrectness",
        {
            "trace": {"tools": TOOLS},
            "expectations": {
                "expected_tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]
            },
        },
        {"should_consider_ordering": True},
    ),
}


def _scorer_names(case: str, model: str) -> dict[str, Any]:
    cls, row, *options = SCORERS[case]
    return {"CLASS": cls, "ROW": row, "MODEL": model, "OPTIONS": options[0] if options else {}}


@pytest.mark.parametrize("case", sorted(SCORERS))
def test_builtin_scorer_parity_on_a_system_one_endpoint(env, typesafe, case):
    names = _scorer_names(case, "gateway:/jev")
    theirs, ours, sent_by_them, sent_by_us = both(typesafe, **names)
    assert counted_aside(ours) == counted_aside(theirs)
    # The same System One questions, in the same order (one per retriever span, or per document),
    # in mltrail's words.
    assert sent_by_us
    same_payloads(sent_by_us, sent_by_them)
    for body in sent_by_us:
        assert body["model"] == "jev-1.13"
        [question] = body["questions"].values()
        assert question["type"] == "choice"
        assert question["criteria"] == {
            "yes": "The evaluation result is yes.",
            "no": "The evaluation result is no.",
        }
        assert "{{" not in question["instructions"] and "state." in question["instructions"]
    for feedback in ours if isinstance(ours, list) else [ours]:
        if feedback["name"].endswith("/precision"):
            continue
        assert feedback["value"] in ("yes", "no") and feedback["rationale"] is None
        assert feedback["source"] == ("LLM_JUDGE", "gateway:/jev")
        assert feedback["metadata"]["typesafe.model"] == "jev-1.13"
        assert json.loads(feedback["metadata"]["typesafe.probabilities"])[feedback["value"]] == 0.9


def test_values_follow_the_answer(env):
    """The chosen label is the rating: "no" where the fake saw BAD, per document for RetrievalRelevance."""
    assert facts(run(OURS, **_scorer_names("safety", "gateway:/jev")))["value"] == "yes"
    assert facts(run(OURS, **_scorer_names("safety-no", "gateway:/jev")))["value"] == "no"
    precision, first, second = facts(run(OURS, **_scorer_names("retrieval-relevance", "gateway:/jev")))
    assert precision["name"] == "retrieval_relevance/precision" and precision["value"] == 0.5
    assert (first["value"], second["value"]) == ("yes", "no")
    assert (first["metadata"]["chunk_index"], second["metadata"]["chunk_index"]) == ("0", "1")


JUDGES = {
    "is_correct": {"request": "Capital of France?", "response": "Paris", "expected_facts": ["Paris"]},
    "is_grounded": {"request": "Capital?", "response": "Paris", "context": [{"content": "Paris is it."}]},
    "is_context_relevant": {"request": "Capital?", "context": {"content": "Paris"}},
    "is_context_sufficient": {
        "request": "Capital?",
        "context": [{"content": "Paris"}],
        "expected_facts": ["Paris"],
        "expected_response": None,
    },
    "is_safe": {"content": "BAD words"},
    "meets_guidelines": {"guidelines": "Be polite.", "context": {"request": "hi", "response": "Hello!"}},
    "is_tool_call_efficient": {
        "request": "Weather?",
        "tools_called": [{"name": "get_weather", "arguments": {"city": "Paris"}, "outputs": "sunny"}],
        "available_tools": ["get_weather"],
    },
}


@pytest.mark.parametrize("function", sorted(JUDGES))
def test_judge_function_parity_on_a_system_one_endpoint(env, typesafe, function):
    names = {"FUNCTION": function, "ROW": JUDGES[function], "MODEL": "gateway:/jev"}
    if function == "is_tool_call_efficient":  # MLflow's judge takes its FunctionCall objects
        from mlflow.genai.utils.type import FunctionCall

        theirs_row = {
            **JUDGES[function],
            "tools_called": [FunctionCall(**c) for c in JUDGES[function]["tools_called"]],
        }
        before = len(typesafe.requests)
        theirs = facts(run(OFFICIAL, **{**names, "ROW": theirs_row}))
        middle = len(typesafe.requests)
        ours = facts(run(OURS, **names))
        sent = [r["body"] for r in typesafe.requests[before:]]
        sent_by_them, sent_by_us = sent[: middle - before], sent[middle - before :]
    else:
        theirs, ours, sent_by_them, sent_by_us = both(typesafe, **names)
    assert counted_aside(ours) == counted_aside(theirs)
    assert len(sent_by_us) == 1
    same_payloads(sent_by_us, sent_by_them)


def test_typesafe_models_ask_the_same_question_directly(env, typesafe):
    """``typesafe:/`` goes straight to TypeSafe (``TYPESAFE_BASE_URL``, the key as a bearer token) with
    the payload MLflow sends through the gateway (but for the wording); Fluency then asks mltrail's
    System One fluency question."""
    gateway = _scorer_names("correctness-facts", "gateway:/jev")
    before = len(typesafe.requests)
    facts(run(OFFICIAL, **gateway))
    [through_gateway] = [r["body"] for r in typesafe.requests[before:]]
    before = len(typesafe.requests)
    ours = facts(run(OURS, **{**gateway, "MODEL": "typesafe:/jev-1.13"}))
    [direct] = typesafe.requests[before:]
    same_payloads([direct["body"]], [through_gateway])
    assert direct["headers"]["authorization"] == f"Bearer {TEST_API_KEY}"
    assert ours["value"] == "yes" and ours["source"] == ("LLM_JUDGE", "typesafe:/jev-1.13")

    before = len(typesafe.requests)
    fluency = facts(
        run(OURS, CLASS="Fluency", ROW={"outputs": "Paris is lovely."}, MODEL="typesafe:/jev-1.13")
    )
    [asked] = [r["body"] for r in typesafe.requests[before:]]
    [question] = asked["questions"].values()
    assert question["instructions"] == systemone_prompts.FLUENCY.replace("{{ outputs }}", "state.outputs")
    assert asked["state"] == {"outputs": "Paris is lovely."}
    assert fluency["value"] == "yes" and fluency["metadata"]["guideline"] == systemone_prompts.FLUENCY


def test_an_instruction_scorer_ignores_inference_params_on_system_one(env, typesafe):
    """MLflow's Fluency never passes ``inference_params`` to its judge, so System One does not refuse them."""
    names = {"CLASS": "Fluency", "ROW": {"outputs": "Paris."}, "OPTIONS": {"inference_params": {"top_p": 1}}}
    for model in ("typesafe:/jev-1.13", "gateway:/jev"):
        ours = facts(run(OURS, **names, MODEL=model))
        assert ours["value"] == "yes" and ours["error"] is None, model
    theirs = facts(run(OFFICIAL, **names, MODEL="gateway:/jev"))
    assert theirs["value"] == "yes" and theirs["metadata"]["typesafe.model"] == "jev-1.13"


@pytest.mark.parametrize("case", ["correctness-response", "safety-no", "retrieval-groundedness"])
def test_a_chat_endpoint_stays_on_chat(env, typesafe, openai, case):
    """``gateway:/chat`` is an ordinary chat endpoint: both libraries chat and never ask System One."""
    names = _scorer_names(case, "gateway:/chat")
    chats = len(openai.requests)
    theirs, ours, sent_by_them, sent_by_us = both(typesafe, **names)
    assert sent_by_them == sent_by_us == []
    assert len(openai.requests) > chats
    for mine, official in zip(
        ours if isinstance(ours, list) else [ours],
        theirs if isinstance(theirs, list) else [theirs],
        strict=True,
    ):
        for key in ("name", "value", "rationale", "source", "error", "span_id"):
            assert mine[key] == official[key], key
        assert mine["rationale"] == "Checked the reply."
        assert not any(k.startswith("typesafe.") for k in mine["metadata"])


REFUSALS = {
    "inference-params-retrieval-relevance": (
        "RetrievalRelevance",
        {"trace": {"docs": DOCS}},
        {"inference_params": {"temperature": 0}},
    ),
    "inference-params-equivalence": (
        "Equivalence",
        {"outputs": "Paris.", "expectations": {"expected_response": "Paris"}},
        {"inference_params": {"temperature": 0}},
    ),
    "extra-headers-on-a-gateway-endpoint": ("Safety", {"outputs": "Paris."}, {"extra_headers": {"X-A": "b"}}),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_match_official_mlflow(env, typesafe, case):
    """What System One cannot take is refused alike, and nothing reaches TypeSafe."""
    cls, row, options = REFUSALS[case]
    # mltrail says it does not send extra_headers on chat, before System One refuses them.
    with pytest.warns(UserWarning) if "extra_headers" in options else contextlib.nullcontext():
        theirs, ours, sent_by_them, sent_by_us = both(
            typesafe, CLASS=cls, ROW=row, MODEL="gateway:/jev", OPTIONS=options
        )
    assert ours == theirs
    assert ours["error_code"] == "INVALID_PARAMETER_VALUE" and ours["message"].startswith(
        "TypeSafe judge models do not support"
    )
    assert sent_by_us == sent_by_them == []


@pytest.mark.parametrize("case", ["correctness-response", "retrieval-relevance"])
def test_a_typesafe_model_without_a_key_is_refused_alike(env, typesafe, case, monkeypatch):
    """No ``TYPESAFE_API_KEY`` and no ``Authorization`` header: refused before any call, by both."""
    monkeypatch.delenv("TYPESAFE_API_KEY")
    theirs, ours, _, sent_by_us = both(typesafe, **_scorer_names(case, "typesafe:/jev-1.13"))
    assert ours == theirs
    assert ours["error_code"] == "INVALID_PARAMETER_VALUE" and "TYPESAFE_API_KEY" in ours["message"]
    assert sent_by_us == []


def test_a_typesafe_scorer_sends_its_own_authorization(env, typesafe, monkeypatch):
    """A ``typesafe:/`` scorer's ``extra_headers`` go to TypeSafe: its ``Authorization`` replaces the key."""
    monkeypatch.delenv("TYPESAFE_API_KEY")
    names = _scorer_names("safety", "typesafe:/jev-1.13")
    names["OPTIONS"] = {"extra_headers": {"Authorization": f"Bearer {TEST_API_KEY}", "X-Team": "evals"}}
    before = len(typesafe.requests)
    ours = facts(run(OURS, **names))
    [sent] = typesafe.requests[before:]
    assert (
        sent["headers"]["authorization"] == f"Bearer {TEST_API_KEY}" and sent["headers"]["x-team"] == "evals"
    )
    assert ours["value"] == "yes" and ours["error"] is None
