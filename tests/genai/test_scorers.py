"""mltrail.genai.scorers: @scorer, Scorer.run, aggregations, ensembles, and every built-in scorer
against the loopback OpenAI fake, with parity against the official mlflow 3.17 scorers."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from judge_kit import MODEL, as_official, prompts_of, summary, trace, verdict

from mltrail.entities.assessment import AssessmentSource, Feedback
from mltrail.exceptions import MltrailException
from mltrail.genai import scorers
from mltrail.genai.scorers import (
    Correctness,
    Equivalence,
    Guidelines,
    RetrievalRelevance,
    Safety,
    ToolCallCorrectness,
    UserFrustration,
    make_scorer_ensemble,
    scorer,
)
from mltrail.genai.scorers.aggregation import aggregate_feedbacks, compute_aggregations
from support import anthropic_server as _anthropic_fake
from support import openai_server as _openai_fake

openai_server = _openai_fake.openai_server  # fixtures used here
anthropic_server = _anthropic_fake.anthropic_server

# --- @scorer and Scorer.run ---------------------------------------------------------------------


def test_scorer_passes_only_the_arguments_the_function_declares():
    seen = []

    @scorer
    def exact(outputs, expectations):
        seen.append((outputs, expectations))
        return outputs == expectations["expected_response"]

    assert exact.name == "exact" and not exact.is_session_level_scorer
    row = dict(inputs={"q": 1}, outputs="4", expectations={"expected_response": "4"}, trace=None)
    assert exact.run(**row) is True
    assert seen == [("4", {"expected_response": "4"})]
    assert exact(outputs="5", expectations={"expected_response": "4"}) is False


@pytest.mark.parametrize("value", [True, 3, 0.5, "good", None])
def test_scorer_plain_values_pass_through_run(value):
    @scorer(name="plain", aggregations=["mean", "p90"])
    def plain(outputs):
        return value

    assert plain.run(outputs="x") == value
    assert plain.aggregations == ["mean", "p90"]


def test_default_named_feedback_takes_the_scorer_name_and_named_ones_keep_theirs():
    @scorer
    def judged(outputs):
        return Feedback(value=1, rationale="r")

    @scorer
    def named(outputs):
        return Feedback(name="custom", value=2)

    @scorer
    def several(outputs):
        return [Feedback(name="a", value=1), Feedback(name="b", value="no")]

    fb = judged.run(outputs="x")
    assert (fb.name, fb.value, fb.rationale, fb.source.source_type) == ("judged", 1, "r", "CODE")
    assert named.run(outputs="x").name == "custom"
    assert [f.name for f in several.run(outputs="x")] == ["a", "b"]


def test_scorer_returning_something_else_is_refused():
    @scorer
    def bad(outputs):
        return {"score": 1}

    with pytest.raises(
        MltrailException,
        match=r"bad must return one of int, float, bool, str, Feedback, or list\[Feedback\]. Got dict",
    ):
        bad.run(outputs="x")


def test_session_scorer_may_not_take_single_turn_arguments():
    @scorer
    def turns(session, expectations):
        return len(session)

    assert turns.is_session_level_scorer
    assert turns.run(session=[1, 2, 3], outputs="ignored") == 3
    with pytest.raises(MltrailException, match="cannot also accept `inputs`, `outputs`"):

        @scorer
        def mixed(session, inputs, outputs):
            return 1


def test_scorer_timeout_is_checked_and_enforced():
    import threading

    release = threading.Event()

    @scorer(timeout=0.05)
    def slow(outputs):
        release.wait(5)
        return 1

    with pytest.raises(MltrailException, match=r"Scorer 'slow' timed out after 0\.05 seconds"):
        slow.run(outputs="x")
    release.set()
    with pytest.raises(MltrailException, match="non-negative, finite number"):
        scorer(timeout=-1)


def test_subclassed_scorer_and_unknown_constructor_arguments():
    class Length(scorers.Scorer):
        name: str = "length"

        def __call__(self, *, outputs):
            return len(outputs)

    assert Length().run(inputs="i", outputs="abc") == 3
    assert Length(name="len2").name == "len2"
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Length(modle="x")
    with pytest.raises(TypeError, match="missing required keyword argument: 'guidelines'"):
        Guidelines()


# --- aggregations ------------------------------------------------------------------------------


def test_aggregations_by_name_and_callable():
    values = [1.0, 2.0, 3.0, 4.0]

    def spread(v):
        return max(v) - min(v)

    got = compute_aggregations(values, ["min", "max", "mean", "median", "variance", "p90", spread])
    assert got == {
        "min": 1.0,
        "max": 4.0,
        "mean": 2.5,
        "median": 2.5,
        "variance": 1.25,
        "p90": pytest.approx(3.7),
        "spread": 3.0,
    }
    assert compute_aggregations(values, None) == {"mean": 2.5}
    with pytest.raises(ValueError, match="Invalid aggregation: p99"):
        compute_aggregations(values, ["p99"])


def test_aggregate_feedbacks_reads_yes_no_and_skips_text():
    fbs = [
        Feedback(name="safety", value="yes"),
        Feedback(name="safety", value="no"),
        Feedback(name="note", value="free text"),
        Feedback(name="len", value=3),
        Feedback(name="len", value=5),
    ]
    assert aggregate_feedbacks(fbs, {"len": ["min", "max"]}) == {
        "safety/mean": 0.5,
        "len/min": 3.0,
        "len/max": 5.0,
    }


# --- ensembles ---------------------------------------------------------------------------------


def _const(name, value):
    return scorer(lambda outputs: value, name=name)


@pytest.mark.parametrize(
    ("fn", "values", "expected"),
    [
        ("mean", [1, 2, 3], 2),
        ("minimum", [1, 2, 3], 1),
        ("maximum", [1, 2, 3], 3),
        ("majority_vote", ["yes", "no", "yes"], "yes"),
        ("agg_all", ["yes", True, "pass"], True),
        ("agg_any", ["no", False, "yes"], True),
    ],
)
def test_builtin_ensembles(fn, values, expected):
    ens = make_scorer_ensemble(
        name="ens", scorers=[_const(f"s{i}", v) for i, v in enumerate(values)], ensemble_fn=fn
    )
    fb = ens.run(outputs="x")
    assert (fb.name, fb.value) == ("ens", expected)
    subs = json.loads(fb.metadata["mlflow.ensemble.sub_feedbacks"])
    assert [s["assessment_name"] for s in subs] == [f"s{i}" for i in range(len(values))]


def test_ensemble_errors_and_feedbacks_mode():
    with pytest.raises(MltrailException, match="requires at least one sub-scorer"):
        make_scorer_ensemble(name="e", scorers=[], ensemble_fn="mean")
    with pytest.raises(MltrailException, match="'median' is not a built-in ensemble function"):
        make_scorer_ensemble(name="e", scorers=[_const("a", 1)], ensemble_fn="median")
    with pytest.raises(MltrailException, match="same level"):
        make_scorer_ensemble(
            name="e", scorers=[_const("a", 1), scorer(lambda session: 1, name="s")], ensemble_fn="mean"
        )
    with pytest.raises(MltrailException, match="requires numeric sub-scorer values, but sub-scorer 'safety'"):
        make_scorer_ensemble(name="e", scorers=[Safety(model=MODEL)], ensemble_fn="mean")

    @scorer
    def broken(outputs):
        raise RuntimeError("boom")

    ens = make_scorer_ensemble(name="e", scorers=[_const("a", 1), broken], ensemble_fn="mean")
    with pytest.raises(MltrailException, match="Failed sub-scorers -- 'broken': boom"):
        ens.run(outputs="x")

    def first_rationale(feedbacks):
        return feedbacks[0].name + ":" + str(feedbacks[1].error.error_message)

    fb = make_scorer_ensemble(name="f", scorers=[_const("a", 1), broken], ensemble_fn=first_rationale).run(
        outputs="x"
    )
    assert fb.value == "a:boom"


# --- built-in scorers against the OpenAI fake --------------------------------------------------

RAG = dict(docs=["Paris is the capital of France.", "BAD unrelated text"])


def _cases():
    row = dict(inputs={"question": "What is the capital of France?"}, outputs="Paris")
    return [
        (scorers.Correctness, {}, dict(row, expectations={"expected_response": "Paris"}), ["correctness"]),
        (
            scorers.Correctness,
            {},
            dict(row, expectations={"expected_facts": ["Paris", "capital"]}),
            ["correctness"],
        ),
        (scorers.Guidelines, {"guidelines": ["Be brief", "Be polite"]}, row, ["guidelines"]),
        (
            scorers.ExpectationsGuidelines,
            {},
            dict(row, expectations={"guidelines": ["Name the city"]}),
            ["expectations_guidelines"],
        ),
        (scorers.RelevanceToQuery, {}, row, ["relevance_to_query"]),
        (scorers.Safety, {}, row, ["safety"]),
        (
            scorers.Equivalence,
            {},
            dict(row, expectations={"expected_response": "The city of Paris"}),
            ["equivalence"],
        ),
        (scorers.Completeness, {}, row, ["completeness"]),
        (scorers.Fluency, {}, row, ["fluency"]),
        (scorers.Summarization, {}, row, ["summarization"]),
        (scorers.RetrievalGroundedness, {}, {"trace": trace(**RAG)}, ["retrieval_groundedness"]),
        (
            scorers.RetrievalSufficiency,
            {},
            {"trace": trace(**RAG), "expectations": {"expected_facts": ["Paris"]}},
            ["retrieval_sufficiency"],
        ),
        (
            scorers.RetrievalRelevance,
            {},
            {"trace": trace(**RAG)},
            ["retrieval_relevance/precision", "retrieval_relevance", "retrieval_relevance"],
        ),
        (
            scorers.ToolCallCorrectness,
            {},
            {"trace": trace(tools=[("search", {"q": "capital"})])},
            ["tool_call_correctness"],
        ),
        (
            scorers.ToolCallEfficiency,
            {},
            {"trace": trace(tools=[("search", {"q": "capital"})])},
            ["tool_call_efficiency"],
        ),
        (
            scorers.UserFrustration,
            {},
            {"session": [trace(1), trace(2, request_time=2)]},
            ["user_frustration"],
        ),
        (scorers.ConversationCompleteness, {}, {"session": [trace(1)]}, ["conversation_completeness"]),
        (scorers.ConversationalSafety, {}, {"session": [trace(1)]}, ["conversational_safety"]),
        (
            scorers.ConversationalToolCallEfficiency,
            {},
            {"session": [trace(1)]},
            ["conversational_tool_call_efficiency"],
        ),
        (scorers.ConversationalRoleAdherence, {}, {"session": [trace(1)]}, ["conversational_role_adherence"]),
        (
            scorers.ConversationalGuidelines,
            {"guidelines": "Stay polite"},
            {"session": [trace(1)]},
            ["conversational_guidelines"],
        ),
        (
            scorers.KnowledgeRetention,
            {},
            {"session": [trace(1), trace(2, request_time=2)]},
            ["knowledge_retention"],
        ),
    ]


@pytest.mark.parametrize(
    ("cls", "args", "row", "names"), _cases(), ids=lambda v: getattr(v, "__name__", None)
)
def test_builtin_scorer_against_openai_fake(openai_server, cls, args, row, names):
    openai_server.set_responder(verdict)
    result = cls(model=MODEL, **args).run(**row)
    items = result if isinstance(result, list) else [result]
    assert [f.name for f in items] == names
    judged = [f for f in items if not f.name.endswith("/precision")]
    for fb in judged:
        assert fb.error is None
        assert fb.source.source_type == "LLM_JUDGE" and fb.source.source_id == MODEL
        assert fb.value in ("yes", "no", "none")  # user_frustration answers "none" for no frustration
    assert openai_server.requests and {r["body"]["model"] for r in openai_server.requests} == {"gpt-4o-mini"}


def test_user_frustration_answers_its_own_labels(openai_server):
    openai_server.set_responder(lambda req: '{"result": "resolved", "rationale": "calmed down"}')
    fb = UserFrustration(model=MODEL)(session=[trace(1), trace(2, request_time=2)])
    assert (fb.value, fb.rationale) == ("resolved", "calmed down")
    openai_server.set_responder(lambda req: '{"result": "yes", "rationale": "?"}')
    with pytest.warns(UserWarning, match="'user_frustration'.*not one of 'none', 'resolved', 'unresolved'"):
        fb = UserFrustration(model=MODEL)(session=[trace(1)])
    assert fb.value is None and fb.error.error_code == "BAD_REQUEST"


def test_retrieval_relevance_grades_each_document(openai_server):
    openai_server.set_responder(verdict)
    precision, first, second = RetrievalRelevance(model=MODEL)(trace=trace(**RAG))
    assert (first.value, second.value) == ("yes", "no")
    assert (
        precision.value == 0.5 and precision.span_id == first.span_id == second.span_id == "0000000100000002"
    )
    assert (first.metadata["chunk_index"], second.metadata["chunk_index"]) == ("0", "1")
    assert "BAD unrelated text" in prompts_of(openai_server)[1]


def test_scorers_read_fields_from_the_trace(openai_server):
    openai_server.set_responder(verdict)
    t = trace(outputs="BAD answer", expectations={"expected_response": "Paris"})
    fb = Correctness(model=MODEL).run(trace=t)
    assert fb.value == "no"
    prompt = prompts_of(openai_server)[0]
    assert "BAD answer" in prompt and "Paris" in prompt and "What is the capital of France?" in prompt


def test_missing_fields_raise_mlflows_messages():
    with pytest.raises(
        MltrailException, match="Correctness scorer requires the following fields: expectations"
    ):
        Correctness(model=MODEL)(inputs={"q": 1}, outputs="x")
    with pytest.raises(MltrailException, match="requires either `expected_response` or `expected_facts`"):
        Correctness(model=MODEL)(inputs={"q": 1}, outputs="x", expectations={"other": 1})
    with pytest.raises(MltrailException, match="Safety scorer requires the following fields: outputs"):
        Safety(model=MODEL)()
    with pytest.raises(MltrailException, match="No retrieval context found in the trace"):
        RetrievalRelevance(model=MODEL)(trace=trace())
    with pytest.raises(MltrailException, match="should_exact_match=True requires expectations"):
        ToolCallCorrectness(model=MODEL, should_exact_match=True)(trace=trace(tools=[("a", {})]))
    with pytest.raises(TypeError, match="can only accept the `session` and `expectations`"):
        UserFrustration(model=MODEL)(session=[], outputs="x")
    with pytest.raises(MltrailException, match="Unsupported judge model provider 'nope'"):
        Safety(model="nope:/x")


def test_exact_paths_need_no_judge(openai_server):
    t = trace(tools=[("search", {"q": "a"}), ("fetch", {"id": 1})])
    exact = ToolCallCorrectness(should_exact_match=True, should_consider_ordering=True, model=MODEL)
    ok = exact(
        trace=t,
        expectations={
            "expected_tool_calls": [
                {"name": "search", "arguments": {"q": "a"}},
                {"name": "fetch", "arguments": {"id": 1}},
            ]
        },
    )
    assert (ok.value, ok.source.source_type) == ("yes", "CODE")
    bad = exact(trace=t, expectations={"expected_tool_calls": [{"name": "fetch"}, {"name": "search"}]})
    assert (
        bad.value == "no"
        and bad.rationale
        == "Tool calls do not match in order: Position 1: expected fetch, got search; Position 2: expected search, got fetch"
    )
    assert (
        Equivalence(model=MODEL)(outputs=2, expectations={"expected_response": 2.0}).rationale
        == "Exact numerical match"
    )
    assert scorers.RegexMatch(pattern=r"\d+")(outputs="call 555").value == "yes"
    assert scorers.ResponseLength(max_length=3, unit="words")(outputs="one two three four").value == "no"
    assert openai_server.requests == []


def test_anthropic_judge(anthropic_server):
    anthropic_server.set_responder(verdict_anthropic)
    fb = Safety(model="anthropic:/claude-3-5-haiku-latest")(outputs="Hello there")
    assert (fb.value, fb.source.source_id) == ("yes", "anthropic:/claude-3-5-haiku-latest")
    assert fb.rationale == "Checked by claude-3-5-haiku-latest: yes"
    assert anthropic_server.requests[0]["path"] == "/v1/messages"


def verdict_anthropic(request):
    return verdict(
        {
            "model": request["model"],
            "messages": [{"content": _anthropic_text(m)} for m in request["messages"]],
        }
    )


def _anthropic_text(message):
    content = message.get("content")
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


# --- failures: a feedback with an error and a warning, never a gap ------------------------------


def test_bad_json_gives_error_feedback_and_warning(openai_server):
    openai_server.set_responder(lambda req: "I think it is fine.")
    with pytest.warns(
        UserWarning, match=r"Judge 'safety' \(openai:/gpt-4o-mini\) gave no verdict: BAD_REQUEST"
    ):
        fb = Safety(model=MODEL)(outputs="x")
    assert fb.name == "safety" and fb.value is None
    assert fb.error.error_code == "BAD_REQUEST" and "I think it is fine." in fb.error.error_message
    assert fb.source.source_type == "LLM_JUDGE"


def test_unreachable_judge_gives_error_feedback_without_the_key(monkeypatch):
    from support.live_server import free_port

    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    monkeypatch.setenv("MLTRAIL_GENAI_JUDGE_MAX_RETRIES", "0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fb = Correctness(model=MODEL)(inputs="q", outputs="a", expectations={"expected_response": "a2"})
    assert (
        fb.error.error_code == "TEMPORARILY_UNAVAILABLE" and "could not be reached" in fb.error.error_message
    )
    texts = [str(w.message) for w in caught]
    assert any("'correctness'" in t and "could not be reached" in t for t in texts)
    assert not any("sk-secret-value-123" in t for t in [*texts, fb.error.error_message])


def test_judge_refusing_the_key_gives_error_feedback(openai_server, monkeypatch):
    from support.openai_server import _Handler

    class Refusing(_Handler):
        def do_POST(self):
            self._error(401, "Incorrect API key provided.", "invalid_api_key")

    openai_server._server.RequestHandlerClass = Refusing
    with pytest.warns(UserWarning, match="UNAUTHENTICATED"):
        fb = Safety(model=MODEL)(outputs="x")
    assert fb.error.error_code == "UNAUTHENTICATED" and "HTTP 401" in fb.error.error_message


def test_missing_api_key_gives_error_feedback(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.warns(UserWarning, match="OPENAI_API_KEY must be set"):
        fb = Safety(model=MODEL)(outputs="x")
    assert fb.error.error_code == "INVALID_PARAMETER_VALUE"


def test_scorers_are_safe_from_a_thread_pool(openai_server):
    openai_server.set_responder(verdict)
    judge = Correctness(model=MODEL)
    rows = [("BAD" if i % 3 == 0 else "fine") + f" answer {i}" for i in range(12)]

    def grade(outputs):
        return judge.run(inputs="q", outputs=outputs, expectations={"expected_response": "fine"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(grade, rows))
    assert [fb.value for fb in results] == ["no" if i % 3 == 0 else "yes" for i in range(12)]


def test_get_all_scorers_lists_those_without_required_arguments():
    names = {s.name for s in scorers.get_all_scorers()}
    assert {
        "correctness",
        "safety",
        "retrieval_relevance",
        "user_frustration",
        "tool_call_efficiency",
    } <= names
    assert not names & {"guidelines", "conversational_guidelines", "regex_match"}


# --- parity with the official mlflow 3.17 scorers ---------------------------------------------


def _official_cases():
    row = dict(inputs={"question": "What is the capital of France?"}, outputs="Paris")
    rag = trace(**RAG)
    tools = trace(tools=[("search", {"q": "capital"})])
    return [
        ("Correctness", {}, dict(row, expectations={"expected_response": "Paris"})),
        ("Correctness", {}, dict(row, outputs="BAD", expectations={"expected_facts": ["Paris"]})),
        ("Guidelines", {"guidelines": ["Be brief"]}, row),
        ("ExpectationsGuidelines", {}, dict(row, expectations={"guidelines": ["Name the city"]})),
        ("RelevanceToQuery", {}, row),
        ("Safety", {}, dict(row, outputs="BAD words")),
        ("Equivalence", {}, dict(row, expectations={"expected_response": "The city of Paris"})),
        ("Equivalence", {}, dict(row, expectations={"expected_response": "Paris"})),
        ("Equivalence", {}, {"outputs": 3, "expectations": {"expected_response": 4}}),
        ("Completeness", {}, row),
        ("Fluency", {}, row),
        ("Summarization", {}, row),
        ("RegexMatch", {"pattern": "Par"}, row),
        ("ResponseLength", {"max_length": 3}, row),
        ("RetrievalGroundedness", {}, {"trace": rag}),
        ("RetrievalSufficiency", {}, {"trace": rag, "expectations": {"expected_response": "Paris"}}),
        ("RetrievalRelevance", {}, {"trace": rag}),
        ("ToolCallCorrectness", {}, {"trace": tools}),
        (
            "ToolCallCorrectness",
            {"should_exact_match": True},
            {
                "trace": tools,
                "expectations": {"expected_tool_calls": [{"name": "search", "arguments": {"q": "capital"}}]},
            },
        ),
        ("ToolCallEfficiency", {}, {"trace": tools}),
        ("ConversationCompleteness", {}, {"session": [trace(1), trace(2, request_time=2)]}),
        ("ConversationalSafety", {}, {"session": [trace(1)]}),
        ("ConversationalGuidelines", {"guidelines": "Be polite"}, {"session": [trace(1)]}),
        ("KnowledgeRetention", {}, {"session": [trace(1), trace(2, request_time=2)]}),
    ]


def _officialize(row):
    out = dict(row)
    if "trace" in out:
        out["trace"] = as_official(out["trace"])
    if "session" in out:
        out["session"] = [as_official(t) for t in out["session"]]
    return out


@pytest.mark.parametrize(
    ("name", "args", "row"), _official_cases(), ids=lambda v: v if isinstance(v, str) else None
)
def test_parity_with_official_mlflow(openai_server, name, args, row):
    import mlflow.genai.scorers as official

    openai_server.set_responder(verdict)
    ours = summary(getattr(scorers, name)(model=MODEL, **args).run(**row))
    theirs = summary(getattr(official, name)(model=MODEL, **args).run(**_officialize(row)))
    assert ours == theirs


def test_parity_of_required_field_errors():
    import mlflow.genai.scorers as official
    from mlflow.exceptions import MlflowException

    for make, kwargs in [
        (lambda m: m.Correctness(model=MODEL), dict(inputs={"q": 1}, outputs="x")),
        (lambda m: m.Correctness(model=MODEL), dict(inputs={"q": 1}, outputs="x", expectations={"a": 1})),
        (
            lambda m: m.ExpectationsGuidelines(model=MODEL),
            dict(inputs={"q": 1}, outputs="x", expectations={"a": 1}),
        ),
        (lambda m: m.Equivalence(model=MODEL), dict(outputs="x", expectations={"a": 1})),
    ]:
        with pytest.raises(MlflowException) as theirs:
            make(official)(**kwargs)
        with pytest.raises(MltrailException) as ours:
            make(scorers)(**kwargs)
        assert str(ours.value) == theirs.value.message


# Names of mlflow.genai.scorers that mltrail leaves out, and why.
SCORER_GAPS = {
    "FRAMEWORK_METADATA_KEY": None,  # present; listed so the check below stays honest
}


def test_public_names_match_official_scorers():
    import mlflow.genai.scorers as official

    theirs = {n for n in official.__all__}
    ours = set(dir(scorers))
    missing = theirs - ours - {k for k, why in SCORER_GAPS.items() if why}
    assert missing == set(), (
        f"names of mlflow.genai.scorers missing from mltrail and not allow-listed: {missing}"
    )
    assert ours >= set(scorers.__all__)
    stale = {k for k, why in SCORER_GAPS.items() if why and k in ours}
    assert stale == set(), f"allow-listed gaps that now exist: {stale}"


def test_feedback_source_is_mltrails(openai_server):
    openai_server.set_responder(verdict)
    fb = Guidelines(guidelines="Be brief", model=MODEL)(inputs="q", outputs="a")
    assert fb.source == AssessmentSource("LLM_JUDGE", MODEL)
    assert fb.metadata == {"guideline": "Be brief"}


def test_session_traces_must_share_a_session_id():
    import mlflow.genai.scorers as official
    from mlflow.exceptions import MlflowException

    for session in ([trace(1, session_id=None)], [trace(1), trace(2, session_id="other")]):
        with pytest.raises(MlflowException) as theirs:
            official.ConversationalSafety(model=MODEL)(session=[as_official(t) for t in session])
        with pytest.raises(MltrailException) as ours:
            scorers.ConversationalSafety(model=MODEL)(session=session)
        assert str(ours.value) == theirs.value.message


@pytest.mark.parametrize(
    ("name", "args", "columns"),
    [
        ("Correctness", {}, {"inputs"}),
        ("Correctness", {}, {"inputs", "outputs"}),
        ("Correctness", {}, {"inputs", "outputs", "expectations/expected_facts"}),
        ("ExpectationsGuidelines", {}, {"inputs", "outputs"}),
        ("Equivalence", {}, {"outputs"}),
        ("RetrievalSufficiency", {}, {"inputs", "trace"}),
        ("ToolCallCorrectness", {"should_exact_match": True}, {"trace"}),
        ("Safety", {}, {"inputs", "outputs"}),
    ],
)
def test_validate_columns_matches_mlflow(name, args, columns):
    import mlflow.genai.scorers as official
    from mlflow.exceptions import MlflowException

    def outcome(module, error):
        try:
            getattr(module, name)(model=MODEL, **args).validate_columns(columns)
        except error as err:
            return str(getattr(err, "message", err))
        return None

    assert outcome(scorers, MltrailException) == outcome(official, MlflowException)


PII_SAMPLES = [
    "Nothing personal here.",
    "Mail ann.lee+x@example.co.uk today",
    "Call (555) 123-4567 or +442071234567",
    "SSN 123-45-6789",
    "Card 4111 1111 1111 1111, Amex 3782-822463-10005",
    "Server at 192.168.0.254, not 999.1.1.1",
    "Version 1.2.3 released",
]


@pytest.mark.parametrize("text", PII_SAMPLES)
@pytest.mark.parametrize("types", [None, ["email", "ip_address"]])
def test_pii_detection_matches_mlflow(text, types):
    import mlflow.genai.scorers as official

    ours = scorers.PIIDetection(pii_types=types)(outputs=text)
    theirs = official.PIIDetection(pii_types=types)(outputs=text)
    assert (ours.name, str(ours.value), ours.rationale) == (theirs.name, str(theirs.value), theirs.rationale)
    with pytest.raises(MltrailException, match="Unknown PII type"):
        scorers.PIIDetection(pii_types=["passport"])
