"""Training losses by name, computed in the transformed space with missing targets masked.

Every loss takes ``(prediction, target, rates)``: the prediction and the target
in the training space of the rain transform, and the target in mm/h (which the
balanced losses use to weight pixels). NaN targets contribute neither to the
value nor to the gradient (:mod:`averse.models.losses`).

- ``"mse"``, ``"mae"``: plain masked mean squared / absolute error.
- ``"bmse"``, ``"bmae"``: balanced MSE / MAE of Shi et al. (2017, "Deep learning
  for precipitation nowcasting: a benchmark and a new model", NeurIPS; TrajGRU):
  pixels weighted by the intensity of the target, 1 below 2 mm/h, 2 in [2, 5),
  5 in [5, 10), 10 in [10, 30) and 30 from 30 mm/h, summed and divided by the
  number of valid pixels, so that heavy rain is not drowned by the many dry pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from averse.models.losses import masked_mae, masked_mse

__all__ = ["LOSSES", "get_loss", "balance_weights"]

#: Rain-rate edges (mm/h) and weights of the balanced losses (Shi et al. 2017).
BALANCE_EDGES = (2.0, 5.0, 10.0, 30.0)
BALANCE_WEIGHTS = (1.0, 2.0, 5.0, 10.0, 30.0)

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def balance_weights(rates: torch.Tensor) -> torch.Tensor:
    """Weight of every pixel from its target rate (mm/h); 0 where the rate is NaN."""
    edges = torch.tensor(BALANCE_EDGES, device=rates.device, dtype=rates.dtype)
    weights = torch.tensor(BALANCE_WEIGHTS, device=rates.device, dtype=rates.dtype)
    valid = torch.isfinite(rates)
    classes = torch.bucketize(torch.where(valid, rates, 0.0), edges, right=True)
    return torch.where(valid, weights[classes], 0.0)


def _balanced(power: int) -> Loss:
    def loss(prediction: torch.Tensor, target: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        valid = torch.isfinite(target)
        # Missing targets replaced by the detached prediction before subtracting: no NaN in the backward pass.
        diff = prediction - torch.where(valid, target, prediction.detach())
        weighted = balance_weights(rates) * diff.abs() ** power
        return weighted.sum() / valid.sum().clamp(min=1)

    loss.__doc__ = f"Balanced masked {'MSE' if power == 2 else 'MAE'} (Shi et al. 2017)."
    return loss


LOSSES: dict[str, Loss] = {
    "mse": lambda prediction, target, rates: masked_mse(prediction, target),
    "mae": lambda prediction, target, rates: masked_mae(prediction, target),
    "bmse": _balanced(2),
    "bmae": _balanced(1),
}


def get_loss(name: str) -> Loss:
    """The loss called ``name`` (see :data:`LOSSES`).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    key = name.strip().lower()
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(sorted(LOSSES))}")
    return LOSSES[key]
