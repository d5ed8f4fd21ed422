"""The fluent Prompt Registry API (``mltrail.genai.register_prompt``, ``load_prompt``, ...).

Each function calls a :class:`~mltrail.tracking.MlflowClient` for the URIs in
effect, as MLflow's ``mlflow.genai`` functions do. :func:`load_prompt` also
records where a prompt was used: on the active run (run tag
``mlflow.linkedPrompts``), on the trace in progress (trace tag and current
span attribute of the same name) and, when given a ``model_id``, on that
logged model.

Example::

    import mltrail as mlflow

    mlflow.genai.register_prompt("qa", "Answer {{question}} in {{style}} style.")
    mlflow.genai.set_prompt_alias("qa", alias="production", version=1)
    with mlflow.start_run():
        prompt = mlflow.genai.load_prompt("prompts:/qa@production")  # linked to the run
        text = prompt.format(question="Why is the sky blue?", style="short")
"""

from __future__ import annotations

import logging
from typing import Any

from mltrail.entities.prompt import (
    LINKED_PROMPTS_TAG_KEY,
    PROMPT_MODEL_CONFIG_TAG_KEY,
    Prompt,
    PromptModelConfig,
    PromptVersion,
    merge_linked_prompts,
    model_config_json,
)
from mltrail.entities.tracking import PagedList
from mltrail.exceptions import invalid, not_found

_log = logging.getLogger(__name__)
_PAGE = 100

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


def _client() -> Any:
    from mltrail.tracking.client import MlflowClient

    return MlflowClient()


def register_prompt(
    name: str,
    template: str | list[dict[str, Any]],
    commit_message: str | None = None,
    tags: dict[str, str] | None = None,
    response_format: Any = None,
    model_config: PromptModelConfig | dict[str, Any] | None = None,
) -> PromptVersion:
    """Register a new version of prompt ``name`` (created with its first version).

    ``template`` is a string with ``{{variables}}`` or a list of chat messages
    ``{"role": ..., "content": ...}``.

    Example::

        pv = mltrail.genai.register_prompt("qa", "Answer {{question}}", commit_message="first")
        pv.version  # 1, then 2 for the next registration of "qa"
    """
    return _client().register_prompt(name, template, commit_message, tags, response_format, model_config)


def load_prompt(
    name_or_uri: str,
    version: str | int | None = None,
    allow_missing: bool = False,
    link_to_model: bool = True,
    model_id: str | None = None,
    cache_ttl_seconds: float | None = None,
) -> PromptVersion | None:
    """A prompt version by ``prompts:/name/3``, ``prompts:/name@alias`` (``@latest``) or name (+ version).

    Inside an active run the run is linked to the prompt version; inside a
    trace, the trace and the current span are; with ``model_id`` (and
    ``link_to_model``) that logged model is.

    Example::

        prompt = mltrail.genai.load_prompt("qa", version=2)
        prompt.format(question="Why?")
    """
    client = _client()
    prompt = client.load_prompt(
        name_or_uri, version, allow_missing=allow_missing, cache_ttl_seconds=cache_ttl_seconds
    )
    if prompt is None:
        return None
    run = _latest_active_run()
    if run is not None:
        from mltrail.tracking.fluent import client_for_uri

        client_for_uri(run._tracking_uri)._link_prompts_to_run(run.info.run_id, [prompt])
    if link_to_model and model_id is not None:
        try:
            client.link_prompt_version_to_model(prompt.name, prompt.version, model_id)
        except Exception as err:  # the prompt is what the caller needs; the link is bookkeeping
            _log.warning(
                "Failed to link prompt %r version %s to model %r: %s",
                prompt.name,
                prompt.version,
                model_id,
                err,
            )
    _link_to_current_trace(prompt)
    return prompt


def _latest_active_run() -> Any:
    """This thread's active run, else the most recently started one of any thread (as MLflow)."""
    from mltrail.tracking import context as ctx

    stack = ctx.run_stack()
    if stack:
        return stack[-1]
    runs = ctx.active_runs_of_all_threads()
    return max(runs, key=lambda r: r.info.start_time or 0) if runs else None


def _link_to_current_trace(prompt: PromptVersion) -> None:
    """Tag the trace in progress and the current span with the prompt version."""
    from mltrail.tracing._manager import current_span, edit_in_flight_info
    from mltrail.tracing.span import NoOpSpan

    span = current_span()
    if span is None or isinstance(span, NoOpSpan):
        return

    def edit(info: Any) -> None:
        merged = merge_linked_prompts(info.tags.get(LINKED_PROMPTS_TAG_KEY), [prompt])
        if merged is not None:
            info.tags[LINKED_PROMPTS_TAG_KEY] = merged

    edit_in_flight_info(span.trace_id, edit)
    current = span.get_attribute(LINKED_PROMPTS_TAG_KEY)
    merged = merge_linked_prompts(current if isinstance(current, str) else None, [prompt])
    if merged is not None:
        span.set_attribute(LINKED_PROMPTS_TAG_KEY, merged)


def search_prompts(
    filter_string: str | None = None, max_results: int | None = None, order_by: list[str] | None = None
) -> PagedList:
    """Every prompt matching ``filter_string`` (up to ``max_results``), fetched page by page.

    Example::

        mltrail.genai.search_prompts("name LIKE 'qa%'")
        mltrail.genai.search_prompts("experiment_id = '1'")
    """
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
    ):
        raise invalid(f"Invalid max_results {max_results!r}: it must be a positive integer")
    client = _client()
    found: list[Prompt] = []
    token = None
    while True:
        size = _PAGE if max_results is None else min(_PAGE, max_results - len(found))
        page = client.search_prompts(filter_string, max_results=size, page_token=token, order_by=order_by)
        found.extend(page)
        token = page.token
        if not token or (max_results is not None and len(found) >= max_results):
            return PagedList(found, token)


def set_prompt_alias(name: str, alias: str, version: int | str) -> None:
    """Point ``alias`` at a version: ``load_prompt("prompts:/<name>@<alias>")`` then loads it."""
    _client().set_prompt_alias(name, alias, version)


def delete_prompt_alias(name: str, alias: str) -> None:
    """Remove an alias of a prompt."""
    _client().delete_prompt_alias(name, alias)


def get_prompt_tags(name: str) -> dict[str, str]:
    """The prompt-level tags of ``name`` (RESOURCE_DOES_NOT_EXIST if there is no such prompt)."""
    prompt = _client().get_prompt(name)
    if prompt is None:
        raise not_found(f"Prompt with name={name} not found")
    return prompt.tags


def set_prompt_tag(name: str, key: str, value: str) -> None:
    """Set a prompt-level tag."""
    _client().set_prompt_tag(name, key, value)


def delete_prompt_tag(name: str, key: str) -> None:
    """Remove a prompt-level tag."""
    _client().delete_prompt_tag(name, key)


def set_prompt_version_tag(name: str, version: str | int, key: str, value: str) -> None:
    """Set a tag on one prompt version."""
    _client().set_prompt_version_tag(name, version, key, value)


def delete_prompt_version_tag(name: str, version: str | int, key: str) -> None:
    """Remove a tag from one prompt version."""
    _client().delete_prompt_version_tag(name, version, key)


def set_prompt_model_config(
    name: str, version: str | int, model_config: PromptModelConfig | dict[str, Any]
) -> None:
    """Set (or replace) the model configuration of a prompt version (the template itself never changes).

    Example::

        mltrail.genai.set_prompt_model_config("qa", 1, {"model_name": "gpt-4o-mini", "temperature": 0.2})
    """
    _client().set_prompt_version_tag(
        name, version, PROMPT_MODEL_CONFIG_TAG_KEY, model_config_json(model_config)
    )


def delete_prompt_model_config(name: str, version: str | int) -> None:
    """Remove the model configuration of a prompt version."""
    _client().delete_prompt_version_tag(name, version, PROMPT_MODEL_CONFIG_TAG_KEY)
