"""What the generative rain retrievals share: time-conditioned denoisers, ensembles, the combination.

A U-Net regressor (:mod:`averse.models.irqpe`) places rain well but gives the
conditional mean, smoother than rain; a generative model draws fields with
rain's statistics. :class:`GenerativeRetrieval` is the common base of the
conditional DDPM (:mod:`averse.models.diffusion`) and of conditional flow
matching (:mod:`averse.models.flow`). Both learn a network ``f(x_τ, τ, cond)``
(noise or velocity) with ``τ ∈ [0, 1]`` and ``cond`` the IR images
``(B, T, C, H, W)`` stacked as ``T × C`` channels and concatenated to ``x_τ``.

Networks (``denoiser=``):

- ``"unet"`` — :class:`ConditionalUNet`: the shared
  :class:`~averse.models.blocks.DoubleConv` / :class:`~averse.models.blocks.Down`
  encoder and :class:`~averse.models.decoder.UNetDecoder`, with a sinusoidal
  embedding of ``τ`` (Vaswani et al. 2017, as in DDPM) modulating every level (FiLM);
- ``"pixel"`` — :class:`PixelDenoiser`: the same inputs through 1×1
  convolutions only, no spatial context (an ablation, and fast for toy problems).

The combination with the regressor (``combination=``):

- ``"none"`` — the generative model learns the rain field itself from noise;
- ``"residual"`` — a U-Net mean ``m`` (:class:`~averse.models.irqpe.IRQPEUNet`)
  plus a generative residual: the generative model learns ``x1 = y − m`` given
  the IR *and* ``m``; a sample is ``m + x1``;
- ``"bridge"`` (flow matching only) — the flow starts from the U-Net estimate,
  ``x0 = m + s·ε``, instead of pure noise, and carries it to ``y``.

With a combination the U-Net is trained jointly: the loss is its masked MSE
plus the generative loss computed with ``m`` detached (the generative part does
not push the mean). Everything is in the transformed rain space; NaN targets are
left out of both losses.

Ensembles: :meth:`GenerativeRetrieval.sample` gives ``(B, N, 1, H, W)`` from a
seed or a generator, in evaluation mode (BatchNorm uses its running statistics,
so members do not depend on each other or on the batch). ``last_nfe`` holds the
number of network evaluations per member of the last call, counted as calls
of the network (each call evaluates every member once); the U-Net mean of a
combination adds one evaluation per input, shared by all members, not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from averse.models import transforms as rain_transforms
from averse.models.blocks import DoubleConv, Down
from averse.models.decoder import FiLM, UNetDecoder, skip_widths
from averse.models.irqpe import IRQPEUNet, RainRetrieval
from averse.models.losses import masked_mse

__all__ = [
    "TimeEmbedding",
    "ConditionalUNet",
    "PixelDenoiser",
    "GenerativeRetrieval",
    "as_generator",
]


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of ``τ ∈ [0, 1]`` followed by a two-layer MLP.

    The frequencies are those of DDPM's embedding of the step index
    ``1000 τ``: ``exp(-ln(10000) k / (dim / 2))``, ``k < dim / 2``.

    Parameters
    ----------
    dim : int
        Even embedding size.
    """

    def __init__(self, dim: int = 64):
        super().__init__()
        if dim % 2:
            raise ValueError(f"the embedding size must be even, got {dim}")
        half = dim // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10000.0) * torch.arange(half) / half),
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        """``(B,)`` times in ``[0, 1]`` → ``(B, dim)``."""
        angles = 1000.0 * tau.float()[:, None] * self.frequencies
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


class ConditionalUNet(nn.Module):
    """U-Net ``f(x_τ, τ, cond)`` with every level modulated by the time embedding.

    Parameters
    ----------
    cond_channels : int
        Channels of the condition, concatenated to the state.
    state_channels : int
        Channels of the state ``x_τ`` and of the output.
    widths : sequence of int
        Widths of the levels, shallowest first.
    embedding_dim : int
        Size of the time embedding.
    """

    def __init__(self, cond_channels: int, state_channels: int = 1,
                 widths: Sequence[int] = (32, 64, 128), embedding_dim: int = 64):
        super().__init__()
        skips = skip_widths(widths)
        self.embed = TimeEmbedding(embedding_dim)
        self.blocks = nn.ModuleList(
            [DoubleConv(state_channels + cond_channels, skips[0])]
            + [Down(c_in, c_out) for c_in, c_out in zip(skips[:-1], skips[1:])]
        )
        self.films = nn.ModuleList(FiLM(embedding_dim, c) for c in skips)
        self.decoder = UNetDecoder(skips, embedding_dim=embedding_dim)
        self.head = nn.Conv2d(self.decoder.out_channels, state_channels, kernel_size=1)

    def forward(self, x: torch.Tensor, tau: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, S, H, W)``, ``tau`` ``(B,)``, ``cond`` ``(B, K, H, W)`` → ``(B, S, H, W)``."""
        embedding = self.embed(tau)
        h = torch.cat([x, cond], dim=1)
        features = []
        for block, film in zip(self.blocks, self.films):
            h = film(block(h), embedding)
            features.append(h)
        return self.head(self.decoder(features, embedding))


class PixelDenoiser(nn.Module):
    """Per-pixel MLP ``f(x_τ, τ, cond)`` (1×1 convolutions): no spatial context.

    Parameters
    ----------
    cond_channels, state_channels, embedding_dim
        As :class:`ConditionalUNet`.
    hidden : int
        Width of the hidden layers.
    depth : int
        Number of hidden layers, each FiLM-modulated by the time embedding.
    """

    def __init__(self, cond_channels: int, state_channels: int = 1, hidden: int = 64,
                 depth: int = 3, embedding_dim: int = 64):
        super().__init__()
        self.embed = TimeEmbedding(embedding_dim)
        widths = [state_channels + cond_channels] + [hidden] * depth
        self.layers = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(widths[:-1], widths[1:]))
        self.films = nn.ModuleList(FiLM(embedding_dim, hidden) for _ in range(depth))
        self.head = nn.Conv2d(hidden, state_channels, 1)

    def forward(self, x: torch.Tensor, tau: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """As :meth:`ConditionalUNet.forward`."""
        embedding = self.embed(tau)
        h = torch.cat([x, cond], dim=1)
        for layer, film in zip(self.layers, self.films):
            h = F.silu(film(layer(h), embedding))
        return self.head(h)


_DENOISERS = {"unet": ConditionalUNet, "pixel": PixelDenoiser}


def as_generator(seed: int | torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A generator from a seed (on ``device``), a generator unchanged, or None (global RNG)."""
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    return torch.Generator(device=device).manual_seed(int(seed))


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Evaluation mode inside the block, the previous mode after it."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class GenerativeRetrieval(RainRetrieval, nn.Module):
    """Base of the conditional generative retrievals (see the module docstring).

    Parameters
    ----------
    n_times : int
        IR times in the input.
    n_channels : int
        Spectral channels per time.
    widths : sequence of int
        Widths of the :class:`ConditionalUNet` (``denoiser="unet"``).
    embedding_dim : int
        Size of the time embedding.
    denoiser : {"unet", "pixel"}
        The network architecture.
    combination : str
        ``"none"``, ``"residual"`` or (flow matching) ``"bridge"``.
    mean_widths : sequence of int
        Widths of the U-Net mean of a combination.
    source_noise : float
        Standard deviation ``s`` of the noise added to the U-Net estimate at the
        start of a ``"bridge"`` flow.
    transform : RainTransform, optional
        Rain transform (default log1p).

    Notes
    -----
    Subclasses implement :meth:`training_loss` and :meth:`_integrate` and list
    the combinations they support in ``combinations``.
    """

    combinations: tuple[str, ...] = ("none", "residual")
    task = "generative"

    def __init__(self, n_times: int = 1, n_channels: int = 3,
                 widths: Sequence[int] = (32, 64, 128), embedding_dim: int = 64,
                 denoiser: str = "unet", combination: str = "none",
                 mean_widths: Sequence[int] = (32, 64, 128, 256), source_noise: float = 0.1,
                 transform: rain_transforms.RainTransform | None = None):
        nn.Module.__init__(self)
        self._setup_retrieval(n_times, n_channels, transform)
        if combination not in self.combinations:
            raise ValueError(f"{type(self).__name__} supports combination in {self.combinations}, "
                             f"got {combination!r}")
        if denoiser not in _DENOISERS:
            raise ValueError(f"denoiser must be one of {sorted(_DENOISERS)}, got {denoiser!r}")
        self.combination = combination
        self.source_noise = float(source_noise)
        cond_channels = self.n_times * self.n_channels + (combination != "none")
        options = {"widths": widths} if denoiser == "unet" else {}
        self.net = _DENOISERS[denoiser](cond_channels, embedding_dim=embedding_dim, **options)
        self.mean_net = (None if combination == "none"
                         else IRQPEUNet(n_times, n_channels, mean_widths, transform=self.transform))
        self.nfe = 0
        self.last_nfe = 0

    # -- what subclasses implement ------------------------------------------------------------
    def training_loss(self, x1: torch.Tensor, cond: torch.Tensor,
                      noise: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of one batch of data ``x1`` (NaN left out) given ``cond``.

        ``noise`` is the source draw (flow: ``x0``; diffusion: ``ε``), drawn
        from N(0, I) when not given.
        """
        raise NotImplementedError

    def _integrate(self, start: torch.Tensor, cond: torch.Tensor, n_steps: int,
                   generator: torch.Generator | None, **options) -> torch.Tensor:
        """Carry the source draw ``start`` to a data sample in ``n_steps`` steps."""
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------------------------
    def evaluate(self, x: torch.Tensor, tau: float | torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """One counted network evaluation at time ``tau`` (a float or ``(B,)``)."""
        self.nfe += 1
        if not torch.is_tensor(tau) or tau.dim() == 0:
            tau = torch.full((x.shape[0],), float(tau), device=x.device, dtype=x.dtype)
        return self.net(x, tau, cond)

    def conditioning(self, ir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The network's condition and the U-Net mean.

        Returns
        -------
        cond : torch.Tensor
            ``(B, T·C [+1], H, W)``: the stacked IR images, and the detached
            U-Net mean with a combination.
        mean : torch.Tensor or None
            ``(B, 1, H, W)`` U-Net mean (with its graph), None without combination.
        """
        stacked = self.check_input(ir).flatten(1, 2)
        if self.mean_net is None:
            return stacked, None
        mean = self.mean_net(ir)
        return torch.cat([stacked, mean.detach()], dim=1), mean

    def _data(self, y: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
        """What the generative model learns: the residual ``y − m`` or ``y`` itself."""
        return y - mean.detach() if self.combination == "residual" else y

    def _source(self, noise: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
        """The source draw: ``m + s·ε`` for a bridge, ``ε`` otherwise."""
        if self.combination == "bridge":
            return mean.detach() + self.source_noise * noise
        return noise

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Training loss of a batch (``ir``, ``target`` in mm/h; see :mod:`averse.models.irqpe`)."""
        y = self.targets(batch)
        cond, mean = self.conditioning(batch["ir"])
        noise = self._source(torch.randn_like(y), mean)
        generative = self.training_loss(self._data(y, mean), cond, noise)
        return generative if mean is None else generative + masked_mse(mean, y)

    @torch.no_grad()
    def sample(self, ir: torch.Tensor, n_members: int = 8, n_steps: int = 10,
               generator: int | torch.Generator | None = None, **options) -> torch.Tensor:
        """Draw an ensemble in the transformed rain space.

        Parameters
        ----------
        ir : torch.Tensor
            ``(B, T, C, H, W)`` IR input.
        n_members : int
            Members per input.
        n_steps : int
            Integration steps (see the subclass for how many network
            evaluations they cost; ``last_nfe`` holds the count).
        generator : int or torch.Generator, optional
            Seed or generator of every random draw: the same seed gives the
            same ensemble (on the same device).
        **options
            Sampler options of the subclass (``method``, ``eta``...).

        Returns
        -------
        torch.Tensor
            ``(B, n_members, 1, H, W)``.
        """
        if n_members < 1 or n_steps < 1:
            raise ValueError(f"n_members and n_steps must be >= 1, got {n_members}, {n_steps}")
        generator = as_generator(generator, ir.device)
        with _evaluating(self):
            cond, mean = self.conditioning(ir)
            members = cond.repeat_interleave(n_members, dim=0)
            mean = None if mean is None else mean.repeat_interleave(n_members, dim=0)
            shape = (members.shape[0], 1) + tuple(members.shape[-2:])
            noise = torch.randn(shape, generator=generator, device=ir.device, dtype=members.dtype)
            self.nfe = 0
            x = self._integrate(self._source(noise, mean), members, n_steps, generator, **options)
            self.last_nfe = self.nfe
        if self.combination == "residual":
            x = x + mean
        return x.unflatten(0, (ir.shape[0], n_members))

    def forward(self, ir: torch.Tensor, n_members: int = 8, n_steps: int = 10,
                generator: int | torch.Generator | None = None, **options) -> torch.Tensor:
        """An ensemble ``(B, n_members, 1, H, W)``: :meth:`sample`."""
        return self.sample(ir, n_members, n_steps, generator, **options)
