"""Scripted judges for the fake OpenAI server: they read our grading prompt and answer like a real judge would."""

from __future__ import annotations

import json
import re
from typing import Any


def section(prompt: str, title: str) -> str | None:
    """The text under ``Title:`` in a grading prompt (up to the next blank line)."""
    m = re.search(rf"^{re.escape(title)}:\n(.*?)(?:\n\n|\Z)", prompt, re.MULTILINE | re.DOTALL)
    return m.group(1).strip() if m else None


def metric_of(prompt: str) -> str:
    return re.search(r'on the metric "([^"]+)"', prompt).group(1)


def grading_judge(request: dict[str, Any]) -> str:
    """5 when the output contains the targets/context text (or the input's key word), else 2; JSON reply."""
    prompt = request["messages"][-1]["content"]
    output = section(prompt, "Output") or ""
    reference = section(prompt, "targets") or section(prompt, "context")
    if reference is not None:
        ok = reference.lower() in output.lower() or output.lower() in reference.lower()
    else:
        words = [w for w in re.findall(r"\w+", section(prompt, "Input") or "") if len(w) > 4]
        ok = any(w.lower() in output.lower() for w in words)
    score = 5 if ok else 2
    return json.dumps({"score": score, "justification": f"{metric_of(prompt)}: output {'matches' if ok else 'misses'}"})
