"""Space-time convolutions over ``(time, y, x)`` with the spectral channels as features.

A sequence of infrared images ``(B, T, C, H, W)`` is a 4-D signal: time, two
space dims and the spectral channels. Here the channels are the features of a
3-D convolution over ``(time, y, x)`` (``torch.nn.Conv3d`` on ``(B, C, T, H, W)``),
so that one kernel sees the cooling of a cloud top over successive images and
its neighbourhood together. Two forms of the kernel:

- full: one ``(kt, k, k)`` convolution;
- (2+1)-D (Tran et al. 2018, "A closer look at spatiotemporal convolutions for
  action recognition", CVPR): a ``(1, k, k)`` spatial convolution, BatchNorm,
  ReLU, then a ``(kt, 1, 1)`` temporal one, with the intermediate width chosen
  so that it has about as many parameters as the full kernel, and an extra
  non-linearity.

Time is zero-padded (``kt // 2`` on each side) and never strided: the inputs
are short (one to a few images 15 min apart). :class:`SpaceTimeEncoder` stacks
these into a U-Net encoder whose levels halve space only, and collapses time at
every level with a learned ``(T, 1, 1)`` convolution (:class:`TimeCollapse`), so
that a 2-D decoder (:class:`~averse.models.decoder.UNetDecoder`) can follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from averse.models.decoder import skip_widths

__all__ = ["SpaceTimeConv", "SpaceTimeDoubleConv", "TimeCollapse", "SpaceTimeEncoder"]


class SpaceTimeConv(nn.Sequential):
    """Convolution over ``(time, y, x)`` keeping all three sizes.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature channels in and out.
    kernel_time, kernel_space : int
        Odd kernel sizes in time and in space.
    factorised : bool
        False: one ``(kernel_time, kernel_space, kernel_space)`` kernel.
        True: the (2+1)-D factorisation, spatial then temporal.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_time: int = 3,
                 kernel_space: int = 3, factorised: bool = False):
        if kernel_time % 2 != 1 or kernel_space % 2 != 1:
            raise ValueError(f"kernel sizes must be odd, got {kernel_time} and {kernel_space}")
        pad_t, pad_s = kernel_time // 2, kernel_space // 2
        if not factorised:
            super().__init__(nn.Conv3d(in_channels, out_channels,
                                       (kernel_time, kernel_space, kernel_space),
                                       padding=(pad_t, pad_s, pad_s)))
            return
        area = kernel_space**2
        # Tran et al. (2018), eq. 1: as many parameters as the full kernel.
        mid = max(1, (kernel_time * area * in_channels * out_channels)
                  // (area * in_channels + kernel_time * out_channels))
        super().__init__(
            nn.Conv3d(in_channels, mid, (1, kernel_space, kernel_space), padding=(0, pad_s, pad_s)),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out_channels, (kernel_time, 1, 1), padding=(pad_t, 0, 0)),
        )


class SpaceTimeDoubleConv(nn.Sequential):
    """``(SpaceTimeConv → BatchNorm3d → ReLU) × 2``, the 3-D analogue of :class:`~averse.models.blocks.DoubleConv`.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature channels in and out.
    kernel_time : int
        Odd temporal kernel size.
    factorised : bool
        Use the (2+1)-D form of :class:`SpaceTimeConv`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_time: int = 3,
                 factorised: bool = False):
        super().__init__(
            SpaceTimeConv(in_channels, out_channels, kernel_time, factorised=factorised),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            SpaceTimeConv(out_channels, out_channels, kernel_time, factorised=factorised),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )


class TimeCollapse(nn.Module):
    """Learned combination of the ``n_times`` steps: ``(B, F, T, H, W) → (B, F, H, W)``.

    A ``(n_times, 1, 1)`` convolution without padding: every output channel
    is a weighted sum over all times and input channels at the same pixel.

    Parameters
    ----------
    channels : int
        Feature channels (kept).
    n_times : int
        Number of time steps of the input.
    """

    def __init__(self, channels: int, n_times: int):
        super().__init__()
        self.n_times = n_times
        self.conv = nn.Conv3d(channels, channels, (n_times, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.n_times:
            raise ValueError(f"expected {self.n_times} time steps, got {x.shape[2]}")
        return self.conv(x).squeeze(2)


class SpaceTimeEncoder(nn.Module):
    """U-Net encoder of space-time blocks, returning one 2-D feature map per level.

    Parameters
    ----------
    in_channels : int
        Spectral channels per time step.
    n_times : int
        Time steps of the input sequence.
    widths : sequence of int
        Widths of the levels, shallowest first; the channels per level follow
        :func:`~averse.models.decoder.skip_widths`.
    kernel_time : int
        Odd temporal kernel size of the space-time convolutions.
    factorised : bool
        Use (2+1)-D convolutions instead of full ``(kt, 3, 3)`` kernels.

    Attributes
    ----------
    skips : tuple of int
        Channels of the returned maps, shallowest first.
    """

    def __init__(self, in_channels: int, n_times: int, widths: Sequence[int] = (32, 64, 128, 256),
                 kernel_time: int = 3, factorised: bool = False):
        super().__init__()
        self.skips = skip_widths(widths)
        below = (in_channels,) + self.skips[:-1]
        self.levels = nn.ModuleList(
            SpaceTimeDoubleConv(c_in, c_out, kernel_time, factorised)
            for c_in, c_out in zip(below, self.skips)
        )
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.collapse = nn.ModuleList(TimeCollapse(c, n_times) for c in self.skips)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode ``(B, T, C, H, W)`` into maps ``(B, skips[l], H / 2**l, W / 2**l)``."""
        h = x.transpose(1, 2)  # (B, C, T, H, W): the channels are the features
        features = []
        for level, (block, collapse) in enumerate(zip(self.levels, self.collapse)):
            h = block(h if level == 0 else self.pool(h))
            features.append(collapse(h))
        return features
