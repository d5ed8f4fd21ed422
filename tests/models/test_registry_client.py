"""The registry half of ``mltrail.MlflowClient`` on the embedded store (MLflow's method names)."""

from __future__ import annotations

import pytest

import mltrail
from mltrail.exceptions import MltrailException


class Echo(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return list(model_input["prompt"])


def test_client_registry_round_trip(tmp_path):
    client = mltrail.MlflowClient()
    with mltrail.start_run() as run:
        info = mltrail.pyfunc.log_model(name="m", python_model=Echo())
    client.create_registered_model("R", tags={"team": "nlp"}, description="d")
    mv = client.create_model_version("R", info.model_uri, run_id=run.info.run_id, tags={"k": 1})
    assert (mv.version, mv.tags, mv.run_id) == ("1", {"k": "1"}, run.info.run_id)
    assert mv.run_link.endswith(f"/runs/{run.info.run_id}")
    assert client.get_model_version_stages("R", "1") == ["None", "Staging", "Production", "Archived"]
    client.set_model_version_tag("R", stage="None", key="via", value="stage")
    assert client.get_model_version("R", 1).tags["via"] == "stage"
    client.transition_model_version_stage("R", 1, "Staging")
    assert [v.version for v in client.get_latest_versions("R", stages=["Staging"])] == ["1"]
    client.set_registered_model_alias("R", "champion", 1)
    copied = client.copy_model_version("models:/R@champion", "R-copy")
    assert copied.source == "models:/R/1"
    assert mltrail.pyfunc.load_model("models:/R-copy/1").predict({"prompt": ["z"]}) == ["z"]
    assert client.get_model_version_download_uri("R", 1) == info.model_uri
    assert [m.name for m in client.search_registered_models(order_by=["name ASC"])] == ["R", "R-copy"]
    with pytest.raises(MltrailException, match="version and stage"):
        client.set_model_version_tag("R", version=1, stage="Staging", key="a", value="b")
    # register_model into an existing name adds a version
    assert mltrail.register_model(info.model_uri, "R").version == "2"
    client.rename_registered_model("R", "R2")
    assert client.get_registered_model("R2").aliases == {"champion": "1"}
    client.delete_registered_model("R2")
    with pytest.raises(MltrailException) as err:
        mltrail.pyfunc.load_model("models:/R2/1")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="not a version number"):
        mltrail.pyfunc.load_model("models:/R-copy/Bogus")
