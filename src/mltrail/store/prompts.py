"""The Prompt Registry, written once over any :class:`~mltrail.store.registry.RegistryStore`.

A prompt is a registered model tagged ``mlflow.prompt.is_prompt = "true"``
and each version a model version holding the template in tags (see
:mod:`mltrail.entities.prompt`), exactly as MLflow 3 stores them. So the
embedded SQL registry, ``mltrail server`` and ``mlflow server`` all hold
prompts without a prompt-specific table or endpoint, and prompts written by
either tool read the same in the other.

Example::

    prompts = PromptStore(SqlRegistryStore("sqlite:///mltrail.db"))
    pv = prompts.register_prompt("qa", "Answer {{question}}", commit_message="first")
    prompts.set_prompt_alias("qa", "production", pv.version)
    prompts.get_prompt_version("qa", "production").format(question="Why?")
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from mltrail.entities import ModelVersionTag, PagedList, RegisteredModelTag
from mltrail.entities.prompt import (
    CLIENT_PROMPT_SOURCE,
    IS_PROMPT_TAG_KEY,
    PROMPT_EXPERIMENT_IDS_TAG_KEY,
    PROMPT_MODEL_CONFIG_TAG_KEY,
    PROMPT_TEXT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    RESPONSE_FORMAT_TAG_KEY,
    Prompt,
    PromptModelConfig,
    PromptVersion,
    is_prompt_tags,
    model_config_json,
    model_version_to_prompt_version,
    response_format_json,
    validate_prompt_name,
    validate_template,
)
from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.registry import RegistryStore

_log = logging.getLogger(__name__)
SEARCH_PROMPTS_MAX_RESULTS_DEFAULT = 100
PROMPT_FILTER = f"tags.`{IS_PROMPT_TAG_KEY}` = 'true'"
_EXPERIMENT_ID = re.compile(r"experiment_id\s*=\s*['\"]([^'\"]+)['\"]")


def _is_not_a_prompt(name: str) -> MltrailException:
    return invalid(
        f"Name `{name}` is registered as a model, not a prompt. Use the model registry APIs instead."
    )


def _version_number(version: Any) -> str:
    if isinstance(version, bool) or not str(version).strip().isdigit():
        raise invalid(f"Invalid prompt version {version!r}: it must be a positive integer")
    return str(int(str(version)))


def _string_tags(tags: dict[str, Any] | None, what: str) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise invalid(f"Invalid {what}: expected a dict of tag key -> value, got {type(tags).__name__}")
    out = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise invalid(f"Invalid {what}: tag keys must be non-empty strings, got {key!r}")
        out[key] = value if isinstance(value, str) else str(value)
    return out


def experiment_filter(filter_string: str | None) -> str | None:
    """MLflow's ``experiment_id = '1'`` shorthand of a prompt search, as a tag filter."""
    if not filter_string:
        return None
    match = _EXPERIMENT_ID.search(filter_string)
    if not match:
        return filter_string
    experiment_id = match.group(1)
    if not experiment_id.isdigit():
        raise invalid(f"Invalid experiment_id: {experiment_id}. Must be a numeric value.")
    rest = _EXPERIMENT_ID.sub("", filter_string).strip()
    rest = re.sub(r"^\s*AND\s+", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\s+AND\s*$", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\s+AND\s+AND\s+", " AND ", rest, flags=re.IGNORECASE)
    clause = f"tags.{PROMPT_EXPERIMENT_IDS_TAG_KEY} LIKE '%,{experiment_id},%'"
    return f"{clause} AND {rest}" if rest else clause


def version_tags(
    template: str | list[dict[str, Any]],
    tags: dict[str, Any] | None = None,
    response_format: Any = None,
    model_config: PromptModelConfig | dict[str, Any] | None = None,
) -> dict[str, str]:
    """The model-version tags of a new prompt version (validated before anything is written)."""
    kind = validate_template(template)
    out = _string_tags(tags, "prompt version tags")
    out[IS_PROMPT_TAG_KEY] = "true"
    out[PROMPT_TYPE_TAG_KEY] = kind
    out[PROMPT_TEXT_TAG_KEY] = template if isinstance(template, str) else json.dumps(template)
    if response_format:
        out[RESPONSE_FORMAT_TAG_KEY] = response_format_json(response_format)
    if model_config:
        out[PROMPT_MODEL_CONFIG_TAG_KEY] = model_config_json(model_config)
    return out


class PromptStore:
    """Prompt operations as registered-model / model-version calls on one registry store."""

    def __init__(self, registry: RegistryStore) -> None:
        self.registry = registry

    # ----------------------------------------------------------------- prompts
    def _prompt_tags(self, name: str) -> dict[str, str]:
        """All tags of the registered model ``name``; INVALID_PARAMETER_VALUE if it is a model."""
        tags = self.registry.get_registered_model(name).tags
        if not is_prompt_tags(tags):
            raise _is_not_a_prompt(name)
        return tags

    def create_prompt(
        self, name: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> Prompt:
        """A new prompt without versions (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        validate_prompt_name(name)
        user_tags = _string_tags(tags, "prompt tags")
        rm = self.registry.create_registered_model(
            name,
            [
                RegisteredModelTag(IS_PROMPT_TAG_KEY, "true"),
                *(RegisteredModelTag(k, v) for k, v in user_tags.items()),
            ],
            description,
        )
        return Prompt(rm.name, rm.description, rm.creation_timestamp, user_tags)

    def get_prompt(self, name: str) -> Prompt | None:
        """The prompt's metadata, or ``None`` when no prompt has that name."""
        try:
            rm = self.registry.get_registered_model(name)
        except MltrailException as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        if not is_prompt_tags(rm.tags):
            return None
        tags = {k: v for k, v in rm.tags.items() if k != IS_PROMPT_TAG_KEY}
        return Prompt(rm.name, rm.description, rm.creation_timestamp, tags)

    def search_prompts(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of prompts; ``filter_string`` is a registry filter (``name LIKE 'qa%'``, tags,
        or MLflow's ``experiment_id = '1'``)."""
        extra = experiment_filter(filter_string)
        page = self.registry.search_registered_models(
            f"{PROMPT_FILTER} AND {extra}" if extra else PROMPT_FILTER,
            SEARCH_PROMPTS_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            list(order_by) if order_by else None,
            page_token,
        )
        prompts = [
            Prompt(
                rm.name,
                rm.description,
                rm.creation_timestamp,
                {k: v for k, v in rm.tags.items() if k != IS_PROMPT_TAG_KEY},
            )
            for rm in page
        ]
        return PagedList(prompts, page.token)

    def delete_prompt(self, name: str) -> None:
        """Delete a prompt with all its versions and aliases (never a registered model)."""
        self._prompt_tags(name)
        self.registry.delete_registered_model(name)

    def set_prompt_tag(self, name: str, key: str, value: Any) -> None:
        self.registry.set_registered_model_tag(name, RegisteredModelTag(key, str(value)))

    def delete_prompt_tag(self, name: str, key: str) -> None:
        self.registry.delete_registered_model_tag(name, key)

    # ---------------------------------------------------------------- versions
    def create_prompt_version(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        response_format: Any = None,
        model_config: PromptModelConfig | dict[str, Any] | None = None,
    ) -> PromptVersion:
        """A new version of an existing prompt (its number is the next one)."""
        tag_map = version_tags(template, tags, response_format, model_config)
        self._prompt_tags(name)
        return self._create_version(name, tag_map, description)

    def _create_version(self, name: str, tag_map: dict[str, str], description: str | None) -> PromptVersion:
        mv = self.registry.create_model_version(
            name,
            CLIENT_PROMPT_SOURCE,
            tags=[ModelVersionTag(k, v) for k, v in tag_map.items()],
            description=description,
        )
        return model_version_to_prompt_version(mv)

    def register_prompt(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        commit_message: str | None = None,
        tags: dict[str, Any] | None = None,
        response_format: Any = None,
        model_config: PromptModelConfig | dict[str, Any] | None = None,
    ) -> PromptVersion:
        """A new version of ``name``, creating the prompt first if needed (MLflow's client flow).

        ``tags`` go on the version and on the prompt. Everything is validated
        before the first write; if the first version of a new prompt cannot be
        created, the new prompt is removed again.
        """
        validate_prompt_name(name)
        user_tags = _string_tags(tags, "prompt tags")
        tag_map = version_tags(template, user_tags, response_format, model_config)
        created = False
        try:
            existing = self.registry.get_registered_model(name).tags
        except MltrailException as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            existing = None
        if existing is None:
            try:
                self.registry.create_registered_model(
                    name,
                    [
                        RegisteredModelTag(IS_PROMPT_TAG_KEY, "true"),
                        *(RegisteredModelTag(k, v) for k, v in user_tags.items()),
                    ],
                    commit_message,
                )
                created = True
            except MltrailException as err:  # another writer created it meanwhile
                if err.error_code != RESOURCE_ALREADY_EXISTS:
                    raise
                existing = self.registry.get_registered_model(name).tags
        if existing is not None:
            if not is_prompt_tags(existing):
                raise invalid(
                    f"Model '{name}' exists with the same name. MLflow does not allow registering a prompt "
                    "with the same name as an existing model. Please choose a different name for the prompt."
                )
            for key, value in user_tags.items():
                if existing.get(key) != value:
                    self.registry.set_registered_model_tag(name, RegisteredModelTag(key, value))
        try:
            return self._create_version(name, tag_map, commit_message)
        except BaseException:
            if created:  # no prompt without versions is left behind
                try:
                    self.registry.delete_registered_model(name)
                except Exception as cleanup:  # the version's error is the one to report
                    _log.warning(
                        "Could not remove prompt %r after its first version failed: %s", name, cleanup
                    )
            raise

    def get_prompt_version(self, name: str, version: str | int) -> PromptVersion:
        """Version ``version`` of ``name``; a non-numeric ``version`` is an alias (``latest`` included)."""
        return self.load_with_prompt_tags(name, version)[0]

    def load_with_prompt_tags(
        self, name: str, version_or_alias: str | int
    ) -> tuple[PromptVersion, dict[str, str]]:
        """A prompt version and its prompt's tags (what loading needs, in two reads)."""
        if not isinstance(name, str) or not name:
            raise invalid("Prompt name must be a non-empty string.")
        prompt_tags = self._prompt_tags(name)
        text = str(version_or_alias)
        if not isinstance(version_or_alias, bool) and text.strip().isdigit():
            mv = self.registry.get_model_version(name, str(int(text)))
        else:
            mv = self.registry.get_model_version_by_alias(name, text)
        if not is_prompt_tags(mv.tags):
            raise invalid(f"Prompt `{name}` version {mv.version} is not a prompt version")
        return model_version_to_prompt_version(mv), prompt_tags

    def get_prompt_version_by_alias(self, name: str, alias: str) -> PromptVersion:
        return self.get_prompt_version(name, alias)

    def search_prompt_versions(
        self, name: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """The versions of one prompt, newest first."""
        self._prompt_tags(name)
        quoted = name.replace("'", "''")
        page = self.registry.search_model_versions(
            f"name = '{quoted}' AND tag.`{IS_PROMPT_TAG_KEY}` = 'true'",
            SEARCH_PROMPTS_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            ["version_number DESC"],
            page_token,
        )
        return PagedList([model_version_to_prompt_version(mv) for mv in page], page.token)

    def delete_prompt_version(self, name: str, version: str | int) -> None:
        self.registry.delete_model_version(name, _version_number(version))

    def set_prompt_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self.registry.set_model_version_tag(name, _version_number(version), ModelVersionTag(key, str(value)))

    def delete_prompt_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.registry.delete_model_version_tag(name, _version_number(version), key)

    # ----------------------------------------------------------------- aliases
    def set_prompt_alias(self, name: str, alias: str, version: str | int) -> None:
        self.registry.set_registered_model_alias(name, alias, _version_number(version))

    def delete_prompt_alias(self, name: str, alias: str) -> None:
        self.registry.delete_registered_model_alias(name, alias)
