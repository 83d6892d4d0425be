"""Scores of latent spaces: likelihood, equivariance and capsule structure (Topographic VAE).

The measures of Keller & Welling (2021, "Topographic VAEs learn Equivariant
Capsules") for latents ``t`` of shape ``(B, T, n_caps, cap_dim)``: ``B``
sequences of ``T`` frames in which one transformation advances one phase per
frame, encoded into ``n_caps`` capsules of ``cap_dim`` units.

* :func:`importance_sampled_log_likelihood` — the IWAE bound
  ``log 1/K Σ_k w_k`` with ``K`` posterior samples;
* :func:`equivariance_error` — how well rolling the capsules of the first
  frame by ``k`` units predicts the latents of frame ``k``, on capsules
  normalised to unit L2 norm, L1 distance summed over capsules and frames
  (the paper's ``E_eq``); :func:`random_equivariance_error` is its exact value
  for isotropic random latents and :func:`relative_equivariance_error`
  divides it by the error of the same latents with frames shuffled;
* :func:`capsule_roll_offsets`, :func:`capsule_correlation` and
  :func:`capsule_roll_accuracy` — the roll seen in the capsules (argmax of
  the circular cross-correlation with the first frame, summed over
  capsules), its Pearson correlation with the true transformation offset
  (the paper's "CapCorr") and how often it is exactly right;
* :func:`squared_activation_correlation` — correlation matrix of ``t²`` over
  samples, whose block structure shows the topographic organisation.

Convention: a perfectly equivariant latent satisfies
``t[:, k] == torch.roll(t[:, 0], shifts=k, dims=-1)``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "log_mean_exp",
    "importance_sampled_log_likelihood",
    "normalise_capsules",
    "equivariance_error",
    "random_equivariance_error",
    "relative_equivariance_error",
    "capsule_roll_offsets",
    "capsule_correlation",
    "capsule_roll_accuracy",
    "squared_activation_correlation",
]


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``log(mean(exp(values)))`` along ``dim``, computed stably."""
    return torch.logsumexp(values, dim) - math.log(values.shape[dim])


@torch.no_grad()
def importance_sampled_log_likelihood(model, x: torch.Tensor, n_samples: int = 10) -> torch.Tensor:
    """IWAE estimate (a lower bound) of ``log p(x_{1:T})`` for each sequence.

    Parameters
    ----------
    model
        Anything with ``log_importance_weights(x, n_samples) -> (n_samples, B)``,
        e.g. :class:`averse.models.tvae.TVAE`.
    x : torch.Tensor
        Sequences ``(B, T, C, H, W)``.
    n_samples : int
        ``K``; ``K = 1`` gives an ELBO sample, the bound tightens as ``K`` grows.

    Returns
    -------
    torch.Tensor
        ``(B,)`` nats per sequence; divide by ``T`` for nats per frame.
    """
    return log_mean_exp(model.log_importance_weights(x, n_samples), dim=0)


def normalise_capsules(t: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each capsule (last dim) scaled to unit L2 norm."""
    return t / t.norm(dim=-1, keepdim=True).clamp_min(eps)


def _pairs(steps: int, pairs: str) -> list[tuple[int, int]]:
    if pairs == "first":
        return [(0, k) for k in range(1, steps)]
    if pairs == "all":
        return [(i, j) for i in range(steps) for j in range(i + 1, steps)]
    raise ValueError(f"pairs must be 'first' or 'all', got {pairs!r}")


def equivariance_error(t: torch.Tensor, pairs: str = "first") -> torch.Tensor:
    """Paper's equivariance error ``E_eq`` of each sequence.

    ``Σ_{(i, j)} Σ_capsules ‖roll(t̂_i, j - i) - t̂_j‖_1`` with ``t̂`` the capsules
    normalised to unit L2 norm.

    Parameters
    ----------
    t : torch.Tensor
        ``(B, T, n_caps, cap_dim)``.
    pairs : {"first", "all"}
        ``"first"``: pairs ``(0, k)`` for ``k = 1..T-1`` (roll the first frame);
        ``"all"``: every pair ``i < j`` (as the reference code's training log).

    Returns
    -------
    torch.Tensor
        ``(B,)``; 0 for a perfectly rolling latent.
    """
    unit = normalise_capsules(t)
    errors = [
        (torch.roll(unit[:, i], shifts=j - i, dims=-1) - unit[:, j]).abs().flatten(1).sum(-1)
        for i, j in _pairs(t.shape[1], pairs)
    ]
    return torch.stack(errors).sum(0)


def random_equivariance_error(steps: int, n_caps: int, cap_dim: int, pairs: str = "first") -> float:
    """Expected :func:`equivariance_error` of latents with independent isotropic capsules.

    For ``a``, ``b`` independent and uniform on the unit sphere of ``R^D``,
    ``a - b`` has a uniform direction independent of its norm, so
    ``E‖a - b‖_1 = D · E‖a - b‖_2 · E|w_1|`` with ``w`` uniform on the sphere:
    ``E‖a - b‖_2 = 2^{D-1} B(D/2, (D-1)/2) / B((D-1)/2, 1/2)`` and
    ``E|w_1| = Γ(D/2) / (√π Γ((D+1)/2))``.

    Returns
    -------
    float
        Per sequence, for ``pairs`` as in :func:`equivariance_error`.
    """
    d = cap_dim
    if d < 2:
        raise ValueError("cap_dim must be at least 2")

    def log_beta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    distance = math.exp((d - 1) * math.log(2.0) + log_beta(d / 2, (d - 1) / 2) - log_beta((d - 1) / 2, 0.5))
    abs_component = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
    return len(_pairs(steps, pairs)) * n_caps * d * distance * abs_component


def relative_equivariance_error(t: torch.Tensor, generator: torch.Generator | None = None,
                                pairs: str = "first") -> torch.Tensor:
    """:func:`equivariance_error` divided by its value on the same latents with frames shuffled.

    A latent that is close to constant over a sequence (e.g. all-positive
    capsules) has a small ``E_eq`` whether or not it rolls; shuffling the
    frames keeps such structure and destroys the roll, so this ratio is about
    1 without equivariance and 0 for a perfect roll.

    Returns
    -------
    torch.Tensor
        ``(B,)``.
    """
    order = torch.stack([torch.randperm(t.shape[1], generator=generator) for _ in range(t.shape[0])])
    shuffled = torch.take_along_dim(t, order.to(t.device)[:, :, None, None], dim=1)
    return equivariance_error(t, pairs) / equivariance_error(shuffled, pairs)


def capsule_roll_offsets(t: torch.Tensor) -> torch.Tensor:
    """Roll of each frame's capsules relative to the first frame, ``(B, T)`` in ``[0, cap_dim)``.

    The shift ``k`` maximising the circular cross-correlation of the
    normalised capsules summed over capsules,
    ``Σ_n Σ_c t̂[0, n, c] · t̂[l, n, (c + k) mod D]`` — the roll that best maps
    the first frame onto frame ``l`` in the L2 sense (the reference code takes
    the majority of per-capsule argmaxes instead, which favours small shifts
    on ties).
    """
    unit = normalise_capsules(t)
    spectrum = torch.fft.rfft(unit[:, :1], dim=-1).conj() * torch.fft.rfft(unit, dim=-1)
    correlation = torch.fft.irfft(spectrum, n=t.shape[-1], dim=-1).sum(dim=2)
    return correlation.argmax(dim=-1)


def _observed_and_true_offsets(t: torch.Tensor, offsets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    batch, steps, _, cap_dim = t.shape
    if offsets is None:
        offsets = torch.arange(steps, device=t.device).expand(batch, steps)
    observed = capsule_roll_offsets(t)[:, 1:].flatten()
    return observed, offsets[:, 1:].flatten().to(observed) % cap_dim


def capsule_correlation(t: torch.Tensor, offsets: torch.Tensor | None = None) -> float:
    """Pearson correlation between the observed capsule roll and the true transformation offset.

    The paper's "CapCorr": :func:`capsule_roll_offsets` against the true
    offsets, both integers in ``[0, cap_dim)``, over frames ``1..T-1`` of all
    sequences. A linear correlation, as in the paper: an observed roll of
    ``cap_dim - 1`` for a true one of 0 (off by one across the wrap) counts
    as a large error.

    Parameters
    ----------
    t : torch.Tensor
        ``(B, T, n_caps, cap_dim)``.
    offsets : torch.Tensor, optional
        True offset of each frame from the first, in phase steps, ``(B, T)``
        (taken modulo ``cap_dim``); by default ``l`` for frame ``l``.

    Returns
    -------
    float
        1 for a perfect roll, -1 for a roll the other way, about 0 for
        unrelated rolls, NaN when the observed roll never varies.
    """
    observed, true = _observed_and_true_offsets(t, offsets)
    if observed.unique().numel() < 2 or true.unique().numel() < 2:
        return float("nan")
    return float(torch.corrcoef(torch.stack([observed, true]).double())[0, 1])


def capsule_roll_accuracy(t: torch.Tensor, offsets: torch.Tensor | None = None) -> float:
    """Fraction of frames ``1..T-1`` whose observed capsule roll equals the true offset (mod ``cap_dim``).

    Chance level is ``1 / cap_dim``; ``offsets`` as in :func:`capsule_correlation`.
    """
    observed, true = _observed_and_true_offsets(t, offsets)
    return float((observed == true).double().mean())


def squared_activation_correlation(t: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``t²`` between all latent units, over all frames of all sequences.

    Returns
    -------
    torch.Tensor
        ``(n_caps * cap_dim, n_caps * cap_dim)``, units ordered capsule by capsule.
    """
    return torch.corrcoef((t**2).flatten(2).flatten(0, 1).T)
