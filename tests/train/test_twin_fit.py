"""End to end: a SmaAt-UNet with every auxiliary input trained on a small twin world by name."""

import torch

from averse.train import TrainConfig, fit, load_model
from averse.twin import get_region


def test_fit_on_the_twin_with_auxiliary_inputs(tmp_path):
    config = TrainConfig(
        model="smaat_unet_multilead",
        model_kwargs={"widths": (16, 32), "reduction": 4},
        task_kwargs={"loss": "bmse", "transform": {"name": "db", "threshold": 0.1}},
        data={"source": "twin", "source_kwargs": {"region": get_region("idf", nx=64, ny=64), "days": 0.5},
              "n_in": 4, "n_out": 3, "crop": 32, "dem": True, "ir_channels": ["ir_108", "wv_062"],
              "stats": ["mean_rate", "wet_fraction"], "split": {"block": "3h", "gap": "15min"}},
        epochs=1, batch_size=4, limit_train_batches=3, limit_val_batches=2, progress_bar=False,
        out_dir=str(tmp_path / "twin_run"),
    )
    result = fit(config)
    assert result.task.model.in_channels == 4 * 3 + 1 + 2
    assert torch.isfinite(torch.tensor(result.metrics.loc[0, ["val/loss", "val/mae"]].to_numpy(float))).all()
    checkpoint = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["averse"]["config"]["data"]["source_kwargs"]["region"] == "<Region idf>"
    model = load_model(result.last_checkpoint)
    batch = next(iter(result.trainer.datamodule.val_dataloader()))
    rates = model.predict_rates(batch)
    assert rates.shape == (4, 3, 32, 32) and (rates >= 0).all()
