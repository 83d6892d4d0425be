"""Fixtures of the training tests: a small moving-rain world and a tiny run configuration."""

import sys
from pathlib import Path

import pytest

# The twin-like store writer is shared with the data tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from _toy_world import moving_fields, open_toy_world, step_times, write_toy_world  # noqa: E402


@pytest.fixture(scope="session")
def moving_world(tmp_path_factory):
    """30 h of smooth rain moving one pixel per step on 33 × 33 pixels, with NaN in a corner."""
    times = step_times(360)
    precip = moving_fields(360, (33, 33))
    precip[:, :4, :4] = float("nan")
    path = write_toy_world(tmp_path_factory.mktemp("train") / "moving.zarr", precip, times, seviri=False)
    return open_toy_world(path)


@pytest.fixture
def tiny_run(moving_world, tmp_path):
    """Keyword arguments of a TrainConfig for a run of a few seconds on the CPU."""
    return dict(
        model="unet_multilead",
        model_kwargs={"widths": (8, 16)},
        data={"source": moving_world, "n_in": 3, "n_out": 2, "crop": 32,
              "split": {"block": "6h", "gap": "15min", "seed": 0}},
        batch_size=8,
        lr=3e-3,
        limit_train_batches=8,
        limit_val_batches=2,
        progress_bar=False,
        log_every_n_steps=1,
        out_dir=str(tmp_path / "run"),
    )
