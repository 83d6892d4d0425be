"""Conditional denoising diffusion (DDPM) for rain retrieval, sampled with DDIM.

Training (Ho et al. 2020, "Denoising diffusion probabilistic models"): data
``x`` are noised to ``x_k = sqrt(ᾱ_k) x + sqrt(1 − ᾱ_k) ε`` at a random step
``k ∈ {1..K}`` and the network predicts ``ε`` from ``(x_k, k / K, cond)``; the
loss is the masked mean squared error on ``ε`` (NaN data left out).

Schedule: the cosine schedule of Nichol & Dhariwal (2021, "Improved denoising
diffusion probabilistic models", eq. 17): ``ᾱ_k = f(k) / f(0)`` with
``f(k) = cos²((k / K + s) / (1 + s) · π / 2)``, ``s = 0.008``, and
``β_k = 1 − ᾱ_k / ᾱ_{k−1}`` clipped at 0.999.

Sampling: DDIM (Song, Meng & Ermon 2021, eq. 12) on any sub-sequence of
``n_steps`` steps, one network evaluation per step::

    x̂ = (x_k − sqrt(1 − ᾱ_k) ε̂) / sqrt(ᾱ_k)
    σ = η sqrt((1 − ᾱ_j) / (1 − ᾱ_k)) sqrt(1 − ᾱ_k / ᾱ_j)
    x_j = sqrt(ᾱ_j) x̂ + sqrt(1 − ᾱ_j − σ²) ε̂ + σ z

``η = 0`` is the deterministic DDIM, ``η = 1`` ancestral DDPM-like sampling.
The steps are ``K·n/(n+1), K·(n−1)/(n+1), ..., K/(n+1)`` (rounded), then the
data (``ᾱ = 1``): evenly spaced, with the last evaluation where denoising still
matters. Step ``K`` itself is skipped: with this schedule ``ᾱ_K`` is about
1e-9, and ``x̂`` at ``K`` would divide the network's error on ``ε`` by
``sqrt(ᾱ_K)`` ≈ 3e-5 (on a toy problem, starting there with 10 steps gave
a mean error of 0.4 standard deviations, against 0.1 for this grid). The start
``x ~ N(0, I)`` then misses a signal of ``sqrt(ᾱ)`` (0.14 for 10 steps,
0.03 for 50). ``x̂`` is also clipped, as in improved-diffusion, to the range of
the data seen in training (kept as a buffer), and ``ε̂`` recomputed from it.

Registered names: ``"ddpm"`` and ``"residual_ddpm"`` (U-Net mean plus a
diffusion residual, see :mod:`averse.models.generative`).
"""

from __future__ import annotations

import math

import torch

from averse.models._registry import register
from averse.models.generative import GenerativeRetrieval
from averse.models.losses import masked_mse

__all__ = ["cosine_alpha_bar", "ddim_timesteps", "DDPMRetrieval", "ResidualDDPM"]


def cosine_alpha_bar(n_steps: int = 1000, offset: float = 0.008,
                     max_beta: float = 0.999) -> torch.Tensor:
    """Cumulative signal fractions ``ᾱ_0 = 1, ᾱ_1, ..., ᾱ_K`` of the cosine schedule.

    Parameters
    ----------
    n_steps : int
        Number of diffusion steps ``K``.
    offset : float
        Small offset ``s`` keeping ``β`` from vanishing near ``k = 0``.
    max_beta : float
        Upper clip of ``β_k`` (avoids a singularity at ``k = K``).

    Returns
    -------
    torch.Tensor
        ``(K + 1,)`` float64, decreasing from 1.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    fraction = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((fraction + offset) / (1.0 + offset) * math.pi / 2.0) ** 2
    alpha_bar = f / f[0]
    betas = (1.0 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return torch.cat([alpha_bar.new_ones(1), torch.cumprod(1.0 - betas, dim=0)])


def ddim_timesteps(n_train_steps: int, n_steps: int) -> list[int]:
    """DDIM's steps: ``n_steps`` evaluated steps below ``n_train_steps``, evenly spaced, then 0.

    Returns
    -------
    list of int
        ``round(K (n − i) / (n + 1))`` for ``i = 0..n−1``, then 0: ``n + 1``
        distinct, decreasing values.
    """
    if not 1 <= n_steps < n_train_steps:
        raise ValueError(f"n_steps must be in [1, {n_train_steps - 1}], got {n_steps}")
    return torch.linspace(n_train_steps, 0, n_steps + 2).round().long().tolist()[1:]


@register("ddpm")
class DDPMRetrieval(GenerativeRetrieval):
    """Conditional DDPM retrieval with DDIM sampling (see the module docstring).

    Parameters
    ----------
    n_train_steps : int
        Number of diffusion steps ``K`` of the schedule.
    clip_denoised : bool
        Clip DDIM's estimate of the data to the range seen in training.
    **kwargs
        Of :class:`~averse.models.generative.GenerativeRetrieval`.
    """

    def __init__(self, n_train_steps: int = 1000, clip_denoised: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.n_train_steps = int(n_train_steps)
        self.clip_denoised = bool(clip_denoised)
        self.register_buffer("alpha_bar", cosine_alpha_bar(self.n_train_steps).float())
        # (min, max) of the finite training data; (inf, -inf) until data are seen.
        self.register_buffer("data_range", torch.tensor([math.inf, -math.inf]))

    def training_loss(self, x1: torch.Tensor, cond: torch.Tensor,
                      noise: torch.Tensor | None = None) -> torch.Tensor:
        """Noise-prediction loss; ``noise`` is ``ε`` (default N(0, I))."""
        eps = torch.randn_like(x1) if noise is None else noise
        valid = torch.isfinite(x1)
        if self.training and valid.any():
            with torch.no_grad():
                seen = x1[valid]
                self.data_range[0] = torch.minimum(self.data_range[0], seen.min())
                self.data_range[1] = torch.maximum(self.data_range[1], seen.max())
        step = torch.randint(1, self.n_train_steps + 1, (x1.shape[0],), device=x1.device)
        alpha_bar = self.alpha_bar[step].reshape((-1,) + (1,) * (x1.dim() - 1))
        x_k = alpha_bar.sqrt() * torch.nan_to_num(x1, nan=0.0) + (1.0 - alpha_bar).sqrt() * eps
        target = torch.where(valid, eps, torch.nan)
        return masked_mse(self.net(x_k, step / self.n_train_steps, cond), target)

    def _integrate(self, start: torch.Tensor, cond: torch.Tensor, n_steps: int,
                   generator: torch.Generator | None, eta: float = 0.0) -> torch.Tensor:
        """DDIM from ``start`` (taken as the noisiest evaluated step) to the data in ``n_steps`` evaluations."""
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        low, high = self.data_range.tolist()
        clip = self.clip_denoised and low <= high
        steps = ddim_timesteps(self.n_train_steps, n_steps)
        x = start
        for step, previous in zip(steps[:-1], steps[1:]):
            a, a_prev = self.alpha_bar[step], self.alpha_bar[previous]
            eps = self.evaluate(x, step / self.n_train_steps, cond)
            x_hat = (x - (1.0 - a).sqrt() * eps) / a.sqrt()
            if clip:
                x_hat = x_hat.clamp(low, high)
                eps = (x - a.sqrt() * x_hat) / (1.0 - a).sqrt()
            sigma = eta * ((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)).sqrt()
            x = a_prev.sqrt() * x_hat + (1.0 - a_prev - sigma**2).clamp(min=0.0).sqrt() * eps
            if eta > 0 and previous > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device,
                                            dtype=x.dtype)
        return x


@register("residual_ddpm")
class ResidualDDPM(DDPMRetrieval):
    """:class:`DDPMRetrieval` of the residual from a jointly trained U-Net mean."""

    def __init__(self, combination: str = "residual", **kwargs):
        super().__init__(combination=combination, **kwargs)
