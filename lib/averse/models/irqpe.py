"""Deterministic rain retrieval from geostationary infrared (IR quantitative precipitation estimation).

The task: the rain field at time ``t`` from SEVIRI-like brightness temperatures
(``ir_108``, ``ir_120``, ``wv_062``; scaled as in :mod:`averse.data.auxiliary`)
at ``t`` and optionally at ``t − 15 min``, ``t − 30 min``, ... Every model here
takes ``(B, T, C, H, W)`` — ``T`` times, oldest first, ``C`` channels — and
returns ``(B, 1, H, W)`` in the transformed rain space of its ``transform``
(log1p by default, :mod:`averse.models.transforms`). Registered names:

- ``"irqpe_unet"`` (:class:`IRQPEUNet`) — the :class:`~averse.models.UNet` on
  the ``T × C`` images stacked as channels (time-major). With ``T = 1`` it is
  the single-image retrieval; with ``T > 1`` only the input width changes.
- ``"irqpe_spacetime"`` (:class:`IRQPESpaceTime`) — an encoder of space-time
  convolutions over ``(time, y, x)`` with the channels as features
  (:mod:`averse.models.spacetime`: full ``(kt, 3, 3)`` kernels or (2+1)-D),
  time collapsed at every level, then a 2-D U-Net decoder.
- ``"irqpe_convlstm"`` (:class:`IRQPEConvLSTM`) — a recurrent U-Net encoder: at
  each level a per-image convolution block, then a
  :class:`~averse.models.convlstm.ConvLSTMCell` run over the times; its last
  hidden state is the level's skip for the 2-D decoder.

A regressor trained with the mean squared error in the transformed space
estimates the conditional mean: it places rain well but is smoother than rain
(see :mod:`averse.models.generative` for ensembles).

Training interface (used by the training entry point)
-----------------------------------------------------
``model.loss(batch)`` with ``batch["ir"]`` ``(B, T, C, H, W)`` (NaN filled
with 0, the scaled 250 K) and ``batch["target"]`` ``(B, 1, H, W)`` or
``(B, H, W)`` rain rates in mm/h, NaN where unobserved (left out of the loss).
``model.predict_rates(ir)`` gives mm/h for scoring. The transform travels with
the weights (``state_dict`` extra state). ``task = "irqpe"`` names the training
task of :mod:`averse.train` (:mod:`averse.train.retrieval`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from averse.models import transforms as rain_transforms
from averse.models._registry import register
from averse.models.blocks import DoubleConv, Down
from averse.models.convlstm import ConvLSTMCell, _per_frame
from averse.models.decoder import UNetDecoder, skip_widths
from averse.models.losses import masked_mse
from averse.models.spacetime import SpaceTimeEncoder
from averse.models.unet import UNet

__all__ = ["RainRetrieval", "IRQPEUNet", "IRQPESpaceTime", "IRQPEConvLSTM"]


class RainRetrieval:
    """Mixin of the retrieval models: input checks, rain transform, loss.

    Subclasses call :meth:`_setup_retrieval` in their constructor and map
    :meth:`check_input`'s output to ``(B, 1, H, W)`` in ``forward``.
    """

    input_layout = "sequence"
    #: Training task of :mod:`averse.train` (see :mod:`averse.train.retrieval`).
    task = "irqpe"

    def _setup_retrieval(self, n_times: int, n_channels: int,
                         transform: rain_transforms.RainTransform | None) -> None:
        if n_times < 1 or n_channels < 1:
            raise ValueError(f"n_times and n_channels must be >= 1, got {n_times}, {n_channels}")
        self.n_times = int(n_times)
        self.n_channels = int(n_channels)
        self.transform = transform if transform is not None else rain_transforms.LogTransform(1.0)

    def check_input(self, ir: torch.Tensor) -> torch.Tensor:
        """Check ``(B, n_times, n_channels, H, W)`` and fill NaN with 0 (the scaled 250 K)."""
        if ir.dim() != 5 or ir.shape[1:3] != (self.n_times, self.n_channels):
            raise ValueError(
                f"{type(self).__name__} expects IR of shape (B, {self.n_times}, "
                f"{self.n_channels}, H, W), got {tuple(ir.shape)}"
            )
        return torch.nan_to_num(ir, nan=0.0)

    def targets(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``batch["target"]`` (mm/h) in the transformed space, ``(B, 1, H, W)``, NaN kept."""
        target = batch["target"]
        if target.dim() == 3:
            target = target.unsqueeze(1)
        if target.dim() != 4 or target.shape[1] != 1:
            raise ValueError(f"target must be (B, 1, H, W) or (B, H, W), got {tuple(target.shape)}")
        return self.transform.forward(target.float())

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Masked mean squared error in the transformed space (NaN targets left out)."""
        return masked_mse(self(batch["ir"]), self.targets(batch))

    def predict_rates(self, ir: torch.Tensor, **options) -> torch.Tensor:
        """Retrieved rain rates in mm/h: ``self(ir, **options)`` transformed back.

        ``(B, 1, H, W)`` for a regressor; ``(B, N, 1, H, W)`` for a generative
        model, whose call draws an ensemble.
        """
        return self.transform.inverse(self(ir, **options))

    def get_extra_state(self) -> dict:
        """The rain transform, saved with the weights."""
        return {"transform": self.transform.to_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.transform = rain_transforms.from_dict(state["transform"])


@register("irqpe_unet")
class IRQPEUNet(RainRetrieval, UNet):
    """U-Net retrieval on the ``T × C`` IR images stacked as channels.

    Parameters
    ----------
    n_times : int
        IR times (1: the image at ``t`` only).
    n_channels : int
        Spectral channels per time.
    widths : sequence of int
        U-Net widths, shallowest first.
    transform : RainTransform, optional
        Rain transform of the targets (default log1p).
    **unet_options
        ``kernels_per_layer``, ``attention_reduction``, ``attention_kernel`` of
        :class:`~averse.models.UNet` (SmaAt-style blocks).
    """

    def __init__(self, n_times: int = 1, n_channels: int = 3,
                 widths: Sequence[int] = (32, 64, 128, 256),
                 transform: rain_transforms.RainTransform | None = None, **unet_options):
        UNet.__init__(self, in_channels=n_times * n_channels, n_out=1, widths=widths, **unet_options)
        self._setup_retrieval(n_times, n_channels, transform)

    def forward(self, ir: torch.Tensor) -> torch.Tensor:
        """Map ``(B, T, C, H, W)`` to ``(B, 1, H, W)``."""
        return super().forward(self.check_input(ir).flatten(1, 2))


@register("irqpe_spacetime")
class IRQPESpaceTime(RainRetrieval, nn.Module):
    """Space-time convolutional encoder over ``(time, y, x)``, 2-D U-Net decoder.

    Parameters
    ----------
    n_times, n_channels, transform
        As :class:`IRQPEUNet`.
    widths : sequence of int
        Widths of the levels, shallowest first.
    kernel_time : int
        Odd temporal kernel size.
    factorised : bool
        (2+1)-D convolutions instead of full ``(kt, 3, 3)`` kernels.
    """

    def __init__(self, n_times: int = 1, n_channels: int = 3,
                 widths: Sequence[int] = (32, 64, 128, 256), kernel_time: int = 3,
                 factorised: bool = False,
                 transform: rain_transforms.RainTransform | None = None):
        nn.Module.__init__(self)
        self._setup_retrieval(n_times, n_channels, transform)
        self.encoder = SpaceTimeEncoder(n_channels, n_times, widths, kernel_time, factorised)
        self.decoder = UNetDecoder(self.encoder.skips)
        self.head = nn.Conv2d(self.decoder.out_channels, 1, kernel_size=1)

    def forward(self, ir: torch.Tensor) -> torch.Tensor:
        """Map ``(B, T, C, H, W)`` to ``(B, 1, H, W)``."""
        return self.head(self.decoder(self.encoder(self.check_input(ir))))


@register("irqpe_convlstm")
class IRQPEConvLSTM(RainRetrieval, nn.Module):
    """Recurrent U-Net encoder (ConvLSTM per level), 2-D U-Net decoder.

    Parameters
    ----------
    n_times, n_channels, transform
        As :class:`IRQPEUNet`.
    widths : sequence of int
        Widths of the levels, shallowest first; each level's ConvLSTM has as
        many hidden channels as the level.
    kernel_size : int
        Kernel of the ConvLSTM gate convolutions.
    """

    def __init__(self, n_times: int = 1, n_channels: int = 3,
                 widths: Sequence[int] = (32, 64, 128, 256), kernel_size: int = 3,
                 transform: rain_transforms.RainTransform | None = None):
        nn.Module.__init__(self)
        self._setup_retrieval(n_times, n_channels, transform)
        skips = skip_widths(widths)
        self.convs = nn.ModuleList(
            [DoubleConv(n_channels, skips[0])]
            + [Down(c_in, c_out) for c_in, c_out in zip(skips[:-1], skips[1:])]
        )
        self.cells = nn.ModuleList(ConvLSTMCell(c, c, kernel_size) for c in skips)
        self.decoder = UNetDecoder(skips)
        self.head = nn.Conv2d(self.decoder.out_channels, 1, kernel_size=1)

    def forward(self, ir: torch.Tensor) -> torch.Tensor:
        """Map ``(B, T, C, H, W)`` to ``(B, 1, H, W)``."""
        seq = self.check_input(ir)
        features = []
        for conv, cell in zip(self.convs, self.cells):
            seq = _per_frame(conv, seq)
            state = cell.initial_state(seq[:, 0], *seq.shape[-2:])
            seq, (hidden, _) = cell.unroll(seq, state, self.n_times)
            features.append(hidden)
        return self.head(self.decoder(features))
