"""Model format: MLmodel layout, pyfunc save/load, signatures, examples, requirements, sklearn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mltrail.pyfunc
import mltrail.sklearn
from mltrail.exceptions import MltrailException
from mltrail.models import ColSpec, Model, ModelSignature, Schema, TensorSpec, infer_signature


class Upper(mltrail.pyfunc.PythonModel):
    """Upper-cases prompts; reads a suffix from an artifact in load_context."""

    def load_context(self, context):
        self.suffix = Path(context.artifacts["suffix"]).read_text().strip()

    def predict(self, context, model_input, params=None):
        import json as _json  # noqa: F401  (stdlib imports never become requirements)

        n = (params or {}).get("n", 0)
        return [p.upper() + self.suffix + str(n) for p in model_input["prompt"]]


class NoContext(mltrail.pyfunc.PythonModel):
    def predict(self, model_input, params=None):
        return len(model_input)


@pytest.fixture
def saved(tmp_path) -> Path:
    (tmp_path / "suffix.txt").write_text("!")
    path = tmp_path / "upper"
    sig = infer_signature(pd.DataFrame({"prompt": ["a"]}), ["A"], {"n": 1})
    mltrail.pyfunc.save_model(
        path,
        python_model=Upper(),
        artifacts={"suffix": str(tmp_path / "suffix.txt")},
        signature=sig,
        input_example=pd.DataFrame({"prompt": ["a", "b"]}),
    )
    return path


def test_layout_matches_mlflow(saved):
    files = {p.name for p in saved.iterdir()}
    assert {
        "MLmodel",
        "python_model.pkl",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
        "artifacts",
    } <= files
    mlmodel = yaml.safe_load((saved / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pyfunc.model"
    assert pyfunc["python_model"] == "python_model.pkl"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert pyfunc["artifacts"]["suffix"]["path"] == "artifacts/suffix.txt"
    assert json.loads(mlmodel["signature"]["inputs"]) == [
        {"type": "string", "name": "prompt", "required": True}
    ]
    assert json.loads(mlmodel["signature"]["params"])[0]["name"] == "n"
    assert mlmodel["saved_input_example_info"]["type"] == "dataframe"
    assert json.loads((saved / "input_example.json").read_text()) == {
        "columns": ["prompt"],
        "data": [["a"], ["b"]],
    }
    serving = json.loads((saved / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": {"columns": ["prompt"], "data": [["a"], ["b"]]}}
    assert mlmodel["model_size_bytes"] > 0 and len(mlmodel["model_uuid"]) == 32
    reqs = (saved / "requirements.txt").read_text().splitlines()
    assert reqs[0].startswith("mltrail==")
    assert any(r.startswith("cloudpickle==") for r in reqs)
    assert not any(r.startswith("json") for r in reqs)
    env = yaml.safe_load((saved / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((saved / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"] == reqs


def test_load_and_predict_many_input_kinds(saved):
    model = mltrail.pyfunc.load_model(str(saved))
    assert model.predict(pd.DataFrame({"prompt": ["hi", "yo"]})) == [
        "HI!1",
        "YO!1",
    ]  # the default from the signature
    assert model.predict({"prompt": ["hi"]}, params={"n": 5}) == ["HI!5"]
    assert model.predict({"prompt": "hi"}) == ["HI!1"]  # default param from the signature
    assert model.predict([{"prompt": "a"}, {"prompt": "b"}]) == ["A!1", "B!1"]
    assert model.predict(["x"]) == ["X!1"]
    assert model.predict(np.array(["q"])) == ["Q!1"]
    example = model.metadata.load_input_example(saved)
    assert list(example["prompt"]) == ["a", "b"]


def test_signature_mismatch_errors_are_clear(saved):
    model = mltrail.pyfunc.load_model(f"file://{saved}")
    with pytest.raises(
        MltrailException, match=r"missing inputs \['prompt'\].*extra inputs: \['text'\]"
    ) as err:
        model.predict({"text": ["x"]})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="Incompatible input types for column prompt"):
        model.predict({"prompt": [1, 2]})
    with pytest.raises(MltrailException, match="param 'n'"):
        model.predict({"prompt": ["x"]}, params={"n": "many"})


def test_save_refuses_non_empty_dir_and_leaves_nothing_on_failure(tmp_path, saved):
    with pytest.raises(MltrailException, match="already exists"):
        mltrail.pyfunc.save_model(saved, python_model=Upper())
    target = tmp_path / "bad"
    with pytest.raises(MltrailException, match="does not exist"):
        mltrail.pyfunc.save_model(target, python_model=Upper(), artifacts={"x": str(tmp_path / "missing")})
    assert not target.exists()


def test_requirements_inferred_and_overridden(tmp_path):
    class UsesYaml(mltrail.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            import yaml as y

            return y.safe_dump(model_input)

    mltrail.pyfunc.save_model(tmp_path / "a", python_model=UsesYaml(), extra_pip_requirements=["tiny==1.0"])
    reqs = (tmp_path / "a" / "requirements.txt").read_text().splitlines()
    import yaml as y

    assert f"PyYAML=={y.__version__}" in reqs or any(r.lower().startswith("pyyaml==") for r in reqs)
    assert reqs[-1] == "tiny==1.0"
    mltrail.pyfunc.save_model(tmp_path / "b", python_model=UsesYaml(), pip_requirements=["only==2"])
    assert (tmp_path / "b" / "requirements.txt").read_text().splitlines() == ["only==2"]


def test_predict_without_context_and_code_paths(tmp_path):
    helper = tmp_path / "helper_mod_xyz.py"
    helper.write_text("VALUE = 42\n")
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=NoContext(), code_paths=[str(helper)])
    assert (tmp_path / "m" / "code" / "helper_mod_xyz.py").is_file()
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict([1, 2, 3]) == 3
    import helper_mod_xyz  # the code path is importable once the model is loaded

    assert helper_mod_xyz.VALUE == 42


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm"])
def test_flavors_carry_code_paths(tmp_path, flavor):
    import importlib

    from sklearn.linear_model import LinearRegression

    X, y = np.arange(20, dtype=float).reshape(10, 2), np.arange(10, dtype=float)
    if flavor == "sklearn":
        model = LinearRegression().fit(X, y)
    elif flavor == "xgboost":
        import xgboost

        model = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=2)
    else:
        import lightgbm

        model = lightgbm.train({"verbose": -1, "min_data_in_leaf": 1}, lightgbm.Dataset(X, label=y), 2)
    module = f"helper_{flavor}_code"
    (tmp_path / f"{module}.py").write_text("VALUE = 7\n")
    importlib.import_module(f"mltrail.{flavor}").save_model(
        model, tmp_path / "m", code_paths=[str(tmp_path / f"{module}.py")]
    )
    assert (tmp_path / "m" / "code" / f"{module}.py").is_file()
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert conf["python_function"]["code"] == "code"
    assert len(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(pd.DataFrame(X))) == 10
    assert importlib.import_module(module).VALUE == 7  # importable once the model is loaded


def test_models_from_code(tmp_path):
    code = tmp_path / "my_model.py"
    code.write_text(
        "import mltrail\n"
        "from mltrail.models import set_model\n"
        "class Doubler(mltrail.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return [x * 2 for x in model_input]\n"
        "set_model(Doubler())\n"
    )
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(code))
    conf = Model.load(tmp_path / "m").flavors["python_function"]
    assert conf["model_code_path"] == "my_model.py" and "python_model" not in conf
    assert mltrail.pyfunc.load_model(str(tmp_path / "m")).predict([1, 2]) == [2, 4]


def test_signature_json_round_trip_and_inference():
    sig = ModelSignature(
        Schema([ColSpec("double", "x"), ColSpec("string", "y", required=False)]),
        Schema([TensorSpec(np.dtype("float32"), (-1, 3))]),
    )
    assert ModelSignature.from_dict(sig.to_dict()) == sig
    inferred = infer_signature(np.zeros((5, 4), dtype=np.float32), pd.Series([1, 2]))
    assert inferred.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    assert inferred.outputs.to_dict() == [{"type": "long", "required": True}]
    records = infer_signature([{"a": 1, "b": "x"}, {"a": 2}])
    assert records.inputs.to_dict() == [
        {"type": "long", "name": "a", "required": True},
        {"type": "string", "name": "b", "required": False},
    ]
    with pytest.raises(MltrailException):
        ColSpec("complex128", "z")


def test_sklearn_round_trip_and_tensor_enforcement(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    clf = LogisticRegression().fit(X, [0, 1, 1, 0])
    mltrail.sklearn.save_model(clf, tmp_path / "sk", input_example=X[:2])
    meta = Model.load(tmp_path / "sk")
    assert meta.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert meta.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert meta.signature.outputs is not None
    assert any(
        r.startswith("scikit-learn==") for r in (tmp_path / "sk" / "requirements.txt").read_text().split()
    )
    loaded = mltrail.sklearn.load_model(str(tmp_path / "sk"))
    assert list(loaded.predict(X)) == list(clf.predict(X))
    pyf = mltrail.pyfunc.load_model(str(tmp_path / "sk"))
    assert list(pyf.predict(X.tolist())) == list(clf.predict(X))
    with pytest.raises(MltrailException, match="does not match expected shape"):
        pyf.predict(np.zeros((1, 3)))
