"""``mltrail.genai.judges``: LLM judges as MLflow 3 has them.

``make_judge`` builds a judge from instructions with ``{{ inputs }}``,
``{{ outputs }}``, ``{{ expectations }}``, ``{{ trace }}`` or
``{{ conversation }}``; ``is_correct``, ``is_grounded``, ``is_safe``,
``meets_guidelines``, ``is_context_relevant``, ``is_context_sufficient``,
``is_tool_call_correct`` and ``is_tool_call_efficient`` ask one question each.
Every judge provider of ``mltrail.evaluate`` works (``openai:/``,
``anthropic:/``, ``mistral:/``, ``groq:/``, ``endpoints:/`` ...), and ``make_judge`` also
takes TypeSafe System One models (``typesafe:/``, or a ``gateway:/`` endpoint serving one;
``ModelAPI`` picks the API). A judge whose call fails gives a ``Feedback`` with an error and a
warning, never an exception.

Example::

    from mltrail.genai.judges import is_safe

    is_safe(content="Hello!", model="openai:/gpt-4o-mini").value   # "yes"
"""

from __future__ import annotations

from mltrail.genai.judges._call import CategoricalRating, get_default_model
from mltrail.genai.judges.base import Judge, JudgeField
from mltrail.genai.judges.builtin import (
    is_context_relevant,
    is_context_sufficient,
    is_correct,
    is_grounded,
    is_safe,
    is_tool_call_correct,
    is_tool_call_efficient,
    meets_guidelines,
)
from mltrail.genai.judges.make_judge import InstructionsJudge, make_judge
from mltrail.genai.judges.model_api import ModelAPI

__all__ = [
    "CategoricalRating",
    "InstructionsJudge",
    "Judge",
    "JudgeField",
    "ModelAPI",
    "get_default_model",
    "is_context_relevant",
    "is_context_sufficient",
    "is_correct",
    "is_grounded",
    "is_safe",
    "is_tool_call_correct",
    "is_tool_call_efficient",
    "make_judge",
    "meets_guidelines",
]
