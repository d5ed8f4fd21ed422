"""The tracking entities read back from REST JSON: exact-typed answers and the spellings that need converting."""

from __future__ import annotations

import math

from mltrail.entities import ExperimentTag, Metric, Param, Run, RunInfo, RunTag
from mltrail.entities.tracking import InputTag, RunData, RunInputs


def test_metric_from_typed_json_keeps_the_values() -> None:
    m = Metric.from_dict({"key": "loss", "value": 0.25, "timestamp": 1700, "step": 3})
    assert m == Metric("loss", 0.25, 1700, 3)
    assert type(m.value) is float and type(m.timestamp) is int and type(m.step) is int


def test_metric_from_json_converts_what_is_not_a_float_or_an_int() -> None:
    assert Metric.from_dict({"key": "a", "value": 2, "timestamp": "17", "step": "4"}) == Metric(
        "a", 2.0, 17, 4
    )
    assert type(Metric.from_dict({"key": "a", "value": 2}).value) is float
    assert math.isnan(Metric.from_dict({"key": "a", "value": "NaN"}).value)
    assert Metric.from_dict({"key": "a", "value": "Infinity"}).value == math.inf
    assert Metric.from_dict({"key": "a", "value": "-Infinity"}).value == -math.inf
    missing = Metric.from_dict({"key": "a", "value": 1.5})
    assert (missing.timestamp, missing.step) == (0, 0)
    nulls = Metric.from_dict({"key": "a", "value": 1.5, "timestamp": None, "step": None})
    assert (nulls.timestamp, nulls.step) == (0, 0)
    flag = Metric.from_dict({"key": "a", "value": 1.5, "timestamp": True, "step": False})
    assert (type(flag.timestamp), type(flag.step)) == (int, int)


def test_key_value_entities_give_string_values() -> None:
    for cls in (Param, RunTag, ExperimentTag, InputTag):
        assert cls.from_dict({"key": "k", "value": "v"}) == cls("k", "v")
        assert cls.from_dict({"key": "k", "value": 5}).value == "5"
        assert cls.from_dict({"key": "k"}).value == ""
        assert type(cls.from_dict({"key": "k", "value": "v"})) is cls


def test_run_info_from_json() -> None:
    typed = {
        "run_id": "r1", "experiment_id": "7", "run_name": "n", "user_id": "u", "status": "FINISHED",
        "start_time": 10, "end_time": 20, "artifact_uri": "a", "lifecycle_stage": "deleted",
    }  # fmt: skip
    assert RunInfo.from_dict(typed) == RunInfo("r1", "7", "n", "u", "FINISHED", 10, 20, "a", "deleted")
    loose = RunInfo.from_dict({"run_uuid": "r2", "experiment_id": 7, "start_time": "10", "end_time": ""})
    assert loose == RunInfo("r2", "7", "", "", "RUNNING", 10, None, "", "active")
    assert RunInfo.from_dict({"run_id": "r3", "experiment_id": "1", "start_time": None}).start_time is None


def test_run_from_json_with_and_without_its_optional_parts() -> None:
    info = {"run_id": "r", "experiment_id": "1"}
    bare = Run.from_dict({"info": info})
    assert bare.data == RunData([], [], [])
    assert bare.inputs == RunInputs([], [])
    assert bare.outputs.model_outputs == []
    assert Run.from_dict({"info": info, "data": None, "inputs": None, "outputs": None}) == bare
    assert Run.from_dict({"info": info, "inputs": {"dataset_inputs": []}}) == bare
    full = Run.from_dict({
        "info": info,
        "data": {
            "metrics": [{"key": "m", "value": "NaN", "timestamp": 1, "step": 2}],
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "t", "value": "x"}],
        },
        "inputs": {
            "dataset_inputs": [{"dataset": {"name": "d", "digest": "g"}, "tags": [{"key": "k", "value": "v"}]}],
            "model_inputs": [{"model_id": "m-1"}],
        },
        "outputs": {"model_outputs": [{"model_id": "m-2", "step": "3"}]},
    })  # fmt: skip
    assert math.isnan(full.data.metric_list[0].value) and full.data.metric_list[0].step == 2
    assert full.data.params == {"p": "1"} and full.data.tags == {"t": "x"}
    assert full.inputs.dataset_inputs[0].dataset.name == "d"
    assert full.inputs.dataset_inputs[0].tags == [InputTag("k", "v")]
    assert full.inputs.model_inputs[0].model_id == "m-1"
    assert (full.outputs.model_outputs[0].model_id, full.outputs.model_outputs[0].step) == ("m-2", 3)
