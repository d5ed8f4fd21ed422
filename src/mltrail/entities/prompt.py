"""Prompt Registry records: :class:`Prompt`, :class:`PromptVersion` and :class:`PromptModelConfig`.

Prompts live in the model registry, as MLflow 3 keeps them: a prompt is a
registered model tagged ``mlflow.prompt.is_prompt = "true"``, each prompt
version a model version carrying the template in tags (the text in
``mlflow.prompt.text``, ``_mlflow_prompt_type`` = ``text`` or ``chat``, and
optionally ``_mlflow_prompt_response_format`` / ``_mlflow_prompt_model_config``
as JSON). Prompts written by mltrail and by MLflow are therefore the same rows.

A template is either a string with ``{{ variable }}`` placeholders (Jinja2's
identifier rules, dotted names allowed) or a list of chat messages
(``{"role": ..., "content": ...}``). A template using Jinja2 control flow
(``{% ... %}``) is rendered with Jinja2's sandbox when it is installed.

Example::

    pv = PromptVersion("greeting", 1, "Hello {{ name }}, you are {{ role }}.")
    pv.variables                           # {"name", "role"}
    pv.format(name="Ada", role="admin")    # "Hello Ada, you are admin."
    pv.format(name="Ada", allow_partial=True).template  # "Hello Ada, you are {{ role }}."
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from mltrail.exceptions import MltrailException, invalid

# ---------------------------------------------------------------- MLflow's tag keys
IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
PROMPT_TEXT_TAG_KEY = "mlflow.prompt.text"
# These three have no dots: Unity Catalog tags cannot contain them (MLflow's naming).
PROMPT_TYPE_TAG_KEY = "_mlflow_prompt_type"
RESPONSE_FORMAT_TAG_KEY = "_mlflow_prompt_response_format"
PROMPT_MODEL_CONFIG_TAG_KEY = "_mlflow_prompt_model_config"
# Prompt-level: ",1,7," lists the experiments a prompt was registered or loaded in.
PROMPT_EXPERIMENT_IDS_TAG_KEY = "_mlflow_experiment_ids"
# Version-level, legacy (MLflow 2.x): comma-separated ids of runs the version was logged to.
PROMPT_ASSOCIATED_RUN_IDS_TAG_KEY = "mlflow.prompt.associatedRunIds"
# On a run, a trace, a span or a logged model: JSON [{"name": ..., "version": "3"}, ...].
LINKED_PROMPTS_TAG_KEY = "mlflow.linkedPrompts"

PROMPT_TYPE_TEXT = "text"
PROMPT_TYPE_CHAT = "chat"

# A prompt version has no files, but CreateModelVersion needs a source: MLflow's client
# sends the first placeholder, its store the second, and its server refuses any other.
CLIENT_PROMPT_SOURCE = "dummy-source"
STORE_PROMPT_SOURCE = "prompt-template"
PROMPT_SOURCES = frozenset({CLIENT_PROMPT_SOURCE, STORE_PROMPT_SOURCE})

_RESERVED_VERSION_TAGS = frozenset(
    {
        IS_PROMPT_TAG_KEY,
        PROMPT_TEXT_TAG_KEY,
        PROMPT_TYPE_TAG_KEY,
        RESPONSE_FORMAT_TAG_KEY,
        PROMPT_MODEL_CONFIG_TAG_KEY,
    }
)
_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}")
# Any {{ ... }} placeholder; format() fills those whose stripped text is a given keyword.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
_REPR_LIMIT = 30


def is_prompt_tags(tags: dict[str, str] | None) -> bool:
    """True when a registered model's (or version's) tags mark it as a prompt (MLflow's test)."""
    return str((tags or {}).get(IS_PROMPT_TAG_KEY, "false")).lower() == "true"


def validate_prompt_name(name: object) -> str:
    """A prompt name is letters, digits, ``_``, ``-`` and ``.`` (MLflow's rule)."""
    if not isinstance(name, str) or not name:
        raise invalid("Prompt name must be a non-empty string.")
    if _NAME.match(name) is None:
        raise invalid(
            f"Invalid prompt name {name!r}: a prompt name can only contain alphanumeric characters, "
            "hyphens, underscores, and dots."
        )
    return name


def _check_message(index: int, message: object) -> None:
    """MLflow's chat-message shape: a dict with a string ``role`` and text or content-part ``content``."""
    where = f"Invalid chat prompt template: message {index}"
    if not isinstance(message, dict):
        raise invalid(f"{where} is a {type(message).__name__}, not a dict with 'role' and 'content'")
    if not isinstance(message.get("role"), str):
        raise invalid(f"{where} needs a string 'role' (e.g. 'system', 'user', 'assistant')")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return
    if isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
    ):
        return
    raise invalid(f"{where}: 'content' must be a string or a list of content parts with a 'type'")


def validate_template(template: object) -> str:
    """The prompt type of a template (``"text"`` or ``"chat"``), or INVALID_PARAMETER_VALUE."""
    if isinstance(template, str):
        return PROMPT_TYPE_TEXT
    if isinstance(template, list) and template:
        for index, message in enumerate(template):
            _check_message(index, message)
        return PROMPT_TYPE_CHAT
    raise invalid(
        f"Invalid prompt template of type {type(template).__name__}: a template is a string with "
        "{{variables}} or a non-empty list of chat messages like {'role': 'user', 'content': '...'}"
    )


def response_format_json(response_format: Any) -> str:
    """The JSON stored for a response format: a dict as is, a pydantic model class as its JSON schema."""
    schema = response_format
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        schema = response_format.model_json_schema()
    if not isinstance(schema, dict):
        raise invalid(
            f"Invalid response_format of type {type(response_format).__name__}: "
            "use a dict (JSON schema) or a pydantic model class"
        )
    try:
        return json.dumps(schema)
    except (TypeError, ValueError) as err:
        raise invalid(f"Invalid response_format: not JSON-serializable ({err})") from None


# ------------------------------------------------------------------ model config


def _number(name: str, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"Invalid model config: '{name}' must be a number, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise invalid(f"Invalid model config: '{name}' must be an integer, got {value!r}")
        return int(value)
    return value


@dataclass
class PromptModelConfig:
    """The model and inference settings a prompt version is meant for (MLflow's fields).

    Unknown keys go to ``extra_params`` and are stored next to the known ones.

    Example::

        cfg = PromptModelConfig(model_name="gpt-4o-mini", temperature=0.2, max_tokens=500)
        cfg.to_dict()   # {"model_name": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 500}
    """

    provider: str | None = None
    model_name: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop_sequences: list[str] | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("provider", "model_name"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise invalid(f"Invalid model config: '{key}' must be a string, got {value!r}")
        bounds = {"temperature": (0, None), "top_p": (0, 1), "frequency_penalty": (None, None),
                  "presence_penalty": (None, None)}  # fmt: skip
        for key, (low, high) in bounds.items():
            value = getattr(self, key)
            if value is None:
                continue
            value = _number(key, value)
            if (low is not None and value < low) or (high is not None and value > high):
                raise invalid(f"Invalid model config: '{key}' = {value!r} is out of range [{low}, {high}]")
            setattr(self, key, value)
        for key in ("max_tokens", "top_k"):
            value = getattr(self, key)
            if value is not None:
                value = _number(key, value, integer=True)
                if value <= 0:
                    raise invalid(f"Invalid model config: '{key}' must be greater than 0, got {value!r}")
                setattr(self, key, value)
        stops = self.stop_sequences
        if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
            raise invalid(f"Invalid model config: 'stop_sequences' must be a list of strings, got {stops!r}")
        if not isinstance(self.extra_params, dict):
            raise invalid(f"Invalid model config: 'extra_params' must be a dict, got {self.extra_params!r}")

    def to_dict(self) -> dict[str, Any]:
        """Known fields that are set, then ``extra_params`` merged at the top level."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra_params"}
        out = {k: v for k, v in out.items() if v is not None}
        out.update(self.extra_params)
        return out

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> PromptModelConfig:
        """Known keys become fields, the others ``extra_params``."""
        if not isinstance(config, dict):
            raise invalid(
                f"Invalid model_config of type {type(config).__name__}: use a dict or PromptModelConfig"
            )
        known = {f.name for f in fields(cls)} - {"extra_params"}
        return cls(
            **{k: v for k, v in config.items() if k in known},
            extra_params={k: v for k, v in config.items() if k not in known},
        )


def model_config_json(model_config: PromptModelConfig | dict[str, Any]) -> str:
    """The JSON stored for a model config (validated through :class:`PromptModelConfig`)."""
    if not isinstance(model_config, PromptModelConfig):
        model_config = PromptModelConfig.from_dict(model_config)
    try:
        return json.dumps(model_config.to_dict())
    except (TypeError, ValueError) as err:
        raise invalid(f"Invalid model_config: not JSON-serializable ({err})") from None


# ----------------------------------------------------------------------- entities


class Prompt:
    """A prompt's metadata (name, description, prompt-level tags); versions hold the templates."""

    def __init__(
        self,
        name: str,
        description: str | None = None,
        creation_timestamp: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self._name = name
        self._description = description
        self._creation_timestamp = creation_timestamp
        self._tags = dict(tags or {})

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def creation_timestamp(self) -> int | None:
        return self._creation_timestamp

    @property
    def tags(self) -> dict[str, str]:
        """Prompt-level tags (a copy), without the internal prompt marker."""
        return dict(self._tags)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prompt):
            return NotImplemented
        return (self.name, self.description, self.creation_timestamp, self._tags) == (
            other.name,
            other.description,
            other.creation_timestamp,
            other._tags,
        )

    def __repr__(self) -> str:
        return f"<Prompt: name={self.name!r}, description={self.description!r}, tags={self._tags}>"


def _fill(text: str, values: dict[str, Any]) -> str:
    """Replace each ``{{ key }}`` whose key is in ``values``, in one pass (values are not re-scanned)."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        return str(values[key]) if key in values else match.group(0)

    return _PLACEHOLDER.sub(sub, text)


def _is_jinja(template: str | list[dict[str, Any]]) -> bool:
    texts = [template] if isinstance(template, str) else [m.get("content") for m in template]
    return any(isinstance(t, str) and "{%" in t and "%}" in t for t in texts)


class PromptVersion:
    """One immutable template of a prompt, with its commit message, tags and aliases.

    ``template`` is a string (a text prompt) or a list of chat messages (a chat
    prompt). ``tags`` are the version's own tags; the internal prompt tags are
    kept apart. ``uri`` is ``prompts:/<name>/<version>``.
    """

    def __init__(
        self,
        name: str,
        version: int | str,
        template: str | list[dict[str, Any]],
        commit_message: str | None = None,
        creation_timestamp: int | None = None,
        tags: dict[str, str] | None = None,
        aliases: list[str] | None = None,
        last_updated_timestamp: int | None = None,
        user_id: str | None = None,
        response_format: Any = None,
        model_config: PromptModelConfig | dict[str, Any] | None = None,
    ) -> None:
        kind = validate_template(template)
        all_tags = dict(tags or {})
        all_tags[PROMPT_TYPE_TAG_KEY] = kind
        all_tags[PROMPT_TEXT_TAG_KEY] = template if isinstance(template, str) else json.dumps(template)
        all_tags[IS_PROMPT_TAG_KEY] = "true"
        if response_format:
            all_tags[RESPONSE_FORMAT_TAG_KEY] = response_format_json(response_format)
        if model_config:
            all_tags[PROMPT_MODEL_CONFIG_TAG_KEY] = model_config_json(model_config)
        if isinstance(version, bool) or not str(version).strip().isdigit():
            raise invalid(f"Invalid prompt version {version!r}: it must be a positive integer")
        self._name = name
        self._version = int(str(version))
        self._kind = kind
        self._tags = all_tags
        self._variables = set(_VARIABLE.findall(all_tags[PROMPT_TEXT_TAG_KEY]))
        self._description = commit_message
        self._creation_timestamp = creation_timestamp or 0
        self._last_updated_timestamp = last_updated_timestamp
        self._user_id = user_id
        self._aliases = list(aliases or [])

    # ----------------------------------------------------------------- fields
    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int:
        return self._version

    @property
    def template(self) -> str | list[dict[str, Any]]:
        """The text, or a fresh copy of the chat messages."""
        text = self._tags[PROMPT_TEXT_TAG_KEY]
        return text if self.is_text_prompt else json.loads(text)

    @property
    def is_text_prompt(self) -> bool:
        return self._kind == PROMPT_TYPE_TEXT

    @property
    def variables(self) -> set[str]:
        """The ``{{ variable }}`` names in the template."""
        return set(self._variables)

    @property
    def response_format(self) -> dict[str, Any] | None:
        raw = self._tags.get(RESPONSE_FORMAT_TAG_KEY)
        return None if raw is None else json.loads(raw)

    @property
    def model_config(self) -> dict[str, Any] | None:
        raw = self._tags.get(PROMPT_MODEL_CONFIG_TAG_KEY)
        return None if raw is None else json.loads(raw)

    @property
    def commit_message(self) -> str | None:
        return self._description

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags, without the internal prompt tags."""
        return {k: v for k, v in self._tags.items() if k not in _RESERVED_VERSION_TAGS}

    @property
    def aliases(self) -> list[str]:
        return list(self._aliases)

    @property
    def creation_timestamp(self) -> int:
        return self._creation_timestamp

    @property
    def last_updated_timestamp(self) -> int | None:
        return self._last_updated_timestamp

    @property
    def user_id(self) -> str | None:
        return self._user_id

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    # --------------------------------------------------------------- behaviour
    def format(
        self, allow_partial: bool = False, use_jinja_sandbox: bool = True, **kwargs: Any
    ) -> str | list[dict[str, Any]] | PromptVersion:
        """The template with ``kwargs`` filled in: a string (text) or a list of messages (chat).

        Missing variables are an INVALID_PARAMETER_VALUE error unless
        ``allow_partial``, which returns a new :class:`PromptVersion` whose
        template still holds the missing ``{{ placeholders }}``.

        Example::

            chat = PromptVersion("qa", 1, [{"role": "user", "content": "Q: {{q}}"}])
            chat.format(q="Why?")   # [{"role": "user", "content": "Q: Why?"}]
        """
        template = self.template
        if _is_jinja(template):
            return self._render_jinja(template, use_jinja_sandbox, kwargs)
        if isinstance(template, str):
            filled: str | list[dict[str, Any]] = _fill(template, kwargs)
        else:
            filled = [self._fill_message(m, kwargs) for m in template]
        missing = self._variables - kwargs.keys()
        if not missing:
            return filled
        if not allow_partial:
            raise invalid(
                f"Missing variables: {sorted(missing)}. To partially format the prompt, set `allow_partial=True`."
            )
        return PromptVersion(
            self.name,
            self.version,
            filled,
            commit_message=self.commit_message,
            creation_timestamp=self.creation_timestamp,
            tags=self._tags,
            aliases=self.aliases,
            last_updated_timestamp=self.last_updated_timestamp,
            user_id=self.user_id,
        )

    @staticmethod
    def _fill_message(message: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        out = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            out["content"] = _fill(content, values)
        elif isinstance(content, list):  # content parts: fill the text ones
            out["content"] = [
                {**p, "text": _fill(p["text"], values)} if isinstance(p.get("text"), str) else p
                for p in content
            ]
        return out

    @staticmethod
    def _render_jinja(template: Any, sandbox: bool, values: dict[str, Any]) -> str | list[dict[str, Any]]:
        try:
            from jinja2 import Environment, Undefined
            from jinja2.sandbox import SandboxedEnvironment
        except ImportError:
            raise invalid(
                "The prompt is a Jinja2 template. To format the prompt, install Jinja2 with `pip install jinja2`."
            ) from None
        env = (SandboxedEnvironment if sandbox else Environment)(undefined=Undefined)
        if isinstance(template, str):
            return env.from_string(template).render(**values)
        return [{**m, "content": env.from_string(m.get("content") or "").render(**values)} for m in template]

    def to_single_brace_format(self) -> str | list[dict[str, Any]]:
        """The template with ``{{ var }}`` turned into ``{var}`` (LangChain's style)."""
        text = self._tags[PROMPT_TEXT_TAG_KEY]
        for var in self._variables:
            text = re.sub(r"\{\{\s*" + re.escape(var) + r"\s*\}\}", "{" + var + "}", text)
        return text if self.is_text_prompt else json.loads(text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PromptVersion):
            return NotImplemented
        return (self.name, self.version, self._tags, self._description, self._aliases) == (
            other.name,
            other.version,
            other._tags,
            other._description,
            other._aliases,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value object, like MLflow's

    def __repr__(self) -> str:
        text = self._tags[PROMPT_TEXT_TAG_KEY]
        if len(text) > _REPR_LIMIT:
            text = text[:_REPR_LIMIT] + "..."
        return f"PromptVersion(name={self.name}, version={self.version}, template={text})"


def model_version_to_prompt_version(mv: Any) -> PromptVersion:
    """The :class:`PromptVersion` stored as a model version (INVALID_PARAMETER_VALUE if it is a model)."""
    tags = dict(mv.tags or {})
    if IS_PROMPT_TAG_KEY not in tags:
        raise invalid(
            f"Name `{mv.name}` is registered as a model, not a prompt. MLflow does not allow "
            "registering a prompt with the same name as an existing model."
        )
    if PROMPT_TEXT_TAG_KEY not in tags:
        raise invalid(f"Prompt `{mv.name}` does not contain a prompt text")
    text = tags[PROMPT_TEXT_TAG_KEY]
    if tags.get(PROMPT_TYPE_TAG_KEY) == PROMPT_TYPE_CHAT:
        try:
            template: Any = json.loads(text)
        except ValueError:
            raise invalid(
                f"Prompt `{mv.name}` version {mv.version}: stored chat template is not JSON"
            ) from None
    else:
        template = text
    return PromptVersion(
        mv.name,
        int(mv.version),
        template,
        commit_message=mv.description,
        creation_timestamp=mv.creation_timestamp,
        tags=tags,
        aliases=list(mv.aliases or []),
        last_updated_timestamp=mv.last_updated_timestamp,
        user_id=mv.user_id,
    )


# --------------------------------------------------------------------------- URIs


def parse_prompt_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of ``prompts:/name/3`` or ``prompts:/name@alias`` (one of the two set).

    ``prompts:/name@latest`` names the newest version.
    """
    if not isinstance(uri, str) or not uri.startswith("prompts:/"):
        raise invalid(
            f"Invalid prompt URI {uri!r}: expected prompts:/<name>/<version> or prompts:/<name>@<alias>"
        )
    rest = uri[len("prompts:/") :]
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if name and alias and "/" not in name and "/" not in alias:
            return name, None, alias
    else:
        name, _, version = rest.partition("/")
        if name and version.isdigit():
            return name, str(int(version)), None
        if name and version:
            raise invalid(
                f"Invalid prompt URI {uri!r}: '{version}' is not a version number "
                "(prompts do not support stage-based references)"
            )
    raise invalid(
        f"Invalid prompt URI {uri!r}: expected prompts:/<name>/<version> or prompts:/<name>@<alias>"
    )


def prompt_uri_for(name_or_uri: str, version: str | int | None = None) -> str:
    """A full ``prompts:/`` URI from a name (+ version; none means ``@latest``) or a URI."""
    if not isinstance(name_or_uri, str) or not name_or_uri:
        raise invalid("A prompt name or prompts:/ URI must be a non-empty string")
    if name_or_uri.startswith("prompts:/"):
        if version is not None:
            raise invalid("The `version` argument should not be specified when loading a prompt by URI.")
        return name_or_uri
    if version is None:
        return f"prompts:/{name_or_uri}@latest"
    return f"prompts:/{name_or_uri}/{version}"


# --------------------------------------------------------------------- linking


def merge_linked_prompts(current: str | None, versions: list[PromptVersion]) -> str | None:
    """``mlflow.linkedPrompts`` with ``versions`` appended (no duplicates), as MLflow writes it.

    Returns ``current`` unchanged when nothing is new.
    """
    entries: list[Any] = []
    if current is not None:
        try:
            entries = json.loads(current)
        except ValueError:
            raise MltrailException(
                f"Invalid JSON format for '{LINKED_PROMPTS_TAG_KEY}' tag: {current}"
            ) from None
        if not isinstance(entries, list):
            raise MltrailException(f"Invalid format for '{LINKED_PROMPTS_TAG_KEY}' tag: {current}")
    new = []
    for pv in versions:
        entry = {"name": pv.name, "version": str(pv.version)}
        if entry not in entries and entry not in new:
            new.append(entry)
    if not new:
        return current
    return json.dumps([*entries, *new])
