"""IR rain retrieval networks: shapes for every input configuration, use of time, loss, state."""

import io

import pytest
import torch

from averse import models
from averse.models import irqpe, transforms
from averse.models.losses import masked_mse
from averse.models.spacetime import SpaceTimeConv

SMALL = {"widths": (8, 16, 32)}
NAMES = ["irqpe_unet", "irqpe_spacetime", "irqpe_convlstm"]


def build(name: str, n_times: int, n_channels: int, **kwargs) -> torch.nn.Module:
    return models.get(name, n_times=n_times, n_channels=n_channels, **SMALL, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_times", [1, 2, 4])
@pytest.mark.parametrize("n_channels", [1, 2, 3])
def test_every_model_maps_ir_sequences_to_one_rain_field(name, n_times, n_channels):
    model = build(name, n_times, n_channels).eval()
    with torch.no_grad():
        out = model(torch.randn(2, n_times, n_channels, 32, 32))
    assert out.shape == (2, 1, 32, 32)
    assert torch.isfinite(out).all()


def test_registry_names_and_stacked_channels():
    assert isinstance(models.get("irqpe_unet"), irqpe.IRQPEUNet)
    assert isinstance(models.get("irqpe_spacetime", **SMALL), irqpe.IRQPESpaceTime)
    assert isinstance(models.get("irqpe_convlstm", **SMALL), irqpe.IRQPEConvLSTM)
    # Variant (a): T times stacked as channels only widens the first convolution.
    assert build("irqpe_unet", 4, 3).in_channels == 12


@pytest.mark.parametrize("name,options", [
    ("irqpe_unet", {}),
    ("irqpe_spacetime", {}),
    ("irqpe_spacetime", {"factorised": True}),
    ("irqpe_convlstm", {}),
])
def test_the_oldest_image_changes_the_retrieval(name, options):
    model = build(name, 4, 3, **options).eval()
    ir = torch.randn(1, 4, 3, 32, 32)
    older = ir.clone()
    older[:, 0] += 1.0  # only the image at t - 45 min changes
    with torch.no_grad():
        change = (model(older) - model(ir)).abs()
    assert change.amax() > 1e-5
    assert (change > 0).float().mean() > 0.5  # felt across the field, not at one pixel


def test_space_time_convolution_mixes_neighbouring_times_only():
    torch.manual_seed(0)
    conv = SpaceTimeConv(2, 4, kernel_time=3)
    x = torch.randn(1, 2, 5, 8, 8)  # (B, C, T, H, W)
    shifted = x.clone()
    shifted[:, :, 0] += 1.0
    with torch.no_grad():
        change = (conv(shifted) - conv(x)).abs().amax(dim=(0, 1, 3, 4))
    assert change[0] > 1e-3 and change[1] > 1e-3  # t and t + 1 see time 0
    assert torch.all(change[2:] == 0)              # beyond the kernel's reach: nothing


@pytest.mark.parametrize("kernel_time", [1, 3])
def test_factorised_kernel_costs_about_the_full_kernel(kernel_time):
    def weights(module):
        return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Conv3d))

    full = weights(SpaceTimeConv(16, 32, kernel_time))
    factorised = weights(SpaceTimeConv(16, 32, kernel_time, factorised=True))
    assert abs(factorised - full) / full < 0.05


def test_wrong_input_shapes_are_refused_with_the_expected_shape():
    model = build("irqpe_spacetime", 2, 3)
    with pytest.raises(ValueError, match=r"\(B, 2, 3, H, W\)"):
        model(torch.randn(1, 3, 3, 16, 16))
    with pytest.raises(ValueError, match="odd"):
        SpaceTimeConv(1, 1, kernel_time=2)


def test_nan_inputs_are_filled_and_nan_targets_left_out_of_the_loss():
    torch.manual_seed(0)
    model = build("irqpe_convlstm", 2, 3)
    ir = torch.randn(2, 2, 3, 16, 16)
    ir[0, 1, 2, :4, :4] = float("nan")
    rates = 5 * torch.rand(2, 16, 16)
    rates[1, 8:] = float("nan")
    loss = model.loss({"ir": ir, "target": rates})
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        expected = masked_mse(model(ir), torch.log1p(rates).unsqueeze(1))
        other = rates.clone()
        other[1, 8:] = 100.0  # what the NaN hid must not matter
        assert torch.isclose(loss, expected)
        assert not torch.isclose(model.loss({"ir": ir, "target": other}), expected)


def test_transform_travels_with_the_weights():
    model = build("irqpe_unet", 1, 3, transform=transforms.DBTransform(threshold=0.2))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build("irqpe_unet", 1, 3)
    assert fresh.transform == transforms.LogTransform(1.0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.transform == transforms.DBTransform(threshold=0.2)
    with torch.no_grad():
        rates = fresh.eval().predict_rates(torch.randn(1, 1, 3, 16, 16))
    assert rates.shape == (1, 1, 16, 16) and (rates >= 0).all()


def _cooling_batch(generator: torch.Generator, n_times: int) -> dict[str, torch.Tensor]:
    """Rain where the cloud top cooled between two images (log1p rain = the cooling)."""
    ir = torch.randn(4, 2, 1, 16, 16, generator=generator)
    cooling = torch.relu(ir[:, 0] - ir[:, 1])
    return {"ir": ir[:, 2 - n_times:], "target": torch.expm1(cooling)}


@pytest.mark.parametrize("name,n_times,bound", [
    ("irqpe_unet", 2, 0.25),
    ("irqpe_spacetime", 2, 0.25),
    ("irqpe_convlstm", 2, 0.25),
    ("irqpe_unet", 1, None),  # the control: the latest image alone cannot tell the cooling
])
def test_temporal_models_learn_the_cooling_rate(name, n_times, bound):
    generator = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    model = build(name, n_times, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        model.loss(_cooling_batch(generator, n_times)).backward()
        optimiser.step()
    with torch.no_grad():
        held_out = model.eval().loss(_cooling_batch(torch.Generator().manual_seed(99), n_times)).item()
    if bound is None:
        assert held_out > 0.35
    else:
        assert held_out < bound


@pytest.mark.parametrize("task_name,model,metrics", [
    ("irqpe", "irqpe_spacetime", {"val/loss", "val/mae"}),
    ("generative", "residual_flow", {"val/loss"}),
])
def test_training_task_fits_and_rebuilds_from_its_hyperparameters(tmp_path, task_name, model, metrics):
    import lightning as L

    from averse.train import get_task
    from averse.train.retrieval import RetrievalTask  # registers "irqpe" and "generative"

    torch.manual_seed(0)
    task = get_task(task_name)(model, model_kwargs={"n_times": 2, "n_channels": 3, **SMALL},
                               transform={"name": "db", "threshold": 0.1})
    rates = 3 * torch.rand(4, 1, 16, 16)
    rates[0, 0, :3] = float("nan")
    batches = [{"ir": torch.randn(2, 2, 3, 16, 16), "target": rates[:2]},
               {"ir": torch.randn(2, 2, 3, 16, 16), "target": rates[2:]}]
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(task, train_dataloaders=loader, val_dataloaders=loader)
    assert metrics <= set(trainer.callback_metrics)
    assert all(torch.isfinite(trainer.callback_metrics[m]) for m in metrics)
    assert isinstance(task, RetrievalTask)
    rebuilt = RetrievalTask(**task.hparams)
    rebuilt.load_state_dict(task.state_dict())
    assert rebuilt.model.transform == transforms.DBTransform(threshold=0.1)
