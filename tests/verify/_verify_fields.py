"""Synthetic rain fields for the verification tests (imported by the test modules).

Smooth, intermittent, correlated forecast/observation pairs with values from
0 to a few tens of mm/h (every threshold of 0.1, 1, 5, 10 mm/h has events),
NaN pixels and a NaN block in each, on a 1 km grid.
"""

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

THRESHOLDS = (0.1, 1.0, 5.0, 10.0)


def rain(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 3.0) -> np.ndarray:
    """Intermittent smooth rain field(s) of ``shape`` (last two axes spatial), mm/h."""
    noise = gaussian_filter(rng.standard_normal(shape), sigma=(0,) * (len(shape) - 2) + (sigma, sigma))
    noise /= noise.std()
    return np.clip(6.0 * (noise - 0.2), 0.0, None) ** 1.4


def pair(rng: np.random.Generator, shape: tuple[int, ...], nan: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """An (observation, forecast) pair: the forecast is the shifted, noisy observation."""
    obs = rain(rng, shape)
    fcst = np.roll(obs, (2, 3), axis=(-2, -1)) * rng.uniform(0.6, 1.4, shape) + 0.5 * rain(rng, shape, sigma=2.0)
    if nan:
        for field in (obs, fcst):
            field[rng.random(shape) < 0.03] = np.nan
        obs[..., :4, -6:] = np.nan
        fcst[..., 10:13, :5] = np.nan
    return obs, fcst


def grid_array(values: np.ndarray, dims: tuple[str, ...], spacing_m: float = 1000.0) -> xr.DataArray:
    """A DataArray on a regular grid with x/y in metres (the data model)."""
    coords = {
        "y": ("y", np.arange(values.shape[dims.index("y")]) * spacing_m, {"units": "m"}),
        "x": ("x", np.arange(values.shape[dims.index("x")]) * spacing_m, {"units": "m"}),
    }
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"units": "mm h-1"})
