"""Fixtures of the baseline tests: a synthetic rain field translating at a known velocity."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from averse.datamodel import attach_grid, precip_attrs

TIMESTEP = pd.Timedelta("5min")


def _rain_pattern(size: int, rng: np.random.Generator) -> np.ndarray:
    """Intermittent rain (mm/h) from Gaussian noise with a k^-1.5 amplitude spectrum."""
    wavenumber = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    wavenumber[0, 0] = 1.0
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * wavenumber**-1.5))
    field = (field - field.mean()) / field.std()
    return np.where(field > 0.3, np.exp(1.2 * field) - np.exp(1.2 * 0.3), 0.0)


def translating_rain(
    size: int = 64,
    n_frames: int = 10,
    velocity: tuple[int, int] = (2, 1),
    seed: int = 0,
    small_scale_noise: float = 0.0,
) -> xr.DataArray:
    """``(time, y, x)`` rain moving ``velocity`` = (columns, rows) pixels per 5-min step.

    Each frame is a window of a larger pattern, so new rain enters from the
    upstream edges as it would on a radar domain. With ``small_scale_noise``
    > 0, each frame is multiplied by exp(noise) with fresh noise at scales
    below ~2 pixels: small scales then lose their memory from frame to frame
    while large ones persist, as in real rain. The grid is 1 km in EPSG:3035
    with ``y`` decreasing (north-up), float32 like the readers give.
    """
    rng = np.random.default_rng(seed)
    margin = max(abs(v) for v in velocity) * n_frames
    pattern = _rain_pattern(size + 2 * margin, rng)
    frames = np.asarray([
        pattern[margin - t * velocity[1] : margin - t * velocity[1] + size,
                margin - t * velocity[0] : margin - t * velocity[0] + size]
        for t in range(n_frames)
    ])
    if small_scale_noise:
        noise = rng.standard_normal(frames.shape)
        noise -= ndimage.gaussian_filter(noise, (0, 2, 2))
        frames = frames * np.exp(small_scale_noise * noise / noise.std())
    times = pd.date_range("2024-05-01T12:00", periods=n_frames, freq=TIMESTEP)
    precip = xr.DataArray(
        np.asarray(frames, dtype="float32"),
        dims=("time", "y", "x"),
        coords={"time": times},
        name="precip",
        attrs=precip_attrs(TIMESTEP, "rate"),
    )
    x = 4.0e6 + 1000.0 * np.arange(size)
    y = 3.0e6 - 1000.0 * np.arange(size)
    return attach_grid(precip.to_dataset(), x=x, y=y, crs="EPSG:3035")["precip"]


@pytest.fixture(scope="session")
def rain():
    """The factory :func:`translating_rain`."""
    return translating_rain


@pytest.fixture(scope="module")
def moving_case():
    """4 past frames and 6 future frames of a 96-px field moving (2, 1) px per step."""
    sequence = translating_rain(size=96, n_frames=10)
    return sequence.isel(time=slice(0, 4)), sequence.isel(time=slice(4, None))
