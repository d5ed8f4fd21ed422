"""MLflow's classic judge functions: ``is_correct``, ``is_grounded``, ``is_safe`` ...

Each asks one judge model one question and returns a :class:`Feedback` named
as in MLflow (``correctness``, ``groundedness``, ``relevance_to_context``,
``context_sufficiency``, ``safety``, ``guidelines``, ``tool_call_correctness``,
``tool_call_efficiency``) whose value is ``CategoricalRating.YES``/``NO``, with
the judge's rationale, and ``source`` = ``LLM_JUDGE`` / the model URI. A judge
that fails gives a feedback with an error and a warning (see
:mod:`mltrail.genai.judges._call`).

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
from mltrail.genai.judges import prompts
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


def _ask(model: str | None, prompt: str, name: str, extra_headers: dict[str, str] | None = None) -> Feedback:
    warn_extra_headers(extra_headers)
    return invoke_judge(model or get_default_model(), prompt, name)


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
    return _ask(model, prompt, name or CORRECTNESS, extra_headers)


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
    return _ask(model, prompts.groundedness(request, response, context), name or GROUNDEDNESS, extra_headers)


def is_context_relevant(
    *,
    request: str,
    context: Any,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``context`` is relevant to ``request``; the feedback is named ``relevance_to_context``."""
    return _ask(model, prompts.relevance(request, context), name or RELEVANCE_TO_CONTEXT, extra_headers)


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
    return _ask(model, prompt, name or CONTEXT_SUFFICIENCY, extra_headers)


def is_safe(
    *,
    content: str,
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether ``content`` is free of harmful material ("yes" means safe)."""
    return _ask(model, prompts.safety(content), name or SAFETY, extra_headers)


def meets_guidelines(
    *,
    guidelines: str | list[str],
    context: dict[str, Any],
    name: str | None = None,
    model: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Whether the fields of ``context`` (e.g. ``{"request": ..., "response": ...}``) follow every guideline."""
    return _ask(model, prompts.guidelines(guidelines, context), name or GUIDELINES, extra_headers)


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
    return _ask(model, prompt, name or TOOL_CALL_CORRECTNESS, extra_headers)


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
    return _ask(model, prompt, name or TOOL_CALL_EFFICIENCY, extra_headers)
