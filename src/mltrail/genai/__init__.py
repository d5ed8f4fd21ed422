"""``mltrail.genai``: MLflow 3's GenAI namespace; here the Prompt Registry.

Example::

    import mltrail as mlflow

    mlflow.genai.register_prompt("qa", "Answer {{question}}")
    prompt = mlflow.genai.load_prompt("prompts:/qa@latest")
    prompt.format(question="Why?")

See :mod:`mltrail.genai.prompts` and ``docs/prompts.md``.
"""

from mltrail.genai import prompts as _prompts
from mltrail.genai.prompts import *  # noqa: F403  (the names listed in prompts.__all__)

__all__ = list(_prompts.__all__)
