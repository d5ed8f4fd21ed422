"""``Scorer``, the ``@scorer`` decorator and the normalisation of what a scorer returns.

A scorer grades one row (``inputs``, ``outputs``, ``expectations``, ``trace``)
or one conversation (``session``: the traces of one session). ``run()`` passes
only the arguments the scorer's ``__call__`` declares, as MLflow does, and
checks the result: a bool, number, string, :class:`Feedback`, a list of
feedbacks, or ``None`` (no assessment). A single feedback left with the default
name ``"feedback"`` takes the scorer's name.

It sits below both ``genai.judges`` (a judge is a scorer) and ``genai.scorers``
(whose built-ins call judges), so neither package imports the other in a ring;
MLflow's import path, ``mltrail.genai.scorers.base``, re-exports it.

Example::

    from mltrail.genai.scorers import scorer

    @scorer
    def exact_match(outputs, expectations) -> bool:
        return outputs == expectations["expected_response"]

    exact_match(outputs="4", expectations={"expected_response": "4"})   # True
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import math
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from mltrail.entities.assessment import DEFAULT_FEEDBACK_NAME, Assessment, Feedback
from mltrail.exceptions import invalid

AggregationFunc = Callable[[list[float]], float]
_SINGLE_TURN = frozenset({"inputs", "outputs", "trace"})


class ScorerKind(enum.Enum):
    """Where a scorer comes from (MLflow's names)."""

    CLASS = "class"
    BUILTIN = "builtin"
    DECORATOR = "decorator"
    INSTRUCTIONS = "instructions"
    GUIDELINES = "guidelines"
    ENSEMBLE = "ensemble"


class Scorer:
    """The base of every scorer: subclass it and implement ``__call__`` with the arguments you need.

    Constructor keywords are the class's fields (``name``, ``aggregations``,
    ``description``, ``timeout`` here; built-ins add ``model``, ``guidelines`` ...).
    Scorers hold no per-call state, so one instance may be called from many threads.
    """

    _fields: ClassVar[tuple[str, ...]] = ("name", "aggregations", "description", "timeout")
    name: str = ""
    aggregations: list[str | AggregationFunc] | None = None
    description: str | None = None
    timeout: float | None = None
    # Whether a value counts as passing (``@scorer(pass_if=...)``); None: "yes" or True passes.
    pass_if: Callable[[Any], bool] | None = None

    def __init__(self, **kwargs: Any) -> None:
        fields = self._all_fields()
        unknown = set(kwargs) - set(fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s): {', '.join(sorted(unknown))}"
            )
        for field in fields:
            if field in kwargs:
                setattr(self, field, kwargs[field])
            elif not hasattr(type(self), field):
                raise TypeError(f"{type(self).__name__} missing required keyword argument: {field!r}")
        if not isinstance(self.name, str) or not self.name:
            raise invalid(f"{type(self).__name__} needs a non-empty name")
        _check_timeout(self.timeout)

    @classmethod
    def _all_fields(cls) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for field in klass.__dict__.get("_fields", ()):
                seen[field] = None
        return tuple(seen)

    @property
    def kind(self) -> ScorerKind:
        return ScorerKind.CLASS

    @property
    def is_session_level_scorer(self) -> bool:
        """Whether the scorer grades a whole conversation (``session``) rather than one trace."""
        return False

    def __call__(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: dict[str, Any] | None = None,
        trace: Any = None,
        session: list[Any] | None = None,
    ) -> Any:
        """Grade one row; return a bool, number, string, ``Feedback`` or a list of feedbacks."""
        raise NotImplementedError("Implementation of __call__ is required for Scorer class")

    def run(self, *, inputs=None, outputs=None, expectations=None, trace=None, session=None) -> Any:
        """Call the scorer with the arguments its ``__call__`` declares and check what it returns.

        With a ``timeout`` (seconds, > 0) the call runs in a daemon thread and a
        call that takes longer raises INVALID_PARAMETER_VALUE naming the scorer.
        """
        given = {
            "inputs": inputs,
            "outputs": outputs,
            "expectations": expectations,
            "trace": trace,
            "session": session,
        }
        if self.timeout:
            return _with_timeout(self, self.timeout, given)
        return self._run_untimed(given)

    def _run_untimed(self, given: dict[str, Any]) -> Any:
        params = inspect.signature(self.__call__).parameters
        return normalize_result(self.name, self(**{k: v for k, v in given.items() if k in params}))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f}={getattr(self, f)!r}" for f in self._all_fields() if getattr(self, f, None) is not None
        )
        return f"{type(self).__name__}({shown})"


def normalize_result(name: str, result: Any) -> Any:
    """Check a scorer's return as MLflow's ``Scorer.run`` does; a lone default-named feedback takes ``name``."""
    ok = (
        result is None
        or isinstance(result, (int, float, bool, str, Assessment))
        or (isinstance(result, list) and all(isinstance(item, Assessment) for item in result))
    )
    if not ok:
        kind = (
            f"list[{type(result[0]).__name__}]"
            if isinstance(result, list) and result
            else type(result).__name__
        )
        raise invalid(
            f"{name} must return one of int, float, bool, str, Feedback, or list[Feedback]. Got {kind}"
        )
    if isinstance(result, Feedback) and result.name == DEFAULT_FEEDBACK_NAME:
        result.name = name
    return result


def _check_timeout(timeout: Any) -> None:
    if timeout is not None and not (
        isinstance(timeout, (int, float))
        and not isinstance(timeout, bool)
        and math.isfinite(timeout)
        and timeout >= 0
    ):
        raise invalid(
            f"`timeout` must be a non-negative, finite number of seconds or None "
            f"(use 0 to disable the timeout), got {timeout!r}."
        )


def _with_timeout(scorer_: Scorer, timeout: float, given: dict[str, Any]) -> Any:
    """Run in a daemon thread and stop waiting after ``timeout`` seconds (a thread cannot be killed)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = scorer_._run_untimed(given)
        except BaseException as err:  # re-raised in the caller's thread
            outcome["error"] = err

    # The caller's context variables (its workspace, its active span) go along into the thread.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(target,), name=f"mltrail-scorer-{scorer_.name}", daemon=True
    )
    thread.start()
    thread.join(min(timeout, threading.TIMEOUT_MAX))
    if thread.is_alive():
        raise invalid(
            f"Scorer '{scorer_.name}' timed out after {timeout} seconds. Set a longer timeout "
            f"with `@scorer(timeout=...)`, or `timeout=0` to disable the timeout."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _DecoratorScorer(Scorer):
    """A scorer made by ``@scorer`` from a function; its ``__call__`` has the function's signature."""

    _func: Callable[..., Any]
    _session_level: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._func(*args, **kwargs)

    @property
    def kind(self) -> ScorerKind:
        return ScorerKind.DECORATOR

    @property
    def is_session_level_scorer(self) -> bool:
        return self._session_level

    def _run_untimed(self, given: dict[str, Any]) -> Any:
        # Only the names the function declares, as MLflow's signature check passes them.
        params = inspect.signature(self._func).parameters
        chosen = {k: v for k, v in given.items() if k in params}
        return normalize_result(self.name, self._func(**chosen))


def scorer(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    aggregations: list[str | AggregationFunc] | None = None,
    pass_if: Callable[[Any], bool] | None = None,
    timeout: float | None = None,
) -> Any:
    """Turn a function of (a subset of) ``inputs, outputs, expectations, trace`` into a scorer.

    A function with a ``session`` parameter is a session-level scorer (called once
    per conversation with its traces) and may only also take ``expectations``.
    It may return a bool, number, string, ``Feedback``, a list of feedbacks, or None.

    Example::

        @scorer(aggregations=["mean", "max"])
        def length(outputs) -> int:
            return len(outputs)
    """
    _check_timeout(timeout)
    if func is None:
        return functools.partial(
            scorer,
            name=name,
            description=description,
            aggregations=aggregations,
            pass_if=pass_if,
            timeout=timeout,
        )
    params = set(inspect.signature(func).parameters)
    session_level = "session" in params
    if session_level and params & _SINGLE_TURN:
        bad = ", ".join(sorted(f"`{p}`" for p in params & _SINGLE_TURN))
        raise invalid(
            f"Session-level scorers (functions with a `session` parameter) cannot also accept {bad}. "
            "Session-level scorers are called once per session with the full list of traces, so "
            "single-turn parameters are not available. Use only `session` and optionally `expectations`."
        )
    made = _DecoratorScorer(
        name=name or func.__name__, description=description, aggregations=aggregations, timeout=timeout
    )
    made._func = func
    made._session_level = session_level
    made.pass_if = pass_if
    functools.update_wrapper(made, func, assigned=("__doc__", "__module__"), updated=())
    return made
