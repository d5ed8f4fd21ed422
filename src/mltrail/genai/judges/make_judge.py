"""``make_judge``: a judge from plain-language instructions with ``{{ inputs }}``-style variables.

The instructions may name ``{{ inputs }}``, ``{{ outputs }}``,
``{{ expectations }}``, ``{{ trace }}`` and ``{{ conversation }}`` (the last one
alone or with ``{{ expectations }}``; it makes a session-level judge). Any other
variable, or none at all, is INVALID_PARAMETER_VALUE, as in MLflow. The judge
gets the instructions and the values of the variables, and answers
``{"result": ..., "rationale": ...}``; ``result`` is checked against
``feedback_value_type`` (``str`` by default; ``bool``, ``int``, ``float``,
``Literal[...]``, or a ``list``/``dict`` of those).

``model_api`` picks the API, as in MLflow 3.17 (:mod:`~mltrail.genai.judges.model_api`): a
``typesafe:/`` judge asks TypeSafe's System One API, a ``gateway:/`` judge chats and switches
to System One when the gateway answers that its endpoint serves a System One model
(:mod:`~mltrail.genai.judges._systemone`). A System One verdict has no rationale: its
probabilities are in the feedback's ``typesafe.*`` metadata. Every verdict's metadata holds the
instructions (``guideline``), for the UI.

Example::

    from typing import Literal
    from mltrail.genai.judges import make_judge

    tone = make_judge(
        name="tone",
        instructions="Is the answer in {{ outputs }} polite to the user in {{ inputs }}?",
        feedback_value_type=Literal["yes", "no"],
        model="anthropic:/claude-3-5-haiku-latest",
    )
    tone(inputs={"question": "hi"}, outputs="Hello! How can I help?")
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal, get_args, get_origin

from mltrail.entities.assessment import Feedback
from mltrail.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, MltrailException, invalid
from mltrail.genai._scorer_base import ScorerKind
from mltrail.genai.judges import _call, _systemone
from mltrail.genai.judges._trace import conversation_of, trace_as_json, validate_session
from mltrail.genai.judges.base import Judge, JudgeField
from mltrail.genai.judges.model_api import ModelAPI, parse_model_api, select_mode

VARIABLES = ("inputs", "outputs", "expectations", "trace", "conversation")
_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}")
_PRIMITIVES = (str, int, float, bool)
_ARGUMENT_OF = {"conversation": "session"}
# The variables whose values a System One model reads as its state (a trace it cannot read).
_STATE_VARIABLES = ("inputs", "outputs", "expectations", "conversation")


def _check_value_type(t: Any) -> None:
    if t is None or t in _PRIMITIVES:
        return
    origin = get_origin(t)
    if origin is Literal and all(isinstance(a, _PRIMITIVES) for a in get_args(t)):
        return
    if origin is list and all(a in _PRIMITIVES for a in get_args(t)):
        return
    if origin is dict and get_args(t)[:1] == (str,) and all(a in _PRIMITIVES for a in get_args(t)[1:]):
        return
    raise invalid(
        f"Unsupported feedback_value_type: {t}. Supported types (FeedbackValueType): str, int, float, bool, "
        "Literal[...], as well as a dict and list of these types."
    )


def _coerce(value: Any, t: Any) -> Any:
    """``value`` as ``t``, or ``ValueError`` saying why it is not one."""
    if t is None or t is str:
        return value if isinstance(value, str) else json.dumps(value)
    if t is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _call.AFFIRMATIVE:
            return True
        if text in _call.NEGATIVE:
            return False
    elif t in (int, float):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                number = float(value)
            except ValueError:
                number = None
            if number is not None and (t is float or number.is_integer()):
                return t(number)
    elif get_origin(t) is Literal:
        for allowed in get_args(t):
            if value == allowed or (
                isinstance(allowed, str) and str(value).strip().lower() == allowed.lower()
            ):
                return allowed
    elif get_origin(t) in (list, dict) and isinstance(value, get_origin(t)):
        return value
    raise ValueError(f"the judge's result {value!r} is not {type_text(t)}")


def type_text(t: Any) -> str:
    """``t`` in words for prompts and errors: ``a bool``, ``one of 'yes', 'no'``."""
    if get_origin(t) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(t))
    return f"a {getattr(t, '__name__', None) or t}"


class InstructionsJudge(Judge):
    """The judge ``make_judge`` returns."""

    _fields: ClassVar[tuple[str, ...]] = ("instructions_template", "value_type", "model_api", "base_url")
    instructions_template: str = ""
    value_type: Any = None
    model_api: ModelAPI = ModelAPI.DEFAULT
    base_url: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        text = self.instructions_template
        if not text or not isinstance(text, str):
            raise invalid("instructions must be a non-empty string")
        found = list(dict.fromkeys(_VARIABLE.findall(text)))
        unknown = {v for v in found if v not in VARIABLES}
        if unknown:
            raise invalid(
                f"Instructions template contains unsupported variables: {unknown}. "
                f"Only the following variables are allowed: {', '.join(VARIABLES)}"
            )
        if not found:
            raise invalid(
                "Instructions template must contain at least one variable (e.g., {{ inputs }}, "
                "{{ outputs }}, {{ trace }}, {{ expectations }}, or {{ conversation }})."
            )
        if "conversation" in found and set(found) - {"conversation", "expectations"}:
            raise invalid(
                "Instructions template must not contain any template variables "
                "other than {{ expectations }} if {{ conversation }} is provided."
            )
        _check_value_type(self.value_type)
        self.template_variables: list[str] = found
        self.model_api = parse_model_api(self.model_api)
        self._check_model_api()

    def _sends_extra_headers(self) -> bool:
        return _systemone.provider_of(self.judge_model) == _systemone.TYPESAFE

    def _check_model_api(self) -> None:
        """MLflow's refusals of an API its model or instructions cannot use, at construction."""
        model = self.judge_model
        if select_mode(model, self.model_api) is not ModelAPI.DECISIONS:
            return
        if "trace" in self.template_variables:
            raise invalid("Decision API judges do not support {{ trace }} tool calling.")
        if _systemone.provider_of(model) is None:
            raise invalid(
                "model_api='decisions' with an openai:/ model (OpenAI's Decision API) is not supported by "
                "mltrail; use a typesafe:/ or gateway:/ System One model, or model_api='chat_completions'."
            )
        if self.inference_params is not None:
            raise invalid("Decision API judges do not support inference_params.")

    @property
    def kind(self) -> ScorerKind:
        return ScorerKind.INSTRUCTIONS

    @property
    def instructions(self) -> str:
        return self.instructions_template

    @property
    def feedback_value_type(self) -> Any:
        return self.value_type or str

    @property
    def is_session_level_scorer(self) -> bool:
        return "conversation" in self.template_variables

    def get_input_fields(self) -> list[JudgeField]:
        return [JudgeField(_ARGUMENT_OF.get(v, v), f"the {v} of the row") for v in self.template_variables]

    def __call__(self, *, inputs=None, outputs=None, expectations=None, trace=None, session=None) -> Feedback:
        given = {
            "inputs": inputs,
            "outputs": outputs,
            "expectations": expectations,
            "trace": trace,
            "session": session,
        }
        if expectations is not None and not isinstance(expectations, dict):
            raise invalid(f"'expectations' must be a dictionary, got {type(expectations).__name__}")
        if session is not None and not isinstance(session, list):
            raise invalid(f"'session' must be a list of Trace objects, got {type(session).__name__}")
        if session is not None:
            validate_session(session)
        missing = [
            _ARGUMENT_OF.get(v, v) for v in self.template_variables if given[_ARGUMENT_OF.get(v, v)] is None
        ]
        if missing:
            raise MltrailException(
                f"Must specify '{', '.join(missing)}' - required by template variables in instructions.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        model = self.judge_model
        feedback = self._judge(model, given)
        if feedback.error is not None:
            return feedback
        # As MLflow: the criterion in each verdict's metadata, for the UI to show beside it.
        feedback["metadata"] = {**(feedback.metadata or {}), "guideline": self.instructions_template}
        return feedback

    def _judge(self, model: str, given: dict[str, Any]) -> Feedback:
        """The verdict through the API MLflow would use for ``model`` (see :mod:`.model_api`)."""
        mode = select_mode(model, self.model_api)
        provider = _systemone.provider_of(model)
        trace_based = "trace" in self.template_variables
        if mode is ModelAPI.DECISIONS:
            try:
                return self._system_one(model, given)
            except _systemone.NotSystemOne:
                raise invalid(
                    "This Gateway endpoint does not serve a System One model. "
                    f"Use model_api={ModelAPI.CHAT_COMPLETIONS.value!r} or select a System One endpoint."
                ) from None
        if provider == _systemone.GATEWAY and mode is ModelAPI.DEFAULT and not trace_based:
            try:
                return _systemone.gateway_judge(
                    model,
                    chat=lambda: self._chat(model, given, reraise=_systemone.is_chat_rejection),
                    system_one=lambda: self._system_one(model, given),
                )
            except _systemone.NotSystemOne:  # refused on chat as System One, and on System One as not
                raise invalid(
                    "The Gateway endpoint refused chat as a System One endpoint, and System One as not one."
                ) from None
        if provider == _systemone.GATEWAY and trace_based:
            # System One cannot read a trace: a System One endpoint's refusal of chat says so plainly.
            try:
                return self._chat(model, given, reraise=_systemone.is_chat_rejection)
            except MltrailException as err:
                if not _systemone.is_chat_rejection(err):
                    raise
                raise invalid("TypeSafe judge models do not support trace-based evaluation.") from err
        return self._chat(model, given)

    def _chat(
        self, model: str, given: dict[str, Any], reraise: Callable[[MltrailException], bool] | None = None
    ) -> Feedback:
        """The verdict of a chat model: a JSON answer read as ``feedback_value_type``."""
        raw = _call.invoke_judge(
            model,
            self._prompt(given),
            self.name,
            yes_no=False,
            inference_params=self.inference_params,
            reraise=reraise,
        )
        if raw.error is not None:
            return raw
        try:
            value = _coerce(raw.value, self.feedback_value_type)
        except ValueError as err:
            return _call.error_feedback(self.name, model, BAD_REQUEST, str(err))
        return Feedback(name=self.name, value=value, rationale=raw.rationale, source=raw.source)

    def _system_one(self, model: str, given: dict[str, Any]) -> Feedback:
        """The verdict of a System One model, asked the instructions about the given values."""
        state = {}
        for var in _STATE_VARIABLES:
            if var in self.template_variables:
                state[var] = conversation_of(given["session"]) if var == "conversation" else given[var]
        return _systemone.evaluate(
            model,
            instructions=self.instructions_template,
            state=state,
            value_type=self.feedback_value_type,
            name=self.name,
            inference_params=self.inference_params,
            base_url=self.base_url,
            extra_headers=self.extra_headers,
        )

    def _prompt(self, given: dict[str, Any]) -> str:
        parts = []
        for var in self.template_variables:
            if var == "trace":
                text = trace_as_json(given["trace"])
            elif var == "conversation":
                text = json.dumps(conversation_of(given["session"]), indent=2, ensure_ascii=False)
            else:
                text = json.dumps(given[var], indent=2, ensure_ascii=False, default=str)
            parts.append(f"{var}: {text}")
        return (
            "You are an expert judge of an AI application's behaviour. Follow these instructions; the "
            "{{ ... }} placeholders in them refer to the values given after them.\n\n"
            f"Instructions:\n{self.instructions_template}\n\nValues:\n"
            + "\n".join(parts)
            + "\n\n"
            + _call.JSON_ANSWER.format(
                result=f"your rating, {type_text(self.feedback_value_type)}, following the instructions"
            )
        )


def make_judge(
    name: str,
    instructions: str,
    model: str | None = None,
    description: str | None = None,
    feedback_value_type: Any = None,
    inference_params: dict[str, Any] | None = None,
    base_url: str | None = None,
    extra_headers: dict[str, str] | None = None,
    model_api: ModelAPI | str = ModelAPI.DEFAULT,
    **unsupported: Any,
) -> InstructionsJudge:
    """A judge named ``name`` that grades by ``instructions`` with ``model`` (default: the default judge).

    ``model_api`` is MLflow's (``"default"``, ``"chat_completions"``, ``"decisions"``).
    ``base_url`` and ``extra_headers`` go to TypeSafe for a ``typesafe:/`` model (MLflow refuses
    them for a ``gateway:/`` one when it asks System One); chat providers take their base URL
    from their environment variable, so there they are ignored with a warning, as are MLflow's
    other options (``generate_rationale_first`` ...).
    """
    if not name or not isinstance(name, str):
        raise invalid("name must be a non-empty string")
    typesafe = _systemone.provider_of(model or _call.get_default_model()) == _systemone.TYPESAFE
    if base_url is not None and not typesafe and _systemone.provider_of(model or "") != _systemone.GATEWAY:
        unsupported["base_url"] = base_url
        base_url = None
    if unsupported:
        import warnings

        warnings.warn(f"make_judge ignores {', '.join(sorted(unsupported))} in mltrail", stacklevel=2)
    if feedback_value_type is None:  # MLflow's default: a free-text verdict
        feedback_value_type = str
    # As MLflow: only numbers and booleans have a meaningful mean to log by default.
    aggregations = ["mean"] if feedback_value_type in (bool, int, float) else []
    return InstructionsJudge(
        name=name,
        instructions_template=instructions,
        model=model,
        description=description,
        value_type=feedback_value_type,
        inference_params=inference_params,
        extra_headers=extra_headers,
        base_url=base_url,
        model_api=model_api,
        aggregations=aggregations,
    )
