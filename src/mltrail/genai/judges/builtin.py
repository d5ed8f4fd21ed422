"""MLflow's classic judge functions: ``is_correct``, ``is_grounded``, ``is_safe`` ...

Each asks one judge model one question and returns a :class:`Feedback` named
as in MLflow (``correctness``, ``groundedness``, ``relevance_to_context``,
``context_sufficiency``, ``safety``, ``guidelines``, ``tool_call_correctness``,
``tool_call_efficiency``) whose value is ``CategoricalRating.YES``/``NO``, with
the judge's rationale, and ``source`` = ``LLM_JUDGE`` / the model URI. A judge
that fails gives a feedback with an error and a warning (see
:mod:`mltrail.genai.judges._call`).

On a TypeSafe System One model (``typesafe:/...``, or a ``gateway:/`` endpoint that serves
one) each asks a System One question instead (:mod:`.systemone_prompts`, mltrail's wording with
MLflow's state fields and labels) about a state of the arguments, as MLflow 3.17 does (:func:`~mltrail.genai.judges._systemone.builtin_judge`):
the verdict is the chosen ``yes``/``no`` with no rationale and ``typesafe.*`` metadata.
``extra_headers`` then go to TypeSafe (a ``typesafe:/`` model's ``Authorization``).

Example::

    from mltrail.genai.judges import is_correct

    fb = is_correct(request="2+2?", response="4", expected_response="4", model="openai:/gpt-4o-mini")
    fb.value, fb.rationale
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from mltrail.entities.assessment import Feedback
from mltrail.exceptions import MltrailException
from mltrail.genai.judges import _systemone, prompts
from mltrail.genai.judges import systemone_prompts as questions
from mltrail.genai.judges._call import CategoricalRating, get_default_model, invoke_judge

CORRECTNESS = "correctness"
GROUNDEDNESS = "groundedness"
RELEVANCE_TO_CONTEXT = "relevance_to_context"  # MLflow's name for is_context_relevant's feedback
CONTEXT_SUFFICIENCY = "context_sufficiency"
SAFETY = "safety"
GUIDELINES = "guidelines"
TOOL_CALL_CORRECTNESS = "tool_call_correctness"
TOOL_CALL_EFFICIENCY = "tool_call_efficiency"

__all__ = [
    "CategoricalRating",
    "is_context_relevant",
    "is_context_sufficient",
    "is_correct",
    "is_grounded",
    "is_safe",
    "is_tool_call_correct",
    "is_tool_call_efficient",
    "meets_guidelines",
]


def ask(
    model: str | None,
    prompt: str,
    name: str,
    *,
    instructions: str,
    state: dict[str, Any],
    extra_headers: dict[str, str] | None = None,
    inference_params: dict[str, Any] | None = None,
) -> Feedback:
    """A yes/no verdict named ``name``: ``prompt`` to a chat model, or System One's ``instructions``
    about ``state`` on a System One model (MLflow's routing of its built-in judges)."""
    model = model or get_default_model()
    if _systemone.provider_of(model) != _systemone.TYPESAFE:  # only TypeSafe itself gets them
        warn_extra_headers(extra_headers)
    return _systemone.builtin_judge(
        model,
        chat=lambda reraise: invoke_judge(
            model, prompt, name, inference_params=inference_params, reraise=reraise
        ),
        instructions=instructions,
        state=state,
        name=name,
        inference_params=inference_params,
        extra_headers=extra_headers,
    )


def warn_extra_headers(extra_headers: dict[str, str] | None) -> None:
    """MLflow's ``extra_headers`` are accepted but not sent: say so rather than drop them silently."""
    if extra_headers:
        warnings.warn(
            "mltrail judges do not send extra_headers; configure the provider through its environment "
            "variables (e.g. OPENAI_BASE_URL) instead",
            stacklevel=3,
        )


def is_correct(
    *,
    request: str,
    response: str,
    expected_facts: list[str] | None = None,
    expected_response: str | None = None,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``response`` states what ``expected_response`` (or every one of ``expected_facts``) says."""
    if expected_response is not None and expected_facts is not None:
        raise MltrailException(
            "Only one of expected_response or expected_facts should be provided, not both."
        )
    prompt = prompts.correctness(request, response, expected_response, expected_facts)
    truth = expected_response or expected_facts or ""
    return ask(
        model,
        prompt,
        name or CORRECTNESS,
        instructions=questions.CORRECTNESS,
        state={"input": request, "output": response, "ground_truth": truth},
        extra_headers=extra_headers,
    )


def is_grounded(
    *,
    request: str,
    response: str,
    context: Any,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether every claim of ``response`` is supported by ``context`` (any JSON-serializable value)."""
    return ask(
        model,
        prompts.groundedness(request, response, context),
        name or GROUNDEDNESS,
        instructions=questions.GROUNDEDNESS,
        state={"input": request, "output": response, "retrieval_context": context},
        extra_headers=extra_headers,
    )


def is_context_relevant(
    *,
    request: str,
    context: Any,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``context`` is relevant to ``request``; the feedback is named ``relevance_to_context``."""
    return ask(
        model,
        prompts.relevance(request, context),
        name or RELEVANCE_TO_CONTEXT,
        instructions=questions.RELEVANCE_TO_QUERY,
        state={"input": request, "output": context},
        extra_headers=extra_headers,
    )


def is_context_sufficient(
    *,
    request: str,
    context: Any,
    expected_facts: list[str] | None = None,
    expected_response: str | None = None,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``context`` holds what is needed to give ``expected_response`` / ``expected_facts``."""
    prompt = prompts.context_sufficiency(request, context, expected_response, expected_facts)
    truth = expected_response or expected_facts or ""
    return ask(
        model,
        prompt,
        name or CONTEXT_SUFFICIENCY,
        instructions=questions.CONTEXT_SUFFICIENCY,
        state={"input": request, "ground_truth": truth, "retrieval_context": context},
        extra_headers=extra_headers,
    )


def is_safe(
    *,
    content: str,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``content`` is free of harmful material ("yes" means safe)."""
    return ask(
        model,
        prompts.safety(content),
        name or SAFETY,
        instructions=questions.SAFETY,
        state={"content": content},
        extra_headers=extra_headers,
    )


def meets_guidelines(
    *,
    guidelines: str | list[str],
    context: dict[str, Any],
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether the fields of ``context`` (e.g. ``{"request": ..., "response": ...}``) follow every guideline."""
    return ask(
        model,
        prompts.guidelines(guidelines, context),
        name or GUIDELINES,
        instructions=questions.GUIDELINES,
        state={"guidelines": guidelines, "guidelines_context": context},
        extra_headers=extra_headers,
    )


def tool_call_as_dict(call: Any) -> dict[str, Any]:
    """A tool call (a dict, a dataclass such as :class:`~mltrail.genai.judges.tools.FunctionCall`, or an object) as a dict."""
    if isinstance(call, dict):
        return call
    if dataclasses.is_dataclass(call) and not isinstance(call, type):
        return {k: v for k, v in dataclasses.asdict(call).items() if v is not None}
    fields = ("name", "arguments", "outputs", "exception")
    return {f: getattr(call, f) for f in fields if getattr(call, f, None) is not None}


def _tool_dicts(items: list[Any] | None) -> list[dict[str, Any]]:
    return [tool_call_as_dict(i) if not hasattr(i, "model_dump") else i.model_dump() for i in items or []]


def _as_calls(items: list[Any] | None) -> list[dict[str, Any]]:
    """Tool calls as System One's state holds them: MLflow's ``FunctionCall`` fields, all four."""
    calls = [i.model_dump() if hasattr(i, "model_dump") else tool_call_as_dict(i) for i in items or []]
    return [{f: c.get(f) for f in ("name", "arguments", "outputs", "exception")} for c in calls]


def is_tool_call_correct(
    *,
    request: str,
    tools_called: list[Any],
    available_tools: list[Any],
    expected_tool_calls: list[Any] | None = None,
    include_arguments: bool = True,
    check_order: bool = False,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether the agent chose the right tools with the right arguments (against ``expected_tool_calls`` if given)."""
    expected = None if expected_tool_calls is None else _tool_dicts(expected_tool_calls)
    if expected is not None and not include_arguments:
        expected = [{"name": e.get("name")} for e in expected]
    prompt = prompts.tool_call_correctness(
        request, _tool_dicts(tools_called), _tool_dicts(available_tools), expected, check_order
    )
    state = {"request": request, "available_tools": available_tools, "tools_called": _as_calls(tools_called)}
    if expected_tool_calls is not None:
        named = [tool_call_as_dict(c) for c in expected_tool_calls]
        state["expected_calls"] = (
            [{"name": c.get("name"), "arguments": c.get("arguments")} for c in named]
            if include_arguments
            else [c.get("name") for c in named]
        )
    instructions = questions.tool_call_correctness(
        has_expected_calls=expected_tool_calls is not None,
        include_arguments=include_arguments,
        check_order=check_order,
    )
    return ask(
        model,
        prompt,
        name or TOOL_CALL_CORRECTNESS,
        instructions=instructions,
        state=state,
        extra_headers=extra_headers,
    )


def is_tool_call_efficient(
    *,
    request: str,
    tools_called: list[Any],
    available_tools: list[Any],
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether the agent's tool calls were free of redundancy."""
    prompt = prompts.tool_call_efficiency(request, _tool_dicts(tools_called), _tool_dicts(available_tools))
    return ask(
        model,
        prompt,
        name or TOOL_CALL_EFFICIENCY,
        instructions=questions.TOOL_CALL_EFFICIENCY,
        state={
            "request": request,
            "available_tools": available_tools,
            "tools_called": _as_calls(tools_called),
        },
        extra_headers=extra_headers,
    )
