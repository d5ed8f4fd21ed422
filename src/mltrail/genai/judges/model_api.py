"""``ModelAPI``: which API a ``make_judge`` judge calls its model through (MLflow 3.17's choice).

``DEFAULT`` is chat completions for chat providers, TypeSafe's System One API for
``typesafe:/`` models, and, for ``gateway:/`` models, chat first with a switch to System One
when the gateway answers that the endpoint serves a System One model (a URI does not say
which API its endpoint serves). ``DECISIONS`` asks for the decision API outright (System One
for ``typesafe:/`` and ``gateway:/``); ``CHAT_COMPLETIONS`` for chat only.

Example::

    mode = select_mode("typesafe:/jev-1.13", parse_model_api(None))   # ModelAPI.DECISIONS
"""

from __future__ import annotations

import enum

from mltrail.exceptions import invalid


class ModelAPI(enum.StrEnum):
    """How :func:`~mltrail.genai.judges.make_judge` invokes its model."""

    DEFAULT = "default"
    CHAT_COMPLETIONS = "chat_completions"
    DECISIONS = "decisions"


# The APIs each provider serves when asked for one explicitly; any other provider: chat only.
_SUPPORTED = {
    "openai": frozenset({ModelAPI.CHAT_COMPLETIONS, ModelAPI.DECISIONS}),
    "typesafe": frozenset({ModelAPI.DECISIONS}),
    "gateway": frozenset({ModelAPI.CHAT_COMPLETIONS, ModelAPI.DECISIONS}),
}


def parse_model_api(model_api: ModelAPI | str | None) -> ModelAPI:
    """``model_api`` as a :class:`ModelAPI` (``None``: ``DEFAULT``); anything else is INVALID_PARAMETER_VALUE."""
    try:
        return ModelAPI.DEFAULT if model_api is None else ModelAPI(model_api)
    except (TypeError, ValueError):
        raise invalid("model_api must be 'default', 'chat_completions', or 'decisions'.") from None


def select_mode(model_uri: str, selected: ModelAPI) -> ModelAPI:
    """The API a judge on ``model_uri`` uses; ``DEFAULT`` stays only for ``gateway:/`` (decided per call)."""
    provider = model_uri.partition(":/")[0]
    if selected is ModelAPI.DEFAULT:
        if provider == "typesafe":
            return ModelAPI.DECISIONS
        return ModelAPI.DEFAULT if provider == "gateway" else ModelAPI.CHAT_COMPLETIONS
    supported = _SUPPORTED.get(provider, frozenset({ModelAPI.CHAT_COMPLETIONS}))
    if selected not in supported:
        names = ", ".join(f"'{api.value}'" for api in sorted(supported))
        raise invalid(
            f"model_api='{selected.value}' is not supported for {provider} judge models. Supported APIs: {names}."
        )
    return selected
