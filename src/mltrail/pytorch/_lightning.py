"""PyTorch Lightning autologging: a patched ``Trainer.fit`` plus a callback it adds.

Logs what MLflow's ``mlflow.pytorch.autolog`` logs: ``epochs``, the first
optimizer's name and defaults, every metric in ``trainer.callback_metrics`` per
epoch (step = epoch) and optionally every n steps, EarlyStopping params and
results, ``model_summary.txt`` and the trained model (``pytorch`` flavor).
Works for both ``pytorch_lightning`` and ``lightning.pytorch``; the module of
whichever is used is passed in, never imported here at module level.
"""

from __future__ import annotations

import functools
import importlib
import logging
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import mltrail
from mltrail.autologging import autolog_run, get_autolog_config, safe_patch, warn_failure
from mltrail.entities import Metric, Param
from mltrail.pytorch._checkpoint import _MARK, checkpoint_callback
from mltrail.pytorch._model import log_model

NAME = "pytorch"
_log = logging.getLogger(__name__)
_CALLBACK_MARK = "_mltrail_autolog_callback"


def patch_lightning(pl: ModuleType) -> None:
    """Patch ``pl.Trainer.fit`` for one Lightning package (``pytorch_lightning`` or ``lightning.pytorch``)."""
    safe_patch(NAME, pl.Trainer, "fit", functools.partial(_patched_fit, pl))


def _client() -> Any:
    from mltrail.tracking import MlflowClient

    return MlflowClient()


def _log_metrics(client: Any, run_id: str, metrics: dict[str, float], step: int) -> None:
    if not metrics:
        return
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])


def _log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    if params:
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])


def _guarded(method: Any) -> Any:
    """A rank-zero callback hook whose failures are warned, never raised into the training loop."""

    @functools.wraps(method)
    def hook(self: Any, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if not getattr(trainer, "is_global_zero", True):
            return  # one process logs, as Lightning's rank_zero_only does
        try:
            method(self, trainer, *args, **kwargs)
        except Exception as err:
            warn_failure(NAME, f"{method.__name__} failed", err)

    return hook


@functools.cache
def _callback_class(pl: ModuleType) -> type:
    """The metrics callback, subclassing this Lightning package's ``Callback``."""

    class MltrailLightningCallback(pl.Callback):
        def __init__(self, run_id: str, log_every_n_epoch: int, log_every_n_step: int | None) -> None:
            self.run_id = run_id
            self.log_every_n_epoch = max(1, int(log_every_n_epoch or 1))
            self.log_every_n_step = log_every_n_step
            self.steps_per_training_step = 1
            self.step_metrics: set[str] = set()
            self.epoch_metrics: set[str] = set()

        def _record(self, trainer: Any, step: int, items: list[tuple[str, Any]]) -> None:
            if trainer.sanity_checking or not items:
                return
            _log_metrics(_client(), self.run_id, {k: float(v) for k, v in items}, step)

        @_guarded
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            client = _client()
            client.set_tag(self.run_id, "Mode", "training")
            params: dict[str, Any] = {"epochs": trainer.max_epochs}
            optimizers = list(getattr(trainer, "optimizers", None) or [])
            if optimizers:
                # Lightning >= 1.6 counts one global step per optimizer step.
                self.steps_per_training_step = len(optimizers)
                optimizer = getattr(optimizers[0], "_optimizer", optimizers[0])  # LightningOptimizer
                params["optimizer_name"] = type(optimizer).__name__
                params.update(getattr(optimizer, "defaults", None) or {})
            _log_params(client, self.run_id, params)

        @_guarded
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            # Validation of this epoch has already run, so callback_metrics hold train and val metrics.
            items = [(k, v) for k, v in trainer.callback_metrics.items() if k not in self.step_metrics]
            self.epoch_metrics.update(k for k, _ in items)
            epoch = trainer.current_epoch
            if (epoch + 1) % self.log_every_n_epoch == 0:
                self._record(trainer, epoch, items)

        @_guarded
        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            if not self.log_every_n_step:
                return
            metrics = trainer.callback_metrics
            # A metric logged both per step and per epoch appears as x, x_step and x_epoch:
            # per step we log x_step (x goes with the epoch metrics).
            items = [
                (k, v)
                for k, v in metrics.items()
                if k not in self.epoch_metrics and f"{k}_step" not in metrics
            ]
            self.step_metrics.update(k for k, _ in items)
            step = trainer.global_step
            if ((step // self.steps_per_training_step) + 1) % int(self.log_every_n_step) == 0:
                self._record(trainer, step, items)

        @_guarded
        def on_test_end(self, trainer: Any, pl_module: Any) -> None:
            client = _client()
            client.set_tag(self.run_id, "Mode", "testing")
            _log_metrics(client, self.run_id, {k: float(v) for k, v in trainer.callback_metrics.items()}, 0)

    setattr(MltrailLightningCallback, _CALLBACK_MARK, True)
    return MltrailLightningCallback


class _FitSession:
    """The state of one autologged ``fit``: set up before, logged after, cleaned up always."""

    def __init__(self, pl: ModuleType, trainer: Any, run_id: str, config: dict[str, Any]) -> None:
        self.pl = pl
        self.trainer = trainer
        self.run_id = run_id
        self.config = config
        self.early_stop: Any = None
        self.example: tuple[Any, Any] | None = None
        self._forward_patched: Any = None

    def before(self, module: Any) -> None:
        """Log EarlyStopping params, (re)attach the metrics callback, watch the first forward."""
        client = _client()
        for cb in self.trainer.callbacks:
            if isinstance(cb, self.pl.callbacks.EarlyStopping):
                self.early_stop = cb
                params = {
                    p: getattr(cb, p)
                    for p in ("monitor", "mode", "patience", "min_delta", "stopped_epoch")
                    if hasattr(cb, p)
                }
                _log_params(client, self.run_id, params)
        cls = _callback_class(self.pl)
        callback = cls(
            self.run_id, self.config.get("log_every_n_epoch", 1), self.config.get("log_every_n_step")
        )
        # One callback per trainer: a re-fit logs into its own run, not the previous fit's.
        self.trainer.callbacks[:] = [
            cb for cb in self.trainer.callbacks if not getattr(cb, _CALLBACK_MARK, False)
        ]
        self.trainer.callbacks.append(callback)
        if self.config.get("checkpoint", True):
            kept = [cb for cb in self.trainer.callbacks if not getattr(cb, _MARK, False)]
            self.trainer.callbacks[:] = [*kept, checkpoint_callback(self.pl, self.run_id, self.config)]
        if self.config.get("log_models", True) and self.config.get("log_model_signatures", True):
            self._watch_forward(module)

    def _watch_forward(self, module: Any) -> None:
        """Capture the first ``forward`` call's tensor input and output, for the model signature."""
        import torch

        original = module.forward
        session = self

        def forward(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if session.example is None:
                if (
                    len(args) == 1
                    and not kwargs
                    and isinstance(args[0], torch.Tensor)
                    and isinstance(result, torch.Tensor)
                ):
                    session.example = (args[0].detach().cpu()[:5], result.detach().cpu()[:5])
                else:
                    session.example = (None, None)
            return result

        module.forward = forward  # an instance attribute shadows the class method while fitting
        self._forward_patched = module

    def cleanup(self) -> None:
        module, self._forward_patched = self._forward_patched, None
        if module is not None and "forward" in vars(module):
            del module.forward

    def after(self, module: Any) -> None:
        """Log EarlyStopping results, the model summary and the model (each failure warned alone)."""
        client = _client()
        if self.early_stop is not None:
            self._guard("early stopping metrics", self._log_early_stop, client)
        self._guard("model summary", self._log_summary, module)
        if not self.config.get("log_models", True):
            return
        signature = None
        if self.example is not None and self.example[0] is not None:
            from mltrail.models.signature import infer_signature

            signature = self._guard(
                "signature", lambda: infer_signature(self.example[0].numpy(), self.example[1].numpy())
            )
        logged = self._guard(
            "model",
            lambda: log_model(
                module,
                name="model",
                registered_model_name=self.config.get("registered_model_name"),
                signature=signature,
            ),
        )
        best = getattr(getattr(self.trainer, "checkpoint_callback", None), "best_model_path", None)
        if logged is not None and self.early_stop is not None and best:
            self._guard(
                "restored checkpoint",
                lambda: mltrail.log_artifact(best, artifact_path="restored_model_checkpoint"),
            )

    def _guard(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            warn_failure(NAME, f"logging the {what} failed", err)
            return None

    def _log_early_stop(self, client: Any) -> None:
        cb = self.early_stop
        stopped = int(getattr(cb, "stopped_epoch", 0) or 0)
        if stopped == 0:
            return
        metrics: dict[str, float] = {
            "stopped_epoch": stopped,
            "restored_epoch": stopped - max(1, int(cb.patience)),
        }
        if getattr(cb, "best_score", None) is not None:
            metrics["best_score"] = float(cb.best_score)
        if hasattr(cb, "wait_count"):
            metrics["wait_count"] = cb.wait_count
        _log_metrics(client, self.run_id, metrics, 0)

    def _log_summary(self, module: Any) -> None:
        summaries = importlib.import_module(f"{self.pl.__name__}.utilities.model_summary")
        summary = summaries.ModelSummary(module, max_depth=-1)
        with tempfile.TemporaryDirectory(prefix="mltrail-pl-") as tmp:
            path = Path(tmp) / "model_summary.txt"
            path.write_text(str(summary), encoding="utf-8")
            mltrail.log_artifact(str(path))


def _patched_fit(pl: ModuleType, original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    module = args[0] if args else kwargs.get("model")
    config = get_autolog_config(NAME)
    with autolog_run(NAME) as run:
        if run is None:  # exclusive=True inside a user's run: stay out of it
            return original(self, *args, **kwargs)
        session = _FitSession(pl, self, run.info.run_id, config)
        try:
            session.before(module)
        except Exception as err:
            session.cleanup()
            warn_failure(NAME, "setting up fit logging failed", err)
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        finally:
            session.cleanup()
        session.after(self.lightning_module if self.lightning_module is not None else module)
        return result
