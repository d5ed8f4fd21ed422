"""Checkpoints of an autologged Lightning fit, as run artifacts (MLflow's layout and tag).

With ``save_best_only`` (the default) the best checkpoint so far by ``monitor``
is kept as ``checkpoints/latest_checkpoint.pth`` with
``checkpoints/latest_checkpoint_metrics.json``; otherwise each save goes to
``checkpoints/epoch_<n>/`` (or ``global_step_<n>/``). The run tag
``mlflow.latest_checkpoint_artifact`` names the newest file, which
:func:`load_checkpoint` reads back.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import mltrail
from mltrail.autologging import warn_failure
from mltrail.exceptions import invalid

NAME = "pytorch"
LATEST_CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"
_DIR = "checkpoints"
_MARK = "_mltrail_checkpoint_callback"
_log = logging.getLogger(__name__)


def checkpoint_callback(pl: ModuleType, run_id: str, config: dict[str, Any]) -> Any:
    """A checkpoint callback for this fit, configured from autolog's ``checkpoint_*`` options."""
    mode = config.get("checkpoint_mode", "min")
    if config.get("checkpoint_save_best_only", True) and mode not in ("min", "max"):
        raise invalid(f"checkpoint_mode must be 'min' or 'max' with checkpoint_save_best_only, got {mode!r}")
    return _checkpoint_class(pl)(
        run_id,
        monitor=config.get("checkpoint_monitor", "val_loss"),
        mode=mode,
        save_best_only=config.get("checkpoint_save_best_only", True),
        save_weights_only=config.get("checkpoint_save_weights_only", False),
        save_freq=config.get("checkpoint_save_freq", "epoch"),
    )


@functools.cache
def _checkpoint_class(pl: ModuleType) -> type:
    class MltrailCheckpointCallback(pl.Callback):
        def __init__(
            self,
            run_id: str,
            monitor: str,
            mode: str,
            save_best_only: bool,
            save_weights_only: bool,
            save_freq: Any,
        ) -> None:
            self.run_id = run_id
            self.monitor = monitor
            self.mode = mode
            self.save_best_only = save_best_only
            self.save_weights_only = save_weights_only
            self.save_freq = save_freq
            self.best: float | None = None

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            freq = self.save_freq
            step = trainer.global_step
            if isinstance(freq, int) and not isinstance(freq, bool) and step > 0 and step % freq == 0:
                self._safe_save(trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if self.save_freq == "epoch":
                self._safe_save(trainer)

        def _safe_save(self, trainer: Any) -> None:
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            try:
                self._save(trainer)
            except Exception as err:
                warn_failure(NAME, "logging a checkpoint failed", err)

        def _save(self, trainer: Any) -> None:
            from mltrail.tracking import MlflowClient

            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            if self.save_best_only:
                value = metrics.get(self.monitor)
                if value is None:
                    _log.warning(
                        "Checkpoint logging skipped: save_best_only needs the monitored metric %r, "
                        "which was not logged",
                        self.monitor,
                    )
                    return
                if self.best is not None and (
                    value >= self.best if self.mode == "min" else value <= self.best
                ):
                    return
                self.best = value
            suffix = ".weights.pth" if self.save_weights_only else ".pth"
            if self.save_best_only:
                folder, stem, metrics_file = _DIR, "latest_checkpoint", "latest_checkpoint_metrics.json"
            else:
                sub = (
                    f"epoch_{trainer.current_epoch}"
                    if self.save_freq == "epoch"
                    else f"global_step_{trainer.global_step}"
                )
                folder, stem, metrics_file = f"{_DIR}/{sub}", "checkpoint", "checkpoint_metrics.json"
            client = MlflowClient()
            filename = stem + suffix
            client.set_tag(self.run_id, LATEST_CHECKPOINT_TAG, f"{folder}/{filename}")
            client.log_dict(
                self.run_id,
                {**metrics, "epoch": trainer.current_epoch, "global_step": trainer.global_step},
                f"{folder}/{metrics_file}",
            )
            with tempfile.TemporaryDirectory(prefix="mltrail-ckpt-") as tmp:
                path = Path(tmp) / filename
                # Not trainer.save_checkpoint: its barrier would deadlock when only rank 0 runs this.
                checkpoint = trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)
                trainer.strategy.save_checkpoint(checkpoint, str(path))
                client.log_artifact(self.run_id, str(path), folder)

    setattr(MltrailCheckpointCallback, _MARK, True)
    return MltrailCheckpointCallback


def load_checkpoint(
    model_class: Any,
    run_id: str | None = None,
    epoch: int | None = None,
    global_step: int | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """A LightningModule of ``model_class`` restored from a checkpoint autolog logged in ``run_id``.

    The latest (or best, with ``checkpoint_save_best_only``) checkpoint by default;
    ``epoch`` or ``global_step`` picks one kept per epoch / step.

    Example::

        model = mltrail.pytorch.load_checkpoint(MyModule, run_id)
    """
    from mltrail.tracking import MlflowClient

    if epoch is not None and global_step is not None:
        raise invalid("Only one of 'epoch' and 'global_step' can be set for 'load_checkpoint'.")
    client = MlflowClient()
    if run_id is None:
        active = mltrail.active_run()
        if active is None:
            raise invalid(
                "There is no active run, please provide the 'run_id' argument for 'load_checkpoint'."
            )
        run_id = active.info.run_id
    latest = client.get_run(run_id).data.tags.get(LATEST_CHECKPOINT_TAG)
    if latest is None:
        raise invalid("There is no logged checkpoint artifact in the current run.")
    filename = posixpath.basename(latest)
    if global_step is not None:
        path = f"{_DIR}/global_step_{global_step}/{filename}"
    elif epoch is not None:
        path = f"{_DIR}/epoch_{epoch}/{filename}"
    else:
        path = latest
    with tempfile.TemporaryDirectory(prefix="mltrail-ckpt-") as tmp:
        local = client.download_artifacts(run_id, path, dst_path=tmp)
        return model_class.load_from_checkpoint(local, **(kwargs or {}))
