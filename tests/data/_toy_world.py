"""Small zarr stores laid out like the twin world, written by the tests themselves.

``/static`` (dem, land_sea), ``/radar`` (precip, time × y × x, chunked a few
steps at a time) and ``/seviri`` (ir_108, ir_120, wv_062 on a 3× coarser grid
every 15 min), with the grid of :mod:`averse.datamodel`. Fields are chosen by
the test: :func:`step_fields` writes in every pixel the number of 5-min steps
since ``START``, so that a window's values tell exactly which frames it holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import attach_grid, precip_attrs

START = pd.Timestamp("2021-06-01T00:05")
CRS = "+proj=laea +lat_0=48.8 +lon_0=2.3 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
DX = 1000.0


def step_times(n: int, drop=()) -> pd.DatetimeIndex:
    """``n`` 5-min stamps from ``START`` with the steps ``drop`` left out (gaps)."""
    times = pd.date_range(START, periods=n, freq="5min")
    return times.delete(list(drop)) if len(drop) else times


def step_fields(times, shape=(40, 40)) -> np.ndarray:
    """Every pixel of a frame holds its step number ``(t - START) / 5 min``, float32."""
    steps = ((pd.DatetimeIndex(times) - START) / pd.Timedelta("5min")).to_numpy()
    return np.broadcast_to(steps[:, None, None], (len(steps), *shape)).astype(np.float32).copy()


def moving_fields(n: int, shape=(32, 32), speed=(1, 1), seed=0) -> np.ndarray:
    """Smooth positive rain (mm/h) translating by ``speed`` pixels per step, periodic."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    ky, kx = np.meshgrid(np.fft.fftfreq(ny), np.fft.fftfreq(nx), indexing="ij")
    spectrum = np.exp(-(kx**2 + ky**2) / 0.004) * np.exp(2j * np.pi * rng.random(shape))
    base = np.real(np.fft.ifft2(spectrum))
    base = np.clip(8 * (base - base.mean()) / base.std(), 0, None).astype(np.float32)
    return np.stack([np.roll(base, (k * speed[0], k * speed[1]), axis=(0, 1)) for k in range(n)])


def _grid(ds: xr.Dataset, ny: int, nx: int, dx: float) -> xr.Dataset:
    x = (np.arange(nx) - (nx - 1) / 2) * dx
    y = (np.arange(ny) - (ny - 1) / 2) * dx
    return attach_grid(ds, x, y, CRS)


def write_toy_world(path: Path, precip: np.ndarray, times, *, seviri: bool = True, chunk: int = 4) -> Path:
    """Write a twin-like DataTree zarr store at ``path`` and return ``path``.

    Parameters
    ----------
    precip : ndarray, (T, H, W)
        Radar rain rates (mm/h); H and W multiples of 3 when ``seviri``.
    times : DatetimeIndex
        The T stamps (END of each 5-min interval).
    seviri : bool
        Also write ``/seviri``: every channel holds 200 K + the step number of
        its 15-min image (so alignment is checkable), on the 3× coarser grid.
    chunk : int
        Time steps per radar chunk.
    """
    nt, ny, nx = precip.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    static = _grid(xr.Dataset({
        "dem": (("y", "x"), (10.0 * xx + 1000.0 * (yy > ny // 2)).astype(np.float32), {"units": "m"}),
        "land_sea": (("y", "x"), np.ones((ny, nx), np.int8)),
    }), ny, nx, DX)
    radar = _grid(xr.Dataset(
        {"precip": (("time", "y", "x"), precip.astype(np.float32), precip_attrs("5min", "radar"))},
        coords={"time": pd.DatetimeIndex(times).values},
    ), ny, nx, DX)
    radar["precip"].encoding["chunks"] = (chunk, ny, nx)
    tree = {"/static": static, "/radar": radar}
    if seviri:
        image_times = pd.date_range(pd.DatetimeIndex(times)[0].floor("15min"), pd.DatetimeIndex(times)[-1],
                                    freq="15min")
        steps = ((image_times - START) / pd.Timedelta("5min")).to_numpy().astype(np.float32)
        values = np.broadcast_to(200.0 + steps[:, None, None], (steps.size, ny // 3, nx // 3))
        tree["/seviri"] = _grid(xr.Dataset(
            {name: (("time", "y", "x"), values.copy(), {"units": "K"}) for name in ("ir_108", "ir_120", "wv_062")},
            coords={"time": image_times.values},
        ), ny // 3, nx // 3, 3 * DX)
    xr.DataTree.from_dict(tree).to_zarr(path, mode="w", consolidated=False)
    return Path(path)


def open_toy_world(path: Path) -> xr.DataTree:
    """Open a store written by :func:`write_toy_world`, lazily, as the twin reader does."""
    return xr.open_datatree(path, engine="zarr", chunks={}, consolidated=False)
