"""Conditional flow matching for rain retrieval, sampled with a few Euler or Heun steps.

Flow matching (Lipman et al. 2023, "Flow matching for generative modeling",
ICLR; Liu et al. 2023, rectified flow) learns a velocity field ``v(x, τ, cond)``
whose ODE ``dx/dτ = v`` carries source draws ``x0`` at ``τ = 0`` to data ``x1``
at ``τ = 1``. With the optimal-transport conditional path

    x_τ = (1 − (1 − σ_min) τ) x0 + τ x1,    target velocity  u = x1 − (1 − σ_min) x0,

the loss is ``E ||v(x_τ, τ, cond) − u||²`` over ``τ ~ U(0, 1)``, ``x0 ~ N(0, I)``
(or the U-Net estimate plus noise for the ``"bridge"`` combination, see
:mod:`averse.models.generative`) and the data. ``σ_min = 0`` is the rectified
path ``x_τ = (1 − τ) x0 + τ x1`` with target ``x1 − x0``. The near-straight
paths are what let a handful of steps suffice, where DDIM needs dozens.

Why not torchcfm: its dependency chain pulls a torchvision, and no torchvision
build matches the torch this project pins; the path and the loss are the ten
lines of :func:`ot_path`, :func:`target_velocity` and
:meth:`FlowMatchingRetrieval.training_loss`.

Samplers (``method=``), on ``n_steps`` uniform steps of ``τ``:

- ``"euler"`` — ``n_steps`` network evaluations per member;
- ``"heun"`` — Heun's second-order method (explicit trapezoid, Karras et al.
  2022, EDM, Algorithm 1) on every step, the last included: ``2 n_steps``
  evaluations. EDM makes its last step a plain Euler step because its
  derivative is undefined at σ = 0; the velocity at ``τ = 1`` is well defined,
  and the last step is where it changes fastest (for Gaussian data of standard
  deviation 0.3 and the exact velocity, 5 steps give a spread of 0.308 with a
  Heun last step, 10 evaluations, against 0.241 with an Euler one, 9).

Registered names: ``"flow_matching"`` (from noise), ``"residual_flow"``
(U-Net mean plus a flow-matched residual), ``"bridge_flow"`` (flow from the
U-Net estimate to the truth).
"""

from __future__ import annotations

import torch

from averse.models._registry import register
from averse.models.generative import GenerativeRetrieval
from averse.models.losses import masked_mse

__all__ = ["ot_path", "target_velocity", "FlowMatchingRetrieval", "ResidualFlowMatching",
           "BridgeFlowMatching", "SAMPLERS"]

SAMPLERS = ("euler", "heun")


def _per_sample(tau: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B,)`` times shaped to broadcast over ``like`` ``(B, ...)``."""
    return tau.reshape((-1,) + (1,) * (like.dim() - 1)).to(like.dtype)


def ot_path(x0: torch.Tensor, x1: torch.Tensor, tau: torch.Tensor,
            sigma_min: float = 0.0) -> torch.Tensor:
    """Point at time ``tau`` ``(B,)`` on the conditional OT path from ``x0`` to ``x1``."""
    tau = _per_sample(tau, x1)
    return (1.0 - (1.0 - sigma_min) * tau) * x0 + tau * x1


def target_velocity(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float = 0.0) -> torch.Tensor:
    """Velocity of the conditional OT path, ``x1 − (1 − σ_min) x0`` (constant in time)."""
    return x1 - (1.0 - sigma_min) * x0


@register("flow_matching")
class FlowMatchingRetrieval(GenerativeRetrieval):
    """Conditional flow-matching retrieval (see the module docstring).

    Parameters
    ----------
    sigma_min : float
        Width of the path at ``τ = 1`` (0: rectified flow).
    **kwargs
        Of :class:`~averse.models.generative.GenerativeRetrieval`
        (``n_times``, ``n_channels``, ``widths``, ``denoiser``, ``combination``...).
    """

    combinations = ("none", "residual", "bridge")

    def __init__(self, sigma_min: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f"sigma_min must be in [0, 1), got {sigma_min}")
        self.sigma_min = float(sigma_min)

    def training_loss(self, x1: torch.Tensor, cond: torch.Tensor,
                      noise: torch.Tensor | None = None) -> torch.Tensor:
        """Flow-matching loss; ``noise`` is the source draw ``x0`` (default N(0, I))."""
        x0 = torch.randn_like(x1) if noise is None else noise
        tau = torch.rand(x1.shape[0], device=x1.device)
        x_tau = ot_path(x0, torch.nan_to_num(x1, nan=0.0), tau, self.sigma_min)
        return masked_mse(self.net(x_tau, tau, cond), target_velocity(x0, x1, self.sigma_min))

    def _integrate(self, start: torch.Tensor, cond: torch.Tensor, n_steps: int,
                   generator: torch.Generator | None, method: str = "euler") -> torch.Tensor:
        """Integrate the ODE from ``τ = 0`` to 1 (``generator`` unused: the ODE is deterministic)."""
        if method not in SAMPLERS:
            raise ValueError(f"method must be one of {SAMPLERS}, got {method!r}")
        times = torch.linspace(0.0, 1.0, n_steps + 1).tolist()
        x = start
        for tau, tau_next in zip(times[:-1], times[1:]):
            dt = tau_next - tau
            velocity = self.evaluate(x, tau, cond)
            if method == "heun":
                velocity = 0.5 * (velocity + self.evaluate(x + dt * velocity, tau_next, cond))
            x = x + dt * velocity
        return x


@register("residual_flow")
class ResidualFlowMatching(FlowMatchingRetrieval):
    """:class:`FlowMatchingRetrieval` of the residual from a jointly trained U-Net mean."""

    def __init__(self, combination: str = "residual", **kwargs):
        super().__init__(combination=combination, **kwargs)


@register("bridge_flow")
class BridgeFlowMatching(FlowMatchingRetrieval):
    """:class:`FlowMatchingRetrieval` from the U-Net estimate (plus noise) to the truth."""

    def __init__(self, combination: str = "bridge", **kwargs):
        super().__init__(combination=combination, **kwargs)
