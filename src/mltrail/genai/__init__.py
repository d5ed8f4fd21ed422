"""``mltrail.genai``: MLflow 3's GenAI namespace; here the Prompt Registry.

Example::

    import mltrail as mlflow

    mlflow.genai.register_prompt("qa", "Answer {{question}}")
    prompt = mlflow.genai.load_prompt("prompts:/qa@latest")
    prompt.format(question="Why?")

See :mod:`mltrail.genai.prompts` and ``docs/prompts.md``.
"""

from mltrail.genai.prompts import (
    Prompt,
    PromptModelConfig,
    PromptVersion,
    delete_prompt_alias,
    delete_prompt_model_config,
    delete_prompt_tag,
    delete_prompt_version_tag,
    get_prompt_tags,
    load_prompt,
    register_prompt,
    search_prompts,
    set_prompt_alias,
    set_prompt_model_config,
    set_prompt_tag,
    set_prompt_version_tag,
)

__all__ = [
    "Prompt",
    "PromptModelConfig",
    "PromptVersion",
    "delete_prompt_alias",
    "delete_prompt_model_config",
    "delete_prompt_tag",
    "delete_prompt_version_tag",
    "get_prompt_tags",
    "load_prompt",
    "register_prompt",
    "search_prompts",
    "set_prompt_alias",
    "set_prompt_model_config",
    "set_prompt_tag",
    "set_prompt_version_tag",
]
