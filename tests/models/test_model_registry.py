"""The model registry: lookups by name with keyword arguments, and clear failures."""

import pytest
from torch import nn

from averse import models
from averse.errors import AverseError
from averse.models import _registry

NOWCASTING = {"convlstm", "smaat_unet", "smaat_unet_multilead", "unet", "unet_multilead"}
LATENT = {"tvae", "bubble_vae", "vae"}


def test_available_lists_every_model_family():
    available = models.available()
    assert available == sorted(available)
    assert NOWCASTING | LATENT <= set(available)


@pytest.mark.parametrize(
    "name, kwargs, cls, attributes",
    [
        ("unet", {"in_channels": 7, "n_out": 3}, models.UNet, {"in_channels": 7, "n_out": 3}),
        ("SmaAt-UNet", {"widths": (8, 16, 32)}, models.SmaAtUNet, {"in_channels": 12, "n_out": 1}),
        ("smaat_unet_multilead", {}, models.SmaAtUNetMultiLead, {"n_out": 12}),
        ("ConvLSTM", {"n_out": 4, "hidden_channels": (4, 8)}, models.ConvLSTMEncoderForecaster,
         {"in_channels": 1, "n_out": 4}),
    ],
)
def test_get_builds_the_named_model_with_its_arguments(name, kwargs, cls, attributes):
    model = models.get(name, **kwargs)
    assert type(model) is cls
    assert {key: getattr(model, key) for key in attributes} == attributes


def test_unknown_name_lists_the_available_models():
    with pytest.raises(models.UnknownModelError) as caught:
        models.get("transformer")
    assert isinstance(caught.value, (AverseError, ValueError))
    assert "'transformer'" in str(caught.value)
    for name in sorted(NOWCASTING):
        assert name in str(caught.value)


def test_unknown_keyword_fails_loudly():
    with pytest.raises(TypeError, match="hidden_channels"):
        models.get("unet", hidden_channels=(8,))


def test_register_adds_a_model_and_refuses_a_taken_name(monkeypatch):
    monkeypatch.setattr(_registry, "_MODELS", _registry._MODELS.copy())

    @models.register("Tiny-Net")
    class TinyNet(nn.Module):
        def __init__(self, width=2):
            super().__init__()
            self.width = width

    assert "tiny_net" in models.available()
    assert models.get("tiny_net", width=5).width == 5
    with pytest.raises(ValueError, match="already registered"):
        models.register("unet")(TinyNet)
