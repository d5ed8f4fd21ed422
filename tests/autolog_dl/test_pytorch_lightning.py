"""PyTorch Lightning autologging and the pytorch flavor, with real training on tiny data (CPU)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

import mltrail
import mltrail.pytorch
from mltrail.tracking import MlflowClient
from support.lazy import lazy_module
from support.lightning_kit import loader, model_class_fixture, trainer

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

# Lightning and torch load when the first test here runs, not when a worker that never runs
# them collects this module (a few seconds of imports each).
pl = lazy_module("pytorch_lightning")
torch = lazy_module("torch")
TinyRegressor: type = type(None)  # the model class on this module's Lightning, set by _model_class
_model_class = model_class_fixture(pl, __name__)  # (pickled models find the class here by name)



def _logged_model_names(run_id: str) -> list[str]:
    """The names of the LoggedModels a run produced (where MLflow 3 writes a run's models)."""
    found = mltrail.search_logged_models(filter_string=f"source_run_id = '{run_id}'", output_format="list")
    return sorted(m.name for m in found)

def _loader(seed: int = 0) -> DataLoader:
    return loader(seed)


def _trainer(**kwargs) -> pl.Trainer:
    return trainer(pl, **kwargs)


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_fit_logs_params_epoch_metrics_summary_and_model():
    torch.manual_seed(0)
    mltrail.pytorch.autolog()
    model = TinyRegressor()
    trainer = _trainer()
    trainer.fit(model, _loader(), _loader(seed=1))

    assert mltrail.active_run() is None  # autolog created the run and ended it
    run = mltrail.last_active_run()
    client = MlflowClient()
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.tags["Mode"] == "training"
    params = run.data.params
    assert params["epochs"] == "2"
    assert params["optimizer_name"] == "Adam"
    assert float(params["lr"]) == 0.05
    assert "betas" in params and "weight_decay" in params
    # Per-epoch metrics at steps 0 and 1: val_loss, and the epoch-aggregated train_loss.
    for key in ("val_loss", "train_loss", "train_loss_epoch"):
        hist = _history(client, run.info.run_id, key)
        assert [s for s, _ in hist] == [0, 1], key
        assert all(np.isfinite(v) for _, v in hist)
    assert abs(run.data.metrics["val_loss"] - float(trainer.callback_metrics["val_loss"])) < 1e-6
    # No per-step logging by default (log_every_n_step=None): the last step value, per epoch.
    assert [s for s, _ in _history(client, run.info.run_id, "train_loss_step")] == [0, 1]

    assert "model_summary.txt" in {f.path for f in client.list_artifacts(run.info.run_id)}
    assert _logged_model_names(run.info.run_id) == ["model"]  # MLflow 3: the model is the run's LoggedModel
    with open(client.download_artifacts(run.info.run_id, "model_summary.txt")) as fh:
        summary = fh.read()
    assert "net" in summary and "Linear" in summary and "Trainable params" in summary

    loaded = mltrail.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    x = torch.randn(5, 4)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    assert not loaded.training
    # The signature comes from the first batch seen by forward.
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    sig = pyfunc.metadata.signature
    assert sig is not None and sig.inputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 4]


def test_pyfunc_predicts_dataframe_and_ndarray(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    example = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    mltrail.pytorch.save_model(net, tmp_path / "m", input_example=example)
    meta = (tmp_path / "m" / "MLmodel").read_text()
    assert "loader_module: mlflow.pytorch" in meta and "pytorch_version" in meta
    assert (tmp_path / "m" / "data" / "model.pth").is_file()
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == "mlflow.pytorch.pickle_module"
    reqs = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("torch==") and "+" not in r for r in reqs), reqs
    assert any(r.startswith("cloudpickle") for r in reqs), reqs

    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    expected = net(torch.from_numpy(example)).detach().numpy()
    out = model.predict(example)
    assert isinstance(out, np.ndarray) and np.allclose(out, expected, atol=1e-6)
    # Without a tensor signature a DataFrame goes in as float32 and comes back as a DataFrame.
    mltrail.pytorch.save_model(net, tmp_path / "plain")
    plain = mltrail.pyfunc.load_model(str(tmp_path / "plain"))
    df = pd.DataFrame(example.astype("float64"), columns=["a", "b", "c"], index=[10, 11, 12, 13])
    out_df = plain.predict(df)
    assert isinstance(out_df, pd.DataFrame) and list(out_df.index) == [10, 11, 12, 13]
    assert np.allclose(out_df.to_numpy(), expected, atol=1e-6)
    assert model.metadata.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 2]


def test_log_model_and_load_outside_autolog():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    with mltrail.start_run() as run:
        info = mltrail.pytorch.log_model(net, name="net")
    assert info.model_uri == f"models:/{info.model_id}"  # MLflow 3's ModelInfo
    assert _logged_model_names(run.info.run_id) == ["net"]
    loaded = mltrail.pytorch.load_model(info.model_uri)
    x = torch.ones(3, 2)
    assert torch.allclose(loaded(x), net(x))


def test_save_model_rejects_non_modules(tmp_path):
    with pytest.raises(mltrail.exceptions.MltrailException, match=r"torch\.nn\.Module"):
        mltrail.pytorch.save_model(object(), tmp_path / "bad")


def test_active_run_is_used_and_step_metrics_logged():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_every_n_step=2, log_models=False, checkpoint=False)
    with mltrail.start_run() as run:
        _trainer(max_epochs=1).fit(TinyRegressor(), _loader(), _loader(seed=1))
        assert mltrail.active_run().info.run_id == run.info.run_id  # still open: the user's run
    client = MlflowClient()
    data = client.get_run(run.info.run_id).data
    assert "mlflow.autologging" not in data.tags
    assert data.params["epochs"] == "1"
    # 4 batches -> global steps 1..4; every 2nd step: 1 and 3 ((step + 1) % 2 == 0).
    assert [s for s, _ in _history(client, run.info.run_id, "train_loss_step")] == [1, 3]
    assert [s for s, _ in _history(client, run.info.run_id, "val_loss")] == [0]
    assert _logged_model_names(run.info.run_id) == []


def test_early_stopping_params_and_metrics():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False, checkpoint=False)
    # min_delta huge: no epoch ever "improves" after the first, so it stops after patience.
    stop = pl.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e6, mode="min")
    trainer = _trainer(max_epochs=10, callbacks=[stop])
    trainer.fit(TinyRegressor(), _loader(), _loader(seed=1))
    run = MlflowClient().get_run(mltrail.last_active_run().info.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert params["monitor"] == "val_loss" and params["patience"] == "1" and params["mode"] == "min"
    assert "min_delta" in params and params["stopped_epoch"] == "0"
    assert metrics["stopped_epoch"] == stop.stopped_epoch > 0
    assert metrics["restored_epoch"] == stop.stopped_epoch - 1
    assert "best_score" in metrics and "wait_count" in metrics
    assert params["epochs"] == "10"
    assert len(MlflowClient().get_metric_history(run.info.run_id, "val_loss")) < 10


def test_test_metrics_go_to_the_fit_run():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False, checkpoint=False)
    model = TinyRegressor()
    trainer = _trainer(max_epochs=1)
    trainer.fit(model, _loader())
    run_id = mltrail.last_active_run().info.run_id
    trainer.test(model, _loader(seed=2), verbose=False)
    run = MlflowClient().get_run(run_id)
    assert "test_loss" in run.data.metrics
    assert run.data.tags["Mode"] == "testing"


def test_failed_fit_marks_run_failed_and_raises():
    class Broken(TinyRegressor):
        def training_step(self, batch, batch_idx):
            raise ValueError("boom in user code")

    mltrail.pytorch.autolog(log_models=False, checkpoint=False)
    with pytest.raises(ValueError, match="boom in user code"):
        _trainer(max_epochs=1).fit(Broken(), _loader())
    run = MlflowClient().get_run(mltrail.last_active_run().info.run_id)
    assert run.info.status == "FAILED"


def test_disable_stops_logging():
    mltrail.pytorch.autolog()
    mltrail.pytorch.autolog(disable=True)
    _trainer(max_epochs=1).fit(TinyRegressor(), _loader())
    assert MlflowClient().search_runs(["0"]) == []


def test_exclusive_leaves_user_run_alone():
    mltrail.pytorch.autolog(exclusive=True, checkpoint=False)
    with mltrail.start_run() as run:
        _trainer(max_epochs=1).fit(TinyRegressor(), _loader())
    data = MlflowClient().get_run(run.info.run_id).data
    assert not data.params and not data.metrics


def test_logging_failure_is_warned_not_raised(monkeypatch):
    from mltrail.pytorch import _lightning

    def broken_summary(self, module):
        raise RuntimeError("summary writer exploded")

    monkeypatch.setattr(_lightning._FitSession, "_log_summary", broken_summary)
    mltrail.pytorch.autolog(log_models=False, checkpoint=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = _trainer(max_epochs=1)
        trainer.fit(TinyRegressor(), _loader())
    assert any("summary writer exploded" in str(w.message) for w in caught)
    run = MlflowClient().get_run(mltrail.last_active_run().info.run_id)
    assert run.info.status == "FINISHED" and run.data.params["epochs"] == "1"


def test_global_autolog_switch_enables_lightning():
    import mltrail as mlflow

    mlflow.autolog(log_models=False)
    try:
        _trainer(max_epochs=1).fit(TinyRegressor(), _loader(), _loader(seed=1))
    finally:
        mlflow.autolog(disable=True)
    run = MlflowClient().get_run(mlflow.last_active_run().info.run_id)
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.params["optimizer_name"] == "Adam"
    assert "val_loss" in run.data.metrics and "model_summary.txt" in {
        f.path for f in MlflowClient().list_artifacts(run.info.run_id)
    }


def test_import_is_lazy():
    # Attribute access after a bare import (no `import mltrail.pytorch`), both integrations and
    # the global switch: still no torch, Lightning or transformers in sys.modules.
    code = (
        "import sys\n"
        "import mltrail as mlflow\n"
        "mlflow.pytorch.autolog(); mlflow.transformers.autolog(); mlflow.autolog()\n"
        "assert callable(mlflow.pytorch.load_model) and callable(mlflow.pytorch.save_model)\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'lightning', 'transformers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_models_load_across_mlflow_and_mltrail(tmp_path):
    import mlflow.pytorch

    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    x = np.ones((2, 3), dtype="float32")
    expected = net(torch.from_numpy(x)).detach().numpy()
    mltrail.pytorch.save_model(net, tmp_path / "ours", input_example=x)
    # Explicit requirements: MLflow would otherwise infer them in a subprocess (~50 s here).
    mlflow.pytorch.save_model(net, str(tmp_path / "theirs"), input_example=x, pip_requirements=["torch"])
    theirs_loaded_by_us = mltrail.pytorch.load_model(str(tmp_path / "theirs"))
    ours_loaded_by_mlflow = mlflow.pytorch.load_model(str(tmp_path / "ours"))
    for model in (theirs_loaded_by_us, ours_loaded_by_mlflow):
        assert np.allclose(model(torch.from_numpy(x)).detach().numpy(), expected, atol=1e-6)
    assert np.allclose(mltrail.pyfunc.load_model(str(tmp_path / "theirs")).predict(x), expected, atol=1e-6)
    assert np.allclose(mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(x), expected, atol=1e-6)


def test_best_checkpoint_logged_and_loadable():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False)  # checkpoint=True, monitor val_loss, best only
    model = TinyRegressor()
    _trainer(max_epochs=2).fit(model, _loader(), _loader(seed=1))
    client = MlflowClient()
    run = client.get_run(mltrail.last_active_run().info.run_id)
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == "checkpoints/latest_checkpoint.pth"
    files = {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert files == {"checkpoints/latest_checkpoint.pth", "checkpoints/latest_checkpoint_metrics.json"}
    import json

    with open(client.download_artifacts(run.info.run_id, "checkpoints/latest_checkpoint_metrics.json")) as fh:
        saved = json.load(fh)
    best_val = min(m.value for m in client.get_metric_history(run.info.run_id, "val_loss"))
    assert saved["val_loss"] == pytest.approx(best_val) and saved["epoch"] in (0, 1)
    restored = mltrail.pytorch.load_checkpoint(TinyRegressor, run.info.run_id)
    assert isinstance(restored, TinyRegressor)
    if saved["epoch"] == 1:  # the final weights were the best: identical parameters
        for a, b in zip(restored.parameters(), model.parameters(), strict=True):
            assert torch.allclose(a, b)


def test_per_epoch_checkpoints():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False, checkpoint_save_best_only=False)
    _trainer(max_epochs=2).fit(TinyRegressor(), _loader())
    client = MlflowClient()
    run_id = mltrail.last_active_run().info.run_id
    assert {f.path for f in client.list_artifacts(run_id, "checkpoints")} == {
        "checkpoints/epoch_0",
        "checkpoints/epoch_1",
    }
    assert (
        client.get_run(run_id).data.tags["mlflow.latest_checkpoint_artifact"]
        == "checkpoints/epoch_1/checkpoint.pth"
    )
    first = mltrail.pytorch.load_checkpoint(TinyRegressor, run_id, epoch=0)
    assert isinstance(first, TinyRegressor)


def test_log_every_n_epoch_and_registered_model_name():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_every_n_epoch=2, registered_model_name="TinyNet", checkpoint=False)
    _trainer(max_epochs=2).fit(TinyRegressor(), _loader(), _loader(seed=1))
    client = MlflowClient()
    run_id = mltrail.last_active_run().info.run_id
    assert [s for s, _ in _history(client, run_id, "val_loss")] == [1]  # epochs 0 and 1: only the 2nd
    version = client.get_model_version("TinyNet", "1")
    assert version.run_id == run_id
    net = mltrail.pytorch.load_model("models:/TinyNet/1")
    assert isinstance(net, TinyRegressor)
