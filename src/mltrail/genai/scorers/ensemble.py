"""``make_scorer_ensemble``: one feedback from several scorers, and its built-in combiners.

The combiners (``majority_vote``, ``mean``, ``minimum``, ``maximum``,
``agg_all``, ``agg_any``) take the sub-scorers' values; a combiner whose first
parameter is named ``feedbacks`` gets the sub-scorers' :class:`Feedback`
objects instead (MLflow's convention). A sub-scorer that fails counts as no
value, and the built-in combiners refuse to aggregate an incomplete set.

Example::

    from mltrail.genai.scorers import Safety, make_scorer_ensemble

    both = make_scorer_ensemble(name="safe_all", scorers=[Safety(model="openai:/gpt-4o"),
                                Safety(name="s2", model="anthropic:/claude-3-5-haiku-latest")],
                                ensemble_fn="agg_all")
"""

from __future__ import annotations

import inspect
import json
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

from mltrail.entities.assessment import DEFAULT_FEEDBACK_NAME, Feedback
from mltrail.exceptions import invalid
from mltrail.genai.judges._call import AFFIRMATIVE, NEGATIVE
from mltrail.genai.scorers.base import AggregationFunc, Scorer, ScorerKind

SUB_FEEDBACKS_METADATA_KEY = "mlflow.ensemble.sub_feedbacks"


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in AFFIRMATIVE:
            return True
        if text in NEGATIVE:
            return False
    return None


def _require_complete(values: list[Any]) -> None:
    if not values:
        raise invalid("Aggregation failed: no sub-scorer values were provided.")
    if any(v is None for v in values):
        raise invalid(
            "Aggregation failed: at least one sub-scorer returned no value (it errored or produced an "
            "empty assessment). Built-in aggregation functions require every sub-scorer to return a value."
        )


def _require_numeric(values: list[Any]) -> None:
    for v in values:
        if not isinstance(v, (bool, int, float)):
            raise invalid(
                f"This ensemble function requires numeric sub-scorer values, but got a value of type "
                f"{type(v).__name__}. Use majority_vote for categorical values."
            )


def _bools(values: list[Any]) -> list[bool]:
    out = []
    for value in values:
        b = _as_bool(value)
        if b is None:
            raise invalid(
                f"This ensemble function requires boolean sub-scorer values, but got {value!r} (type "
                f"{type(value).__name__}), which has no yes/no reading. Use majority_vote for other "
                "categorical values."
            )
        out.append(b)
    return out


def majority_vote(values: list[Any]) -> Feedback:
    """The most common value; ties go to the smallest ``str(value)``."""
    _require_complete(values)
    counts = Counter(values)
    top = max(counts.values())
    winner = min((v for v, c in counts.items() if c == top), key=str)
    return Feedback(value=winner, rationale=f"Majority vote over {len(values)} scorers: {dict(counts)}")


def mean(values: list[Any]) -> Feedback:
    """The arithmetic mean of numeric values."""
    _require_complete(values)
    _require_numeric(values)
    result = statistics.mean(values)
    return Feedback(value=result, rationale=f"Mean over {len(values)} scorers = {result}")


def minimum(values: list[Any]) -> Feedback:
    """The smallest numeric value."""
    _require_complete(values)
    _require_numeric(values)
    result = min(values)
    return Feedback(value=result, rationale=f"Minimum over {len(values)} scorers = {result}")


def maximum(values: list[Any]) -> Feedback:
    """The largest numeric value."""
    _require_complete(values)
    _require_numeric(values)
    result = max(values)
    return Feedback(value=result, rationale=f"Maximum over {len(values)} scorers = {result}")


def agg_all(values: list[Any]) -> Feedback:
    """True when every value reads as yes/true."""
    _require_complete(values)
    result = all(_bools(values))
    return Feedback(value=result, rationale=f"all() over {len(values)} scorers = {result}")


def agg_any(values: list[Any]) -> Feedback:
    """True when any value reads as yes/true."""
    _require_complete(values)
    result = any(_bools(values))
    return Feedback(value=result, rationale=f"any() over {len(values)} scorers = {result}")


BUILTIN_ENSEMBLES: dict[str, Callable[[list[Any]], Feedback]] = {
    "majority_vote": majority_vote,
    "mean": mean,
    "minimum": minimum,
    "maximum": maximum,
    "agg_all": agg_all,
    "agg_any": agg_any,
}
_NUMERIC = {"mean", "minimum", "maximum"}
_BOOL = {"agg_all", "agg_any"}


def _is_numeric_type(t: Any) -> bool:
    if t in (bool, int, float):
        return True
    return get_origin(t) is Literal and all(isinstance(a, (bool, int, float)) for a in get_args(t))


def _is_bool_type(t: Any) -> bool:
    if t is bool:
        return True
    return get_origin(t) is Literal and all(_as_bool(a) is not None for a in get_args(t))


def _wants_feedbacks(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    first = next((p for p in params if p.kind in positional), None)
    return first is not None and first.name == "feedbacks"


class EnsembleScorer(Scorer):
    """Runs its sub-scorers on the same row and combines their results into one feedback."""

    _scorers: list[Scorer]
    _ensemble_fn: Callable[..., Any]
    _session_level: bool = False

    @property
    def kind(self) -> ScorerKind:
        return ScorerKind.ENSEMBLE

    @property
    def is_session_level_scorer(self) -> bool:
        return self._session_level

    def __call__(self, *, inputs=None, outputs=None, expectations=None, trace=None, session=None) -> Feedback:
        if self._session_level:
            kwargs: dict[str, Any] = {"session": session, "expectations": expectations}
        else:
            kwargs = {"inputs": inputs, "outputs": outputs, "expectations": expectations, "trace": trace}
        results = []
        for sub in self._scorers:
            try:
                results.append(sub.run(**kwargs))
            except Exception as err:  # a failed sub-scorer is a value the combiner must handle
                results.append(Feedback(name=sub.name, error=err))
        values = [_value_of(r) for r in results]
        subs = [
            r if isinstance(r, Feedback) else Feedback(name=s.name, value=v)
            for s, r, v in zip(self._scorers, results, values, strict=True)
        ]
        metadata = {SUB_FEEDBACKS_METADATA_KEY: json.dumps([fb.to_proto_json() for fb in subs])}
        feedbacks_mode = _wants_feedbacks(self._ensemble_fn)
        if not feedbacks_mode:
            for sub, value in zip(self._scorers, values, strict=True):
                if value is not None and not isinstance(value, (bool, int, float, str)):
                    raise invalid(
                        "make_scorer_ensemble only supports sub-scorers returning bool, numeric, or categorical "
                        f"(str) values. Sub-scorer '{sub.name}' returned {type(value).__name__}."
                    )
        try:
            result = self._ensemble_fn(subs if feedbacks_mode else values)
        except Exception as err:
            failures = "; ".join(
                f"'{fb.name}': {fb.error.error_message or fb.error.error_code}" for fb in subs if fb.error
            )
            suffix = f" Failed sub-scorers -- {failures}." if failures else ""
            raise invalid(
                f"Ensemble scorer '{self.name}' failed to aggregate its sub-scorer results: {err}{suffix}"
            ) from err
        if isinstance(result, Feedback):
            if result.name == DEFAULT_FEEDBACK_NAME:
                result.name = self.name
            result["metadata"] = {**metadata, **(result.metadata or {})}
            return result
        return Feedback(name=self.name, value=result, metadata=metadata)


def _value_of(result: Any) -> Any:
    if isinstance(result, Feedback):
        return None if result.error is not None else result.value
    if isinstance(result, list):
        raise invalid(
            "make_scorer_ensemble does not support sub-scorers that return a list of Feedback objects."
        )
    return result


def make_scorer_ensemble(
    *,
    name: str,
    scorers: list[Scorer],
    ensemble_fn: str | Callable[..., Any],
    description: str | None = None,
    aggregations: list[str | AggregationFunc] | None = None,
) -> EnsembleScorer:
    """A scorer that runs ``scorers`` and combines their values with ``ensemble_fn``.

    ``ensemble_fn`` is a built-in name (``"majority_vote"``, ``"mean"``,
    ``"minimum"``, ``"maximum"``, ``"agg_all"``, ``"agg_any"``) or a callable
    ``(values) -> value | Feedback`` (or ``(feedbacks) -> ...``). The sub-scorers
    must all be single-turn or all session-level.
    """
    if not scorers:
        raise invalid("make_scorer_ensemble requires at least one sub-scorer.")
    levels = {s.is_session_level_scorer for s in scorers}
    if len(levels) > 1:
        raise invalid(
            "All sub-scorers passed to make_scorer_ensemble must be the same level: either all session-level "
            "or all single-turn."
        )
    if isinstance(ensemble_fn, str):
        if ensemble_fn not in BUILTIN_ENSEMBLES:
            raise invalid(
                f"'{ensemble_fn}' is not a built-in ensemble function. Available: {sorted(BUILTIN_ENSEMBLES)}."
            )
        fn_name: str | None = ensemble_fn
        fn = BUILTIN_ENSEMBLES[ensemble_fn]
    else:
        fn = ensemble_fn
        fn_name = next((n for n, f in BUILTIN_ENSEMBLES.items() if f is fn), None)
    for s in scorers:
        declared = getattr(s, "feedback_value_type", None)
        if declared is None:
            continue
        if fn_name in _NUMERIC and not _is_numeric_type(declared):
            raise invalid(
                f"Ensemble function '{fn_name}' requires numeric sub-scorer values, but sub-scorer '{s.name}' "
                f"declares a non-numeric feedback_value_type ({declared!r}). Use majority_vote for categorical scorers."
            )
        if fn_name in _BOOL and not _is_bool_type(declared):
            raise invalid(
                f"Ensemble function '{fn_name}' requires sub-scorer values with a yes/no reading, but sub-scorer "
                f"'{s.name}' declares a feedback_value_type of {declared!r}. Use majority_vote for other "
                "categorical scorers."
            )
    made = EnsembleScorer(name=name, description=description, aggregations=aggregations)
    made._scorers = list(scorers)
    made._ensemble_fn = fn
    made._session_level = levels.pop()
    return made
