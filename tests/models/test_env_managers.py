"""``--env-manager uv``: an isolated environment built from the model's requirements, cached."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from model_helpers import serve_model

import mltrail.pyfunc
from mltrail.models.envs import model_requirements, prepare_environment

pytest.importorskip("uv")


# Models-from-code: the isolated env needs nothing from this test module to load the model.
MODEL_CODE = """
import sys

import mltrail


class Reverse(mltrail.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [p[::-1] + "@" + sys.prefix for p in model_input["prompt"]]


mltrail.models.set_model(Reverse())
"""


@pytest.mark.slow
def test_uv_env_is_isolated_cached_and_serves(tmp_path, monkeypatch, served):
    monkeypatch.setenv("MLTRAIL_ENV_ROOT", str(tmp_path / "envs"))
    (tmp_path / "reverse.py").write_text(MODEL_CODE)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "reverse.py"))
    assert not any(r.startswith("mltrail") for r in model_requirements(tmp_path / "m"))

    python = Path(prepare_environment(tmp_path / "m", "uv"))
    assert python.is_relative_to(tmp_path / "envs")
    marker = python.parent.parent / ".mltrail-env-ready"
    stamp = marker.stat().st_mtime_ns
    assert prepare_environment(tmp_path / "m", "uv") == str(python)  # cached: no rebuild
    assert marker.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "envs").iterdir()] == [python.parent.parent.name]  # no leftovers

    server = serve_model(
        str(tmp_path / "m"), env={"MLTRAIL_ENV_ROOT": str(tmp_path / "envs")}, extra=("--env-manager", "uv")
    )
    served.append(server)
    answer = httpx.post(
        f"{server.url}/invocations", json={"dataframe_records": [{"prompt": "abc"}]}, timeout=60
    ).json()
    text = answer["predictions"][0]
    assert text.startswith("cba@") and Path(text.split("@", 1)[1]) == python.parent.parent
