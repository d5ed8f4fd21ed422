"""``mltrail.pytorch``: the PyTorch model flavor and PyTorch Lightning autologging.

MLflow's ``mlflow.pytorch`` layout and names: ``save_model`` / ``log_model`` /
``load_model`` for any ``torch.nn.Module`` (pickled with cloudpickle, a
``python_function`` flavor that predicts on DataFrames and arrays), and
``autolog()`` for ``pytorch_lightning`` or ``lightning.pytorch`` ``Trainer.fit``.
torch and Lightning are imported only when a function needs them.

Example::

    import mltrail as mlflow
    import mltrail.pytorch

    mlflow.pytorch.autolog()
    trainer = pl.Trainer(max_epochs=2)
    trainer.fit(model, train_loader)  # params, per-epoch metrics and the model are logged
    net = mlflow.pytorch.load_model(f"runs:/{mlflow.last_active_run().info.run_id}/model")
"""

from __future__ import annotations

from types import ModuleType

from mltrail.autologging import (
    autologging_integration,
    register_post_import_hook,
    revert_patches,
)
from mltrail.pytorch._checkpoint import load_checkpoint
from mltrail.pytorch._lightning import patch_lightning
from mltrail.pytorch._model import (
    FLAVOR_NAME,
    _load_pyfunc,  # noqa: F401  # the pyfunc loader entry point (loader_module: mlflow.pytorch)
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME",
    "autolog",
    "get_default_pip_requirements",
    "load_checkpoint",
    "load_model",
    "log_model",
    "save_model",
]

# The two import names Lightning ships under; whichever the user imports gets patched.
_LIGHTNING_MODULES = ("pytorch_lightning", "lightning.pytorch")


@autologging_integration(FLAVOR_NAME)
def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: str | int = "epoch",
    log_model_signatures: bool = True,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging of PyTorch Lightning ``Trainer.fit``.

    Each ``fit`` logs into the active run, or a new run (tagged
    ``mlflow.autologging=pytorch``) that ends with the fit: params ``epochs``,
    ``optimizer_name`` and the optimizer's defaults (``lr``, ...); every metric
    the module ``self.log``s, per epoch (step = epoch, every
    ``log_every_n_epoch``) and, with ``log_every_n_step``, per n training steps;
    EarlyStopping params (``monitor``, ``patience``, ...) and results
    (``stopped_epoch``, ``restored_epoch``, ``best_score``, ``wait_count``);
    ``model_summary.txt``; and with ``log_models`` the trained module as
    ``model`` (``pytorch`` flavor, with a signature from the first batch when
    ``log_model_signatures``). ``trainer.test`` after a fit logs its metrics into
    the fit's run. With ``checkpoint`` (default) checkpoints are logged under
    ``checkpoints/``: the best so far by ``checkpoint_monitor`` /
    ``checkpoint_mode`` as ``latest_checkpoint.pth`` (``checkpoint_save_best_only``),
    else one per epoch (or every ``checkpoint_save_freq`` steps); read one back
    with :func:`load_checkpoint`.

    Example::

        mltrail.pytorch.autolog(log_every_n_step=10)
        trainer.fit(model, train_loader)
    """
    if disable:
        revert_patches(FLAVOR_NAME)
        return
    for name in _LIGHTNING_MODULES:
        register_post_import_hook(_patch_module, name)


def _patch_module(module: ModuleType) -> None:
    patch_lightning(module)
