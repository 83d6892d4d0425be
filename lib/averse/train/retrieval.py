"""Training tasks of the infrared rain retrievals: ``"irqpe"`` and ``"generative"``.

The models of :mod:`averse.models.irqpe` (regressors, ``task = "irqpe"``) and
of :mod:`averse.models.diffusion` / :mod:`averse.models.flow` (generative,
``task = "generative"``) compute their own training loss from a batch
(``model.loss(batch)``) in the space of their rain transform, NaN targets left
out. One task class serves both names; it only adds the optimiser, logging and
the rebuild from plain hyperparameters that :func:`averse.train.load_model` needs.

Batches (from the IR retrieval data module): dicts with

- ``ir`` — ``(B, T, C, H, W)`` scaled brightness temperatures, oldest first;
- ``target`` — ``(B, 1, H, W)`` or ``(B, H, W)`` rain rates in mm/h at the
  time of the newest image, NaN where unobserved.

Logged: ``train/loss``; ``val/loss`` and ``test/loss`` (the training loss on
held-out batches; for generative models a Monte Carlo estimate, as noisy as the
training loss); for regressors also ``val/mae`` / ``test/mae``, the mean
absolute error in mm/h over valid pixels. Ensembles are scored after training
(``model.sample`` and :func:`averse.verify.crps`), not every epoch.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightning as L
import torch

from averse import models
from averse.models import transforms as rain_transforms
from averse.models.losses import masked_mae
from averse.train.registry import register_task
from averse.train.regression import _transform

__all__ = ["RetrievalTask"]


@register_task("generative")
@register_task("irqpe")
class RetrievalTask(L.LightningModule):
    """Train an IR rain retrieval (regressor or generative) by name.

    Parameters
    ----------
    model : str
        A registered retrieval (``"irqpe_unet"``, ``"irqpe_spacetime"``,
        ``"irqpe_convlstm"``, ``"flow_matching"``, ``"residual_flow"``, ``"ddpm"``...).
    model_kwargs : dict, optional
        Its constructor arguments (``n_times``, ``n_channels``, ``widths``...).
    transform : str, dict or RainTransform
        Rain transform of the targets (default ``"log"``: log1p), stored in the model.
    lr, weight_decay : float
        AdamW settings.
    """

    def __init__(self, model: str = "irqpe_unet", *, model_kwargs: Mapping | None = None,
                 transform: str | Mapping | rain_transforms.RainTransform = "log",
                 lr: float = 1e-3, weight_decay: float = 0.0):
        super().__init__()
        transform = _transform(transform)
        self.save_hyperparameters({
            "model": model,
            "model_kwargs": dict(model_kwargs or {}),
            "transform": transform.to_dict(),
            "lr": float(lr),
            "weight_decay": float(weight_decay),
        })
        self.model = models.get(model, transform=transform, **dict(model_kwargs or {}))
        self.generative = getattr(self.model, "task", None) == "generative"

    @classmethod
    def from_config(cls, config, datamodule) -> RetrievalTask:
        """Build from a :class:`~averse.train.TrainConfig`; ``n_times`` / ``n_channels``
        default to the data module's attributes of those names when it has them."""
        kwargs = dict(config.model_kwargs)
        for name in ("n_times", "n_channels"):
            if hasattr(datamodule, name):
                kwargs.setdefault(name, int(getattr(datamodule, name)))
        return cls(config.model, model_kwargs=kwargs, lr=config.lr, weight_decay=config.weight_decay,
                   **config.task_kwargs)

    def training_step(self, batch, batch_idx):
        loss = self.model.loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["ir"]))
        return loss

    def _evaluate(self, batch, stage: str) -> None:
        size = len(batch["ir"])
        self.log(f"{stage}/loss", self.model.loss(batch), on_epoch=True, sync_dist=True,
                 prog_bar=stage == "val", batch_size=size)
        if not self.generative:
            rates = self.model.predict_rates(batch["ir"]).clamp(min=0.0)
            observed = batch["target"].reshape(rates.shape).float()
            self.log(f"{stage}/mae", masked_mae(rates, observed), on_epoch=True, sync_dist=True, batch_size=size)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
