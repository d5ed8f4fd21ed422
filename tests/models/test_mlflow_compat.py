"""Models cross between the real ``mlflow`` (mlflow-skinny 3.17.2) and mltrail, both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mltrail.pyfunc
import mltrail.sklearn

mlflow = pytest.importorskip("mlflow")


class MlflowEcho(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [f"{p}:{(params or {}).get('tag', '-')}" for p in model_input["prompt"]]


class MltrailEcho(mltrail.pyfunc.PythonModel):
    def load_context(self, context):
        self.prefix = Path(context.artifacts["prefix"]).read_text().strip()

    def predict(self, context, model_input, params=None):
        return [self.prefix + p for p in model_input["prompt"]]


def _xy():
    from sklearn.tree import DecisionTreeClassifier

    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    return X, DecisionTreeClassifier(random_state=0).fit(X, [0, 1, 1, 0])


def test_mlflow_pyfunc_loads_in_mltrail(tmp_path):
    sig = mlflow.models.infer_signature(pd.DataFrame({"prompt": ["a"]}), ["a"], {"tag": "x"})
    # Explicit requirements: skips mlflow's (slow, subprocess-based) requirement inference.
    mlflow.pyfunc.save_model(
        tmp_path / "m",
        python_model=MlflowEcho(),
        signature=sig,
        input_example=pd.DataFrame({"prompt": ["a"]}),
        pip_requirements=["pandas"],
    )
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(pd.DataFrame({"prompt": ["p"]}), params={"tag": "t"}) == ["p:t"]
    assert model.predict({"prompt": ["p"]}) == ["p:x"]
    assert model.metadata.signature.to_dict() == sig.to_dict()


def test_mltrail_pyfunc_loads_in_mlflow(tmp_path):
    (tmp_path / "prefix.txt").write_text(">>")
    mltrail.pyfunc.save_model(
        tmp_path / "m",
        python_model=MltrailEcho(),
        artifacts={"prefix": str(tmp_path / "prefix.txt")},
        input_example=pd.DataFrame({"prompt": ["a"]}),
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(pd.DataFrame({"prompt": ["hi"]})) == [">>hi"]
    assert model.metadata.get_input_schema().input_names() == ["prompt"]


def test_mlflow_sklearn_loads_in_mltrail(tmp_path):
    X, clf = _xy()
    mlflow.sklearn.save_model(
        clf,
        tmp_path / "m",
        serialization_format="cloudpickle",
        input_example=X[:2],
        pip_requirements=["scikit-learn"],
    )
    assert list(mltrail.sklearn.load_model(str(tmp_path / "m")).predict(X)) == list(clf.predict(X))
    assert list(mltrail.pyfunc.load_model(str(tmp_path / "m")).predict(X)) == list(clf.predict(X))


def test_mltrail_sklearn_loads_in_mlflow(tmp_path):
    X, clf = _xy()
    mltrail.sklearn.save_model(clf, tmp_path / "m", input_example=X[:2])
    assert list(mlflow.sklearn.load_model(str(tmp_path / "m")).predict(X)) == list(clf.predict(X))
    assert list(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X)) == list(clf.predict(X))


def test_models_from_code_cross_load(tmp_path):
    (tmp_path / "mlflow_code.py").write_text(
        "import mlflow\n"
        "class Up(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return [p.upper() for p in model_input['prompt']]\n"
        "mlflow.models.set_model(Up())\n"
    )
    mlflow.pyfunc.save_model(
        tmp_path / "from_mlflow", python_model=str(tmp_path / "mlflow_code.py"), pip_requirements=["pandas"]
    )
    frame = pd.DataFrame({"prompt": ["a"]})
    assert mltrail.pyfunc.load_model(str(tmp_path / "from_mlflow")).predict(frame) == ["A"]

    (tmp_path / "mltrail_code.py").write_text(
        "import mltrail\n"
        "class Low(mltrail.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return [p.lower() for p in model_input['prompt']]\n"
        "mltrail.models.set_model(Low())\n"
    )
    mltrail.pyfunc.save_model(tmp_path / "from_mltrail", python_model=str(tmp_path / "mltrail_code.py"))
    assert mlflow.pyfunc.load_model(str(tmp_path / "from_mltrail")).predict(
        pd.DataFrame({"prompt": ["B"]})
    ) == ["b"]
