"""Convolutional building blocks shared by the U-Net family.

The plain U-Net (Ronneberger et al. 2015) and SmaAt-UNet (Trebing, Stanczyk &
Mehrkanoon 2021) differ only in two choices, so both are assembled from the
blocks here:

- the 3×3 convolution is either a standard convolution or a depthwise-separable
  one (a per-channel 3×3 convolution with ``kernels_per_layer`` filters per
  input channel, then a 1×1 convolution mixing channels);
- an optional CBAM (Woo et al. 2018: channel attention from an MLP on the
  average- and max-pooled features, then spatial attention from a 7×7
  convolution on the channel-wise mean and max) on every encoder level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DepthwiseSeparableConv2d",
    "DoubleConv",
    "ChannelAttention",
    "SpatialAttention",
    "CBAM",
    "Down",
    "Up",
]


class DepthwiseSeparableConv2d(nn.Sequential):
    """Depthwise ``k×k`` convolution followed by a pointwise ``1×1`` convolution.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size : int
        Size of the depthwise kernel; the padding keeps the spatial size.
    kernels_per_layer : int
        Depthwise filters per input channel (TensorFlow's ``depth_multiplier``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 kernels_per_layer: int = 1):
        hidden = in_channels * kernels_per_layer
        super().__init__(
            nn.Conv2d(in_channels, hidden, kernel_size, padding=kernel_size // 2,
                      groups=in_channels),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )


def _conv3x3(in_channels: int, out_channels: int, kernels_per_layer: int | None) -> nn.Module:
    """Standard 3×3 convolution, or depthwise-separable when ``kernels_per_layer`` is set."""
    if kernels_per_layer is None:
        return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    return DepthwiseSeparableConv2d(in_channels, out_channels, 3, kernels_per_layer)


class DoubleConv(nn.Sequential):
    """``(3×3 conv → BatchNorm → ReLU) × 2``, the unit of every U-Net level.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    mid_channels : int, optional
        Channels between the two convolutions (default ``out_channels``).
    kernels_per_layer : int, optional
        ``None`` for standard convolutions; an integer makes both convolutions
        depthwise-separable with that many depthwise filters per channel.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None,
                 kernels_per_layer: int | None = None):
        mid_channels = mid_channels or out_channels
        super().__init__(
            _conv3x3(in_channels, mid_channels, kernels_per_layer),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            _conv3x3(mid_channels, out_channels, kernels_per_layer),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ChannelAttention(nn.Module):
    """Channel attention of CBAM: ``x · σ(MLP(avgpool x) + MLP(maxpool x))``.

    Parameters
    ----------
    channels : int
        Number of feature channels.
    reduction : int
        The MLP's hidden layer has ``max(channels // reduction, 1)`` units.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled_mean = x.mean(dim=(2, 3))
        pooled_max = x.amax(dim=(2, 3))
        weights = torch.sigmoid(self.mlp(pooled_mean) + self.mlp(pooled_max))
        return x * weights[:, :, None, None]


class SpatialAttention(nn.Module):
    """Spatial attention of CBAM: ``x · σ(BN(conv_k×k([mean_c x, max_c x])))``.

    Parameters
    ----------
    kernel_size : int
        Odd size of the convolution over the two pooled maps (7 in CBAM).
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.norm(self.conv(pooled)))


class CBAM(nn.Sequential):
    """Convolutional Block Attention Module: channel then spatial attention.

    Parameters
    ----------
    channels : int
        Number of feature channels.
    reduction : int
        Reduction ratio of the channel-attention MLP.
    kernel_size : int
        Kernel of the spatial-attention convolution.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__(ChannelAttention(channels, reduction), SpatialAttention(kernel_size))


class Down(nn.Sequential):
    """2×2 max-pooling then :class:`DoubleConv` (one encoder level)."""

    def __init__(self, in_channels: int, out_channels: int, kernels_per_layer: int | None = None):
        super().__init__(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, out_channels, kernels_per_layer=kernels_per_layer),
        )


class Up(nn.Module):
    """Bilinear ×2 upsampling, concatenation with the skip, then :class:`DoubleConv`.

    The upsampled map is zero-padded to the skip's size, so inputs whose sides
    are not multiples of 2**depth still come back at their own size.

    Parameters
    ----------
    in_channels : int
        Channels of the skip plus channels of the upsampled map.
    out_channels : int
        Channels out.
    kernels_per_layer : int, optional
        As in :class:`DoubleConv`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels_per_layer: int | None = None):
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, kernels_per_layer)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy = skip.shape[-2] - x.shape[-2]
        dx = skip.shape[-1] - x.shape[-1]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))
