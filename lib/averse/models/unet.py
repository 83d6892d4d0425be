"""The U-Net family for nowcasting: past frames as channels in, lead times as channels out.

:class:`UNet` is the encoder–decoder of Ronneberger et al. (2015) with bilinear
upsampling, as used as the baseline of SmaAt-UNet (Trebing et al. 2021):
widths 64-128-256-512-512, about 17.3 M parameters for 12 input frames. Its two
switches — depthwise-separable convolutions and CBAM attention on the encoder
levels — give SmaAt-UNet (:mod:`averse.models.smaat_unet`) from the same code.

The network is a regressor: the last layer is a 1×1 convolution with no
activation, so it predicts in whatever space the targets were transformed to
(:mod:`averse.models.transforms`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from averse.models._registry import register
from averse.models.blocks import CBAM, DoubleConv, Down, Up
from averse.models.inputs import InputConfig

__all__ = ["UNet", "UNetMultiLead"]


@register("unet")
class UNet(nn.Module):
    """U-Net mapping ``(B, in_channels, H, W)`` to ``(B, n_out, H, W)``.

    Parameters
    ----------
    in_channels : int
        Input channels (``InputConfig.n_channels``: 12 for one hour of 5-min radar).
    n_out : int
        Output channels, one per predicted lead time.
    widths : sequence of int
        Channels of the encoder levels, shallowest first; the deepest level
        (the bottleneck) has ``widths[-1] // 2`` channels, as bilinear U-Nets do.
    kernels_per_layer : int, optional
        ``None``: standard 3×3 convolutions. An integer: depthwise-separable
        convolutions with that many depthwise filters per channel.
    attention_reduction : int, optional
        ``None``: no attention. An integer: a CBAM with this channel reduction
        on every encoder level, applied to the skips and the bottleneck.
    attention_kernel : int
        Kernel of the CBAM spatial attention.

    Notes
    -----
    Sides that are not multiples of ``2 ** (len(widths) - 1)`` are handled by
    padding in the decoder; multiples avoid the padding and are preferred.
    """

    input_layout = "channels"
    #: Whether :meth:`from_config` predicts all ``config.n_out`` lead times
    #: (True) or a single lead time chosen by the data (False, as published).
    multi_lead = False

    def __init__(
        self,
        in_channels: int = 12,
        n_out: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        kernels_per_layer: int | None = None,
        attention_reduction: int | None = None,
        attention_kernel: int = 7,
    ):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2:
            raise ValueError(f"a U-Net needs at least two levels, got widths={widths}")
        self.in_channels = in_channels
        self.n_out = n_out
        enc_channels = widths[:-1] + (widths[-1] // 2,)

        self.inc = DoubleConv(in_channels, widths[0], kernels_per_layer=kernels_per_layer)
        self.downs = nn.ModuleList(
            Down(c_in, c_out, kernels_per_layer)
            for c_in, c_out in zip(enc_channels[:-1], enc_channels[1:])
        )
        if attention_reduction is None:
            self.attention = nn.ModuleList(nn.Identity() for _ in enc_channels)
        else:
            self.attention = nn.ModuleList(
                CBAM(c, attention_reduction, attention_kernel) for c in enc_channels
            )
        ups = []
        incoming = enc_channels[-1]
        for level in reversed(range(len(widths) - 1)):
            out = widths[level - 1] if level > 0 else widths[0]
            ups.append(Up(enc_channels[level] + incoming, out, kernels_per_layer))
            incoming = out
        self.ups = nn.ModuleList(ups)
        self.outc = nn.Conv2d(widths[0], n_out, kernel_size=1)

    @classmethod
    def from_config(cls, config: InputConfig, **kwargs) -> UNet:
        """Build the model for an :class:`~averse.models.InputConfig`.

        ``in_channels`` is ``config.n_channels``; ``n_out`` is ``config.n_out``
        for multi-lead classes and 1 otherwise (unless given in ``kwargs``).
        """
        kwargs.setdefault("n_out", config.n_out if cls.multi_lead else 1)
        return cls(in_channels=config.n_channels, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, H, W)`` to ``(B, n_out, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        features = [self.inc(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        # Attention re-weights what the decoder sees; the encoder runs on raw features.
        attended = [att(f) for att, f in zip(self.attention, features)]
        x = attended[-1]
        for up, skip in zip(self.ups, reversed(attended[:-1])):
            x = up(x, skip)
        return self.outc(x)


@register("unet_multilead")
class UNetMultiLead(UNet):
    """:class:`UNet` predicting all ``config.n_out`` lead times at once."""

    multi_lead = True

    def __init__(self, in_channels: int = 12, n_out: int = 12, **kwargs):
        super().__init__(in_channels=in_channels, n_out=n_out, **kwargs)
