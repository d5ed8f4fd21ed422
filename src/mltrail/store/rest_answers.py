"""REST answers decoded straight into tracking entities, with the dict path as fallback.

msgspec decodes an answer's JSON bytes into typed shapes that mirror the fields
the entities' ``from_dict`` reads (no dict per object, keys matched in C); params
and tags land directly in :class:`Param` / :class:`RunTag` (their JSON is exactly
their fields). Each shape accepts only the exact JSON types a server normally
sends. Anything else -- "NaN" strings, numbers as strings, nulls, a missing
required field -- fails validation, and the answer is read again the lenient way
(dicts and ``from_dict``), so both paths give the same entities and the same
errors. Unknown fields are ignored on both.

Example::

    run = decode_answer(session.send_raw(TRACKING.get_run, body), GET_RUN)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from mltrail.entities import Experiment, Metric, PagedList, Param, Run, RunInfo, RunTag
from mltrail.entities.run_io import RunOutputs
from mltrail.entities.tracking import RunData, RunInputs

T = TypeVar("T")

_decode = msgspec.json.decode


class _Lenient(Exception):
    """Raised by a builder when a typed shape cannot tell what ``from_dict`` would give."""


class _Info(msgspec.Struct, gc=False):
    experiment_id: str
    run_id: str = ""
    run_uuid: str | None = None
    run_name: str = ""
    user_id: str = ""
    status: str = "RUNNING"
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str = ""
    lifecycle_stage: str = "active"


class _Metric(msgspec.Struct, gc=False):
    key: str
    value: float
    timestamp: int = 0
    step: int = 0


class _Data(msgspec.Struct, gc=False):
    metrics: list[_Metric] = []
    params: list[Param] = []
    tags: list[RunTag] = []


class _Run(msgspec.Struct, gc=False):
    info: _Info
    data: _Data | None = None
    inputs: dict[str, Any] | None = None  # rare and nested: read by from_dict
    outputs: dict[str, Any] | None = None


class _RunAnswer(msgspec.Struct, gc=False):
    run: _Run


class _RunInfoAnswer(msgspec.Struct, gc=False):
    run_info: _Info


class _RunsPage(msgspec.Struct, gc=False):
    runs: list[_Run] = []
    next_page_token: str | None = None


class _MetricsPage(msgspec.Struct, gc=False):
    metrics: list[_Metric] = []
    next_page_token: str | None = None


class _Tag(msgspec.Struct, gc=False):
    key: str
    value: str = ""


class _Experiment(msgspec.Struct, gc=False):
    experiment_id: str
    name: str = ""
    artifact_location: str = ""
    lifecycle_stage: str = "active"
    tags: list[_Tag] = []
    creation_time: int | None = None
    last_update_time: int | None = None


class _ExperimentAnswer(msgspec.Struct, gc=False):
    experiment: _Experiment


class _ExperimentsPage(msgspec.Struct, gc=False):
    experiments: list[_Experiment] = []
    next_page_token: str | None = None


def _run_info(i: _Info) -> RunInfo:
    run_id = i.run_id or i.run_uuid
    if run_id is None:  # from_dict raises KeyError for it: let it
        raise _Lenient
    return RunInfo(
        run_id,
        i.experiment_id,
        i.run_name,
        i.user_id,
        i.status,
        i.start_time,
        i.end_time,
        i.artifact_uri,
        i.lifecycle_stage,
    )


def _metrics(ms: list[_Metric]) -> list[Metric]:
    metric = Metric
    return [metric(m.key, m.value, m.timestamp, m.step) for m in ms]


def _run(r: _Run) -> Run:
    d, inputs, outputs = r.data, r.inputs, r.outputs
    return Run(
        _run_info(r.info),
        RunData(_metrics(d.metrics), d.params, d.tags) if d is not None else RunData([], [], []),
        RunInputs.from_dict(inputs) if inputs else RunInputs([], []),
        RunOutputs.from_dict(outputs) if outputs else RunOutputs([]),
    )


def _experiment(e: _Experiment) -> Experiment:
    return Experiment(
        e.experiment_id,
        e.name,
        e.artifact_location,
        e.lifecycle_stage,
        {t.key: t.value for t in e.tags},
        e.creation_time,
        e.last_update_time,
    )


class Answer(Generic[T]):
    """How one route's answer becomes entities: a typed shape and its builder, or dicts and ``from_dict``."""

    __slots__ = ("build", "decode", "lenient", "shape")

    def __init__(
        self, shape: type, build: Callable[[Any], T], lenient: Callable[[dict[str, Any]], T]
    ) -> None:
        self.shape = shape
        self.build = build
        self.lenient = lenient
        self.decode: Callable[[bytes], Any] | None = None  # made on first use: nothing at import

    def prepare(self) -> Callable[[bytes], Any]:
        """The typed decoder's ``decode`` (msgspec reads the shape's types once, here)."""
        self.decode = msgspec.json.Decoder(self.shape).decode
        return self.decode


def decode_answer(content: bytes, answer: Answer[T]) -> T:
    """The entities in ``content`` (a success answer's body; ``b""`` reads as ``{}``)."""
    if content:
        try:
            return answer.build((answer.decode or answer.prepare())(content))
        except (msgspec.ValidationError, _Lenient):
            pass  # an unusual spelling: the lenient path decides, errors included
        return answer.lenient(_decode(content))
    return answer.lenient({})


GET_RUN: Answer[Run] = Answer(
    _RunAnswer, lambda a: _run(a.run), lambda d: Run.from_dict(d["run"])
)  # also create_run's answer
RUN_INFO: Answer[RunInfo] = Answer(
    _RunInfoAnswer, lambda a: _run_info(a.run_info), lambda d: RunInfo.from_dict(d["run_info"])
)
SEARCH_RUNS: Answer[PagedList] = Answer(
    _RunsPage,
    lambda a: PagedList([_run(r) for r in a.runs], a.next_page_token),
    lambda d: PagedList([Run.from_dict(r) for r in d.get("runs", [])], d.get("next_page_token")),
)
EXPERIMENT: Answer[Experiment] = Answer(
    _ExperimentAnswer, lambda a: _experiment(a.experiment), lambda d: Experiment.from_dict(d["experiment"])
)
SEARCH_EXPERIMENTS: Answer[PagedList] = Answer(
    _ExperimentsPage,
    lambda a: PagedList([_experiment(e) for e in a.experiments], a.next_page_token),
    lambda d: PagedList([Experiment.from_dict(e) for e in d.get("experiments", [])], d.get("next_page_token")),
)
METRICS_PAGE: Answer[tuple[list[Metric], Any]] = Answer(
    _MetricsPage,
    lambda a: (_metrics(a.metrics), a.next_page_token),
    lambda d: ([Metric.from_dict(m) for m in d.get("metrics", [])], d.get("next_page_token")),
)
