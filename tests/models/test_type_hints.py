"""A type-hinted ``PythonModel.predict`` as MLflow 3.17 has it, checked against the installed official ``mlflow``.

* The signature a hint gives (``list[str]``, ``list[dict[str, int]]``, ``list[Pydantic]`` …) is MLflow's,
  JSON for JSON, and the MLmodel says ``is_signature_from_type_hint: true``.
* Input is validated and converted on every call, before and after logging: the same error
  messages as MLflow's, dicts become pydantic models, a DataFrame becomes a list.
* Without a hint, lists and dicts reach ``predict`` unchanged.
* A hinted model saved by mltrail loads and validates in mlflow, and the other way round.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pandas as pd
import pydantic
import pytest

import mltrail
import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.models import Model
from mltrail.types.type_hints import TypeFromExample, schema_from_list_hint

mlflow = pytest.importorskip("mlflow")
from mlflow.types.type_hints import _infer_schema_from_list_type_hint as mlflow_schema  # noqa: E402

warnings.filterwarnings("ignore", message=".*type hint.*")


class Question(pydantic.BaseModel):
    text: str
    n: int = 1
    tags: list[str] | None = None
    meta: dict[str, Any] = {}


class Upper(mltrail.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s.upper() for s in model_input]


class Repeat(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input: list[Question]) -> list[str]:
        return [q.text * q.n for q in model_input]


class Records(mltrail.pyfunc.PythonModel):
    def predict(self, model_input: list[dict[str, int]]) -> list[int]:
        return [sum(r.values()) for r in model_input]


class Untyped(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return {"type": type(model_input).__name__, "value": model_input}


class FromExample(mltrail.pyfunc.PythonModel):
    def predict(self, model_input: TypeFromExample):
        return {"type": type(model_input).__name__, "value": model_input}


class MlflowUpper(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s.upper() for s in model_input]


HINTS = [
    list[str],
    list[int],
    list[float],
    list[bool],
    list[bytes],
    list[list[str]],
    list[dict[str, int]],
    list[dict[str, list[str]]],
    list[dict[str, Any]],
    list[Question],
    list[Any],
    list[str | int],
]


@pytest.mark.parametrize("hint", HINTS, ids=str)
def test_signature_from_hint_is_mlflows(hint):
    assert schema_from_list_hint(hint).to_json() == mlflow_schema(hint).to_json()


def test_saved_signature_and_flags_match_mlflow(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "ours", python_model=Upper(), input_example=["a"])
    mlflow.pyfunc.save_model(
        tmp_path / "theirs", python_model=MlflowUpper(), input_example=["a"], pip_requirements=["pandas"]
    )
    ours, theirs = Model.load(tmp_path / "ours").to_dict(), Model.load(tmp_path / "theirs").to_dict()
    for key in ("signature", "is_signature_from_type_hint", "type_hint_from_example"):
        assert ours[key] == theirs[key], key
    assert ours["is_signature_from_type_hint"] is True
    assert ours["signature"]["outputs"] == '[{"type": "string", "required": true}]'


def test_pydantic_signature_and_conversion(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=Repeat())
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.metadata.signature.inputs.to_json() == mlflow_schema(list[Question]).to_json()
    assert model.predict([{"text": "ab", "n": 2}, Question(text="c")]) == ["abab", "c"]
    with pytest.raises(MltrailException) as err:
        model.predict([{"text": 1}])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Failed to validate data against type hint `list[Question]`" in err.value.message


def test_validation_errors_are_mlflows(tmp_path):
    from mlflow.pyfunc.utils import pyfunc as mlflow_pyfunc

    from mltrail.pyfunc.utils import pyfunc

    def f(model_input: list[str]) -> list[str]:
        return model_input

    ours, theirs = pyfunc(f), mlflow_pyfunc(f)
    for bad in ([1, "a"], "abc", [["a"]]):
        with pytest.raises(MltrailException) as mine:
            ours(bad)
        with pytest.raises(mlflow.exceptions.MlflowException) as official:
            theirs(bad)
        assert mine.value.message == official.value.message
        assert mine.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ours(["x"]) == ["x"]


def test_input_validated_before_and_after_logging(tmp_path):
    # Before logging: the class itself validates, as MLflow's PythonModel subclasses do.
    with pytest.raises(MltrailException, match="invalid elements"):
        Upper().predict([1])
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=Upper(), input_example=["a"])
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(["a", "b"]) == ["A", "B"]
    # A DataFrame (what evaluate and spark_udf send) gives its string column as the list.
    assert model.predict(pd.DataFrame({"q": ["x", "y"]})) == ["X", "Y"]
    with pytest.raises(MltrailException, match="Expected type str, but got int"):
        model.predict(["a", 2])


def test_dict_elements_and_records_frame(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=Records())
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.metadata.signature.inputs.to_dict() == [
        {"type": "map", "values": {"type": "long"}, "required": True}
    ]
    assert model.predict([{"a": 1, "b": 2}, {"c": 3}]) == [3, 3]
    assert model.predict(pd.DataFrame({"a": [1, 2], "b": [3, 4]})) == [4, 6]
    with pytest.raises(MltrailException, match="dict\\[str, int\\]"):
        model.predict([{"a": "x"}])


def test_untyped_model_gets_lists_and_dicts_unchanged(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=Untyped())
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.metadata.signature is None
    assert model.predict(["a", "b"]) == {"type": "list", "value": ["a", "b"]}
    assert model.predict({"messages": [{"role": "user"}]}) == {
        "type": "dict",
        "value": {"messages": [{"role": "user"}]},
    }


def test_type_from_example_gives_input_back_in_the_examples_form(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=FromExample(), input_example=["a", "b"])
    meta = Model.load(tmp_path / "m").to_dict()
    assert meta["type_hint_from_example"] is True and meta["is_signature_from_type_hint"] is False
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(["x", "y"]) == {"type": "list", "value": ["x", "y"]}
    # mlflow reads the same flag and converts the same way
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert theirs.predict(["x"]) == {"type": "list", "value": ["x"]}


def test_callable_with_hints_and_invalid_hints_refused(tmp_path):
    def shout(model_input: list[str]) -> list[str]:
        return [s + "!" for s in model_input]

    mltrail.pyfunc.save_model(tmp_path / "f", python_model=shout)
    model = mltrail.pyfunc.load_model(str(tmp_path / "f"))
    assert model.metadata.signature.inputs.to_dict() == [{"type": "string", "required": True}]
    assert model.predict(["a"]) == ["a!"]
    with pytest.raises(MltrailException, match="invalid elements"):
        model.predict([3])
    with pytest.raises(MltrailException, match="doesn't contain a collection element type"):

        class Bare(mltrail.pyfunc.PythonModel):
            def predict(self, model_input: list):
                return model_input


def test_hinted_models_cross_load_both_ways(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    mltrail.pyfunc.save_model(tmp_path / "ours", python_model=Repeat())
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "ours"))
    assert theirs.predict([{"text": "ab", "n": 2}]) == ["abab"]
    # the model validates itself (mltrail's check inside its predict), with MLflow's message and code
    with pytest.raises(Exception, match="invalid elements") as err:
        theirs.predict([{"text": 5}])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"

    mlflow.pyfunc.save_model(tmp_path / "official", python_model=MlflowUpper(), pip_requirements=["pandas"])
    ours = mltrail.pyfunc.load_model(str(tmp_path / "official"))
    assert ours.metadata.signature._is_signature_from_type_hint
    assert ours.predict(["q"]) == ["Q"]
    with pytest.raises(Exception, match="invalid elements"):
        ours.predict([7])
