"""The regression task: a nowcasting network trained on masked losses in a rain transform's space.

Batch in (:mod:`averse.data.dataset`): rain rates in mm/h with NaN. The task
transforms them (``transform``, default ``log``: ``log(1 + R)``), fills NaN
inputs with the transformed value of no rain, fills NaN auxiliary inputs with 0,
assembles the input tensor of the model (:func:`averse.models.assemble_inputs`)
and computes the loss in the transformed space over the valid target pixels.

Validation and test scores are in mm/h, summed over the whole epoch (not averaged
batch by batch) and over the processes of a DDP run:

- ``val/loss`` (the training loss), ``val/mae`` (mm/h, valid target pixels);
- ``val/csi_<t>`` at each threshold ``t`` (mm/h) of ``thresholds``: hits /
  (hits + misses + false alarms) with "rain" meaning ``R >= t``.

Models predicting one lead time (the published SmaAt-UNet) are trained on the
target at ``lead`` (1-based); multi-lead models on all ``n_out`` leads.

With ``residual=True`` the network predicts the change from the last observed
frame (in the transformed space) instead of the field itself: an untrained
network is Eulerian persistence, and training only has to learn the
departures from it (growth, decay, motion).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import lightning as L
import torch
from torch import nn

from averse import models
from averse.models import transforms as rain_transforms
from averse.models.inputs import InputConfig, assemble_inputs
from averse.train.losses import get_loss
from averse.train.registry import register_task

__all__ = ["RegressionTask"]


def _transform(value) -> rain_transforms.RainTransform:
    """A rain transform from a name, a ``to_dict`` description, or itself."""
    if isinstance(value, rain_transforms.RainTransform):
        return value
    if isinstance(value, Mapping):
        return rain_transforms.from_dict(value)
    return rain_transforms.get(value)


@register_task("regression")
class RegressionTask(L.LightningModule):
    """Train a nowcasting regressor (see the module docstring).

    Parameters
    ----------
    model : str or nn.Module
        A name of :func:`averse.models.get` (checkpoints can then be reloaded
        with :func:`averse.train.load_model`), or a built network.
    model_kwargs : dict, optional
        Constructor arguments for a model given by name.
    input_config : InputConfig or dict
        What the samples hold (``NowcastDataModule.input_config``).
    loss : str
        ``"mse"``, ``"mae"``, ``"bmse"``, ``"bmae"`` (:mod:`averse.train.losses`).
    transform : str, dict or RainTransform
        Rain transform of inputs and targets (:mod:`averse.models.transforms`).
    lead : int, optional
        Lead (1..n_out) predicted by a single-output model.
    lr, weight_decay : float
        AdamW settings.
    thresholds : sequence of float
        Rain thresholds (mm/h) of the CSI scores.
    residual : bool
        Add the last observed radar frame (transformed) to the network output.
    """

    def __init__(self, model: str | nn.Module = "smaat_unet_multilead", *, model_kwargs: Mapping | None = None,
                 input_config: InputConfig | Mapping | None = None, loss: str = "mse",
                 transform: str | Mapping | rain_transforms.RainTransform = "log", lead: int | None = None,
                 lr: float = 1e-3, weight_decay: float = 0.0, thresholds: Sequence[float] = (0.1, 1.0, 5.0),
                 residual: bool = False):
        super().__init__()
        config = input_config if isinstance(input_config, InputConfig) else InputConfig(**(input_config or {}))
        self.input_config = config
        self.transform = _transform(transform)
        self.save_hyperparameters({
            "model": model if isinstance(model, str) else None,
            "model_kwargs": dict(model_kwargs or {}),
            "input_config": dataclasses.asdict(config),
            "loss": loss,
            "transform": self.transform.to_dict(),
            "lead": lead,
            "lr": float(lr),
            "weight_decay": float(weight_decay),
            "thresholds": [float(t) for t in thresholds],
            "residual": bool(residual),
        })
        self.model = models.get(model, config=config, **dict(model_kwargs or {})) if isinstance(model, str) else model
        self.loss_fn = get_loss(loss)
        self.layout = getattr(self.model, "input_layout", "channels")
        self.leads = self._leads(lead)
        self._sums: dict[str, torch.Tensor] = {}

    def _leads(self, lead: int | None) -> slice:
        """Which target frames the model predicts."""
        n_out = self.input_config.n_out
        predicted = getattr(self.model, "n_out", n_out)
        if lead is not None:
            if not 1 <= lead <= n_out or predicted != 1:
                raise ValueError(f"lead={lead} needs a single-output model and 1 <= lead <= n_out={n_out}")
            return slice(lead - 1, lead)
        if predicted != n_out:
            raise ValueError(
                f"the model predicts {predicted} frame(s) but the data give n_out={n_out}; "
                "use a multi-lead model or set task_kwargs={'lead': k} for a single-output one"
            )
        return slice(0, n_out)

    @classmethod
    def from_config(cls, config, datamodule) -> RegressionTask:
        """Build from a :class:`~averse.train.TrainConfig` and a data module with ``input_config``."""
        return cls(config.model, model_kwargs=config.model_kwargs, input_config=datamodule.input_config,
                   lr=config.lr, weight_decay=config.weight_decay, **config.task_kwargs)

    # -- data in, predictions out -----------------------------------------------------
    def _radar(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Past radar frames of a batch, transformed, NaN as no rain."""
        return torch.nan_to_num(self.transform.forward(batch["radar"]), nan=self.transform.zero)

    def model_inputs(self, batch: Mapping[str, torch.Tensor], radar: torch.Tensor | None = None) -> torch.Tensor:
        """The network input of a batch: transformed, NaN-free, assembled (``radar``: :meth:`_radar`, if known)."""
        radar = self._radar(batch) if radar is None else radar
        parts = {name: torch.nan_to_num(batch[name], nan=0.0) if name in batch else None
                 for name in ("dem", "ir", "stats")}
        wanted = {"dem": self.input_config.dem, "ir": bool(self.input_config.ir_channels),
                  "stats": bool(self.input_config.stats)}
        parts = {name: part if wanted[name] else None for name, part in parts.items()}
        return assemble_inputs(self.input_config, radar, layout=self.layout, **parts)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Predictions in the transformed space, ``(B, leads, H, W)``."""
        radar = self._radar(batch)
        prediction = self.model(self.model_inputs(batch, radar))
        if self.hparams.get("residual", False):
            prediction = prediction + radar[:, -1:]
        return prediction

    @torch.no_grad()
    def predict_rates(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Predicted rain rates (mm/h, >= 0) of a batch."""
        return self.transform.inverse(self(batch).float()).clamp(min=0.0)

    def predict_step(self, batch, batch_idx):
        return self.predict_rates(batch)

    # -- training ---------------------------------------------------------------------
    def _loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rates = batch["target"][:, self.leads]
        prediction = self(batch)
        return self.loss_fn(prediction, self.transform.forward(rates), rates), prediction, rates

    def training_step(self, batch, batch_idx):
        loss, _, _ = self._loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["radar"]))
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    # -- scores over an epoch -----------------------------------------------------------
    def _accumulate(self, batch) -> None:
        loss, prediction, rates = self._loss(batch)
        predicted = self.transform.inverse(prediction.float()).clamp(min=0.0)
        valid = torch.isfinite(rates)
        observed = torch.where(valid, rates, 0.0)
        sums = {"loss": loss.detach() * len(rates), "samples": torch.tensor(float(len(rates)), device=self.device),
                "abs_error": ((predicted - observed).abs() * valid).sum(), "valid": valid.sum().float()}
        for threshold in self.hparams.thresholds:
            yes_forecast, yes_observed = predicted >= threshold, (observed >= threshold) & valid
            sums[f"hits_{threshold:g}"] = (yes_forecast & yes_observed).sum().float()
            sums[f"misses_{threshold:g}"] = (~yes_forecast & yes_observed).sum().float()
            sums[f"false_{threshold:g}"] = (yes_forecast & ~yes_observed & valid).sum().float()
        for name, value in sums.items():
            self._sums[name] = self._sums.get(name, 0.0) + value.detach().double()

    def _log_scores(self, stage: str) -> None:
        if not self._sums:
            return
        sums = {k: self.trainer.strategy.reduce(v, reduce_op="sum") for k, v in self._sums.items()}
        self._sums = {}
        scores = {"loss": sums["loss"] / sums["samples"], "mae": sums["abs_error"] / sums["valid"].clamp(min=1)}
        for threshold in self.hparams.thresholds:
            t = f"{threshold:g}"
            events = sums[f"hits_{t}"] + sums[f"misses_{t}"] + sums[f"false_{t}"]
            scores[f"csi_{t}"] = sums[f"hits_{t}"] / events if events > 0 else torch.tensor(float("nan"))
        self.log_dict({f"{stage}/{k}": float(v) for k, v in scores.items()}, prog_bar=stage == "val")

    def validation_step(self, batch, batch_idx):
        self._accumulate(batch)

    def on_validation_epoch_end(self):
        self._log_scores("val")

    def test_step(self, batch, batch_idx):
        self._accumulate(batch)

    def on_test_epoch_end(self):
        self._log_scores("test")
