"""Lightning autologging through the unified ``lightning`` package (``import lightning.pytorch as pl``).

The same core checks as test_pytorch_lightning.py, with real training on tiny data (CPU), but
against ``lightning.pytorch``: a separate copy of Lightning with its own ``Trainer``,
``Callback`` and ``EarlyStopping`` classes, which autolog must patch and use as well.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest

import mltrail
import mltrail.pytorch
from mltrail.autologging.patching import is_patched
from mltrail.tracking import MlflowClient
from support.lazy import lazy_module
from support.lightning_kit import loader, model_class_fixture, trainer

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

# Lightning and torch load when the first test here runs, not when a worker that never runs
# them collects this module (a few seconds of imports each).
pl = lazy_module("lightning.pytorch")
torch = lazy_module("torch")
TinyRegressor: type = type(None)  # the model class on this module's Lightning, set by _model_class
_model_class = model_class_fixture(pl, __name__)  # (pickled models find the class here by name)


def _loader(seed: int = 0) -> DataLoader:
    return loader(seed)


def _trainer(**kwargs) -> pl.Trainer:
    return trainer(pl, **kwargs)


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def _last_run():
    return MlflowClient().get_run(mltrail.last_active_run().info.run_id)


def test_pytorch_autolog_patches_lightning_pytorch_fit_and_disable_restores_it():
    original = inspect.getattr_static(pl.Trainer, "fit")
    assert not is_patched("pytorch", pl.Trainer, "fit")
    mltrail.pytorch.autolog()
    assert is_patched("pytorch", pl.Trainer, "fit")
    mltrail.pytorch.autolog(disable=True)
    assert inspect.getattr_static(pl.Trainer, "fit") is original


def test_fit_logs_params_epoch_metrics_summary_and_model():
    torch.manual_seed(0)
    mltrail.pytorch.autolog()
    model = TinyRegressor()
    trainer = _trainer()
    trainer.fit(model, _loader(), _loader(seed=1))

    assert mltrail.active_run() is None  # autolog created the run and ended it
    run = _last_run()
    run_id = run.info.run_id
    client = MlflowClient()
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.tags["Mode"] == "training"
    params = run.data.params
    assert params["epochs"] == "2"
    assert params["optimizer_name"] == "Adam"
    assert float(params["lr"]) == 0.05
    assert "betas" in params and "weight_decay" in params
    for key in ("val_loss", "train_loss", "train_loss_epoch"):
        assert _steps(client, run_id, key) == [0, 1], key
    assert run.data.metrics["val_loss"] == pytest.approx(float(trainer.callback_metrics["val_loss"]))

    assert "model_summary.txt" in {f.path for f in client.list_artifacts(run_id)}
    models = mltrail.search_logged_models(filter_string=f"source_run_id = '{run_id}'", output_format="list")
    assert [m.name for m in models] == ["model"]  # MLflow 3: the model is the run's LoggedModel
    with open(client.download_artifacts(run_id, "model_summary.txt")) as fh:
        summary = fh.read()
    assert "Linear" in summary and "Trainable params" in summary

    loaded = mltrail.pytorch.load_model(f"runs:/{run_id}/model")
    assert isinstance(loaded, TinyRegressor) and not loaded.training
    x = torch.randn(5, 4)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run_id}/model")
    assert pyfunc.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 4]
    out = pyfunc.predict(x.numpy())
    assert isinstance(out, np.ndarray) and np.allclose(out, model(x).detach().numpy(), atol=1e-6)


def test_active_run_is_used_and_step_metrics_logged():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_every_n_step=2, log_models=False, checkpoint=False)
    with mltrail.start_run() as run:
        _trainer(max_epochs=1).fit(TinyRegressor(), _loader(), _loader(seed=1))
        assert mltrail.active_run().info.run_id == run.info.run_id
    client = MlflowClient()
    data = client.get_run(run.info.run_id).data
    assert "mlflow.autologging" not in data.tags and data.params["epochs"] == "1"
    # 4 batches -> global steps 1..4; every 2nd: 1 and 3.
    assert _steps(client, run.info.run_id, "train_loss_step") == [1, 3]
    assert _steps(client, run.info.run_id, "val_loss") == [0]


def test_early_stopping_params_metrics_and_restored_checkpoint(tmp_path):
    torch.manual_seed(0)
    mltrail.pytorch.autolog(checkpoint=False)
    # min_delta huge: no epoch "improves" after the first, so it stops after patience epochs.
    stop = pl.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e6, mode="min")
    best = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss")
    trainer = _trainer(max_epochs=10, callbacks=[stop, best], enable_checkpointing=True)
    trainer.fit(TinyRegressor(), _loader(), _loader(seed=1))
    run = _last_run()
    params, metrics = run.data.params, run.data.metrics
    assert params["monitor"] == "val_loss" and params["patience"] == "1" and params["mode"] == "min"
    assert "min_delta" in params and params["epochs"] == "10"
    assert metrics["stopped_epoch"] == stop.stopped_epoch > 0
    assert metrics["restored_epoch"] == stop.stopped_epoch - 1
    assert "best_score" in metrics and "wait_count" in metrics
    assert len(MlflowClient().get_metric_history(run.info.run_id, "val_loss")) < 10
    restored = MlflowClient().list_artifacts(run.info.run_id, "restored_model_checkpoint")
    assert [f.path.rsplit("/", 1)[-1] for f in restored] == [best.best_model_path.rsplit("/", 1)[-1]]


def test_best_checkpoint_logged_and_loadable():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False)  # checkpoint=True: best by val_loss
    model = TinyRegressor()
    _trainer(max_epochs=2).fit(model, _loader(), _loader(seed=1))
    client = MlflowClient()
    run = _last_run()
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == "checkpoints/latest_checkpoint.pth"
    assert {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")} == {
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
    }
    with open(client.download_artifacts(run.info.run_id, "checkpoints/latest_checkpoint_metrics.json")) as fh:
        saved = json.load(fh)
    assert saved["val_loss"] == pytest.approx(
        min(m.value for m in client.get_metric_history(run.info.run_id, "val_loss"))
    )
    restored = mltrail.pytorch.load_checkpoint(TinyRegressor, run.info.run_id)
    assert isinstance(restored, TinyRegressor)
    if saved["epoch"] == 1:  # the final weights were the best
        for a, b in zip(restored.parameters(), model.parameters(), strict=True):
            assert torch.allclose(a, b)


def test_checkpoints_every_n_steps():
    torch.manual_seed(0)
    mltrail.pytorch.autolog(log_models=False, checkpoint_save_best_only=False, checkpoint_save_freq=2)
    _trainer(max_epochs=1).fit(TinyRegressor(), _loader())
    client = MlflowClient()
    run_id = mltrail.last_active_run().info.run_id
    assert {f.path for f in client.list_artifacts(run_id, "checkpoints")} == {
        "checkpoints/global_step_2",
        "checkpoints/global_step_4",
    }
    restored = mltrail.pytorch.load_checkpoint(TinyRegressor, run_id, global_step=2)
    assert isinstance(restored, TinyRegressor)


def test_global_autolog_switch_enables_lightning_pytorch():
    mltrail.autolog(log_models=False)
    try:
        assert is_patched("pytorch", pl.Trainer, "fit")
        _trainer(max_epochs=1).fit(TinyRegressor(), _loader(), _loader(seed=1))
    finally:
        mltrail.autolog(disable=True)
    run = _last_run()
    assert run.data.tags["mlflow.autologging"] == "pytorch"
    assert run.data.params["optimizer_name"] == "Adam"
    assert "val_loss" in run.data.metrics
    assert "model_summary.txt" in {f.path for f in MlflowClient().list_artifacts(run.info.run_id)}


def test_both_packages_in_one_process_each_fit_in_its_own_run():
    import pytorch_lightning as ptl

    class ClassicRegressor(ptl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("classic_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    mltrail.pytorch.autolog(log_models=False)
    assert is_patched("pytorch", pl.Trainer, "fit") and is_patched("pytorch", ptl.Trainer, "fit")
    _trainer(max_epochs=1).fit(TinyRegressor(), _loader())
    unified = _last_run()
    classic_trainer = ptl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    classic_trainer.fit(ClassicRegressor(), _loader())
    classic = _last_run()
    assert unified.info.run_id != classic.info.run_id
    assert unified.data.params["optimizer_name"] == "Adam" and "train_loss" in unified.data.metrics
    assert classic.data.params["optimizer_name"] == "SGD" and "classic_loss" in classic.data.metrics
    # Each package's own model summary was written for its own fit.
    for run in (unified, classic):
        assert "model_summary.txt" in {f.path for f in MlflowClient().list_artifacts(run.info.run_id)}


# Run in a fresh interpreter: autolog() first, Lightning imported afterwards (post-import hook).
_LATE_IMPORT = """
import json, sys
import mltrail, mltrail.pytorch
{enable}
assert "lightning" not in sys.modules
{import_}
import torch
from torch.utils.data import DataLoader, TensorDataset

class Net(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 1)
    def forward(self, x):
        return self.net(x)
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

torch.manual_seed(0)
data = DataLoader(TensorDataset(torch.randn(32, 4), torch.randn(32, 1)), batch_size=16)
model = Net()
Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False).fit(model, data)
with torch.no_grad():
    prediction = model.eval()(torch.ones(3, 4)).tolist()
print(json.dumps({{"run_id": mltrail.last_active_run().info.run_id, "prediction": prediction,
                  "pytorch_lightning_imported": "pytorch_lightning" in sys.modules}}))
"""


_LATE_CASES = {
    # mltrail.pytorch's own hooks, on "pytorch_lightning" and "lightning.pytorch"
    "pytorch-autolog": (
        "mltrail.pytorch.autolog()",
        "import lightning.pytorch as pl\nTrainer, LightningModule = pl.Trainer, pl.LightningModule",
    ),
    # the global switch's hook on "lightning", which then enables mltrail.pytorch
    "global-autolog": ("mltrail.autolog()", "from lightning import Trainer, LightningModule"),
}


@pytest.mark.slow  # two fresh interpreters importing torch and Lightning
def test_lightning_imported_after_autolog_is_patched(tmp_path):
    # Both interpreters start at once: importing Lightning alone takes seconds.
    procs = {}
    for name, (enable, import_) in _LATE_CASES.items():
        folder = tmp_path / name
        folder.mkdir()
        script = folder / "train.py"
        script.write_text(_LATE_IMPORT.format(enable=enable, import_=import_))
        procs[name] = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {name: proc.communicate() for name, proc in procs.items()}
    for name, (stdout, stderr) in outputs.items():
        assert procs[name].returncode == 0, f"{name}: {stderr}"
        result = json.loads(stdout.strip().splitlines()[-1])
        assert result["pytorch_lightning_imported"] is False, name  # the hooks import no other package
        # The script logged into <its cwd>/mltrail.db.
        client = MlflowClient(str(tmp_path / name))
        run = client.get_run(result["run_id"])
        assert run.data.tags["mlflow.autologging"] == "pytorch", name
        assert run.data.params["optimizer_name"] == "SGD" and run.data.params["epochs"] == "2", name
        assert _steps(client, run.info.run_id, "train_loss") == [0, 1], name
        # The model class lived in the script's __main__, so cloudpickle stored it by value.
        loaded = mltrail.pytorch.load_model(
            mltrail.artifacts.download_artifacts(
                artifact_uri=f"runs:/{run.info.run_id}/model",
                dst_path=str(tmp_path / name / "downloaded"),
                tracking_uri=f"sqlite:///{tmp_path / name / 'mltrail.db'}",
            )
        )
        with torch.no_grad():
            prediction = loaded(torch.ones(3, 4))
        assert torch.allclose(prediction, torch.tensor(result["prediction"]), atol=1e-6), name
