"""U-Net and SmaAt-UNet: sizes against the paper, shapes, gradients, learning."""

import pytest
import torch

from averse import models
from averse.models.blocks import CBAM, ChannelAttention, DepthwiseSeparableConv2d

from _nowcast_helpers import moving_blobs, train_steps

UNET_NAMES = ["unet", "unet_multilead", "smaat_unet", "smaat_unet_multilead"]
SMALL = {"widths": (8, 16, 32, 64, 128)}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- the published architecture, counted by hand -------------------------------------------
# Encoder 64-128-256-512-512 (bilinear: the bottleneck has 1024 // 2), decoder
# (in, mid, out) = (1024, 512, 256), (512, 256, 128), (256, 128, 64), (128, 64, 64).
ENCODER = [(12, 64), (64, 128), (128, 256), (256, 512), (512, 512)]
DECODER = [(1024, 512, 256), (512, 256, 128), (256, 128, 64), (128, 64, 64)]


def _conv3x3(c_in, c_out, kernels_per_layer):
    if kernels_per_layer is None:
        return c_in * c_out * 9 + c_out
    depthwise = c_in * kernels_per_layer
    return depthwise * 9 + depthwise + depthwise * c_out + c_out


def _double(c_in, mid, c_out, kpl):
    return _conv3x3(c_in, mid, kpl) + 2 * mid + _conv3x3(mid, c_out, kpl) + 2 * c_out


def _cbam(c):
    hidden = c // 16
    return (c * hidden + hidden) + (hidden * c + c) + 2 * 49 + 2


def published_count(kernels_per_layer, attention):
    total = sum(_double(i, o, o, kernels_per_layer) for i, o in ENCODER)
    total += sum(_double(i, m, o, kernels_per_layer) for i, m, o in DECODER)
    total += 64 * 1 + 1  # 1×1 output convolution, one lead time
    if attention:
        total += sum(_cbam(o) for _, o in ENCODER)
    return total


def test_parameter_counts_match_the_published_architecture():
    unet, smaat = models.get("unet", in_channels=12, n_out=1), models.get("smaat_unet")
    assert n_params(unet) == published_count(None, attention=False) == 17_272_577
    assert n_params(smaat) == published_count(2, attention=True) == 4_033_537
    # The paper: ~17.3 M for the U-Net, ~4 M for SmaAt-UNet, "a quarter of the parameters".
    assert n_params(unet) == pytest.approx(17.3e6, rel=0.01)
    assert n_params(smaat) == pytest.approx(4.1e6, rel=0.03)
    assert n_params(smaat) / n_params(unet) < 0.25


def test_smaat_unet_has_separable_convolutions_and_five_cbams():
    smaat = models.get("smaat_unet")
    assert sum(isinstance(m, CBAM) for m in smaat.modules()) == 5
    separable = [m for m in smaat.modules() if isinstance(m, DepthwiseSeparableConv2d)]
    assert len(separable) == 18  # two per double convolution, nine double convolutions
    depthwise = separable[0][0]
    assert depthwise.groups == depthwise.in_channels
    assert depthwise.out_channels == 2 * depthwise.in_channels
    assert not any(isinstance(m, CBAM) for m in models.get("unet").modules())


def test_channel_attention_rescales_each_channel_by_a_sigmoid_weight():
    attention = ChannelAttention(64, reduction=16)
    x = torch.rand(2, 64, 8, 8) + 0.1
    out = attention(x)
    ratio = out / x
    per_channel = ratio[..., :1, :1].expand_as(ratio)
    assert torch.allclose(ratio, per_channel, atol=1e-6)  # one weight per channel
    assert ((ratio > 0) & (ratio < 1)).all()
    (out * torch.randn_like(out)).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in attention.parameters())


@pytest.mark.parametrize("name", UNET_NAMES)
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (50, 37)])
def test_unets_keep_the_spatial_size(name, size):
    model = models.get(name, in_channels=5, n_out=3, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 5, *size))
    assert out.shape == (2, 3, *size)


@pytest.mark.parametrize("name", UNET_NAMES)
def test_forward_and_backward_reach_every_parameter(name):
    model = models.get(name, in_channels=12, n_out=2, **SMALL)
    out = model(torch.randn(2, 12, 64, 64))
    out.square().mean().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        # At these widths a CBAM MLP has one ReLU unit, which may be off for a whole batch
        # (then the MLP gets no gradient); the MLP's own test checks its gradients.
        if ".mlp." not in pname:
            assert param.grad.abs().sum() > 0, pname


def test_from_config_sizes_single_and_multi_lead_models():
    config = models.InputConfig(n_in=6, n_out=4, dem=True, ir_channels=("IR_108",), stats=("mean",))
    single = models.get("smaat_unet", config=config, **SMALL)
    multi = models.get("smaat_unet_multilead", config=config, **SMALL)
    assert single.in_channels == multi.in_channels == config.n_channels == 6 * 2 + 2
    assert (single.n_out, multi.n_out) == (1, 4)
    assert models.get("unet", config=config, n_out=2, **SMALL).n_out == 2


def test_wrong_number_of_input_channels_is_a_clear_error():
    model = models.get("unet", in_channels=12, **SMALL)
    with pytest.raises(ValueError, match=r"expects \(B, 12, H, W\)"):
        model(torch.randn(1, 11, 32, 32))


@pytest.mark.parametrize("name", ["unet", "smaat_unet_multilead"])
def test_nothing_is_tied_to_a_device(name):
    """On the meta device any tensor made on a hard-coded device would raise."""
    model = models.get(name, in_channels=4, n_out=2, **SMALL).to("meta")
    out = model(torch.empty(2, 4, 32, 32, device="meta"))
    assert out.device.type == "meta" and out.shape == (2, 2, 32, 32)


@pytest.mark.parametrize("name", ["unet_multilead", "smaat_unet_multilead"])
def test_a_small_unet_overfits_one_batch(name, generator):
    frames = moving_blobs(generator, batch=2, steps=8, size=32)
    x, y = frames[:, :6], frames[:, 6:]  # 6 frames in, the next 2 out
    model = models.get(name, in_channels=6, n_out=2, widths=(16, 32, 64, 128, 256))
    first, last = train_steps(model, x, y, steps=40)
    assert last < first / 5, (first, last)
