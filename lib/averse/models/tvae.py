"""Topographic VAE (Keller & Welling 2021) and its two baselines.

After T. A. Keller and M. Welling, "Topographic VAEs learn Equivariant
Capsules", NeurIPS 2021 (arXiv 2109.01394). Each image ``x_l`` of a sequence
``x_1..x_T`` gets two Gaussian latents, ``z_l ~ q(z|x_l)`` and
``u_l ~ q(u|x_l)``, both with an ``N(0, I)`` prior. They are combined into a
topographic (Student-t-like) variable

    t_l = (z_l + μ) / sqrt( Σ_δ Σ_c' W[δ, c' - c] u²_{l+δ, c'} + ε )

with a learned scalar ``μ``. Latents are ``n_caps`` capsules of ``cap_dim``
units each; ``W`` is a small kernel over (time offset δ, capsule-dimension
offset), applied separately to each capsule with *circular* padding over the
capsule dimension and over time (the sequences are one full cycle of a
transformation). Kernels:

* :func:`shifting_kernel` — the TVAE's *shifting temporal coherence*:
  ``W[δ, k] = 1`` for ``|δ| <= L`` and ``|k - δ| <= K``. The unit ``c`` at step
  ``l`` is pooled with units ``c + δ ± K`` at step ``l + δ``, which encourages
  ``t_{l+1} ≈ roll(t_l, +1)`` along the capsule dimension (torch.roll's sign).
* :func:`stationary_kernel` — the "BubbleVAE" baseline (Hyvärinen et al.
  2003's bubbles): the same pooling without the shift, ``W[δ, k] = 1`` for
  ``|δ| <= L`` and ``|k| <= K``. The reference code's BubbleVAE pools 5 steps ×
  3 units (``L = 2, K = 1``); ``L = 0`` is the paper's "TVAE L=0" (topographic
  within one step only).

The plain VAE (no ``u``, ``t = z``) is :class:`TVAE` with an
:class:`IdentityGrouper` and no ``u`` encoder.

The ELBO of a sequence is ``Σ_l E_q[log p(x_l | t_l)] - KL(q(z_l|x_l) ‖ N(0,I))
- KL(q(u_l|x_l) ‖ N(0,I))``. :meth:`TVAE.encode` returns ``t`` and both
posteriors and :meth:`TVAE.decode` maps ``t`` to likelihood parameters, so a
second decoder (e.g. for IMERG) can be trained on the same latent.

Differences from the reference code (akandykeller/TopographicVAE), on purpose:
convolutional encoders/decoders instead of its fully connected ones; the
shifting kernel is the full band of the formula above (the reference clips it
to a 13×13 window); the importance-sampled likelihood subtracts ``log K``
and treats a sequence jointly (its ``t_l`` depend on the ``u`` of other steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from averse.models._registry import register
from averse.models.vae_parts import (
    GaussianEncoder,
    ImageDecoder,
    conv_decoder_body,
    conv_encoder_body,
    make_likelihood,
)

__all__ = [
    "shifting_kernel",
    "stationary_kernel",
    "topographic_pool",
    "TopographicGrouper",
    "IdentityGrouper",
    "Latents",
    "ELBO",
    "TVAE",
    "ConvTVAE",
    "ConvBubbleVAE",
    "ConvVAE",
]


def shifting_kernel(time_extent: int, capsule_extent: int = 1) -> torch.Tensor:
    """Band kernel of the TVAE's shifting temporal coherence.

    Parameters
    ----------
    time_extent : int
        ``L``: steps pooled on each side of the current one.
    capsule_extent : int
        ``K``-neighbourhood half-width within a capsule (1 gives the paper's K=3).

    Returns
    -------
    torch.Tensor
        ``(2L + 1, 2(L + K) + 1)`` float32, indexed ``[δ + L, k + L + K]``;
        1 where ``|k - δ| <= K``.
    """
    if time_extent < 0 or capsule_extent < 0:
        raise ValueError("time_extent and capsule_extent must be >= 0")
    half = time_extent + capsule_extent
    delta = torch.arange(-time_extent, time_extent + 1)[:, None]
    offset = torch.arange(-half, half + 1)[None, :]
    return ((offset - delta).abs() <= capsule_extent).float()


def stationary_kernel(time_extent: int, capsule_extent: int = 1) -> torch.Tensor:
    """Box kernel of the BubbleVAE: ``(2L + 1, 2K + 1)`` ones (no shift over time)."""
    if time_extent < 0 or capsule_extent < 0:
        raise ValueError("time_extent and capsule_extent must be >= 0")
    return torch.ones(2 * time_extent + 1, 2 * capsule_extent + 1)


def topographic_pool(u2: torch.Tensor, kernel: torch.Tensor, circular_time: bool = True) -> torch.Tensor:
    """``v[b, l, n, c] = Σ_{δ, k} W[δ, k] · u2[b, l + δ, n, c + k]``, circular over ``c``.

    Parameters
    ----------
    u2 : torch.Tensor
        ``(B, T, n_caps, cap_dim)``, usually ``u²``.
    kernel : torch.Tensor
        ``(2 Lt + 1, 2 Lc + 1)``, centred (offset 0 in the middle).
    circular_time : bool
        Circular padding over time (cyclic sequences, as in the paper); with
        False the sequence is padded with zeros (terms beyond its ends vanish).

    Raises
    ------
    ValueError
        If the kernel reaches further than one wrap of the sequence or capsule.
    """
    batch, steps, n_caps, cap_dim = u2.shape
    pad_t, pad_c = (s // 2 for s in kernel.shape)
    if pad_t > steps or pad_c > cap_dim:
        raise ValueError(
            f"kernel {tuple(kernel.shape)} reaches {pad_t} steps / {pad_c} units each way; "
            f"the latents have {steps} steps and capsules of {cap_dim}"
        )
    planes = u2.permute(0, 2, 1, 3).reshape(batch * n_caps, 1, steps, cap_dim)
    planes = F.pad(planes, (pad_c, pad_c, 0, 0), mode="circular")
    planes = F.pad(planes, (0, 0, pad_t, pad_t), mode="circular" if circular_time else "constant")
    pooled = F.conv2d(planes, kernel.to(u2)[None, None])
    return pooled.reshape(batch, n_caps, steps, cap_dim).permute(0, 2, 1, 3)


class IdentityGrouper(nn.Module):
    """No topography: ``t = z`` (the plain VAE). Holds the capsule shape for the metrics."""

    uses_u = False

    def __init__(self, n_caps: int, cap_dim: int):
        super().__init__()
        self.n_caps, self.cap_dim = n_caps, cap_dim

    def forward(self, z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``z`` unchanged."""
        return z


class TopographicGrouper(IdentityGrouper):
    """``t = (z + μ) / sqrt(W ∗ u² + ε)`` with a fixed kernel ``W`` and a learned ``μ``.

    Parameters
    ----------
    n_caps, cap_dim : int
        Capsule layout of the latent (``n_caps * cap_dim`` units).
    kernel : torch.Tensor
        ``W`` from :func:`shifting_kernel` or :func:`stationary_kernel`.
    mu_init : float
        Initial ``μ`` (the reference code uses 30 for MNIST).
    eps : float
        Added under the square root.
    circular_time : bool
        See :func:`topographic_pool`.
    """

    uses_u = True

    def __init__(self, n_caps: int, cap_dim: int, kernel: torch.Tensor, mu_init: float = 30.0,
                 eps: float = 1e-6, circular_time: bool = True):
        super().__init__(n_caps, cap_dim)
        self.register_buffer("kernel", kernel.detach().clone().float())
        self.mu = nn.Parameter(torch.tensor(float(mu_init)))
        self.eps = eps
        self.circular_time = circular_time

    def forward(self, z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """``z``, ``u``: ``(B, T, n_caps, cap_dim)`` → ``t`` of the same shape."""
        pooled = topographic_pool(u**2, self.kernel, self.circular_time)
        return (z + self.mu) / torch.sqrt(pooled + self.eps)


@dataclass
class Latents:
    """One posterior sample of a batch of sequences, all ``(B, T, n_caps, cap_dim)``.

    ``u`` and ``q_u`` are None for the plain VAE.
    """

    t: torch.Tensor
    z: torch.Tensor
    u: torch.Tensor | None
    q_z: Normal
    q_u: Normal | None


@dataclass
class ELBO:
    """Terms of the evidence lower bound, per image: ``(B, T)`` tensors.

    Attributes
    ----------
    log_px : reconstruction log-likelihood ``log p(x_l | t_l)`` (one sample).
    kl_z, kl_u : ``KL(q(z|x_l) ‖ N(0, I))`` and ``KL(q(u|x_l) ‖ N(0, I))`` (zeros for the VAE).
    latents : the sample used.
    params : likelihood parameters ``(B, T, P, H, W)``.
    """

    log_px: torch.Tensor
    kl_z: torch.Tensor
    kl_u: torch.Tensor
    latents: Latents
    params: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """``log_px - kl_z - kl_u`` per image, ``(B, T)``."""
        return self.log_px - self.kl_z - self.kl_u

    def loss(self) -> torch.Tensor:
        """Negative ELBO averaged over images (the training objective)."""
        return -self.elbo.mean()


def _standard_normal_like(q: Normal) -> Normal:
    return Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))


class TVAE(nn.Module):
    """Topographic VAE over sequences of images.

    Parameters
    ----------
    z_encoder, u_encoder : GaussianEncoder or None
        Per-image posteriors over ``n_caps * cap_dim`` units; ``u_encoder`` is
        None exactly when the grouper does not use ``u`` (plain VAE).
    decoder : ImageDecoder
        Maps a flat latent ``t`` to likelihood parameters.
    grouper : TopographicGrouper or IdentityGrouper
        Builds ``t`` from ``z`` and ``u``; holds ``n_caps`` and ``cap_dim``.

    Inputs are sequences ``(B, T, C, H, W)``; latents are ``(B, T, n_caps, cap_dim)``.
    """

    def __init__(self, z_encoder: nn.Module, u_encoder: nn.Module | None, decoder: ImageDecoder,
                 grouper: IdentityGrouper):
        super().__init__()
        if (u_encoder is not None) != grouper.uses_u:
            raise ValueError(f"{type(grouper).__name__} {'needs' if grouper.uses_u else 'takes no'} u encoder")
        self.z_encoder, self.u_encoder = z_encoder, u_encoder
        self.decoder = decoder
        self.grouper = grouper

    @property
    def capsule_shape(self) -> tuple[int, int]:
        """``(n_caps, cap_dim)``."""
        return self.grouper.n_caps, self.grouper.cap_dim

    def _posterior(self, encoder: nn.Module, x: torch.Tensor) -> Normal:
        q = encoder(x.flatten(0, 1))
        shape = (*x.shape[:2], *self.capsule_shape)
        return Normal(q.loc.reshape(shape), q.scale.reshape(shape))

    def posteriors(self, x: torch.Tensor) -> tuple[Normal, Normal | None]:
        """``q(z|x)`` and ``q(u|x)`` (None for the VAE) with ``(B, T, n_caps, cap_dim)`` parameters."""
        q_u = self._posterior(self.u_encoder, x) if self.u_encoder is not None else None
        return self._posterior(self.z_encoder, x), q_u

    def sample(self, q_z: Normal, q_u: Normal | None) -> Latents:
        """Draw ``z``, ``u`` by reparameterisation and build ``t``."""
        z = q_z.rsample()
        u = q_u.rsample() if q_u is not None else None
        return Latents(self.grouper(z, u), z, u, q_z, q_u)

    def encode(self, x: torch.Tensor) -> Latents:
        """One posterior sample of ``t`` (and ``z``, ``u``, both posteriors) for ``x`` ``(B, T, C, H, W)``."""
        return self.sample(*self.posteriors(x))

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        """Likelihood parameters ``(B, T, P, H, W)`` of latents ``t`` ``(B, T, n_caps, cap_dim)``."""
        params = self.decoder(t.flatten(2).flatten(0, 1))
        return params.reshape(*t.shape[:2], *params.shape[1:])

    def log_px(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_l | t_l)`` per image, ``(B, T)``."""
        return self.decoder.log_prob(params.flatten(0, 1), x.flatten(0, 1)).reshape(x.shape[:2])

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Expected images ``(B, T, C, H, W)`` decoded from the posterior means of ``z`` and ``u``."""
        q_z, q_u = self.posteriors(x)
        t = self.grouper(q_z.loc, q_u.loc if q_u is not None else None)
        params = self.decode(t)
        return self.decoder.mean(params.flatten(0, 1)).reshape(*x.shape[:2], *x.shape[2:])

    def forward(self, x: torch.Tensor) -> ELBO:
        """ELBO terms of ``x`` ``(B, T, C, H, W)`` with one posterior sample."""
        latents = self.encode(x)
        params = self.decode(latents.t)
        kl_z = kl_divergence(latents.q_z, _standard_normal_like(latents.q_z)).flatten(2).sum(-1)
        kl_u = (kl_divergence(latents.q_u, _standard_normal_like(latents.q_u)).flatten(2).sum(-1)
                if latents.q_u is not None else torch.zeros_like(kl_z))
        return ELBO(self.log_px(params, x), kl_z, kl_u, latents, params)

    def log_importance_weights(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Log importance weights of whole sequences, ``(n_samples, B)``.

        ``log p(x_{1:T} | t) + log p(z) + log p(u) - log q(z|x) - log q(u|x)``
        summed over the sequence, for ``n_samples`` independent posterior samples.
        """
        q_z, q_u = self.posteriors(x)
        weights = []
        for _ in range(n_samples):
            latents = self.sample(q_z, q_u)
            log_w = self.log_px(self.decode(latents.t), x).sum(1)
            for q, sample in ((q_z, latents.z), (q_u, latents.u)):
                if q is not None:
                    log_w = log_w + (_standard_normal_like(q).log_prob(sample) - q.log_prob(sample)).flatten(1).sum(1)
            weights.append(log_w)
        return torch.stack(weights)


def _conv_parts(image_size: int, channels: int, latent_dim: int, likelihood: str, width: int,
                features: int, with_u: bool) -> tuple[GaussianEncoder, GaussianEncoder | None, ImageDecoder]:
    def encoder() -> GaussianEncoder:
        return GaussianEncoder(conv_encoder_body(channels, image_size, width, features), features, latent_dim)

    pixel_model = make_likelihood(likelihood, channels)
    decoder = ImageDecoder(conv_decoder_body(latent_dim, pixel_model.n_params * channels, image_size, width),
                           pixel_model)
    return encoder(), encoder() if with_u else None, decoder


@register("tvae")
class ConvTVAE(TVAE):
    """TVAE with convolutional encoders/decoder for square images.

    Parameters
    ----------
    image_size, channels : int
        Side and channels of the images (28, 1 for MNIST; 3 channels with colour).
    n_caps, cap_dim : int
        Capsule layout; ``cap_dim`` should equal the period of the transformations.
    time_extent, capsule_extent : int
        ``L`` and ``K`` of :func:`shifting_kernel`.
    likelihood : str
        ``"bernoulli"``, ``"gaussian"`` or ``"zero_inflated_lognormal"``.
    width, features : int
        Channels of the first convolution; size of the encoder feature vector.
    mu_init : float
        Initial ``μ``.
    circular_time : bool
        Circular padding over time (cyclic sequences).
    """

    def __init__(self, image_size: int = 28, channels: int = 1, n_caps: int = 18, cap_dim: int = 18,
                 time_extent: int = 6, capsule_extent: int = 1, likelihood: str = "bernoulli",
                 width: int = 32, features: int = 256, mu_init: float = 30.0, circular_time: bool = True):
        kernel = shifting_kernel(time_extent, capsule_extent)
        super().__init__(*_conv_parts(image_size, channels, n_caps * cap_dim, likelihood, width, features, True),
                         TopographicGrouper(n_caps, cap_dim, kernel, mu_init, circular_time=circular_time))


@register("bubble_vae")
class ConvBubbleVAE(TVAE):
    """BubbleVAE baseline: :class:`ConvTVAE` with the stationary kernel (no roll over time).

    Parameters are those of :class:`ConvTVAE`; the defaults ``time_extent=2,
    capsule_extent=1`` pool 5 steps × 3 units, as the reference code does.
    """

    def __init__(self, image_size: int = 28, channels: int = 1, n_caps: int = 18, cap_dim: int = 18,
                 time_extent: int = 2, capsule_extent: int = 1, likelihood: str = "bernoulli",
                 width: int = 32, features: int = 256, mu_init: float = 30.0, circular_time: bool = True):
        kernel = stationary_kernel(time_extent, capsule_extent)
        super().__init__(*_conv_parts(image_size, channels, n_caps * cap_dim, likelihood, width, features, True),
                         TopographicGrouper(n_caps, cap_dim, kernel, mu_init, circular_time=circular_time))


@register("vae")
class ConvVAE(TVAE):
    """Plain VAE baseline (``t = z``, no ``u``) with the same networks as :class:`ConvTVAE`."""

    def __init__(self, image_size: int = 28, channels: int = 1, n_caps: int = 18, cap_dim: int = 18,
                 likelihood: str = "bernoulli", width: int = 32, features: int = 256):
        super().__init__(*_conv_parts(image_size, channels, n_caps * cap_dim, likelihood, width, features, False),
                         IdentityGrouper(n_caps, cap_dim))

