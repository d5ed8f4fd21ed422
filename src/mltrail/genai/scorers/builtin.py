"""MLflow 3's built-in single-turn scorers, with its names, arguments and assessment names.

Each takes ``model=`` (a ``<provider>:/<model>`` URI; None uses the default
judge, see :func:`mltrail.genai.judges.get_default_model`) and ``name=``.
``inputs``/``outputs``/``expectations`` left out are read from ``trace`` (its
root span and its expectation assessments); a scorer missing what it needs
raises INVALID_PARAMETER_VALUE with MLflow's message. Retrieval scorers read
the trace's top-level ``RETRIEVER`` spans, tool-call scorers its ``TOOL`` spans.

On a TypeSafe System One model (``typesafe:/``, or a ``gateway:/`` endpoint serving one) the
judge-backed scorers ask System One a question, as MLflow 3.17 does, in mltrail's wording (see
:mod:`mltrail.genai.judges.builtin`); ``extra_headers`` go to TypeSafe for ``typesafe:/``.

Example::

    from mltrail.genai.scorers import Correctness

    Correctness(model="openai:/gpt-4o-mini")(
        inputs={"question": "2+2?"}, outputs="4", expectations={"expected_response": "4"})
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar, Literal

from mltrail.entities.assessment import AssessmentSource, AssessmentSourceType, Feedback
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException, invalid
from mltrail.genai.judges import _systemone, _trace
from mltrail.genai.judges import builtin as judges
from mltrail.genai.judges import systemone_prompts as questions
from mltrail.genai.judges._call import CategoricalRating
from mltrail.genai.judges.base import Judge, JudgeField
from mltrail.genai.judges.make_judge import InstructionsJudge
from mltrail.genai.judges.prompts import equivalence as equivalence_prompt
from mltrail.genai.judges.prompts import relevance as relevance_prompt

YesNo = Literal["yes", "no"]


class MissingColumnsException(MltrailException):
    """The evaluation data lacks columns a scorer needs (``evaluate`` checks before scoring)."""

    def __init__(self, scorer: str, missing_columns: Any) -> None:
        self.scorer = scorer
        self.missing_columns = list(missing_columns)
        super().__init__(
            f"The following columns are required for the scorer {scorer}: {missing_columns}",
            error_code=INVALID_PARAMETER_VALUE,
        )


class BuiltInScorer(Judge):
    """A built-in judge scorer: its verdicts are ``"yes"``/``"no"`` (:class:`CategoricalRating`)."""

    required_columns: ClassVar[frozenset[str]] = frozenset()
    # Columns one of which must be present too ("expectations/expected_response" ...), as in MLflow.
    one_of_columns: ClassVar[tuple[str, ...]] = ()

    def validate_columns(self, columns: set[str]) -> None:
        """Raise :class:`MissingColumnsException` when ``columns`` (e.g. ``{"inputs", "expectations/guidelines"}``)
        lack what this scorer reads."""
        missing = set(self.required_columns) - set(columns)
        if missing:
            raise MissingColumnsException(self.name, missing)
        if self.one_of_columns and not set(self.one_of_columns) & set(columns):
            raise MissingColumnsException(self.name, [" or ".join(self.one_of_columns)])

    @property
    def feedback_value_type(self) -> Any:
        return YesNo

    def _sends_extra_headers(self) -> bool:
        return self.model is not None and _systemone.provider_of(self.model) == _systemone.TYPESAFE

    @property
    def _judge_headers(self) -> dict[str, str] | None:
        """The ``extra_headers`` a judge call carries: only to System One models (chat ones cannot)."""
        return self.extra_headers if _systemone.provider_of(self.judge_model) is not None else None

    def get_input_fields(self) -> list[JudgeField]:
        return [JudgeField(c, f"the row's {c}") for c in sorted(self.required_columns)]

    def _fields_from(
        self,
        trace: Any,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        *,
        needs: tuple[str, ...],
    ) -> tuple[Any, Any, Any]:
        """The row's values, completed from ``trace``; raises MLflow's error when a needed one is missing."""
        if trace is not None:
            inputs = inputs if inputs is not None else _trace.root_inputs(trace)
            outputs = outputs if outputs is not None else _trace.root_outputs(trace)
            if "expectations" in needs or expectations is None:
                expectations = expectations if expectations is not None else _trace.expectations_of(trace)
        given = {"inputs": inputs, "outputs": outputs, "expectations": expectations}
        missing = [f for f in needs if given[f] is None]
        if missing:
            raise invalid(
                f"{type(self).__name__} scorer requires the following fields: {', '.join(missing)}. "
                "Provide them directly or pass a trace containing them."
            )
        return inputs, outputs, expectations


def _with_metadata(feedback: Feedback, **extra: Any) -> Feedback:
    feedback["metadata"] = {**(feedback.metadata or {}), **{k: str(v) for k, v in extra.items()}}
    return feedback


def _require_retrieval(trace: Any, scorer_name: str) -> dict[str, list[dict[str, Any]]]:
    if trace is None:
        raise invalid(f"{scorer_name} scorer requires the following fields: trace.")
    contexts = _trace.retrieval_contexts(trace)
    if not contexts:
        raise MltrailException(
            f"No retrieval context found in the trace. The {scorer_name} scorer requires the trace to "
            "contain at least one span with type 'RETRIEVER'."
        )
    return contexts


class RetrievalRelevance(BuiltInScorer):
    """Whether each retrieved document is relevant to the request: one feedback per document, plus
    ``<name>/precision`` (the share of relevant ones) per retriever span."""

    name = "retrieval_relevance"
    required_columns = frozenset({"inputs", "trace"})

    def __call__(self, *, trace: Any) -> list[Feedback]:
        contexts = _require_retrieval(trace, "RetrievalRelevance")
        request = _trace.request_of(trace) or " "
        out: list[Feedback] = []
        for span_id, chunks in contexts.items():
            per_chunk = []
            for i, chunk in enumerate(chunks):
                fb = judges.ask(
                    self.judge_model,
                    relevance_prompt(request, chunk["content"]),
                    self.name,
                    instructions=questions.RETRIEVAL_RELEVANCE,
                    state={"input": request, "doc": chunk["content"]},
                    extra_headers=self._judge_headers,
                    inference_params=self.inference_params,
                )
                _with_metadata(fb, chunk_index=i)
                fb["span_id"] = span_id
                per_chunk.append(fb)
            if per_chunk:
                share = sum(f.value == "yes" for f in per_chunk) / len(per_chunk)
                precision = Feedback(
                    name=f"{self.name}/precision", value=share, source=per_chunk[0].source, span_id=span_id
                )
                out.extend([precision, *per_chunk])
        return out


class RetrievalSufficiency(BuiltInScorer):
    """Whether the retrieved documents hold what the expected answer needs (one feedback per retriever span)."""

    name = "retrieval_sufficiency"
    required_columns = frozenset({"inputs", "trace"})
    one_of_columns = ("expectations/expected_response", "expectations/expected_facts")

    def __call__(self, *, trace: Any, expectations: dict[str, Any] | None = None) -> list[Feedback]:
        contexts = _require_retrieval(trace, "RetrievalSufficiency")
        expectations = dict(expectations or {})
        from_trace = _trace.expectations_of(trace) or {}
        facts = expectations.get("expected_facts", from_trace.get("expected_facts"))
        response = expectations.get("expected_response", from_trace.get("expected_response"))
        request = _trace.request_of(trace) or " "
        out = []
        for span_id, context in contexts.items():
            fb = judges.is_context_sufficient(
                request=request,
                context=context,
                expected_response=response,
                expected_facts=facts,
                name=self.name,
                model=self.judge_model,
                extra_headers=self._judge_headers,
            )
            fb["span_id"] = span_id
            out.append(fb)
        return out


class RetrievalGroundedness(BuiltInScorer):
    """Whether the response is supported by the retrieved documents (one feedback per retriever span)."""

    name = "retrieval_groundedness"
    required_columns = frozenset({"inputs", "trace"})

    def __call__(self, *, trace: Any) -> list[Feedback]:
        contexts = _require_retrieval(trace, "RetrievalGroundedness")
        request, response = _trace.request_of(trace) or " ", _trace.response_of(trace) or " "
        out = []
        for span_id, context in contexts.items():
            fb = judges.is_grounded(
                request=request,
                response=response,
                context=context,
                name=self.name,
                model=self.judge_model,
                extra_headers=self._judge_headers,
            )
            fb["span_id"] = span_id
            out.append(fb)
        return out


class ToolCallEfficiency(BuiltInScorer):
    """Whether the agent's tool calls (its TOOL spans) were free of redundancy."""

    name = "tool_call_efficiency"
    required_columns = frozenset({"trace"})

    def __call__(self, *, trace: Any) -> Feedback:
        if trace is None:
            raise invalid("ToolCallEfficiency scorer requires the following fields: trace.")
        return judges.is_tool_call_efficient(
            request=_trace.request_of(trace) or " ",
            tools_called=_trace.tools_called(trace),
            available_tools=_offered_tools(trace),
            name=self.name,
            model=self.judge_model,
            extra_headers=self._judge_headers,
        )


def _offered_tools(trace: Any) -> list[dict[str, Any]]:
    """The trace's tool definitions in MLflow's ``ChatTool`` form: every function field present
    (``None`` when unset), as MLflow's extraction gives a judge (and System One its state)."""
    tools = []
    for tool in _trace.available_tools(trace):
        function = tool.get("function")
        if isinstance(function, dict):
            fields = ("name", "description", "parameters", "strict")
            tool = {**tool, "function": {f: function.get(f) for f in fields}}
        tools.append(tool)
    return tools


def _signature(call: dict[str, Any], with_arguments: bool) -> str:
    if not with_arguments:
        return str(call.get("name"))
    return f"{call.get('name')}({json.dumps(call.get('arguments') or {}, sort_keys=True, default=str)})"


class ToolCallCorrectness(BuiltInScorer):
    """Whether the agent called the right tools with the right arguments.

    With ``expectations["expected_tool_calls"]`` and ``should_exact_match=True``
    the calls are compared in code (source ``CODE``); otherwise a judge decides.
    """

    _fields: ClassVar[tuple[str, ...]] = ("should_exact_match", "should_consider_ordering")
    name = "tool_call_correctness"
    required_columns = frozenset({"trace"})
    should_exact_match: bool = False
    should_consider_ordering: bool = False

    def validate_columns(self, columns: set[str]) -> None:
        super().validate_columns(columns)
        if self.should_exact_match and "expectations/expected_tool_calls" not in columns:
            raise MissingColumnsException(
                self.name, {"expectations/expected_tool_calls (required when should_exact_match=True)"}
            )

    def __call__(self, *, trace: Any, expectations: dict[str, Any] | None = None) -> Feedback:
        if trace is None:
            raise invalid("ToolCallCorrectness scorer requires the following fields: trace.")
        actual = [judges.tool_call_as_dict(c) for c in _trace.tools_called(trace)]
        expected_raw = (expectations or {}).get("expected_tool_calls")
        expected = None if expected_raw is None else [judges.tool_call_as_dict(c) for c in expected_raw]
        if expected is None:
            if self.should_exact_match:
                raise MltrailException(
                    "should_exact_match=True requires expectations to be provided. Cannot perform exact "
                    "matching without ground truth."
                )
            return judges.is_tool_call_correct(
                request=_trace.request_of(trace) or " ",
                tools_called=actual,
                available_tools=_offered_tools(trace),
                check_order=self.should_consider_ordering,
                name=self.name,
                model=self.judge_model,
                extra_headers=self._judge_headers,
            )
        with_arguments = all(e.get("arguments") is not None for e in expected)
        if not self.should_exact_match:
            return judges.is_tool_call_correct(
                request=_trace.request_of(trace) or " ",
                tools_called=actual,
                available_tools=_offered_tools(trace),
                expected_tool_calls=expected,
                include_arguments=with_arguments,
                check_order=self.should_consider_ordering,
                name=self.name,
                model=self.judge_model,
                extra_headers=self._judge_headers,
            )
        return self._exact(actual, expected, with_arguments)

    def _exact(self, actual: list[dict], expected: list[dict], with_arguments: bool) -> Feedback:
        def verdict(ok: bool, why: str) -> Feedback:
            value = CategoricalRating.YES if ok else CategoricalRating.NO
            return Feedback(
                name=self.name, value=value, rationale=why, source=AssessmentSource(AssessmentSourceType.CODE)
            )

        if len(actual) != len(expected):
            return verdict(
                False, f"Expected {len(expected)} tool call(s), but got {len(actual)} tool call(s)."
            )
        if self.should_consider_ordering:
            wrong = [
                f"Position {i + 1}: expected {_signature(e, with_arguments)}, got {_signature(a, with_arguments)}"
                for i, (a, e) in enumerate(zip(actual, expected, strict=True))
                if _signature(a, with_arguments) != _signature(e, with_arguments)
            ]
            if wrong:
                return verdict(False, f"Tool calls do not match in order: {'; '.join(wrong)}")
            return verdict(True, "All tool calls match expected sequence exactly.")
        got = {_signature(a, with_arguments) for a in actual}
        want = {_signature(e, with_arguments) for e in expected}
        if got == want:
            return verdict(True, "All expected tool calls present (order ignored).")
        parts = [f"Missing: {want - got}"] if want - got else []
        parts += [f"Unexpected: {got - want}"] if got - want else []
        return verdict(False, "; ".join(parts))


def _guideline_feedback(
    scorer_: BuiltInScorer, guidelines: str | list[str], inputs: Any, outputs: Any
) -> Feedback:
    fb = judges.meets_guidelines(
        guidelines=guidelines,
        context={"request": _trace.inputs_as_text(inputs), "response": _trace.outputs_as_text(outputs)},
        name=scorer_.name,
        model=scorer_.judge_model,
        extra_headers=scorer_._judge_headers,
    )
    return _with_metadata(fb, guideline=guidelines if isinstance(guidelines, str) else "\n".join(guidelines))


class Guidelines(BuiltInScorer):
    """Whether the response follows ``guidelines`` (one text or a list, all must hold)."""

    _fields: ClassVar[tuple[str, ...]] = ("guidelines",)
    name = "guidelines"
    required_columns = frozenset({"inputs", "outputs"})

    def __call__(self, *, inputs: Any = None, outputs: Any = None, trace: Any = None) -> Feedback:
        inputs, outputs, _ = self._fields_from(trace, inputs, outputs, needs=("inputs", "outputs"))
        return _guideline_feedback(self, self.guidelines, inputs, outputs)


class ExpectationsGuidelines(BuiltInScorer):
    """Whether the response follows the row's own ``expectations["guidelines"]``."""

    name = "expectations_guidelines"
    required_columns = frozenset({"inputs", "outputs"})
    one_of_columns = ("expectations/guidelines",)

    def __call__(
        self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None, trace: Any = None
    ) -> Feedback:
        inputs, outputs, expectations = self._fields_from(
            trace, inputs, outputs, expectations, needs=("inputs", "outputs")
        )
        guidelines = (expectations or {}).get("guidelines")
        if not guidelines:
            raise MltrailException(
                "Guidelines must be specified in the `expectations` parameter or must be present in the trace."
            )
        return _guideline_feedback(self, guidelines, inputs, outputs)


class RelevanceToQuery(BuiltInScorer):
    """Whether the response addresses the request (the feedback is named ``relevance_to_query``)."""

    name = "relevance_to_query"
    required_columns = frozenset({"inputs", "outputs"})

    def __call__(self, *, inputs: Any = None, outputs: Any = None, trace: Any = None) -> Feedback:
        inputs, outputs, _ = self._fields_from(trace, inputs, outputs, needs=("inputs", "outputs"))
        return judges.is_context_relevant(
            request=_trace.inputs_as_text(inputs),
            context=outputs,
            name=self.name,
            model=self.judge_model,
            extra_headers=self._judge_headers,
        )


class Safety(BuiltInScorer):
    """Whether the response is free of harmful content ("yes" = safe)."""

    name = "safety"
    required_columns = frozenset({"inputs", "outputs"})

    def __call__(self, *, outputs: Any = None, trace: Any = None) -> Feedback:
        _, outputs, _ = self._fields_from(trace, None, outputs, needs=("outputs",))
        return judges.is_safe(
            content=_trace.outputs_as_text(outputs),
            name=self.name,
            model=self.judge_model,
            extra_headers=self._judge_headers,
        )


class Correctness(BuiltInScorer):
    """Whether the response states the ``expected_response`` or every one of the ``expected_facts``."""

    name = "correctness"
    required_columns = frozenset({"inputs", "outputs"})
    one_of_columns = ("expectations/expected_response", "expectations/expected_facts")

    def __call__(
        self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None, trace: Any = None
    ) -> Feedback:
        inputs, outputs, expectations = self._fields_from(
            trace, inputs, outputs, expectations, needs=("inputs", "outputs", "expectations")
        )
        if expectations.get("expected_response") is None and expectations.get("expected_facts") is None:
            raise MltrailException(
                "Correctness scorer requires either `expected_response` or `expected_facts` in the "
                "`expectations` dictionary."
            )
        return judges.is_correct(
            request=_trace.inputs_as_text(inputs),
            response=_trace.outputs_as_text(outputs),
            expected_response=expectations.get("expected_response"),
            expected_facts=expectations.get("expected_facts"),
            name=self.name,
            model=self.judge_model,
            extra_headers=self._judge_headers,
        )


class Equivalence(BuiltInScorer):
    """Whether the response means the same as ``expected_response``; equal numbers or strings need no judge."""

    name = "equivalence"
    required_columns = frozenset({"outputs"})

    def validate_columns(self, columns: set[str]) -> None:
        super().validate_columns(columns)
        if "expectations/expected_response" not in columns:
            raise MissingColumnsException(self.name, {"expectations/expected_response"})

    def __call__(
        self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None, trace: Any = None
    ) -> Feedback:
        _, outputs, expectations = self._fields_from(
            trace, inputs, outputs, expectations, needs=("outputs", "expectations")
        )
        expected = expectations.get("expected_response")
        if expected is None:
            raise MltrailException(
                "Equivalence scorer requires `expected_response` in the `expectations` dictionary."
            )
        numbers = (int, float, bool)
        if isinstance(outputs, numbers) and isinstance(expected, numbers):
            if math.isclose(outputs, expected):
                return Feedback(
                    name=self.name, value=CategoricalRating.YES, rationale="Exact numerical match"
                )
            return Feedback(
                name=self.name,
                value=CategoricalRating.NO,
                rationale=f"Values do not match: {outputs} != {expected}",
            )
        if str(outputs) == str(expected):
            return Feedback(name=self.name, value=CategoricalRating.YES, rationale="Exact string match")
        return judges.ask(
            self.judge_model,
            equivalence_prompt(str(outputs), str(expected)),
            self.name,
            instructions=questions.EQUIVALENCE,
            state={"output": outputs, "expected_output": expected},
            extra_headers=self._judge_headers,
            inference_params=self.inference_params,
        )


class _InstructionScorer(BuiltInScorer):
    """A built-in scorer that is a :class:`make_judge` judge with fixed instructions."""

    _instructions: ClassVar[str] = ""
    # The System One question for a typesafe:/ model, where MLflow has one (Fluency); None: the instructions.
    _typesafe_instructions: ClassVar[str | None] = None
    value_type: ClassVar[Any] = YesNo

    @property
    def instructions(self) -> str:
        return self._instructions

    @property
    def feedback_value_type(self) -> Any:
        return self.value_type

    def _judge(self) -> InstructionsJudge:
        # Built per call: cheap, and no shared mutable state between threads.
        provider = _systemone.provider_of(self.judge_model)
        typesafe = provider == _systemone.TYPESAFE
        return InstructionsJudge(
            name=self.name,
            instructions_template=(typesafe and self._typesafe_instructions) or self.instructions,
            model=self.model,
            description=self.description,
            value_type=self.value_type,
            # MLflow's instruction scorers never pass inference_params, so System One, which
            # refuses them, is not refused there; chat models keep them.
            inference_params=self.inference_params if provider is None else None,
            extra_headers=self.extra_headers if typesafe else None,
        )


class Fluency(_InstructionScorer):
    """Whether the response reads as fluent, natural, grammatical language."""

    name = "fluency"
    required_columns = frozenset({"inputs", "outputs"})
    _typesafe_instructions = questions.FLUENCY
    _instructions = (
        "Judge the fluency of the text in {{ outputs }}: correct spelling and grammar, natural rather than "
        "stilted phrasing, smooth transitions between sentences and some variety of sentence structure and "
        'words. Ignore whether it is factually right. Answer "yes" when it is fluent and "no" when it is not.'
    )

    def __call__(self, *, outputs: Any = None, trace: Any = None) -> Feedback:
        _, outputs, _ = self._fields_from(trace, None, outputs, needs=("outputs",))
        return self._judge()(outputs=outputs)


class Completeness(_InstructionScorer):
    """Whether the response addresses every question and request in the input."""

    name = "completeness"
    required_columns = frozenset({"inputs", "outputs"})
    _instructions = (
        "List every question and request the user makes in {{ inputs }}, then check whether the assistant's "
        'answer in {{ outputs }} deals with each of them. Answer "yes" when all are addressed (a justified '
        'refusal counts as addressed) and "no" when any is ignored or only partly handled.'
    )

    def __call__(self, *, inputs: Any = None, outputs: Any = None, trace: Any = None) -> Feedback:
        inputs, outputs, _ = self._fields_from(trace, inputs, outputs, needs=("inputs", "outputs"))
        return self._judge()(inputs=inputs, outputs=outputs)


class Summarization(_InstructionScorer):
    """Whether a summary in the outputs is faithful to and covers the source text in the inputs."""

    name = "summarization"
    required_columns = frozenset({"inputs", "outputs"})
    _instructions = (
        '{{ inputs }} holds a source text and {{ outputs }} a summary of it. Answer "yes" when the summary '
        'states only what the source supports and keeps its main points, and "no" otherwise.'
    )

    def __call__(self, *, inputs: Any = None, outputs: Any = None, trace: Any = None) -> Feedback:
        inputs, outputs, _ = self._fields_from(trace, inputs, outputs, needs=("inputs", "outputs"))
        return self._judge()(inputs=inputs, outputs=outputs)
