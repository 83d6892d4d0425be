"""A U-Net decoder for any encoder, optionally modulated by an embedding.

The U-Net of :mod:`averse.models.unet` builds its decoder inline from its own
encoder. The retrieval networks of :mod:`averse.models.irqpe` have other
encoders (space-time convolutions, ConvLSTM cells) that hand over the same
pyramid of 2-D features, and the denoisers of :mod:`averse.models.generative`
need every level modulated by the diffusion / flow time. This module gives them
one decoder, made of the shared :class:`~averse.models.blocks.Up` blocks, with
the same channel rule as :class:`~averse.models.UNet`:

- :func:`skip_widths` — the encoder's channels per level for given widths
  (the deepest level has half the last width, as in bilinear U-Nets);
- :class:`FiLM` — feature-wise linear modulation (Perez et al. 2018),
  ``x · (1 + γ(e)) + β(e)`` from an embedding ``e``;
- :class:`UNetDecoder` — bilinear upsampling + skip + double convolution per
  level, with a :class:`FiLM` after each level when given an embedding size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from averse.models.blocks import Up

__all__ = ["skip_widths", "FiLM", "UNetDecoder"]


def skip_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """Channels of the encoder levels of a bilinear U-Net with these ``widths``.

    Parameters
    ----------
    widths : sequence of int
        Widths of the levels, shallowest first (at least two).

    Returns
    -------
    tuple of int
        ``widths[:-1] + (widths[-1] // 2,)``: the bottleneck is halved so that
        the first decoder level gets as many channels from below as from the skip.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2:
        raise ValueError(f"a U-Net needs at least two levels, got widths={widths}")
    return widths[:-1] + (widths[-1] // 2,)


class FiLM(nn.Module):
    """Feature-wise linear modulation ``x · (1 + γ(e)) + β(e)`` by an embedding.

    Parameters
    ----------
    embedding_dim : int
        Size of the embedding ``e`` (``(B, embedding_dim)``).
    channels : int
        Channels of the modulated features ``(B, channels, H, W)``.

    Notes
    -----
    The projection starts at zero, so a fresh layer is the identity.
    """

    def __init__(self, embedding_dim: int, channels: int):
        super().__init__()
        self.project = nn.Linear(embedding_dim, 2 * channels)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.project(embedding)[:, :, None, None].chunk(2, dim=1)
        return x * (1.0 + scale) + shift


class UNetDecoder(nn.Module):
    """Decoder from a feature pyramid to full-resolution features.

    Parameters
    ----------
    skips : sequence of int
        Channels of the encoder features, shallowest first (the last is the
        bottleneck), e.g. :func:`skip_widths` of the encoder widths.
    embedding_dim : int, optional
        When given, each decoder level is followed by a :class:`FiLM` with an
        embedding of this size, passed to :meth:`forward`.
    kernels_per_layer : int, optional
        As in :class:`~averse.models.blocks.DoubleConv` (None: standard convolutions).

    Attributes
    ----------
    out_channels : int
        Channels of the output (``skips[0]``).
    """

    def __init__(self, skips: Sequence[int], embedding_dim: int | None = None,
                 kernels_per_layer: int | None = None):
        super().__init__()
        skips = tuple(int(c) for c in skips)
        if len(skips) < 2:
            raise ValueError(f"a decoder needs at least two levels, got {skips}")
        ups, outs = [], []
        incoming = skips[-1]
        for level in reversed(range(len(skips) - 1)):
            out = skips[level - 1] if level > 0 else skips[0]
            ups.append(Up(skips[level] + incoming, out, kernels_per_layer))
            outs.append(out)
            incoming = out
        self.ups = nn.ModuleList(ups)
        self.films = (None if embedding_dim is None
                      else nn.ModuleList(FiLM(embedding_dim, c) for c in outs))
        self.out_channels = skips[0]

    def forward(self, features: Sequence[torch.Tensor],
                embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Decode ``features`` (shallowest first) to ``(B, out_channels, H, W)``.

        Parameters
        ----------
        features : sequence of torch.Tensor
            One map per encoder level, each at half the size of the previous.
        embedding : torch.Tensor, optional
            ``(B, embedding_dim)``; required iff the decoder was built with one.
        """
        if (embedding is None) != (self.films is None):
            raise ValueError("pass an embedding exactly when the decoder was built with embedding_dim")
        x = features[-1]
        for index, (up, skip) in enumerate(zip(self.ups, reversed(features[:-1]))):
            x = up(x, skip)
            if self.films is not None:
                x = self.films[index](x, embedding)
        return x
