"""``Judge``: a scorer whose verdict comes from an LLM judge model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from mltrail.exceptions import invalid
from mltrail.genai._scorer_base import Scorer, ScorerKind
from mltrail.genai.judges._call import get_default_model
from mltrail.genai.judges.builtin import warn_extra_headers


@dataclass(frozen=True)
class JudgeField:
    """One input a judge reads (``inputs``, ``outputs``, ``expectations``, ``trace``, ``session``)."""

    name: str
    description: str


class Judge(Scorer):
    """A scorer graded by an LLM: ``model`` is a ``<provider>:/<model>`` URI (None: the default judge)."""

    _fields: ClassVar[tuple[str, ...]] = ("model", "inference_params", "extra_headers")
    model: str | None = None
    inference_params: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.model is not None:
            self._check_model(self.model)
        if self.extra_headers and not self._sends_extra_headers():
            warn_extra_headers(self.extra_headers)

    def _check_model(self, model: str) -> None:
        """Refuse (INVALID_PARAMETER_VALUE) a model URI this judge cannot call."""
        from mltrail.evaluation.judge import parse_judge_uri

        provider, _, name = model.partition(":/")
        if provider == "typesafe":  # TypeSafe System One: no chat provider, asked by _systemone
            if not name.strip("/"):
                raise invalid(f"Malformed judge model URI {model!r}: the model name is missing.")
            return
        parse_judge_uri(model)

    def _sends_extra_headers(self) -> bool:
        """Whether this judge's calls carry ``extra_headers`` (else they are refused with a warning)."""
        return False

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.extra_headers:  # header values may be credentials: show the names only
            text = text.replace(
                f"extra_headers={self.extra_headers!r}", f"extra_headers={list(self.extra_headers)!r}"
            )
        return text

    @property
    def judge_model(self) -> str:
        """The model this judge calls: its own, or the default judge model."""
        return self.model or get_default_model()

    @property
    def kind(self) -> ScorerKind:
        return ScorerKind.BUILTIN

    @property
    def instructions(self) -> str:
        """What the judge is asked to decide, in plain words."""
        return self.description or ""

    @property
    def feedback_value_type(self) -> Any:
        return str

    def get_input_fields(self) -> list[JudgeField]:
        """The arguments this judge reads."""
        return []
