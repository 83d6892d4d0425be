"""ConvLSTM encoder–forecaster: shapes at 128×128, memory of the sequence, learning."""

import pytest
import torch

from averse import models
from averse.models.convlstm import ConvLSTMCell

from _nowcast_helpers import moving_blobs, train_steps

SMALL = {"hidden_channels": (8, 16, 16)}


def test_maps_a_sequence_to_n_out_frames_at_128():
    model = models.get("convlstm", in_channels=1, n_out=6, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 12, 1, 128, 128))
    assert out.shape == (2, 6, 128, 128)


@pytest.mark.parametrize("size", [(64, 64), (48, 80), (50, 37)])
def test_any_spatial_size_and_sequence_length(size):
    model = models.get("convlstm", in_channels=2, n_out=3, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 5, 2, *size))
    assert out.shape == (1, 3, *size)


def test_hidden_sizes_set_the_levels():
    model = models.get("convlstm", in_channels=1, n_out=2, hidden_channels=(4, 6, 10, 12))
    assert [c.hidden_channels for c in model.encoder_cells] == [4, 6, 10, 12]
    assert [c.hidden_channels for c in model.forecaster_cells] == [4, 6, 10, 12]
    # Only the coarsest forecaster level runs without an input.
    assert [c.in_channels for c in model.forecaster_cells] == [4, 6, 10, 0]
    small = sum(p.numel() for p in models.get("convlstm", hidden_channels=(4, 8)).parameters())
    large = sum(p.numel() for p in models.get("convlstm", hidden_channels=(8, 16)).parameters())
    assert large > 3 * small


def test_the_forecast_remembers_the_oldest_input_frame():
    model = models.get("convlstm", in_channels=1, n_out=4, **SMALL).eval()
    x = torch.randn(1, 6, 1, 32, 32)
    perturbed = x.clone()
    perturbed[:, 0] += 1.0  # only the first (oldest) frame changes
    with torch.no_grad():
        change = (model(perturbed) - model(x)).abs()
    assert (change.flatten(2).amax(-1) > 1e-6).all()  # every lead time feels it


def test_cell_matches_the_lstm_equations():
    cell = ConvLSTMCell(2, 3, kernel_size=1)
    x, h, c = torch.randn(1, 2, 1, 1), torch.randn(1, 3, 1, 1), torch.randn(1, 3, 1, 1)
    z = cell.gates.weight[:, :, 0, 0] @ torch.cat([x, h], 1).flatten() + cell.gates.bias
    i, f, g, o = z.split(3)
    c_new = torch.sigmoid(f) * c.flatten() + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    h_out, c_out = cell(x, (h, c))
    assert torch.allclose(c_out.flatten(), c_new, atol=1e-6)
    assert torch.allclose(h_out.flatten(), h_new, atol=1e-6)


def test_forward_and_backward_reach_every_parameter():
    model = models.get("convlstm", in_channels=3, n_out=3, **SMALL)
    model(torch.randn(2, 4, 3, 32, 32)).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_from_config_uses_the_per_step_channels():
    config = models.InputConfig(n_in=4, n_out=5, dem=True, ir_channels=("IR_108", "WV_062"),
                                stats=("mean",))
    model = models.get("convlstm", config=config, **SMALL)
    assert (model.in_channels, model.n_out) == (config.n_channels_per_step, 5) == (5, 5)


def test_wrong_layout_is_a_clear_error():
    model = models.get("convlstm", in_channels=1, **SMALL)
    with pytest.raises(ValueError, match=r"expects \(B, T, 1, H, W\)"):
        model(torch.randn(1, 12, 32, 32))


def test_nothing_is_tied_to_a_device():
    """On the meta device the zero initial states must follow the input's device."""
    model = models.get("convlstm", in_channels=1, n_out=2, **SMALL).to("meta")
    out = model(torch.empty(1, 3, 1, 32, 32, device="meta"))
    assert out.device.type == "meta" and out.shape == (1, 2, 32, 32)


def test_overfits_one_batch(generator):
    frames = moving_blobs(generator, batch=2, steps=8, size=32)
    x, y = frames[:, :6, None], frames[:, 6:]  # 6 frames in, the next 2 out
    model = models.get("convlstm", in_channels=1, n_out=2, hidden_channels=(16, 32, 32))
    first, last = train_steps(model, x, y, steps=40)
    assert last < first / 5, (first, last)
