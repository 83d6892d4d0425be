"""SmaAt-UNet: the small attention U-Net of Trebing, Stanczyk & Mehrkanoon (2021).

"SmaAt-UNet: Precipitation nowcasting using a small attention-UNet
architecture", Pattern Recognition Letters 145, 178–186,
doi:10.1016/j.patrec.2021.01.036. Reference code: HansBambel/SmaAt-UNet.

It is the bilinear U-Net of :mod:`averse.models.unet` with

- depthwise-separable double convolutions, two depthwise filters per channel
  (``kernels_per_layer=2``);
- a CBAM (channel reduction 16, 7×7 spatial attention) on each of the five
  encoder levels, applied to the skip connections and to the bottleneck.

With 12 input frames and one output frame it has 4,033,537 trainable
parameters against 17,272,577 for the plain U-Net of the same widths (the
reference code's counts; the paper rounds them to about 4 M and 17 M and
speaks of "a quarter").
The published model predicts one lead time (30 min ahead);
:class:`SmaAtUNetMultiLead` predicts all lead times of an
:class:`~averse.models.InputConfig` at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from averse.models._registry import register
from averse.models.unet import UNet

__all__ = ["SmaAtUNet", "SmaAtUNetMultiLead"]


@register("smaat_unet")
class SmaAtUNet(UNet):
    """SmaAt-UNet mapping ``(B, in_channels, H, W)`` to ``(B, n_out, H, W)``.

    Parameters
    ----------
    in_channels : int
        Input channels (12 past frames in the paper).
    n_out : int
        Output channels (1 in the paper: the frame 30 min ahead).
    widths : sequence of int
        Encoder widths (the paper's 64–1024; the bottleneck has half the last).
    kernels_per_layer : int
        Depthwise filters per channel of the separable convolutions.
    reduction : int
        Channel reduction of the CBAM MLPs.
    attention_kernel : int
        Kernel of the CBAM spatial attention.
    """

    def __init__(
        self,
        in_channels: int = 12,
        n_out: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        kernels_per_layer: int = 2,
        reduction: int = 16,
        attention_kernel: int = 7,
    ):
        super().__init__(
            in_channels=in_channels,
            n_out=n_out,
            widths=widths,
            kernels_per_layer=kernels_per_layer,
            attention_reduction=reduction,
            attention_kernel=attention_kernel,
        )


@register("smaat_unet_multilead")
class SmaAtUNetMultiLead(SmaAtUNet):
    """:class:`SmaAtUNet` predicting all ``config.n_out`` lead times at once.

    The output channels are the lead times in order (channel ``k`` is lead
    ``k + 1`` steps after the analysis time).
    """

    multi_lead = True

    def __init__(self, in_channels: int = 12, n_out: int = 12, **kwargs):
        super().__init__(in_channels=in_channels, n_out=n_out, **kwargs)
