"""Hugging Face ``Trainer`` autologging: a ``TrainerCallback`` put into every Trainer.

``Trainer.__init__`` is patched to add the callback; ``Trainer.train`` is
patched to run inside :func:`~mltrail.autologging.autolog_run`, so a run
autolog created ends (FINISHED, or FAILED if training raised) when training
does. The callback logs what transformers' own ``MLflowCallback`` logs, into
mltrail: ``TrainingArguments.to_dict()`` plus the model config as params, and
every numeric value of each ``on_log`` (``loss``, ``learning_rate``,
``grad_norm``, ``epoch``, ``eval_*``, ``train_runtime`` ...) at
``state.global_step``. It works whatever ``report_to`` says.
"""

from __future__ import annotations

import functools
import math
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import mltrail
from mltrail.autologging import autolog_run, get_autolog_config, safe_patch, warn_failure
from mltrail.autologging.config import configured_by_user
from mltrail.entities import Metric, Param

NAME = "transformers"
_MAX_PARAM_VAL_LENGTH = 6000  # MLflow's limit; longer values are left out, as MLflowCallback does
_MARK = "_mltrail_autolog_callback"


def patch_trainer(trainer_module: ModuleType) -> None:
    """Patch ``Trainer.__init__`` and ``Trainer.train`` of ``transformers.trainer``."""
    trainer_cls = trainer_module.Trainer
    safe_patch(NAME, trainer_cls, "__init__", _patched_init)
    safe_patch(NAME, trainer_cls, "train", _patched_train)


def _client() -> Any:
    from mltrail.tracking import MlflowClient

    return MlflowClient()


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "numel") and hasattr(value, "item") and value.numel() == 1:  # a 0-d tensor
        return float(value.item())
    return None


def _guarded(method: Any) -> Any:
    """A callback hook whose failures are warned, never raised into the training loop."""

    @functools.wraps(method)
    def hook(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as err:
            warn_failure(NAME, f"{method.__name__} failed", err)

    return hook


@functools.cache
def _callback_class() -> type:
    from transformers import TrainerCallback

    class MltrailCallback(TrainerCallback):
        """Logs Trainer params and metrics into the mltrail run of the current ``train``."""

        def __init__(self) -> None:
            self.run_id: str | None = None  # set by the patched ``train`` for its duration

        def _target(self) -> str | None:
            """The run to log into: train's run, else (e.g. ``evaluate()``) the active run."""
            if self.run_id is not None:
                return self.run_id
            active = mltrail.active_run()
            if active is None or get_autolog_config(NAME).get("exclusive"):
                return None
            return active.info.run_id

        @_guarded
        def on_train_begin(
            self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
        ) -> None:
            run_id = self._target()
            if run_id is None or not state.is_world_process_zero:
                return
            combined: dict[str, Any] = {}
            config = getattr(model, "config", None)
            if config is not None and hasattr(config, "to_dict"):
                combined.update(config.to_dict())
            combined.update(args.to_dict())
            params = []
            for key, value in combined.items():
                text = str(value)
                if len(text) > _MAX_PARAM_VAL_LENGTH:
                    continue
                params.append(Param(str(key), text))
            client = _client()
            existing = client.get_run(run_id).data.params
            # A second train() in the same run must not fail on params it already has.
            client.log_batch(run_id, params=[p for p in params if p.key not in existing])

        @_guarded
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            run_id = self._target()
            if run_id is None or not state.is_world_process_zero or not logs:
                return
            now = int(time.time() * 1000)
            metrics = []
            for key, value in logs.items():
                number = _numeric(value)
                if number is not None and not math.isnan(number):
                    metrics.append(Metric(str(key), number, now, int(state.global_step)))
            if metrics:
                _client().log_batch(run_id, metrics=metrics)

    setattr(MltrailCallback, _MARK, True)
    return MltrailCallback


def _our_callback(trainer: Any) -> Any:
    for cb in trainer.callback_handler.callbacks:
        if getattr(cb, _MARK, False):
            return cb
    return None


def _patched_init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
    original(self, *args, **kwargs)
    if _our_callback(self) is None:
        self.add_callback(_callback_class()())


def _patched_train(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    callback = _our_callback(self)
    if callback is None:  # a Trainer built before autolog() was turned on
        callback = _callback_class()()
        self.add_callback(callback)
    with autolog_run(NAME) as run:
        if run is None:
            return original(self, *args, **kwargs)
        callback.run_id = run.info.run_id
        try:
            result = original(self, *args, **kwargs)
        finally:
            callback.run_id = None
        # MLflow's transformers autolog never saves weights, and mltrail.autolog() passes
        # log_models=True to every integration: only a direct autolog(log_models=True) saves them.
        if get_autolog_config(NAME).get("log_models") and configured_by_user(NAME):
            _log_pretrained(self)
        return result


def _log_pretrained(trainer: Any) -> None:
    """``log_models=True``: the trained model (and tokenizer) via ``save_pretrained`` as artifacts ``model/``."""
    try:
        with tempfile.TemporaryDirectory(prefix="mltrail-hf-") as tmp:
            target = Path(tmp) / "model"
            trainer.model.save_pretrained(str(target))
            tokenizer = getattr(trainer, "processing_class", None) or getattr(trainer, "tokenizer", None)
            if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
                tokenizer.save_pretrained(str(target))
            mltrail.log_artifacts(str(target), "model")
    except Exception as err:
        warn_failure(NAME, "logging the model failed", err)
