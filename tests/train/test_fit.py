"""The training entry point: toy training, resume after a kill, logs, checkpoints, scores."""

import lightning as L
import numpy as np
import pytest
import torch
from pysteps.verification.detcatscores import det_cat_fct
from torch import nn

from averse import models
from averse.data import NowcastDataModule
from averse.models import InputConfig
from averse.models import _registry as model_registry
from averse.train import (
    RegressionTask,
    TrainConfig,
    fit,
    get_loss,
    load_model,
    read_metrics,
    resolve_device,
    resolve_precision,
    task_for_model,
)
from averse.train.losses import balance_weights


@pytest.fixture(scope="module")
def two_epochs(moving_world, tmp_path_factory):
    """Keyword arguments and result of an uninterrupted 2-epoch run."""
    run = dict(model="unet_multilead", model_kwargs={"widths": (8, 16)},
               data={"source": moving_world, "n_in": 3, "n_out": 2, "crop": 32,
                     "split": {"block": "6h", "gap": "15min", "seed": 0}},
               batch_size=8, lr=3e-3, limit_train_batches=8, limit_val_batches=2, progress_bar=False,
               log_every_n_steps=1)
    result = fit(TrainConfig(**run, epochs=2, out_dir=str(tmp_path_factory.mktemp("full") / "run")))
    return run, result


def test_device_auto_resolves_to_the_cpu_here(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("auto") == ("cpu", 1)
    assert resolve_device("cpu", devices=2) == ("cpu", 2)
    assert resolve_precision("auto", "cpu") == "32-true"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_device("auto") == ("cuda", 1)
    assert resolve_device("cuda:1") == ("cuda", [1])
    assert resolve_precision("auto", "cuda") == "16-mixed"
    assert resolve_precision("bf16-mixed", "cuda") == "bf16-mixed"


def test_config_is_checked():
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"model": "unet", "epoch": 3})
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(data={"batch_size": 4})
    assert task_for_model("smaat_unet") == "regression"


def test_balanced_loss_weights_and_masks():
    rates = torch.tensor([0.0, 1.99, 2.0, 7.0, 12.0, 30.0, float("nan")])
    assert balance_weights(rates).tolist() == [1.0, 1.0, 2.0, 5.0, 10.0, 30.0, 0.0]
    prediction = torch.zeros(7, requires_grad=True)
    target = torch.log1p(rates)
    loss = get_loss("bmse")(prediction, target, rates)
    loss.backward()
    expected = (balance_weights(rates)[:6] * target[:6] ** 2).sum() / 6
    assert torch.isclose(loss, expected)
    assert torch.isfinite(prediction.grad).all() and prediction.grad[-1] == 0
    with pytest.raises(ValueError, match="available"):
        get_loss("huber")


def test_training_reduces_the_loss_and_writes_csv_metrics(two_epochs):
    _, result = two_epochs
    metrics = result.metrics
    assert list(metrics.index) == [0, 1]
    assert metrics.loc[1, "train/loss_epoch"] < 0.8 * metrics.loc[0, "train/loss_epoch"]
    assert metrics.loc[1, "val/loss"] < metrics.loc[0, "val/loss"]
    assert {"val/mae", "val/csi_0.1", "val/csi_1", "val/csi_5"} <= set(metrics.columns)
    assert (result.out_dir / "logs" / "version_0" / "metrics.csv").is_file()
    assert list((result.out_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert (result.out_dir / "config.json").is_file()


def test_resume_after_a_kill_continues_where_it_stopped(two_epochs, tmp_path):
    run, uninterrupted = two_epochs
    out_dir = str(tmp_path / "killed")
    first = fit(TrainConfig(**run, epochs=1, out_dir=out_dir))  # "killed" after one epoch
    assert first.resumed_from is None and first.trainer.global_step == 8
    resumed = fit(TrainConfig(**run, epochs=2, out_dir=out_dir))
    assert resumed.resumed_from == first.last_checkpoint
    assert (resumed.start_epoch, resumed.start_step) == (1, 8)
    assert resumed.trainer.global_step == uninterrupted.trainer.global_step == 16
    for (name, value), other in zip(resumed.task.state_dict().items(), uninterrupted.task.state_dict().values()):
        assert torch.equal(value, other), name
    assert list(resumed.metrics.index) == [0, 1]  # both calls' logs joined
    np.testing.assert_allclose(resumed.metrics["val/loss"], uninterrupted.metrics["val/loss"], rtol=1e-6)
    finished = fit(TrainConfig(**run, epochs=2, out_dir=out_dir))  # nothing left to do
    assert (finished.start_epoch, finished.start_step, finished.trainer.global_step) == (2, 16, 16)


def test_last_checkpoint_is_the_last_epoch_even_when_the_loss_stops_improving(two_epochs, tmp_path, monkeypatch):
    monkeypatch.setattr(model_registry, "_MODELS", model_registry._MODELS.copy())
    models.register("stuck_persistence")(_Stuck)
    run, _ = two_epochs
    stuck = fit(TrainConfig(**{**run, "model": "stuck_persistence", "model_kwargs": {}}, epochs=3,
                            out_dir=str(tmp_path / "stuck")))
    assert "epoch=000" in stuck.best_checkpoint.name
    last = torch.load(stuck.last_checkpoint, weights_only=True, map_location="cpu")
    assert (last["epoch"], last["global_step"]) == (2, 24)  # a killed run resumes from here, not from the best


def test_checkpoints_load_with_weights_only(two_epochs):
    _, result = two_epochs
    for path in (result.best_checkpoint, result.last_checkpoint):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        assert checkpoint["averse"]["task"] == "regression"
        assert checkpoint["hyper_parameters"]["transform"] == {"name": "log", "offset": 1.0}
    model = load_model(result.last_checkpoint)
    assert not model.training
    batch = next(iter(result.trainer.datamodule.val_dataloader()))
    trained = result.task.eval()
    torch.testing.assert_close(model.predict_rates(batch), trained.predict_rates(batch))
    assert read_metrics(result.out_dir).shape[0] == 2


class Persistence(nn.Module):
    """The last input frame (transformed space) for every lead."""

    input_layout = "channels"

    def __init__(self, n_out: int):
        super().__init__()
        self.n_out = n_out

    def forward(self, x):
        return x[:, -1:].repeat(1, self.n_out, 1, 1)


class _Stuck(Persistence):
    """Persistence with a weight that changes nothing: the validation loss never improves."""

    def __init__(self, n_out: int):
        super().__init__(n_out)
        self.weight = nn.Parameter(torch.ones(()))

    @classmethod
    def from_config(cls, config):
        return cls(config.n_out)

    def forward(self, x):
        return super().forward(x) + 0.0 * self.weight


def test_validation_scores_are_epoch_totals_in_mm_per_hour(moving_world):
    dm = NowcastDataModule(moving_world, n_in=3, n_out=2, crop=32, batch_size=4,
                           split={"block": "6h", "gap": "15min", "seed": 0})
    dm.setup()
    task = RegressionTask(Persistence(2), input_config=dm.input_config, thresholds=(0.5, 2.0))
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False)
    scores = trainer.validate(task, datamodule=dm, verbose=False)[0]
    batches = list(dm.val_dataloader())
    forecast = np.concatenate([np.nan_to_num(b["radar"][:, -1:].repeat(1, 2, 1, 1).numpy()) for b in batches])
    observed = np.concatenate([b["target"].numpy() for b in batches])
    valid = np.isfinite(observed)
    assert scores["val/mae"] == pytest.approx(np.abs(forecast - observed)[valid].mean(), rel=1e-4)
    for threshold in (0.5, 2.0):
        expected = det_cat_fct(forecast, observed, threshold, ["CSI"])["CSI"]
        assert scores[f"val/csi_{threshold:g}"] == pytest.approx(expected, rel=1e-5)


def test_single_output_models_need_a_lead():
    config = InputConfig(n_in=3, n_out=2)
    with pytest.raises(ValueError, match="lead"):
        RegressionTask("unet", model_kwargs={"widths": (8, 16)}, input_config=config)
    task = RegressionTask("unet", model_kwargs={"widths": (8, 16)}, input_config=config, lead=2)
    batch = {"radar": torch.rand(2, 3, 16, 16), "target": torch.rand(2, 2, 16, 16)}
    loss, prediction, rates = task._loss(batch)
    assert prediction.shape == (2, 1, 16, 16) and torch.equal(rates, batch["target"][:, 1:2])


class _Zero(nn.Module):
    n_out = 2

    def forward(self, x):
        return torch.zeros_like(x[:, :1]).repeat(1, self.n_out, 1, 1)


def test_a_residual_network_adds_its_output_to_the_last_frame():
    config = InputConfig(n_in=3, n_out=2)
    radar = torch.rand(2, 3, 16, 16) * 10
    radar[0, -1, :2, :2] = float("nan")
    batch = {"radar": radar, "target": torch.rand(2, 2, 16, 16)}
    persistence = RegressionTask(_Zero(), input_config=config, residual=True).predict_rates(batch)
    expected = torch.nan_to_num(radar[:, -1:], nan=0.0).repeat(1, 2, 1, 1)
    torch.testing.assert_close(persistence, expected, rtol=1e-5, atol=1e-5)
    zero = RegressionTask(_Zero(), input_config=config).predict_rates(batch)
    assert torch.all(zero == 0)


def test_unknown_task_is_a_clear_error(tiny_run):
    with pytest.raises(ValueError, match="regression"):
        fit(TrainConfig(**tiny_run, task="flow_matching", epochs=1))
