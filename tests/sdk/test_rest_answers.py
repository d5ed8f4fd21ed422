"""REST answers decoded into entities: the typed path gives what the dict path (from_dict) gives, errors included."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from mltrail.entities import Experiment, Metric, Param, Run, RunInfo, RunTag
from mltrail.store import rest_answers as a
from mltrail.store.rest_answers import Answer, decode_answer

INFO = {
    "run_uuid": "r1", "run_id": "r1", "run_name": "main", "experiment_id": "3", "user_id": "me",
    "status": "RUNNING", "start_time": 1700, "artifact_uri": "file:///a", "lifecycle_stage": "active",
}  # fmt: skip
DATA = {
    "metrics": [{"key": "m", "value": 0.5, "timestamp": 17, "step": 2}, {"key": "n", "value": 3}],
    "params": [{"key": "p", "value": "1"}],
    "tags": [{"key": "t", "value": "x"}],
}
RUN = {"info": INFO, "data": DATA, "inputs": {}}
EXPERIMENT = {
    "experiment_id": "3", "name": "e", "artifact_location": "file:///e", "lifecycle_stage": "active",
    "creation_time": 5, "last_update_time": 6, "tags": [{"key": "k", "value": "v"}],
}  # fmt: skip


def _with(d: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**d, **changes}.items() if v is not _DROP}


_DROP = object()

# Answers a server normally sends: the typed shapes must take them (no lenient read).
TYPED: list[tuple[Answer[Any], dict[str, Any]]] = [
    (a.GET_RUN, {"run": RUN}),
    (a.GET_RUN, {"run": {"info": _with(INFO, end_time=1800, status="FINISHED"), "data": DATA}}),
    (a.GET_RUN, {"run": {"info": INFO}, "extra": [1, 2]}),
    (a.GET_RUN, {"run": {"info": _with(INFO, run_id=_DROP), "data": {}, "outputs": None}}),
    (a.GET_RUN, {"run": _with(RUN, inputs={"dataset_inputs": [{"dataset": {"name": "d", "digest": "g"}}]})}),
    (a.GET_RUN, {"run": _with(RUN, outputs={"model_outputs": [{"model_id": "m-1", "step": 3}]})}),
    (a.RUN_INFO, {"run_info": _with(INFO, end_time=9)}),
    (a.SEARCH_RUNS, {"runs": [RUN, RUN], "next_page_token": "tok"}),
    (a.SEARCH_RUNS, {}),
    (a.EXPERIMENT, {"experiment": EXPERIMENT}),
    (a.EXPERIMENT, {"experiment": {"experiment_id": "0"}}),
    (a.SEARCH_EXPERIMENTS, {"experiments": [EXPERIMENT], "next_page_token": None}),
    (a.METRICS_PAGE, {"metrics": DATA["metrics"], "next_page_token": "t2"}),
    (a.METRICS_PAGE, {"metrics": [{"key": "m", "value": 1.5, "timestamp": 1, "step": 0, "run_id": "r"}]}),
]

# Spellings only the lenient path reads (or rejects): the answer must still match it.
LENIENT: list[tuple[Answer[Any], Any]] = [
    (a.GET_RUN, {"run": _with(RUN, data={"metrics": [{"key": "m", "value": "NaN", "timestamp": 1}]})}),
    (a.GET_RUN, {"run": _with(RUN, data={"metrics": [{"key": "m", "value": "-Infinity", "step": "4"}]})}),
    (a.GET_RUN, {"run": _with(RUN, data={"metrics": [{"key": "m", "value": 1.0, "timestamp": None}]})}),
    (a.GET_RUN, {"run": _with(RUN, data={"params": [{"key": "p", "value": 5}], "tags": [{"key": "t"}]})}),
    (a.GET_RUN, {"run": _with(RUN, data={"params": [{"key": "p", "value": None}]})}),
    (a.GET_RUN, {"run": {"info": _with(INFO, experiment_id=3, start_time="10", end_time="")}}),
    (a.GET_RUN, {"run": {"info": _with(INFO, run_name=None, user_id=None)}}),
    (a.GET_RUN, {"run": {"info": _with(INFO, run_id="", run_uuid=None)}}),
    (a.GET_RUN, {"run": {"info": _with(INFO, start_time=True)}}),
    (a.GET_RUN, {"run": {"info": INFO, "data": None, "inputs": None}}),
    (a.RUN_INFO, {"run_info": _with(INFO, lifecycle_stage=None)}),
    (a.SEARCH_RUNS, {"runs": [RUN], "next_page_token": 7}),
    (
        a.EXPERIMENT,
        {"experiment": _with(EXPERIMENT, experiment_id=3, creation_time="5", last_update_time="")},
    ),
    (a.EXPERIMENT, {"experiment": _with(EXPERIMENT, tags=[{"key": "k", "value": None}], name=None)}),
    (a.METRICS_PAGE, {"metrics": [{"key": "m", "value": "Infinity", "timestamp": "2", "step": None}]}),
    (a.METRICS_PAGE, {"metrics": [{"key": "m", "value": 2, "timestamp": 1.0, "step": False}]}),
    # ... and the ones it rejects: the same error either way
    (a.GET_RUN, {}),
    (a.GET_RUN, {"run": {"info": _with(INFO, run_id=_DROP, run_uuid=_DROP)}}),
    (a.GET_RUN, {"run": {"info": _with(INFO, run_id="")}, "data": {}}),
    (a.GET_RUN, {"run": {"info": _with(INFO, experiment_id=_DROP)}}),
    (a.GET_RUN, {"run": {"info": INFO, "data": {"metrics": None}}}),
    (a.GET_RUN, {"run": {"info": INFO, "data": {"metrics": [{"value": 1.0}]}}}),
    (a.GET_RUN, {"run": {"info": INFO, "data": {"params": [{"value": "v"}]}}}),
    (a.GET_RUN, {"run": {"info": INFO, "data": {"metrics": [{"key": "m", "value": "x"}]}}}),
    (a.GET_RUN, {"run": {"info": INFO, "inputs": [1]}}),
    (a.GET_RUN, [1, 2]),
    (a.SEARCH_RUNS, {"runs": None}),
    (a.EXPERIMENT, {"experiment": {"name": "e"}}),
    (a.EXPERIMENT, {"experiment": _with(EXPERIMENT, tags=None)}),
    (a.METRICS_PAGE, {"metrics": [{"key": "m"}]}),
]


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as err:  # the same exception type and message on both paths
        return ("raised", type(err), str(err))


def _same(x: Any, y: Any) -> bool:
    """Equal outcomes, NaN equal to NaN and entity types compared too."""
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or x == y
    if type(x) is not type(y):
        return False
    if isinstance(x, (list, tuple)):
        return (
            len(x) == len(y)
            and all(_same(i, j) for i, j in zip(x, y, strict=True))
            and (getattr(x, "token", None) == getattr(y, "token", None))
        )
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if hasattr(x, "__dataclass_fields__"):
        return all(_same(getattr(x, f), getattr(y, f)) for f in x.__dataclass_fields__)
    return x == y


@pytest.mark.parametrize(("answer", "payload"), TYPED + LENIENT)
def test_typed_read_gives_what_from_dict_gives(answer: Answer[Any], payload: Any) -> None:
    body = msgspec.json.encode(payload)
    typed = _outcome(lambda: decode_answer(body, answer))
    lenient = _outcome(lambda: answer.lenient(msgspec.json.decode(body)))
    assert _same(typed, lenient), (typed, lenient)


@pytest.mark.parametrize(("answer", "payload"), TYPED)
def test_usual_answers_take_the_typed_path(answer: Answer[Any], payload: Any) -> None:
    def refuse(d: Any) -> Any:
        raise AssertionError(f"lenient path taken for {d}")

    body = msgspec.json.encode(payload)
    assert decode_answer(body, Answer(answer.shape, answer.build, refuse)) is not None


def test_typed_run_is_made_of_the_entity_types() -> None:
    run = decode_answer(msgspec.json.encode({"run": RUN}), a.GET_RUN)
    assert type(run) is Run and type(run.info) is RunInfo
    assert run.info == RunInfo("r1", "3", "main", "me", "RUNNING", 1700, None, "file:///a", "active")
    assert run.data.metric_list == [Metric("m", 0.5, 17, 2), Metric("n", 3.0, 0, 0)]
    assert type(run.data.metric_list[1].value) is float
    assert run.data.param_list == [Param("p", "1")] and type(run.data.param_list[0]) is Param
    assert run.data.tag_list == [RunTag("t", "x")] and type(run.data.tag_list[0]) is RunTag
    exp = decode_answer(msgspec.json.encode({"experiment": EXPERIMENT}), a.EXPERIMENT)
    assert exp == Experiment("3", "e", "file:///e", "active", {"k": "v"}, 5, 6)


def test_an_empty_body_reads_as_an_empty_object() -> None:
    assert decode_answer(b"", a.SEARCH_RUNS) == [] and decode_answer(b"", a.SEARCH_RUNS).token is None
    with pytest.raises(KeyError):
        decode_answer(b"", a.GET_RUN)


def test_malformed_json_raises_the_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_answer(b'{"run": ', a.GET_RUN)
