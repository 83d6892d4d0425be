"""InputConfig and assemble_inputs: channel counts, the documented order, validation."""

import pytest
import torch

from averse import models
from averse.models import InputConfig, assemble_inputs

B, T, H, W = 2, 3, 8, 10
IR = ("IR_108", "WV_062")
STATS = ("mean", "wet_fraction", "p99")


def labelled_parts():
    """Parts whose every channel holds a distinct constant that says what it is."""
    radar = torch.arange(T, dtype=torch.float32)[None, :, None, None].expand(B, T, H, W)
    ir = (100 + 10 * torch.arange(T)[:, None] + torch.arange(len(IR))[None, :]).float()
    ir = ir[None, :, :, None, None].expand(B, T, len(IR), H, W)
    dem = torch.full((B, 1, H, W), -1.0)
    stats = (1000 + torch.arange(len(STATS))).float()[None, :, None, None].expand(B, -1, H, W)
    return dict(radar=radar, ir=ir, dem=dem, stats=stats)


def label(name):
    """The constant that :func:`labelled_parts` puts in channel ``name`` (from channel_names)."""
    lag = lambda s: T - 1 - int(s.split("[t-")[1].rstrip("]"))  # noqa: E731
    if name.startswith("radar["):
        return float(lag(name))
    if name.startswith("ir:"):
        return float(100 + 10 * lag(name) + IR.index(name[3:].split("[")[0]))
    if name == "dem":
        return -1.0
    return float(1000 + STATS.index(name.removeprefix("stats:")))


@pytest.mark.parametrize(
    "config, expected",
    [
        (InputConfig(), (12, 1)),
        (InputConfig(n_in=6, dem=True), (7, 2)),
        (InputConfig(n_in=4, ir_channels=IR), (12, 3)),
        (InputConfig(n_in=4, dem=True, ir_channels=IR, stats=STATS), (16, 7)),
    ],
)
def test_channel_counts(config, expected):
    assert (config.n_channels, config.n_channels_per_step) == expected
    assert len(config.channel_names()) == config.n_channels
    assert len(config.channel_names("sequence")) == config.n_channels_per_step


def test_channels_layout_follows_the_documented_order():
    config = InputConfig(n_in=T, dem=True, ir_channels=IR, stats=STATS)
    names = config.channel_names()
    assert names[:T] == ["radar[t-2]", "radar[t-1]", "radar[t-0]"]
    assert names[T:T + 2] == ["ir:IR_108[t-2]", "ir:WV_062[t-2]"]  # time-major
    assert names[-4:] == ["dem", "stats:mean", "stats:wet_fraction", "stats:p99"]
    out = assemble_inputs(config, **labelled_parts())
    assert out.shape == (B, config.n_channels, H, W)
    assert out[0, :, 0, 0].tolist() == [label(n) for n in names]
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))  # nothing mixed across pixels


def test_sequence_layout_repeats_the_static_channels_at_every_step():
    config = InputConfig(n_in=T, dem=True, ir_channels=IR, stats=STATS)
    out = assemble_inputs(config, **labelled_parts(), layout="sequence")
    assert out.shape == (B, T, config.n_channels_per_step, H, W)
    assert config.channel_names("sequence") == ["radar", "ir:IR_108", "ir:WV_062", "dem",
                                                "stats:mean", "stats:wet_fraction", "stats:p99"]
    for t in range(T):
        assert out[0, t, :, 0, 0].tolist() == [t, 100 + 10 * t, 101 + 10 * t, -1, 1000, 1001, 1002]


def test_radar_only_is_the_radar_itself():
    radar = torch.randn(B, 12, H, W)
    assert torch.equal(assemble_inputs(InputConfig(), radar), radar)
    assert torch.equal(assemble_inputs(InputConfig(), radar, layout="sequence")[:, :, 0], radar)


def test_dem_may_come_without_its_channel_axis():
    config = InputConfig(n_in=T, dem=True)
    parts = labelled_parts()
    with_axis = assemble_inputs(config, parts["radar"], dem=parts["dem"])
    without = assemble_inputs(config, parts["radar"], dem=parts["dem"][:, 0])
    assert torch.equal(with_axis, without)


@pytest.mark.parametrize(
    "config, parts, message",
    [
        (InputConfig(n_in=T, dem=True), {}, "asks for 'dem'"),
        (InputConfig(n_in=T), {"stats": torch.zeros(B, 3, H, W)}, "'stats' was given but"),
        (InputConfig(n_in=T + 1), {}, r"radar has shape \(2, 3, 8, 10\), expected \(\?, 4, "),
        (InputConfig(n_in=T, ir_channels=IR), {"ir": torch.zeros(B, T, 3, H, W)}, "ir has shape"),
        (InputConfig(n_in=T, dem=True), {"dem": torch.zeros(B, 1, H, W + 1)}, "dem has shape"),
        (InputConfig(n_in=T, stats=STATS), {"stats": torch.zeros(B, 3, H)}, "stats has shape"),
    ],
)
def test_bad_parts_are_clear_errors(config, parts, message):
    with pytest.raises(ValueError, match=message):
        assemble_inputs(config, torch.zeros(B, T, H, W), **parts)


def test_config_is_hashable_and_validated():
    assert InputConfig(ir_channels=["IR_108"]) == InputConfig(ir_channels=("IR_108",))
    assert len({InputConfig(), InputConfig(n_in=12)}) == 1
    with pytest.raises(ValueError, match="n_in and n_out"):
        InputConfig(n_out=0)
    with pytest.raises(ValueError, match="layout"):
        InputConfig().channel_names("pixels")


NOWCASTERS = ["convlstm", "smaat_unet", "smaat_unet_multilead", "unet", "unet_multilead"]


def test_the_nowcasters_are_registered():
    assert set(NOWCASTERS) <= set(models.available())


@pytest.mark.parametrize("name", NOWCASTERS)
def test_every_nowcaster_takes_what_assemble_inputs_gives_it(name):
    config = InputConfig(n_in=T, n_out=2, dem=True, ir_channels=IR, stats=STATS)
    small = {"hidden_channels": (4, 8)} if name == "convlstm" else {"widths": (4, 8, 16)}
    model = models.get(name, config=config, **small).eval()
    parts = {k: v[..., :8, :8] for k, v in labelled_parts().items()}
    with torch.no_grad():
        out = model(assemble_inputs(config, **parts, layout=model.input_layout))
    assert out.shape == (B, model.n_out, 8, 8)
