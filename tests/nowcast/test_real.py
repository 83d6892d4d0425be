"""Real sequences: the box around the rain, the grid the networks read, and what is left out."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.datamodel import attach_grid, precip_attrs
from averse.errors import DataNotFoundError
from averse.nowcast import real
from _nowcast_toys import PersistenceTask, rain_sequence


def _blob(ny: int, nx: int, row: int, col: int, n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:ny, 0:nx]
    frame = 20.0 * np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / 30.0)
    return np.repeat(frame[None], n, axis=0)


def _latlon_archive(n=15):
    """MeteoNet-like: 0.01° lat/lon, north first, 5-min frames, rain around 45.80 N 4.30 E."""
    lat = np.round(46.0 - 0.01 * np.arange(60), 4)
    lon = np.round(4.0 + 0.01 * np.arange(80), 4)
    times = pd.date_range("2016-08-28T09:50", periods=n + 2, freq="5min")
    values = _blob(60, 80, row=20, col=30, n=n + 2)
    ds = xr.Dataset({"precip": (("time", "y", "x"), values.astype(np.float32), precip_attrs("5min", "rate"))},
                    coords={"time": times})
    return attach_grid(ds, lon, lat, "EPSG:4326")


def _projected_archive(n=24):
    """OPERA-like: 2 km LAEA, north first, 15-min frames, rain in the lower right."""
    times = pd.date_range("2018-08-24T18:05", periods=n, freq="15min")
    values = _blob(70, 90, row=50, col=70, n=n)
    ds = xr.Dataset({"precip": (("time", "y", "x"), values.astype(np.float32), precip_attrs("15min", "rate"))},
                    coords={"time": times})
    crs = "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 +y_0=-2100000.0 +units=m +ellps=WGS84"
    return attach_grid(ds, 1000.0 + 2000.0 * np.arange(90), -1000.0 - 2000.0 * np.arange(70), crs)


def test_rainiest_centre_puts_the_rain_in_the_box():
    yy, xx = np.mgrid[0:50, 0:60]
    values = np.where((yy - 12) ** 2 + (xx - 40) ** 2 <= 6, 5.0, 0.0)
    values[3, 3] = 5.0  # a lone rainy pixel elsewhere
    frames = rain_sequence(np.repeat(values[None], 3, axis=0))
    rainy = values >= 1.0
    row, col = real.rainiest_centre(frames, (10, 10))
    assert rainy[row - 5:row + 5, col - 5:col + 5].sum() == rainy.sum() - 1  # the whole shower
    row, col = real.rainiest_centre(frames, (30, 30))
    assert 15 <= row <= 35 and 15 <= col <= 45  # the box stays inside the grid
    assert rainy[row - 15:row + 15, col - 15:col + 15].sum() >= rainy.sum() - 1


def test_latlon_archive_is_regridded_to_a_kilometre_grid_around_the_rain(monkeypatch):
    monkeypatch.setattr("averse.catalog.open_dataset", lambda name, **kw: _latlon_archive())
    loaded = real.load_real_sequence("meteonet_se", size=16, n_in=4)
    sequence = loaded.sequence
    assert sequence.sizes == {"time": 15, "y": 16, "x": 16}
    assert pd.Timestamp(sequence["time"].values[0]) == pd.Timestamp("2016-08-28T10:00")
    assert loaded.step == pd.Timedelta("5min") and loaded.spacing_km == 1.0
    assert np.all(np.diff(sequence["y"].values) > 0)  # rows northward, as in the twin
    assert loaded.centre == pytest.approx((45.80, 4.30), abs=0.011)
    assert float(sequence.isel(time=0).max()) > 15.0  # the blob is inside the box, near its centre
    row, col = np.unravel_index(int(np.argmax(sequence.isel(time=0).values)), (16, 16))
    assert abs(row - 7.5) <= 2 and abs(col - 7.5) <= 2


def test_projected_archive_keeps_its_grid_turned_north_up(monkeypatch):
    monkeypatch.setattr("averse.catalog.open_dataset", lambda name, **kw: _projected_archive())
    loaded = real.load_real_sequence("opera_odyssey", size=20, n_in=4)
    assert loaded.sequence.sizes == {"time": 24, "y": 20, "x": 20}
    assert loaded.step == pd.Timedelta("15min") and loaded.spacing_km == 2.0
    assert np.all(np.diff(loaded.sequence["y"].values) > 0)
    assert "native grid" in loaded.grid


def test_missing_data_is_reported_not_raised(monkeypatch):
    def missing(name, **kw):
        raise DataNotFoundError(f"catalog entry {name!r} needs $AVERSE_DATA")

    monkeypatch.setattr("averse.catalog.open_dataset", missing)
    result = real.load_real_sequence("meteonet_nw")
    assert isinstance(result, real.Unavailable) and "AVERSE_DATA" in result.reason


def test_networks_at_another_time_step_are_run_only_when_asked(monkeypatch):
    monkeypatch.setattr("averse.catalog.open_dataset", lambda name, **kw: _projected_archive())
    loaded = real.load_real_sequence("opera_odyssey", size=20, n_in=3)
    tasks = {"net": PersistenceTask(n_in=3, n_out=4), "net_dem": PersistenceTask(n_in=3, n_out=4, dem=True)}
    left_out = real.forecast_real(loaded, tasks, ["persistence"], n_in=3, n_cases=3, max_lead_minutes=120,
                                  models_at_other_steps=False)
    assert left_out.models_run == [] and "the frames are 15 min" in left_out.note and "auxiliary" in left_out.note
    assert left_out.observed.sizes["lead_time"] == 8  # 120 min of 15-min steps
    run = real.forecast_real(loaded, tasks, ["persistence"], n_in=3, n_cases=3, max_lead_minutes=120)
    assert run.models_run == ["net"] and run.observed.sizes["lead_time"] == 4  # the network's horizon
    network, persistence, _ = xr.align(run.forecasts["net"], run.forecasts["persistence"], run.observed, join="exact")
    np.testing.assert_allclose(network.values, persistence.values)


def test_meteonet_sample_loads(shared_data):
    loaded = real.load_real_sequence("meteonet_se", size=32, n_in=4)
    assert isinstance(loaded, real.RealSequence), getattr(loaded, "reason", "")
    assert loaded.sequence.sizes["time"] == 15 and np.isfinite(loaded.sequence.values).any()
