"""Encoders, decoders and pixel likelihoods of the (topographic) VAEs.

The pieces are small and interchangeable so that one latent space can be
shared by several heads (an MNIST decoder today, an IMERG decoder later):

* :class:`GaussianEncoder` — any feature network followed by a linear head
  giving a diagonal Gaussian ``q(·|x)``; :func:`conv_encoder_body` is the
  convolutional feature network used for 28×28 MNIST and 32×32 / 64×64 rain
  images.
* :class:`ImageDecoder` — a network mapping a latent vector to the parameter
  maps of a pixel :class:`Likelihood`; :func:`conv_decoder_body` is its
  convolutional counterpart.
* Likelihoods: :class:`BernoulliLikelihood` (MNIST grey values, as in Keller &
  Welling 2021), :class:`GaussianLikelihood`, and
  :class:`ZeroInflatedLogNormalLikelihood` for rain (a wet/dry Bernoulli mask
  times a lognormal intensity). Every likelihood ignores NaN pixels (missing
  data), following the data contract (NaN = no observation, 0 = no rain).

Nothing here creates a tensor on a fixed device: everything follows the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

__all__ = [
    "GaussianEncoder",
    "ImageDecoder",
    "Likelihood",
    "BernoulliLikelihood",
    "GaussianLikelihood",
    "ZeroInflatedLogNormalLikelihood",
    "make_likelihood",
    "conv_encoder_body",
    "conv_decoder_body",
    "halvings",
]

_LOG_SCALE_RANGE = (-7.0, 5.0)


def halvings(image_size: int, smallest: int = 4) -> int:
    """Number of stride-2 levels that take ``image_size`` down to no less than ``smallest``.

    Only exact halvings count: 28 → 14 → 7 gives 2, 32 → … → 4 gives 3, 64 gives 4.
    """
    levels = 0
    while image_size % 2 == 0 and image_size // 2 >= smallest:
        image_size //= 2
        levels += 1
    return levels


def conv_encoder_body(in_channels: int, image_size: int, width: int = 32, features: int = 256) -> nn.Sequential:
    """Convolutional feature network: ``(N, C, S, S)`` → ``(N, features)``.

    One 3×3 stride-2 convolution per halving of :func:`halvings` (channels
    ``width``, ``2 width``, …, capped at ``4 width``), then a linear layer.

    Parameters
    ----------
    in_channels, image_size : int
        Channels and side of the square input images.
    width : int
        Channels of the first convolution.
    features : int
        Size of the output feature vector.
    """
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for level in range(halvings(image_size)):
        out = width * min(2**level, 4)
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        channels, size = out, size // 2
    layers += [nn.Flatten(), nn.Linear(channels * size * size, features), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def conv_decoder_body(latent_dim: int, out_channels: int, image_size: int, width: int = 32) -> nn.Sequential:
    """Convolutional generator: ``(N, latent_dim)`` → ``(N, out_channels, S, S)``.

    The mirror of :func:`conv_encoder_body`: a linear layer to the coarsest
    map, then one 4×4 stride-2 transposed convolution per halving, the last
    one giving the ``out_channels`` raw parameter maps (no output activation:
    the likelihood interprets them). Without any halving, a 3×3 convolution
    gives the maps.
    """
    levels = halvings(image_size)
    size = image_size // 2**levels
    channels = width * min(2 ** max(levels - 1, 0), 4)
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, channels * size * size),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (channels, size, size)),
    ]
    for level in reversed(range(1, levels)):
        out = width * min(2 ** (level - 1), 4)
        layers += [nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        channels = out
    if levels:
        layers.append(nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1))
    else:
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """Diagonal Gaussian posterior ``q(latent | x)`` over a flat latent vector.

    Parameters
    ----------
    body : nn.Module
        Maps images ``(N, C, H, W)`` to features ``(N, features)``.
    features : int
        Output size of ``body``.
    latent_dim : int
        Size of the latent vector.

    The log standard deviation is clamped to [-7, 5] so that a diverging
    head cannot produce zero or infinite scales.
    """

    def __init__(self, body: nn.Module, features: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(features, 2 * latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> Normal:
        """Return ``q(·|x)`` with ``loc`` and ``scale`` of shape ``(N, latent_dim)``."""
        loc, log_var = self.head(self.body(x)).chunk(2, dim=-1)
        log_scale = (0.5 * log_var).clamp(*_LOG_SCALE_RANGE)
        return Normal(loc, log_scale.exp())


class Likelihood(nn.Module):
    """Pixel-wise likelihood ``p(x | params)`` with ``n_params`` parameter maps per channel.

    Subclasses implement :meth:`pixel_log_prob` and :meth:`mean`. Parameter
    tensors are ``(N, n_params * C, H, W)``, parameter-major (all channels of
    the first parameter, then of the second…).
    """

    n_params: int = 1

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Split ``params`` into ``n_params`` tensors of shape ``(N, C, H, W)``."""
        return params.chunk(self.n_params, dim=1)

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Log-density of each pixel, ``(N, C, H, W)``; ``x`` holds no NaN here."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Expected image ``(N, C, H, W)`` under the likelihood."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x | params)`` summed over pixels, ``(N,)``; NaN pixels are left out."""
        missing = torch.isnan(x)
        per_pixel = self.pixel_log_prob(params, torch.where(missing, torch.zeros_like(x), x))
        return torch.where(missing, torch.zeros_like(per_pixel), per_pixel).flatten(1).sum(-1)


class BernoulliLikelihood(Likelihood):
    """Bernoulli pixels parameterised by logits; grey values in [0, 1] are used as soft targets.

    As in Keller & Welling (2021), grey-level MNIST is scored with the
    Bernoulli log-probability ``x log p + (1 - x) log(1 - p)`` (the
    unnormalised "continuous" use of the Bernoulli).
    """

    n_params = 1

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none")

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)


class GaussianLikelihood(Likelihood):
    """Gaussian pixels with a predicted mean and a learned per-channel scale.

    Parameters
    ----------
    channels : int
        Number of image channels (one learned log-scale each).
    scale : float
        Initial standard deviation.
    learn_scale : bool
        Whether the scale is trained.
    """

    n_params = 1

    def __init__(self, channels: int, scale: float = 0.1, learn_scale: bool = True):
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((channels,), math.log(scale)), requires_grad=learn_scale)

    def _scale(self) -> torch.Tensor:
        return self.log_scale.clamp(*_LOG_SCALE_RANGE).exp()[:, None, None]

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return Normal(params, self._scale()).log_prob(x)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return params


class ZeroInflatedLogNormalLikelihood(Likelihood):
    """Rain-rate likelihood: a wet/dry Bernoulli mask times a lognormal intensity.

    ``p(x) = 1 - π`` for ``x <= wet_threshold`` and ``π · LogNormal(x; m, s)``
    above it (a hurdle model: a probability mass at "dry" and a density for the
    wet intensities). Parameter maps per channel: wet logit, ``m`` (mean of
    ``log x``), ``log s``.

    Parameters
    ----------
    wet_threshold : float
        Values at or below it count as dry (same units as ``x``, mm/h for rain).
    """

    n_params = 3

    def __init__(self, wet_threshold: float = 0.0):
        super().__init__()
        self.wet_threshold = wet_threshold

    def pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        wet_logit, log_loc, log_scale = self.split(params)
        wet = x > self.wet_threshold
        log_x = torch.log(torch.where(wet, x, torch.ones_like(x)))   # dry pixels: any finite value
        log_intensity = Normal(log_loc, log_scale.clamp(*_LOG_SCALE_RANGE).exp()).log_prob(log_x) - log_x
        return torch.where(wet, F.logsigmoid(wet_logit) + log_intensity, F.logsigmoid(-wet_logit))

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        wet_logit, log_loc, log_scale = self.split(params)
        scale = log_scale.clamp(*_LOG_SCALE_RANGE).exp()
        return torch.sigmoid(wet_logit) * torch.exp(log_loc + 0.5 * scale**2)

    def wet_probability(self, params: torch.Tensor) -> torch.Tensor:
        """Probability that each pixel is wet (above ``wet_threshold``)."""
        return torch.sigmoid(self.split(params)[0])


def make_likelihood(name: str, channels: int = 1) -> Likelihood:
    """Build a likelihood by name: ``"bernoulli"``, ``"gaussian"`` or ``"zero_inflated_lognormal"``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    builders = {
        "bernoulli": BernoulliLikelihood,
        "gaussian": lambda: GaussianLikelihood(channels),
        "zero_inflated_lognormal": ZeroInflatedLogNormalLikelihood,
    }
    key = name.strip().lower().replace("-", "_")
    if key not in builders:
        raise ValueError(f"unknown likelihood {name!r}; known: {', '.join(builders)}")
    return builders[key]()


class ImageDecoder(nn.Module):
    """Latent vector → pixel likelihood parameters.

    Parameters
    ----------
    body : nn.Module
        Maps ``(N, latent_dim)`` to ``(N, likelihood.n_params * C, H, W)``.
    likelihood : Likelihood
        Interprets the parameter maps.
    """

    def __init__(self, body: nn.Module, likelihood: Likelihood):
        super().__init__()
        self.body = body
        self.likelihood = likelihood

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Parameter maps ``(N, n_params * C, H, W)`` of ``latent`` ``(N, latent_dim)``."""
        return self.body(latent)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x | params)`` per image, ``(N,)``."""
        return self.likelihood.log_prob(params, x)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Expected images ``(N, C, H, W)``."""
        return self.likelihood.mean(params)
