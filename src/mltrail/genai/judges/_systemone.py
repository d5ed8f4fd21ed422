"""TypeSafe System One judges: a judge's question asked through TypeSafe's evaluation API.

Used by ``make_judge`` judges (:func:`evaluate`, :func:`gateway_judge`) and by the built-in
judges and scorers (:func:`builtin_judge`, with the questions of
:mod:`~mltrail.genai.judges.systemone_prompts`).

A System One model answers structured questions about a ``state`` rather than chat: a
``bool`` judge is a ``noul`` question (a probability of yes), a ``Literal[...]`` judge a
``choice`` question. It is reached two ways, as in MLflow 3.17:

* ``typesafe:/<model>``: straight to TypeSafe, ``POST <base>/systemone`` with
  ``Authorization: Bearer $TYPESAFE_API_KEY`` (or the judge's own ``Authorization`` header in
  ``extra_headers``); the base is the judge's ``base_url``, else ``TYPESAFE_BASE_URL``
  (mltrail's variable, like every provider's), else ``https://api.typesafe.ai/v1``;
* ``gateway:/<endpoint>``: the tracking server's ``POST /gateway/typesafe/v1/systemone``, which
  uses the endpoint's model and key. A server answering that the endpoint is not a System One
  one (422 with MLflow's detail, current or legacy wording, or 404 ``Not Found`` from a server
  without the route) raises :class:`NotSystemOne`, so the caller can fall back to chat.

The answer becomes MLflow's feedback: the value (``probability >= 0.5``, or the chosen
literal), no rationale, an ``LLM_JUDGE`` source named by the model URI, and ``typesafe.*``
metadata plus the judge token counts. Bad arguments raise INVALID_PARAMETER_VALUE with MLflow's
messages; a failed call or an unreadable answer is an error feedback, as for every mltrail judge.

Example::

    feedback = evaluate(
        "gateway:/jev", instructions="Is {{ outputs }} polite?", state={"outputs": "Thanks!"},
        value_type=bool, name="polite",
    )
    feedback.value, feedback.metadata["typesafe.probability"]   # True, "0.8"
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlparse

from mltrail.entities.assessment import Feedback
from mltrail.exceptions import BAD_REQUEST, INTERNAL_ERROR, UNAUTHENTICATED, MltrailException, invalid
from mltrail.genai.judges._call import CategoricalRating, error_feedback, judge_source

TYPESAFE = "typesafe"
GATEWAY = "gateway"
TYPESAFE_DEFAULT_BASE_URL = "https://api.typesafe.ai/v1"
TYPESAFE_KEY_VAR = "TYPESAFE_API_KEY"
TYPESAFE_BASE_URL_VAR = "TYPESAFE_BASE_URL"
GATEWAY_ROUTE = "/gateway/typesafe/v1/systemone"
#: What MLflow's built-in judges ask System One for: a choice between "yes" and "no".
YES_NO = Literal["yes", "no"]
#: The gateway's refusal of a System One endpoint on a chat route (MLflow's
#: ``SYSTEM_ONE_CHAT_ROUTE_REJECTION_DETAIL``): a ``gateway:/`` judge then switches to System One.
CHAT_ROUTE_REJECTION = (
    "System One models only support structured evaluation through "
    "/gateway/typesafe/v1/systemone. Use a chat model for chat completions."
)
# The System One route's refusal of an endpoint without a System One model, in current and in
# older servers' wording: both mean "fall back to chat" (as MLflow's client reads them).
NOT_SYSTEM_ONE_DETAILS = frozenset(
    {
        "Gateway endpoint does not use the TypeSafe provider.",
        "Gateway endpoint does not use a System One model. Use a TypeSafe or OpenRouter Jev decision model.",
    }
)
# AssessmentMetadataKey.JUDGE_INPUT_TOKENS / JUDGE_OUTPUT_TOKENS (mltrail.tracing.constant), spelled
# out so that importing the judges does not load the tracer.
_TOKEN_KEYS = (
    ("input_tokens", "mlflow.assessment.judgeInputTokens"),
    ("output_tokens", "mlflow.assessment.judgeOutputTokens"),
)
_QUESTION = "evaluation"
_STATE_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TRACE_REFERENCE = re.compile(r"\{\{\s*trace\s*\}\}")


class NotSystemOne(Exception):
    """The gateway endpoint of a ``gateway:/`` judge does not serve a System One model."""


@dataclass(frozen=True)
class _Answer:
    """The answer expected: ``noul`` (``choices`` None) or ``choice`` (label -> feedback value)."""

    kind: str
    choices: dict[str, Any] | None = None


def provider_of(model_uri: str) -> str | None:
    """``"typesafe"`` or ``"gateway"`` when ``model_uri`` may be a System One model, else ``None``."""
    provider, separator, _ = model_uri.partition(":/")
    return provider if separator and provider in (TYPESAFE, GATEWAY) else None


def is_chat_rejection(err: BaseException) -> bool:
    """True when a ``gateway:/`` chat call was refused because the endpoint serves System One only."""
    return getattr(err, "status", None) == 400 and getattr(err, "detail", None) == CHAT_ROUTE_REJECTION


def evaluate(
    model_uri: str,
    *,
    instructions: str,
    state: dict[str, Any],
    value_type: Any,
    name: str,
    inference_params: dict[str, Any] | None = None,
    base_url: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """Ask the System One model ``model_uri`` the judge's question; its answer as a feedback named ``name``.

    Raises INVALID_PARAMETER_VALUE for what MLflow refuses, and :class:`NotSystemOne` when the
    gateway says its endpoint has no System One model.
    """
    provider = provider_of(model_uri)
    if provider is None:
        raise invalid(f"Expected a typesafe:/ or gateway:/ model URI, got {model_uri!r}.")
    model = model_uri.partition(":/")[2].lstrip("/")
    _check_options(provider, inference_params, base_url, extra_headers)
    _check_input(instructions, state)
    question, answer = _question(value_type)
    question["instructions"] = _rewrite_references(instructions, state)
    payload = {"model": model, "state": _serialize(state), "questions": {_QUESTION: question}}
    request = _gateway_request if provider == GATEWAY else _direct_request(base_url, extra_headers)
    from mltrail.evaluation.judge import JudgeCallError  # httpx only when a judge is called

    try:
        body = request(payload)
    except JudgeCallError as err:
        if provider == GATEWAY and _says_not_system_one(err):
            raise NotSystemOne(model_uri) from None
        return error_feedback(name, model_uri, _failure_code(err), _failure_text(err))
    try:
        value, metadata = _read_answer(body, answer)
    except (KeyError, TypeError, ValueError, AttributeError):
        return error_feedback(
            name, model_uri, BAD_REQUEST, f"TypeSafe evaluation returned an invalid {answer.kind} answer."
        )
    return Feedback(name=name, value=value, rationale=None, source=judge_source(model_uri), metadata=metadata)


def gateway_judge(
    model_uri: str, chat: Callable[[], Feedback], system_one: Callable[[], Feedback]
) -> Feedback:
    """A ``gateway:/`` judge of the default API: chat first, System One when the gateway refuses chat.

    ``chat`` raises the gateway's chat-route refusal (:func:`is_chat_rejection`) and returns
    anything else; ``system_one`` asks the same question of System One. An endpoint found to serve
    System One is remembered for the process, so later rows skip the chat attempt; one that
    stops serving it (the System One route says so) is forgotten and tried on chat again.
    """
    from mltrail.evaluation.providers import gateway_root

    key = (gateway_root(), model_uri)
    if key in _system_one_endpoints:
        try:
            return system_one()
        except NotSystemOne:
            _system_one_endpoints.discard(key)
    try:
        return chat()
    except MltrailException as err:
        if not is_chat_rejection(err):
            raise
    _system_one_endpoints.add(key)
    return system_one()


def builtin_judge(
    model_uri: str,
    *,
    chat: Callable[[Callable[[BaseException], bool] | None], Feedback],
    instructions: str,
    state: dict[str, Any],
    name: str,
    inference_params: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Feedback:
    """A built-in yes/no judge on ``model_uri``, routed as MLflow 3.17 routes its built-ins.

    ``typesafe:/`` asks System One ``instructions`` about ``state`` (a ``"yes"``/``"no"``
    choice); ``gateway:/`` chats first and asks System One when the gateway refuses chat for a
    System One endpoint (:func:`gateway_judge`); any other model only chats. ``chat(reraise)``
    is the judge's chat call, raising the errors ``reraise`` says true for (None: none). A
    System One verdict's value is a :class:`CategoricalRating`, as a chat verdict's is.
    """
    provider = provider_of(model_uri)
    if provider is None:
        return chat(None)

    def system_one() -> Feedback:
        feedback = evaluate(
            model_uri,
            instructions=instructions,
            state=state,
            value_type=YES_NO,
            name=name,
            inference_params=inference_params,
            extra_headers=extra_headers,
        )
        if feedback.value is not None:  # the chosen label, "yes" or "no", as the rating it names
            feedback["feedback"]["value"] = CategoricalRating(feedback.value)
        return feedback

    if provider == TYPESAFE:
        return system_one()
    try:
        return gateway_judge(model_uri, chat=lambda: chat(is_chat_rejection), system_one=system_one)
    except NotSystemOne:  # refused on chat as System One, and on System One as not one
        raise invalid(
            "The Gateway endpoint refused chat as a System One endpoint, and System One as not one."
        ) from None


# Gateway endpoints known to serve System One, by (gateway, model URI). No lock: threads racing
# on the first rows each make one refused chat call at worst, and set operations are atomic.
_system_one_endpoints: set[tuple[str | None, str]] = set()


# --- arguments -------------------------------------------------------------------------------------


def _check_options(
    provider: str,
    inference_params: dict[str, Any] | None,
    base_url: str | None,
    extra_headers: dict[str, str] | None,
) -> None:
    unsupported = ["inference_params"] if inference_params is not None else []
    if provider == GATEWAY:  # the endpoint's configuration says where to go and with which key
        unsupported += [
            n for n, v in (("base_url", base_url), ("extra_headers", extra_headers)) if v is not None
        ]
    if unsupported:
        raise invalid("TypeSafe judge models do not support " + ", ".join(unsupported) + ".")
    if base_url is None:
        return
    if not base_url.strip().strip("/"):
        raise invalid("base_url must be a non-empty string.")
    try:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError
        _ = parsed.port  # a port that is not a number raises ValueError
        parsed.hostname.encode("idna")
    except (UnicodeError, ValueError):
        raise invalid("base_url must be an absolute HTTP or HTTPS URL with a valid host and port.") from None
    if parsed.username is not None or parsed.password is not None:
        raise invalid(
            "Credentials in base_url are not supported. Pass an Authorization header in extra_headers instead."
        )


def _check_input(instructions: str, state: Any) -> None:
    if not isinstance(instructions, str) or not instructions.strip():
        raise invalid("TypeSafe evaluation instructions must be a non-empty string.")
    if _TRACE_REFERENCE.search(instructions):
        raise invalid(
            "TypeSafe judge models do not support trace-based tool calling. Use structured "
            "inputs, outputs, expectations, or conversation state instead."
        )
    if not isinstance(state, dict):
        raise invalid("TypeSafe evaluation state must be a dictionary.")


def _question(value_type: Any) -> tuple[dict[str, Any], _Answer]:
    """The System One question for a feedback type: ``bool`` -> ``noul``, ``Literal`` -> ``choice``."""
    if value_type is bool:
        return {"type": "noul"}, _Answer("noul")
    if get_origin(value_type) is not Literal:
        raise invalid(
            f"TypeSafe judge models support bool or finite Literal feedback value types. Got {value_type!r}."
        )
    values = get_args(value_type)
    if not 1 <= len(values) <= 255:
        raise invalid("TypeSafe Literal feedback value types must contain between 1 and 255 values.")
    for value in values:
        if type(value) not in (str, int, float, bool):
            raise invalid("TypeSafe Literal feedback values must be JSON string, number, or boolean scalars.")
        if type(value) is float and not math.isfinite(value):
            raise invalid("TypeSafe Literal feedback values cannot contain NaN or infinity.")
    choices: dict[str, Any] = {}
    for value in values:
        label = value if type(value) is str else json.dumps(value, ensure_ascii=False)
        if not label.strip():
            raise invalid("TypeSafe Literal feedback values must produce non-empty choice labels.")
        if label in choices:
            raise invalid(
                "TypeSafe Literal feedback values must have distinct string representations. "
                f"The label {label!r} is ambiguous."
            )
        choices[label] = value
    criteria = {label: f"The evaluation result is {label}." for label in choices}
    return {"type": "choice", "criteria": criteria}, _Answer("choice", choices)


def _rewrite_references(instructions: str, state: dict[str, Any]) -> str:
    """``{{ outputs }}`` -> ``state.outputs`` for each variable in the state (how System One names them)."""
    return _STATE_REFERENCE.sub(
        lambda m: f"state.{m.group(1)}" if m.group(1) in state else m.group(0), instructions
    )


def _serialize(state: dict[str, Any]) -> Any:
    try:
        return json.loads(json.dumps(state, default=_json_default, allow_nan=False))
    except (TypeError, ValueError):
        raise invalid(
            "TypeSafe evaluation state must contain JSON-serializable values without NaN or infinity."
        ) from None


def _json_default(obj: Any) -> Any:
    # As traces are stored: pydantic models and dataclasses as dicts, other objects as their text.
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump()
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


# --- the call --------------------------------------------------------------------------------------


def _gateway_request(payload: dict[str, Any]) -> dict[str, Any]:
    from mltrail.evaluation import providers
    from mltrail.evaluation.judge import post_json

    root = providers.gateway_root()
    if root is None:
        raise invalid(
            "A 'gateway:/' judge model is called through a tracking server: set the tracking URI "
            "to the server (http(s)://...) or MLTRAIL_GATEWAY_URL."
        )
    secrets = tuple(os.environ.get(v) or "" for v in providers.PROVIDERS[GATEWAY].secret_vars)
    return post_json(
        root + GATEWAY_ROUTE, payload, providers.gateway_headers(), name="gateway System One", secrets=secrets
    )


def _direct_request(base_url: str | None, extra_headers: dict[str, str] | None):
    """The call to TypeSafe itself; the key (or the caller's ``Authorization``) is checked before any call."""
    headers = dict(extra_headers or {})
    given = [v for k, v in headers.items() if k.lower() == "authorization"]
    if any(not isinstance(v, str) or not v.strip() for v in given):
        raise invalid("Authorization header in extra_headers must be non-empty.")
    key = os.environ.get(TYPESAFE_KEY_VAR)
    if not given:
        if not key:
            raise invalid(
                f"Set {TYPESAFE_KEY_VAR} or pass an Authorization header in extra_headers to invoke "
                "a typesafe:/ judge model."
            )
        headers["Authorization"] = f"Bearer {key}"
    base = base_url or os.environ.get(TYPESAFE_BASE_URL_VAR) or TYPESAFE_DEFAULT_BASE_URL
    if urlparse(base).scheme not in ("http", "https"):
        raise invalid(f"{TYPESAFE_BASE_URL_VAR} must be an http(s) URL to use a 'typesafe:/' judge model.")
    url = base.rstrip("/") + "/systemone"
    secrets = (key or "", *(v.removeprefix("Bearer ").strip() for v in given))

    def send(payload: dict[str, Any]) -> dict[str, Any]:
        from mltrail.evaluation.judge import post_json

        return post_json(url, payload, headers, name="typesafe", secrets=secrets)

    return send


def _says_not_system_one(err: Any) -> bool:
    detail = getattr(err, "detail", None)
    status = getattr(err, "status", None)
    return (status == 404 and detail == "Not Found") or (status == 422 and detail in NOT_SYSTEM_ONE_DETAILS)


def _failure_code(err: MltrailException) -> str:
    status = getattr(err, "status", None)
    if status is None:
        return err.error_code
    if status in (401, 403):
        return UNAUTHENTICATED
    return BAD_REQUEST if status < 500 else INTERNAL_ERROR


def _failure_text(err: MltrailException) -> str:
    status = getattr(err, "status", None)
    if status is None:
        return f"TypeSafe evaluation failed: {err.message}"
    return (
        f"TypeSafe evaluation failed with HTTP {status}. Check the endpoint configuration, credentials, "
        f"and evaluation schema. ({err.message})"
    )


# --- the answer ------------------------------------------------------------------------------------


def _read_answer(body: dict[str, Any], expected: _Answer) -> tuple[Any, dict[str, str]]:
    """The feedback value and MLflow's metadata; ``ValueError`` (or a lookup error) on any other shape."""
    model = body["model"]
    answer = body["answers"][_QUESTION]
    if not isinstance(model, str) or not model or not isinstance(answer, dict):
        raise ValueError
    if answer.get("type") != expected.kind:
        raise ValueError
    metadata = {"typesafe.model": model}
    if expected.choices is None:
        probability = _probability(answer["noul"])
        metadata["typesafe.probability"] = json.dumps(probability)
        value: Any = probability >= 0.5
    else:
        choice = answer["choice"]
        if not isinstance(choice, str) or choice not in expected.choices:
            raise ValueError
        probabilities = answer["probabilities"]
        if not isinstance(probabilities, dict) or set(probabilities) != set(expected.choices):
            raise ValueError
        probabilities = {k: _probability(p) for k, p in probabilities.items()}
        if not math.isclose(sum(probabilities.values()), 1, abs_tol=1e-3):
            raise ValueError
        metadata["typesafe.probabilities"] = json.dumps(probabilities, ensure_ascii=False, sort_keys=True)
        metadata["typesafe.confidence"] = json.dumps(_probability(answer["confidence"]))
        if "legend" in answer:
            legend = answer["legend"]
            if (
                not isinstance(legend, dict)
                or set(legend) != set(expected.choices)
                or not all(isinstance(d, str) for d in legend.values())
            ):
                raise ValueError
            metadata["typesafe.legend"] = json.dumps(legend, ensure_ascii=False, sort_keys=True)
        value = expected.choices[choice]
    usage = body.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            raise ValueError
        for field, key in _TOKEN_KEYS:
            count = usage.get(field)
            if count is not None:
                if type(count) is not int or count < 0:
                    raise ValueError
                metadata[key] = str(count)
    return value, metadata


def _probability(value: Any) -> float:
    """A number in [0, 1] as a float (``bool`` and NaN are not numbers here)."""
    if type(value) not in (int, float) or not 0 <= value <= 1:
        raise ValueError
    return float(value)
