"""The data module on a real (small) twin world from ``averse.open_dataset("twin", ...)``."""

import numpy as np
import pandas as pd
import pytest

import averse
from averse.data import NowcastDataModule
from averse.grid import ConservativeRegridder, RegularGrid
from averse.twin import get_region


@pytest.fixture(scope="module")
def twin():
    """Half a day over a 64 × 64 km Ile-de-France-like box, with its sensors."""
    return averse.open_dataset("twin", region=get_region("idf", nx=64, ny=64), days=0.5)


def test_twin_samples_hold_aligned_radar_dem_ir_and_statistics(twin):
    dm = NowcastDataModule(twin, n_in=4, n_out=6, crop=32, dem=True, ir_channels=("ir_108",),
                           stats=("mean_rate", "wet_fraction"), split={"block": "3h", "gap": "15min"}, batch_size=4)
    dm.setup()
    assert all(len(d) > 0 for d in dm.datasets.values())
    radar = twin["radar"]["precip"]
    seviri = twin["seviri"]
    regridder = ConservativeRegridder(RegularGrid.from_dataset(seviri), RegularGrid.from_dataset(radar))
    dataset = dm.datasets["val"]
    for i in (0, len(dataset) - 1):
        sample = dataset[i]
        rows, cols = (slice(int(c), int(c) + 32) for c in sample["corner"])
        analysis = pd.Timestamp(int(sample["analysis_time"]))
        step = pd.Timedelta("5min")
        frames = radar.sel(time=pd.date_range(analysis - 3 * step, periods=10, freq=step))  # 4 past, 6 ahead
        np.testing.assert_array_equal(sample["radar"].numpy(), frames.values[:4, rows, cols])
        np.testing.assert_array_equal(sample["target"].numpy(), frames.values[4:, rows, cols])
        for k, when in enumerate(frames["time"].values[:4]):
            image = seviri["ir_108"].sel(time=when, method="ffill")  # latest image at or before the frame
            assert pd.Timestamp(image["time"].values) <= pd.Timestamp(when)
            expected = (regridder.regrid_array(image.values.astype(np.float32)) - 250.0) / 25.0
            np.testing.assert_allclose(sample["ir"][k, 0].numpy(), expected[rows, cols], rtol=1e-5)
        np.testing.assert_allclose(sample["dem"][0].numpy(), twin["static"]["dem"].values[rows, cols] / 1000.0,
                                   rtol=1e-6)
    batch = next(iter(dm.train_dataloader()))
    assert batch["stats"].shape == (4, 2, 32, 32) and np.isfinite(batch["stats"].numpy()).all()
