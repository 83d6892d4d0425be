"""Conditional toy problems whose answer is known, to test and time generative samplers.

Every pixel is an independent case: a condition ``c ~ U(−1, 1)`` (a one-channel,
one-time "IR" image ``(B, 1, 1, H, W)``) and a target drawn from a known
``p(x1 | c)``:

- ``"gaussian"`` — ``x1 = c + s (1.5 + c) ε``: mean ``c``, standard deviation
  ``s (1.5 + c)`` (heteroscedastic: the spread depends on the condition);
- ``"bimodal"`` — ``x1 = c + d·m + s ε`` with ``m = +1`` with probability
  ``(1 + c) / 2`` and −1 otherwise: mean ``(1 + d) c``, variance
  ``s² + d² (1 − c²)``; two modes whose weights follow the condition, which
  a regressor cannot represent and a few-step sampler may blur.

Samples come in the shape of a retrieval batch (``ir``, ``target``) and are in
the model's space already: train on them with ``transform=Identity()``.
:func:`fit` is the small Adam loop the tests and ``benchmarks/generative_sampling.py`` share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ConditionalToy", "fit"]

KINDS = ("gaussian", "bimodal")


@dataclass(frozen=True)
class ConditionalToy:
    """A per-pixel conditional distribution ``p(x1 | c)`` (see the module docstring).

    Parameters
    ----------
    kind : {"gaussian", "bimodal"}
        The family.
    spread : float
        ``s``, the Gaussian noise scale.
    separation : float
        ``d``, half the distance between the modes (bimodal only).
    """

    kind: str = "bimodal"
    spread: float = 0.2
    separation: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not self.spread > 0:
            raise ValueError(f"spread must be > 0, got {self.spread}")

    def mean(self, cond: torch.Tensor) -> torch.Tensor:
        """``E[x1 | c]``."""
        return cond if self.kind == "gaussian" else (1.0 + self.separation) * cond

    def std(self, cond: torch.Tensor) -> torch.Tensor:
        """Standard deviation of ``x1 | c``."""
        if self.kind == "gaussian":
            return self.spread * (1.5 + cond)
        return (self.spread**2 + self.separation**2 * (1.0 - cond**2)).sqrt()

    def draw_targets(self, cond: torch.Tensor, n_members: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``n_members`` draws of ``x1 | c`` for ``cond`` ``(B, 1, H, W)``: ``(B, n_members, 1, H, W)``."""
        c = cond.unsqueeze(1).expand(-1, n_members, -1, -1, -1)
        noise = torch.randn(c.shape, generator=generator, dtype=c.dtype)
        if self.kind == "gaussian":
            return c + self.spread * (1.5 + c) * noise
        upper = torch.rand(c.shape, generator=generator, dtype=c.dtype) < (1.0 + c) / 2.0
        mode = torch.where(upper, 1.0, -1.0)
        return c + self.separation * mode + self.spread * noise

    def draw(self, batch: int, size: int,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """A training batch: ``ir`` ``(batch, 1, 1, size, size)``, ``target`` ``(batch, 1, size, size)``."""
        cond = 2.0 * torch.rand(batch, 1, size, size, generator=generator) - 1.0
        target = self.draw_targets(cond, 1, generator)[:, 0]
        return {"ir": cond.unsqueeze(1), "target": target}


def fit(model: nn.Module, problem: ConditionalToy, n_steps: int, batch: int = 32, size: int = 8,
        lr: float = 3e-3, generator: torch.Generator | None = None) -> list[float]:
    """Train ``model`` (anything with ``loss(batch)``) on fresh toy batches: Adam, cosine-annealed rate.

    Returns
    -------
    list of float
        The loss of every step.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, n_steps)
    model.train()
    losses = []
    for _ in range(n_steps):
        optimiser.zero_grad()
        loss = model.loss(problem.draw(batch, size, generator))
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    return losses
