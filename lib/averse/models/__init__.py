"""Nowcasting networks, looked up by name.

Pure PyTorch and device-agnostic: models are built on the CPU and moved with
``.to(device)``; nothing inside assumes a device.

>>> from averse import models
>>> models.available()
['convlstm', 'smaat_unet', 'smaat_unet_multilead', 'unet', 'unet_multilead']
>>> cfg = models.InputConfig(n_in=12, n_out=6, dem=True)
>>> net = models.get("smaat_unet_multilead", config=cfg)   # 13 channels in, 6 out
>>> net = models.get("convlstm", hidden_channels=(16, 32), n_out=6)

Every model maps its input to ``(B, n_out, H, W)``, one channel per lead time.
Its ``input_layout`` says which input it takes from
:func:`assemble_inputs`: ``"channels"`` (``(B, C, H, W)``, the U-Nets) or
``"sequence"`` (``(B, T, C, H, W)``, the ConvLSTM).

Modules: :mod:`~averse.models.blocks` (shared U-Net blocks),
:mod:`~averse.models.unet`, :mod:`~averse.models.smaat_unet`,
:mod:`~averse.models.convlstm`, :mod:`~averse.models.inputs`,
:mod:`~averse.models.transforms` (rain transforms),
:mod:`~averse.models.losses` (NaN-masked losses).
"""

from averse.models import transforms
from averse.models import tvae  # noqa: F401  (registers "tvae", "bubble_vae", "vae")
from averse.models import diffusion, flow, irqpe  # noqa: F401  (registers the IR retrievals, see averse.models.irqpe)
from averse.models._registry import UnknownModelError, available, get, register
from averse.models.convlstm import ConvLSTMEncoderForecaster
from averse.models.inputs import InputConfig, assemble_inputs
from averse.models.losses import masked_mae, masked_mse
from averse.models.smaat_unet import SmaAtUNet, SmaAtUNetMultiLead
from averse.models.unet import UNet, UNetMultiLead

__all__ = [
    "get",
    "register",
    "available",
    "UnknownModelError",
    "InputConfig",
    "assemble_inputs",
    "UNet",
    "UNetMultiLead",
    "SmaAtUNet",
    "SmaAtUNetMultiLead",
    "ConvLSTMEncoderForecaster",
    "masked_mse",
    "masked_mae",
    "transforms",
]
