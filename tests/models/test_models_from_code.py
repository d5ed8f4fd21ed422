"""Models from code (``python_model="model.py"`` + ``set_model``) with type hints, across mltrail and mlflow.

* The file is run once at log time: its ``predict`` type hints give the signature, and
  ``ModelConfig`` reads the ``model_config`` given to ``log_model`` (at load time too).
* A model logged by mltrail loads and predicts in the official ``mlflow`` (3.17.2), and one
  logged by mlflow loads in mltrail: from a path (embedded store) and through ``mltrail server``
  by ``models:/<model_id>`` and ``runs:/<run_id>/<name>``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import mltrail
import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.models import Model, ModelConfig
from mltrail.models.model_config import model_config_in_effect

mlflow = pytest.importorskip("mlflow")
warnings.filterwarnings("ignore", message=".*type hint.*")

MLTRAIL_CODE = """
import mltrail
from mltrail.models import ModelConfig

config = ModelConfig(development_config={"suffix": "?"})


class Shout(mltrail.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [s.upper() + config.get("suffix") for s in model_input]


mltrail.models.set_model(Shout())
"""

MLFLOW_CODE = """
import mlflow


class Count(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[dict[str, str]], params=None) -> list[int]:
        return [len(r) for r in model_input]


mlflow.models.set_model(Count())
"""


@pytest.fixture
def code_files(tmp_path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "shout.py", tmp_path / "count.py"
    ours.write_text(MLTRAIL_CODE)
    theirs.write_text(MLFLOW_CODE)
    return ours, theirs


def test_model_config_development_and_logged():
    assert ModelConfig(development_config={"k": "dev"}).get("k") == "dev"
    with model_config_in_effect({"k": "logged"}):
        assert ModelConfig(development_config={"k": "dev"}).to_dict() == {"k": "logged"}
    with model_config_in_effect(None), pytest.raises(FileNotFoundError):
        ModelConfig()  # logged without model_config: reading one fails, as in MLflow
    with pytest.raises(KeyError):
        ModelConfig(development_config={"k": 1}).get("missing")


def test_mltrail_code_model_embedded_loads_in_mlflow(tmp_path, code_files):
    ours, _ = code_files
    mltrail.set_tracking_uri(f"sqlite:///{tmp_path}/db.sqlite")
    with mltrail.start_run():
        info = mltrail.pyfunc.log_model(
            name="shout", python_model=str(ours), model_config={"suffix": "!"}, input_example=["a"]
        )
    assert info.signature.inputs.to_dict() == [{"type": "string", "required": True}]
    meta = Model.load(info.artifact_path)
    conf = meta.flavors["python_function"]
    assert conf["model_code_path"] == "shout.py" and (Path(info.artifact_path) / "shout.py").is_file()
    assert meta.to_dict()["is_signature_from_type_hint"] is True
    assert mltrail.pyfunc.load_model(info.model_uri).predict(["a", "b"]) == ["A!", "B!"]
    theirs = mlflow.pyfunc.load_model(info.artifact_path)
    assert theirs.predict(["c"]) == ["C!"]  # mlflow runs the file with the logged model_config
    with pytest.raises(Exception, match="invalid elements"):
        theirs.predict([1])


def test_mlflow_code_model_loads_in_mltrail(tmp_path, code_files):
    _, theirs = code_files
    mlflow.pyfunc.save_model(tmp_path / "count", python_model=str(theirs), pip_requirements=["pandas"])
    model = mltrail.pyfunc.load_model(str(tmp_path / "count"))
    assert model.metadata.signature.inputs.to_dict() == [
        {"type": "map", "values": {"type": "string"}, "required": True}
    ]
    assert model.predict([{"a": "x", "b": "y"}, {}]) == [2, 0]  # list of dicts, unchanged
    with pytest.raises(Exception, match="invalid elements"):
        model.predict([{"a": 1}])


def test_code_file_without_set_model_is_refused(tmp_path):
    bad = tmp_path / "nothing.py"
    bad.write_text("x = 1\n")
    with pytest.raises(MltrailException, match=r"did not call mltrail\.models\.set_model"):
        mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(bad))
    assert not (tmp_path / "m").exists()  # nothing half-written
