"""Training losses that ignore missing target pixels.

Targets keep NaN where the radar saw nothing (outside coverage, gaps; see
:mod:`averse.models.transforms`); those pixels must not contribute to the loss
or its gradient.
"""

from __future__ import annotations

import torch

__all__ = ["masked_mse", "masked_mae"]


def _errors(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Differences, exactly 0 (value and gradient) where ``target`` is not finite.

    Missing targets are replaced by the detached prediction *before* the
    subtraction: masking afterwards would still send NaN through the backward pass.
    """
    if prediction.shape != target.shape:
        # Broadcasting would silently compare one predicted lead time with all of them.
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape"
        )
    valid = torch.isfinite(target)
    return prediction - torch.where(valid, target, prediction.detach()), valid


def masked_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the pixels where ``target`` is finite.

    Parameters
    ----------
    prediction, target : torch.Tensor
        Same shape; ``target`` may hold NaN for missing pixels.

    Returns
    -------
    torch.Tensor
        Scalar loss. NaN targets contribute neither to the value nor to the
        gradient; if no pixel is valid the loss is 0.

    Raises
    ------
    ValueError
        If the shapes differ (no broadcasting).
    """
    diff, valid = _errors(prediction, target)
    return (diff**2).sum() / valid.sum().clamp(min=1)


def masked_mae(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the pixels where ``target`` is finite (see :func:`masked_mse`)."""
    diff, valid = _errors(prediction, target)
    return diff.abs().sum() / valid.sum().clamp(min=1)
