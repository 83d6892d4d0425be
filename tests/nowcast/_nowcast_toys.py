"""Toy data of the nowcasting-experiment tests (a small moving-rain world, a persistence "network") and their fixtures."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# The twin-like store writer is shared with the data tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from _toy_world import moving_fields, open_toy_world, step_times, write_toy_world  # noqa: E402
from averse.models import InputConfig  # noqa: E402

SPLIT = {"block": "6h", "gap": "15min", "seed": 0}


@pytest.fixture(scope="session")
def moving_world(tmp_path_factory):
    """30 h of smooth rain moving one pixel per step on 33 × 33 pixels (with /seviri)."""
    times = step_times(360)
    precip = moving_fields(360, (33, 33))
    path = write_toy_world(tmp_path_factory.mktemp("nowcast") / "moving.zarr", precip, times)
    return open_toy_world(path)


class PersistenceTask(torch.nn.Module):
    """A stand-in for a trained task: every lead is the last input frame (NaN as 0).

    It has what :mod:`averse.nowcast.forecast` uses of a RegressionTask:
    ``input_config``, ``hparams``, ``leads``, ``predict_rates`` and parameters.
    """

    def __init__(self, n_in: int = 3, n_out: int = 4, **inputs):
        super().__init__()
        self.input_config = InputConfig(n_in=n_in, n_out=n_out, **inputs)
        self.hparams = {"model": "persistence_net"}
        self.leads = slice(0, n_out)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def predict_rates(self, batch):
        last = torch.nan_to_num(batch["radar"][:, -1:], nan=0.0)
        return self.scale * last.repeat(1, self.input_config.n_out, 1, 1)


@pytest.fixture
def persistence_task():
    return PersistenceTask()


def rain_sequence(values: np.ndarray, start="2024-05-01T12:00", step="5min", dx=1000.0):
    """A ``(time, y, x)`` rain DataArray on a 1 km LAEA grid with the data-model coordinates."""
    import pandas as pd
    import xarray as xr

    from averse.datamodel import attach_grid, precip_attrs

    nt, ny, nx = values.shape
    times = pd.date_range(start, periods=nt, freq=step)
    ds = xr.Dataset({"precip": (("time", "y", "x"), values.astype(np.float32), precip_attrs(step, "rate"))},
                    coords={"time": times})
    crs = "+proj=laea +lat_0=48.8 +lon_0=2.3 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    ds = attach_grid(ds, (np.arange(nx) - nx / 2) * dx, (np.arange(ny) - ny / 2) * dx, crs)
    return ds["precip"]


def case_fields(values: np.ndarray):
    """``(case, lead_time, y, x)`` fields (mm/h) on a 1 km grid, hourly cases from 2021-06-01."""
    import pandas as pd
    import xarray as xr

    n_cases, n_leads = values.shape[:2]
    frame = rain_sequence(values[0]).isel(time=0, drop=True)
    return xr.DataArray(values.astype(np.float32), dims=("case", "lead_time", "y", "x"),
                        coords={**frame.coords,
                                "case": pd.date_range("2021-06-01", periods=n_cases, freq="1h").values,
                                "lead_time": pd.to_timedelta(np.arange(1, n_leads + 1) * 5, "min").values},
                        attrs={"units": "mm h-1"})
