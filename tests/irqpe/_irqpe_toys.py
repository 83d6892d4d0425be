"""Toy data of the IR-retrieval tests (a small twin-like tree built in memory) and their fixtures."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.datamodel import attach_grid, precip_attrs

START = pd.Timestamp("2021-06-01T00:05")
CRS = "+proj=laea +lat_0=48.8 +lon_0=2.3 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
CHANNELS = ("ir_108", "ir_120", "wv_062")


def _grid(ds: xr.Dataset, ny: int, nx: int, dx: float) -> xr.Dataset:
    return attach_grid(ds, (np.arange(nx) - (nx - 1) / 2) * dx, (np.arange(ny) - (ny - 1) / 2) * dx, CRS)


def image_value(step: np.ndarray, channel: int) -> np.ndarray:
    """Brightness temperature (K) of channel ``channel`` of the image taken ``step`` 5-min steps after START."""
    return 200.0 + 10.0 * channel + np.asarray(step, dtype=np.float64)


def make_tree(n_steps: int = 72, shape=(12, 15), drop_images=(), seed: int = 0) -> xr.DataTree:
    """A twin-like tree: ``/radar`` and ``/truth`` precip at 1 km / 5 min, ``/seviri`` at 3 km / 15 min.

    Rain is intermittent gamma noise (truth = 2 × radar, radar NaN in the first column);
    every IR pixel of channel ``c`` holds :func:`image_value` of its image, plus 0.5 K
    times its coarse row index, so alignment and regridding are checkable.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    times = pd.date_range(START, periods=n_steps, freq="5min")
    rain = (rng.gamma(0.6, 3.0, (n_steps, ny, nx)) * (rng.random((n_steps, ny, nx)) < 0.5)).astype(np.float32)
    radar = rain.copy()
    radar[:, :, 0] = np.nan
    fine = {name: _grid(xr.Dataset({"precip": (("time", "y", "x"), values, precip_attrs("5min", "rate"))},
                                   coords={"time": times.values}), ny, nx, 1000.0)
            for name, values in (("radar", radar), ("truth", 2.0 * rain))}
    image_times = pd.date_range(START.ceil("15min"), times[-1], freq="15min").delete(list(drop_images))
    steps = ((image_times - START) / pd.Timedelta("5min")).to_numpy()
    rows = np.arange(ny // 3)[:, None] * 0.5 + np.zeros((1, nx // 3))
    seviri = _grid(xr.Dataset(
        {name: (("time", "y", "x"), (image_value(steps, c)[:, None, None] + rows).astype(np.float32), {"units": "K"})
         for c, name in enumerate(CHANNELS)}, coords={"time": image_times.values}), ny // 3, nx // 3, 3000.0)
    return xr.DataTree.from_dict({"/radar": fine["radar"], "/truth": fine["truth"], "/seviri": seviri})


@pytest.fixture(scope="session")
def toy_tree() -> xr.DataTree:
    """Six hours of the toy world."""
    return make_tree()


def rain_fields(n_cases: int = 4, shape=(32, 32), seed: int = 0) -> xr.DataArray:
    """Smooth intermittent rain (mm/h), ``(case, y, x)`` on a 3-km grid with the data-model coordinates."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=(n_cases, *shape)), sigma=(0, 2, 2))
    values = np.clip(20.0 * (noise - 0.05), 0.0, None) ** 1.5
    ds = xr.Dataset({"precip": (("case", "y", "x"), values.astype(np.float32), {"units": "mm h-1"})},
                    coords={"case": pd.date_range("2021-06-01T01:00", periods=n_cases, freq="15min").values})
    return _grid(ds, *shape, 3000.0)["precip"]
