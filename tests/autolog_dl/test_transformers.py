"""Hugging Face Trainer autologging: a tiny randomly initialised BERT, synthetic tensors, CPU, offline."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import functools
from typing import TYPE_CHECKING, Any

import pytest

import mltrail
import mltrail.transformers
from mltrail.tracking import MlflowClient
from support.lazy import lazy_module

if TYPE_CHECKING:
    from transformers import BertForSequenceClassification, TrainingArguments

# torch and transformers load when the first test here runs, not when a worker that never runs
# them collects this module.
torch = lazy_module("torch")
transformers = lazy_module("transformers")


@functools.cache
def _tokens_class() -> type:
    """The dataset class, made once torch is imported."""

    class _Tokens(torch.utils.data.Dataset):
        def __init__(self, n: int, seed: int) -> None:
            g = torch.Generator().manual_seed(seed)
            self.x = torch.randint(0, 100, (n, 8), generator=g)
            self.y = torch.randint(0, 2, (n,), generator=g)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": self.x[i], "labels": self.y[i]}

    return _Tokens


def _Tokens(n: int, seed: int) -> Any:
    return _tokens_class()(n, seed)


def _model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=32,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)


def _args(tmp_path, report_to="none", **kwargs) -> TrainingArguments:
    opts = dict(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=5e-4,
        logging_steps=2,
        eval_strategy="epoch",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        report_to=report_to,
        dataloader_num_workers=0,
    )
    opts.update(kwargs)
    return transformers.TrainingArguments(**opts)


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_trainer_logs_args_curves_eval_and_summary(tmp_path):
    mltrail.transformers.autolog()
    trainer = transformers.Trainer(
        model=_model(), args=_args(tmp_path), train_dataset=_Tokens(32, 0), eval_dataset=_Tokens(16, 1)
    )
    output = trainer.train()

    assert mltrail.active_run() is None  # the run autolog started ended with training
    client = MlflowClient()
    run = client.get_run(mltrail.last_active_run().info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "transformers"
    params = run.data.params
    # TrainingArguments.to_dict() items ...
    assert params["learning_rate"] == "0.0005"
    assert params["num_train_epochs"] == "2"
    assert params["per_device_train_batch_size"] == "8"
    assert params["lr_scheduler_type"] == "linear"
    assert params["output_dir"] == str(tmp_path / "out")
    # ... plus the model config items.
    assert params["hidden_size"] == "32" and params["num_hidden_layers"] == "2"
    assert params["model_type"] == "bert"

    # 32 samples / batch 8 = 4 steps an epoch, 8 in all, logged every 2 steps.
    for key in ("loss", "learning_rate", "grad_norm"):
        assert _steps(client, run.info.run_id, key) == [2, 4, 6, 8], key
    # epoch comes with every log (train, eval, summary): 0.5, 1, 1, 1.5, 2, 2, 2.
    epochs = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "epoch")]
    assert (2, 0.5) in epochs and (8, 2.0) in epochs
    lrs = [m.value for m in client.get_metric_history(run.info.run_id, "learning_rate")]
    assert lrs[0] > lrs[-1] > 0  # the linear decay schedule
    assert _steps(client, run.info.run_id, "eval_loss") == [4, 8]
    metrics = run.data.metrics
    for key in (
        "eval_runtime",
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
    ):
        assert key in metrics, key
    assert metrics["train_loss"] == pytest.approx(output.training_loss)
    assert client.get_metric_history(run.info.run_id, "train_runtime")[0].step == 8


def test_report_to_mlflow_or_empty_list_does_not_stop_our_logging(tmp_path):
    mltrail.transformers.autolog()
    with mltrail.start_run() as run:
        trainer = transformers.Trainer(
            model=_model(),
            args=_args(tmp_path, report_to=[], num_train_epochs=1, eval_strategy="no"),
            train_dataset=_Tokens(16, 0),
        )
        trainer.train()
        # evaluate() after train() in the user's run still logs into it.
        trainer.evaluate(_Tokens(8, 2))
        assert mltrail.active_run().info.run_id == run.info.run_id
    data = MlflowClient().get_run(run.info.run_id).data
    assert "mlflow.autologging" not in data.tags
    assert {"loss", "train_loss", "eval_loss", "learning_rate"} <= set(data.metrics)
    assert data.params["num_train_epochs"] == "1"
    # Only our callback logs: transformers' MLflowCallback was not added.
    from transformers.integrations import MLflowCallback

    assert not any(isinstance(cb, MLflowCallback) for cb in trainer.callback_handler.callbacks)


def test_failed_training_ends_run_failed(tmp_path):
    class Exploding(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i):
            raise RuntimeError("bad sample")

    mltrail.transformers.autolog()
    trainer = transformers.Trainer(model=_model(), args=_args(tmp_path, eval_strategy="no"), train_dataset=Exploding())
    with pytest.raises(RuntimeError, match="bad sample"):
        trainer.train()
    assert mltrail.active_run() is None
    assert MlflowClient().get_run(mltrail.last_active_run().info.run_id).info.status == "FAILED"


def test_disabled_autolog_logs_nothing(tmp_path):
    mltrail.transformers.autolog()
    mltrail.transformers.autolog(disable=True)
    transformers.Trainer(
        model=_model(),
        args=_args(tmp_path, num_train_epochs=1, eval_strategy="no"),
        train_dataset=_Tokens(8, 0),
    ).train()
    assert MlflowClient().search_runs(["0"]) == []


def test_log_models_saves_pretrained_artifacts(tmp_path):
    mltrail.transformers.autolog(log_models=True)
    model = _model()
    transformers.Trainer(
        model=model, args=_args(tmp_path, num_train_epochs=1, eval_strategy="no"), train_dataset=_Tokens(8, 0)
    ).train()
    client = MlflowClient()
    run_id = mltrail.last_active_run().info.run_id
    files = {f.path for f in client.list_artifacts(run_id, "model")}
    assert "model/config.json" in files
    local = client.download_artifacts(run_id, "model")
    reloaded = transformers.BertForSequenceClassification.from_pretrained(local)
    x = torch.randint(0, 100, (2, 8))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=x).logits, model(input_ids=x).logits, atol=1e-6)


def test_global_autolog_switch_enables_trainer_logging_without_weights(tmp_path):
    import mltrail as mlflow

    mlflow.autolog()
    try:
        transformers.Trainer(
            model=_model(),
            args=_args(tmp_path, num_train_epochs=1, eval_strategy="no"),
            train_dataset=_Tokens(16, 0),  # 2 steps: one loss log at step 2
        ).train()
    finally:
        mlflow.autolog(disable=True)
    client = MlflowClient()
    run = client.get_run(mlflow.last_active_run().info.run_id)
    assert run.data.tags["mlflow.autologging"] == "transformers"
    assert {"loss", "train_runtime", "train_loss"} <= set(run.data.metrics)
    assert run.data.params["num_train_epochs"] == "1"
    assert client.list_artifacts(run.info.run_id, "model") == []  # mltrail.autolog() saves no weights
