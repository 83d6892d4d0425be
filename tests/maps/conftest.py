"""Fixtures of the map tests: a blocked network and small data-model fields."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.datamodel import attach_grid, precip_attrs

OPERA_LAEA = "+proj=laea +lat_0=55 +lon_0=10 +x_0=1950000 +y_0=-2100000 +ellps=WGS84 +units=m"


BLOCKED = "network access attempted in an offline test"


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Block sockets and urllib, and give cartopy an empty download folder.

    Anything that is not in the shipped extract would have to be downloaded
    into ``data_dir``, which then fails with a ``ConnectionRefusedError``
    whose message starts with :data:`BLOCKED`.
    """
    import cartopy

    import averse.maps

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(f"{BLOCKED}: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", cartopy.config["pre_existing_data_dir"])
    monkeypatch.setitem(cartopy.config, "data_dir", cartopy.config["data_dir"])
    averse.maps.use_offline_natural_earth(cache_dir=tmp_path / "cartopy-downloads")
    _clear_cartopy_geometry_cache(monkeypatch)
    return tmp_path / "cartopy-downloads"


def _clear_cartopy_geometry_cache(monkeypatch):
    """Make cartopy read the shapefiles again instead of its in-memory cache."""
    import cartopy.feature

    monkeypatch.setattr(cartopy.feature, "_NATURAL_EARTH_GEOM_CACHE", {})


def _make_field(crs, x, y, steps: int = 3, seed: int = 0) -> xr.DataArray:
    """A smooth rain-like ``precip`` field on a grid, NaN outside a disc of coverage."""
    rng = np.random.default_rng(seed)
    xx, yy = np.meshgrid((x - x.mean()) / np.ptp(x), (y - y.mean()) / np.ptp(y))
    frames = []
    for step in range(steps):
        cx, cy = rng.uniform(-0.3, 0.3, 2)
        frame = 10.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02) + 0.5 * (1 + np.sin(8 * xx + step))
        frame[xx**2 + yy**2 > 0.2] = np.nan
        frames.append(frame)
    times = pd.date_range("2024-06-01T12:05", periods=steps, freq="5min")
    ds = xr.Dataset(
        {"precip": (("time", "y", "x"), np.array(frames, dtype="float32"), precip_attrs("5min", "rate"))},
        coords={"time": times},
    )
    return attach_grid(ds, x, y, crs)["precip"]


@pytest.fixture
def make_field():
    """Factory ``make_field(crs, x, y, steps=3, seed=0)`` of smooth ``precip`` fields."""
    return _make_field


@pytest.fixture
def europe_field():
    """3 steps of a 20 km field over central Europe on OPERA's LAEA projection."""
    x = np.arange(1_000_000.0, 3_000_000.0, 20_000.0) + 10_000.0
    y = np.arange(-3_200_000.0, -1_400_000.0, 20_000.0)[::-1] + 10_000.0
    return _make_field(OPERA_LAEA, x, y)
