"""A tiny Lightning model, data and trainer, built for whichever Lightning package a test imports.

``pytorch_lightning`` and the unified ``lightning.pytorch`` are separate copies of Lightning with
their own classes, so the model must subclass the ``LightningModule`` of the package under test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from support.lazy import lazy_module

if TYPE_CHECKING:
    from torch.utils.data import DataLoader, TensorDataset

torch = lazy_module("torch")  # imported when a test first builds a model or data


def tiny_regressor(pl: ModuleType, module: str) -> type:
    """A 4 -> 8 -> 1 MLP on ``pl.LightningModule``: train_loss per step and epoch, val/test_loss per epoch.

    Assign it to ``TinyRegressor`` in the test module named ``module``: pickled models (the
    pytorch flavor saves whole modules) find their class there.
    """

    class TinyRegressor(pl.LightningModule):
        def __init__(self, lr: float = 0.05) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
            self.lr = lr

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

        def test_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("test_loss", torch.nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=self.lr)

    TinyRegressor.__module__ = module
    TinyRegressor.__qualname__ = "TinyRegressor"
    return TinyRegressor


def model_class_fixture(pl: ModuleType, module: str) -> Callable[[], None]:
    """A module-scoped autouse fixture that sets ``TinyRegressor`` in the test module ``module``
    (on its Lightning ``pl``, a lazy module: Lightning loads when the module's first test runs)::

        pl = lazy_module("pytorch_lightning")
        TinyRegressor: type = type(None)
        _model_class = model_class_fixture(pl, __name__)
    """

    @pytest.fixture(scope="module", autouse=True)
    def _model_class() -> None:
        sys.modules[module].TinyRegressor = tiny_regressor(pl, module)

    return _model_class


def dataset(n: int = 64, seed: int = 0) -> TensorDataset:
    """``n`` rows of 4 features whose target is their sum plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)
    return torch.utils.data.TensorDataset(x, y)


def loader(seed: int = 0, n: int = 64) -> DataLoader:
    """Batches of 16 (4 batches by default)."""
    return torch.utils.data.DataLoader(dataset(n, seed), batch_size=16)


def trainer(pl: ModuleType, **kwargs: Any) -> Any:
    """A quiet CPU ``pl.Trainer`` for 2 epochs (no logger, checkpoints, bar or summary unless asked)."""
    opts: dict[str, Any] = dict(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    opts.update(kwargs)
    return pl.Trainer(**opts)
