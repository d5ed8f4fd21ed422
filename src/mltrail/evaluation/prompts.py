"""Prompt text for LLM-as-judge metrics (written for mltrail; the metric names and intents follow MLflow)."""

from __future__ import annotations

from typing import Any

_TEMPLATE = """You are an impartial grader. Score the output of an AI system on the metric "{name}".

Definition of the metric:
{definition}

Scoring rubric (use only whole numbers from 1 to 5):
{grading_prompt}
{examples}
Now grade the following.
{body}

Answer with a single JSON object and nothing else, exactly in this shape:
{{"score": <whole number from 1 to 5>, "justification": "<one or two sentences explaining the score>"}}"""


def render_grading_prompt(
    *,
    name: str,
    definition: str,
    grading_prompt: str,
    examples: str,
    input: Any,
    output: str,
    context: dict[str, Any],
) -> str:
    """The full prompt for grading one row."""
    parts = []
    if input is not None:
        parts.append(f"Input:\n{input}")
    parts.append(f"Output:\n{output}")
    parts += [f"{key}:\n{value}" for key, value in context.items()]
    examples_block = f"\nGraded examples, for calibration:\n\n{examples}\n" if examples else ""
    return _TEMPLATE.format(
        name=name,
        definition=definition.strip(),
        grading_prompt=grading_prompt.strip(),
        examples=examples_block,
        body="\n\n".join(parts),
    )


# name -> definition, rubric, grading-context columns and whether the input is shown.
BUILTIN: dict[str, dict[str, Any]] = {
    "answer_correctness": {
        "definition": (
            "Answer correctness measures whether the output states the same facts as the ground truth in "
            "'targets'. Facts the ground truth does not mention neither help nor hurt unless they contradict it."
        ),
        "grading_prompt": (
            "5: every fact in the output agrees with the targets and nothing essential is missing.\n"
            "4: the output agrees with the targets but misses a minor detail.\n"
            "3: the output is partly right: some key facts agree, others are missing or wrong.\n"
            "2: the output touches the topic of the targets but its main claim is wrong.\n"
            "1: the output contradicts the targets or is unrelated to them."
        ),
        "context": ["targets"],
        "include_input": True,
    },
    "answer_similarity": {
        "definition": (
            "Answer similarity measures how close in meaning the output is to the reference answer in "
            "'targets', regardless of wording."
        ),
        "grading_prompt": (
            "5: the output means the same as the targets.\n"
            "4: nearly the same meaning, with small differences in detail.\n"
            "3: about half of the meaning is shared.\n"
            "2: only a little of the meaning is shared.\n"
            "1: the meanings have nothing in common."
        ),
        "context": ["targets"],
        "include_input": False,
    },
    "answer_relevance": {
        "definition": (
            "Answer relevance measures whether the output addresses the input directly and completely, "
            "without drifting to other subjects. Correctness is not judged here."
        ),
        "grading_prompt": (
            "5: the output answers exactly what was asked, fully, and stays on topic.\n"
            "4: it answers what was asked with a little irrelevant material.\n"
            "3: it answers part of the question or wanders noticeably.\n"
            "2: it is mostly about something else, with a trace of an answer.\n"
            "1: it does not address the input at all."
        ),
        "context": [],
        "include_input": True,
    },
    "faithfulness": {
        "definition": (
            "Faithfulness measures whether every claim in the output is supported by the retrieved text in "
            "'context'. Claims that the context does not support count against the output even when true."
        ),
        "grading_prompt": (
            "5: every claim in the output can be found in or directly inferred from the context.\n"
            "4: almost every claim is supported; one minor claim is not.\n"
            "3: some claims are supported and some are not.\n"
            "2: most claims are not supported by the context.\n"
            "1: the output contradicts the context or has no support in it."
        ),
        "context": ["context"],
        "include_input": False,
    },
    "relevance": {
        "definition": (
            "Relevance measures whether the output, together with the retrieved text in 'context', is relevant "
            "to the input and makes use of the context to answer it."
        ),
        "grading_prompt": (
            "5: the output answers the input fully, using the relevant parts of the context.\n"
            "4: the output answers the input and uses the context, with minor gaps.\n"
            "3: the output is partly relevant to the input or uses the context only partly.\n"
            "2: the output is mostly irrelevant to the input or ignores the context.\n"
            "1: neither the output nor its use of the context relates to the input."
        ),
        "context": ["context"],
        "include_input": True,
    },
}
