"""``mltrail.transformers``: autologging for the Hugging Face ``Trainer``.

``autolog()`` puts a callback into every ``transformers.Trainer`` (and its
subclasses, e.g. ``Seq2SeqTrainer``): each ``train()`` logs the
``TrainingArguments`` and model config as params, the train/eval loss curves,
learning-rate schedule and grad norm at each logging step, and the training
summary (``train_runtime``, ``train_samples_per_second``, ``train_loss``),
whatever ``report_to`` is set to. transformers is imported only when the user
imports its trainer module.

Example::

    import mltrail as mlflow
    import mltrail.transformers

    mlflow.transformers.autolog()
    Trainer(model=model, args=TrainingArguments("out", report_to="none"), train_dataset=ds).train()
"""

from __future__ import annotations

from types import ModuleType

from mltrail.autologging import autologging_integration, register_post_import_hook, revert_patches
from mltrail.transformers._callback import patch_trainer

FLAVOR_NAME = "transformers"

__all__ = ["FLAVOR_NAME", "autolog"]


@autologging_integration(FLAVOR_NAME)
def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = False,
    log_models: bool = False,
    log_datasets: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging of Hugging Face ``Trainer.train``.

    Each ``train()`` logs into the active run, or a new run tagged
    ``mlflow.autologging=transformers`` that ends when training ends (FAILED if
    it raised). Params: every ``TrainingArguments.to_dict()`` item plus the
    model's config items (values over 6,000 characters left out). Metrics:
    each numeric value the Trainer logs (``loss``, ``learning_rate``,
    ``grad_norm``, ``epoch``, ``eval_loss``, ``eval_runtime``,
    ``train_runtime``, ``train_samples_per_second``, ``train_loss``,
    ``total_flos`` ...) at ``state.global_step``. ``trainer.evaluate()`` outside
    ``train()`` logs into the active run if there is one. With
    ``log_models=True`` the trained model (and its tokenizer) is saved with
    ``save_pretrained`` into the run's ``model/`` artifacts (a plain artifact
    directory, not an MLflow model flavor); ``mltrail.autolog()`` never does
    this, as MLflow's never saves transformers weights.

    Example::

        mltrail.transformers.autolog()
        trainer.train()
    """
    if disable:
        revert_patches(FLAVOR_NAME)
        return
    # The trainer module, not the package: importing transformers for a tokenizer stays cheap.
    register_post_import_hook(_patch_module, "transformers.trainer")


def _patch_module(module: ModuleType) -> None:
    patch_trainer(module)
