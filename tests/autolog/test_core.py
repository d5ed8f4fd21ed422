"""The autologging core: safe_patch, autolog_run, post-import hooks and mltrail.autolog()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import yaml

import mltrail
from mltrail.autologging import (
    autolog_run,
    autologging_integration,
    autologging_is_disabled,
    get_autolog_config,
    register_post_import_hook,
    revert_patches,
    safe_patch,
)


@autologging_integration("toy")
def toy_autolog(
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    silent: bool = False,
    extra_tags: dict | None = None,
    **kwargs,
) -> None:
    if disable:
        revert_patches("toy")


class Trainer:
    def fit(self, x):
        if x < 0:
            raise ValueError("negative")
        return x * 2

    @classmethod
    def build(cls, x):
        return (cls.__name__, x)

    @staticmethod
    def helper(x):
        return x + 1


class SubTrainer(Trainer):
    pass


@pytest.fixture(autouse=True)
def _clean():
    yield
    revert_patches("toy")
    toy_autolog(disable=True)


def test_config_records_defaults_and_call_arguments():
    assert get_autolog_config("never-called") == {}
    assert autologging_is_disabled("never-called")
    toy_autolog(log_models=False, extra_tags={"a": "b"}, custom=3)
    conf = get_autolog_config("toy")
    assert conf["log_models"] is False and conf["exclusive"] is False
    assert conf["extra_tags"] == {"a": "b"} and conf["custom"] == 3
    assert not autologging_is_disabled("toy")
    toy_autolog(disable=True)
    assert autologging_is_disabled("toy")


def test_safe_patch_runs_patch_and_passes_self():
    seen = []

    def patch(original, self, x):
        seen.append((type(self).__name__, x))
        return original(self, x) + 1

    toy_autolog()
    safe_patch("toy", Trainer, "fit", patch)
    assert Trainer().fit(3) == 7
    assert SubTrainer().fit(1) == 3
    assert seen == [("Trainer", 3), ("SubTrainer", 1)]


def test_user_exception_propagates_unchanged():
    def patch(original, self, x):
        return original(self, x)

    toy_autolog()
    safe_patch("toy", Trainer, "fit", patch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no autologging warning for the user's own error
        with pytest.raises(ValueError, match="negative"):
            Trainer().fit(-1)


def test_patch_errors_are_warned_and_result_returned():
    calls = []

    def after(original, self, x):
        original(self, x)
        calls.append(x)
        raise RuntimeError("our bug")

    def before(original, self, x):
        raise KeyError("our bug before calling")

    toy_autolog()
    safe_patch("toy", Trainer, "fit", after)
    with pytest.warns(UserWarning, match=r"mltrail autologging \(toy\).*our bug"):
        assert Trainer().fit(5) == 10
    assert calls == [5]  # the original ran once, not again after the failure
    safe_patch("toy", Trainer, "fit", before)
    with pytest.warns(UserWarning, match="our bug before calling"):
        assert Trainer().fit(4) == 8


def test_silent_config_suppresses_warnings():
    toy_autolog(silent=True)
    safe_patch("toy", Trainer, "fit", lambda original, self, x: 1 / 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Trainer().fit(2) == 4


def test_disable_reverts_to_plain_behaviour_and_patch_is_idempotent():
    count = []

    def patch(original, self, x):
        count.append(1)
        return original(self, x)

    plain = Trainer.__dict__["fit"]
    toy_autolog()
    safe_patch("toy", Trainer, "fit", patch)
    safe_patch("toy", Trainer, "fit", patch)
    safe_patch("toy", SubTrainer, "fit", patch)  # inherited from a patched base: no second layer
    assert SubTrainer().fit(1) == 2
    assert len(count) == 1
    assert Trainer.fit.__wrapped__ is plain
    toy_autolog(disable=True)  # config off: the wrapper calls the original only
    assert Trainer().fit(1) == 2
    assert len(count) == 1
    revert_patches("toy")
    assert Trainer.__dict__["fit"] is plain
    assert "fit" not in SubTrainer.__dict__


def test_classmethod_and_staticmethod_and_module_function():
    toy_autolog()
    safe_patch("toy", Trainer, "build", lambda original, cls, x: ("patched", *original(cls, x)))
    safe_patch("toy", Trainer, "helper", lambda original, x: original(x) * 10)
    module = types.ModuleType("toy_module")
    module.double = lambda x: 2 * x
    safe_patch("toy", module, "double", lambda original, x: original(x) + 100)
    assert SubTrainer.build(1) == ("patched", "SubTrainer", 1)
    assert Trainer().helper(1) == 20
    assert module.double(2) == 104
    revert_patches("toy")
    assert Trainer.build(1) == ("Trainer", 1)
    assert Trainer.helper(1) == 2
    assert module.double(2) == 4


def test_autolog_run_creates_and_ends_its_own_run():
    toy_autolog(extra_tags={"team": "ml"})
    with autolog_run("toy", tags={"extra": "1"}) as run:
        mltrail.log_param("p", 1)
        run_id = run.info.run_id
    assert mltrail.active_run() is None
    got = mltrail.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags["mlflow.autologging"] == "toy"
    assert got.data.tags["team"] == "ml" and got.data.tags["extra"] == "1"
    assert got.data.params == {"p": "1"}


def test_autolog_run_fails_run_on_exception():
    toy_autolog()
    with pytest.raises(ZeroDivisionError), autolog_run("toy") as run:
        run_id = run.info.run_id
        raise ZeroDivisionError
    assert mltrail.active_run() is None
    assert mltrail.get_run(run_id).info.status == "FAILED"


def test_autolog_run_reuses_active_run_unless_exclusive():
    toy_autolog()
    with mltrail.start_run() as user_run:
        with autolog_run("toy") as run:
            assert run.info.run_id == user_run.info.run_id
        assert mltrail.active_run().info.run_id == user_run.info.run_id
        toy_autolog(exclusive=True)
        with autolog_run("toy") as run:
            assert run is None
    assert mltrail.get_run(user_run.info.run_id).info.status == "FINISHED"


def test_post_import_hook_fires_on_import_and_at_once(tmp_path, monkeypatch):
    (tmp_path / "late_toy_lib.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    register_post_import_hook(lambda m: seen.append(m.VALUE), "late_toy_lib")
    assert seen == []
    import late_toy_lib

    assert seen == [42]
    assert late_toy_lib.__spec__.loader.__class__.__name__ != "_HookLoader"
    register_post_import_hook(lambda m: seen.append(m.__name__), "late_toy_lib")
    assert seen == [42, "late_toy_lib"]
    monkeypatch.delitem(sys.modules, "late_toy_lib")


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def test_import_mltrail_imports_no_ml_framework(tmp_path):
    proc = _run(
        """
        import sys
        import mltrail
        mltrail.autolog  # resolving the function must not import frameworks either
        heavy = [m for m in ("sklearn", "xgboost", "lightgbm", "torch", "transformers") if m in sys.modules]
        print(heavy)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_autolog_before_import_patches_the_library_later(tmp_path):
    # mltrail.autolog() first, sklearn imported afterwards: the post-import hook patches it.
    proc = _run(
        """
        import sys
        import mltrail as mlflow
        mlflow.autolog()
        assert "sklearn" not in sys.modules
        import numpy as np
        from sklearn.linear_model import LinearRegression
        X = np.arange(20, dtype=float).reshape(10, 2)
        y = X[:, 0] * 2 + 1
        LinearRegression().fit(X, y)
        run = mlflow.last_active_run()
        print(run.data.tags["mlflow.autologging"], sorted(run.data.metrics)[0])
        mlflow.autolog(disable=True)
        LinearRegression().fit(X, y)
        print(mlflow.last_active_run().info.run_id == run.info.run_id)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["sklearn", "training_mean_absolute_error", "True"]


def test_drop_in_autolog_script_read_back_with_the_client(tmp_path):
    # MLflow user code, unchanged but for the import, in a fresh process against a SQLite file.
    db = tmp_path / "store.db"
    code = textwrap.dedent(
        """
        import mltrail as mlflow
        import numpy as np
        import lightgbm
        import xgboost
        from sklearn.ensemble import RandomForestRegressor

        mlflow.set_experiment("dropin")
        mlflow.autolog()
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3))
        y = X[:, 0] * 2.0
        RandomForestRegressor(n_estimators=5, max_depth=3).fit(X, y)
        xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=3)
        lightgbm.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y)
        """
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr
    client = mltrail.MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("dropin")
    runs = client.search_runs([exp.experiment_id], order_by=["start_time ASC"])
    assert [r.data.tags["mlflow.autologging"] for r in runs] == ["sklearn", "xgboost", "lightgbm"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert runs[0].data.params["n_estimators"] == "5"
    assert "training_r2_score" in runs[0].data.metrics
    assert "num_boost_round" in runs[1].data.params
    assert "training_mean_squared_error" in runs[2].data.metrics
    for run, flavor in zip(runs, ["sklearn", "xgboost", "lightgbm"], strict=True):
        # MLflow 3: the model lives at its LoggedModel; runs:/<run>/model still finds it.
        path = mltrail.artifacts.download_artifacts(
            artifact_uri=f"runs:/{run.info.run_id}/model/MLmodel",
            dst_path=str(tmp_path / run.info.run_id),
            tracking_uri=f"sqlite:///{db}",
        )
        flavors = yaml.safe_load(Path(path).read_text())["flavors"]
        assert set(flavors) == {flavor, "python_function"}
        assert flavors["python_function"]["loader_module"] == f"mlflow.{flavor}"


def test_reset_reverts_everything():
    from mltrail.autologging.universal import reset

    toy_autolog()
    plain = Trainer.__dict__["fit"]
    safe_patch("toy", Trainer, "fit", lambda original, self, x: original(self, x))
    reset()
    assert Trainer.__dict__["fit"] is plain
    assert get_autolog_config("toy") == {}
