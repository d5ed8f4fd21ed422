"""What the OpenAI flavor's saving and its pyfunc wrapper share: the tasks and the template's placeholders."""

from __future__ import annotations

import string
from typing import Any

PYFUNC_TASKS = ("chat.completions", "completions", "embeddings")


def template_variables(task: str, template: Any) -> list[str]:
    """The ``{placeholders}`` of a prompt or of chat messages' roles and contents, sorted."""
    texts: list[str] = []
    if task == "completions":
        texts = [template or "{prompt}"]
    elif task == "chat.completions":
        for m in template or []:
            texts += [v for v in (m.get("role"), m.get("content")) if isinstance(v, str)]
    names = set()
    for text in texts:
        names |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
    return sorted(names)
