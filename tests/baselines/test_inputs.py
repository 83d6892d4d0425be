"""Bad input to the baselines is a typed error that says what is wrong; pixel sizes from the grid."""

import json

import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr

from averse import baselines
from averse.baselines.frames import read_past
from averse.datamodel import attach_grid
from averse.errors import AverseError

ALL = ["persistence", "extrapolation", "sprog", "steps"]


@pytest.mark.parametrize("name", ALL)
def test_irregular_times_are_refused(rain, name):
    past = rain(size=32, n_frames=4)
    times = past["time"].values.copy()
    times[-1] += np.timedelta64(2, "m")
    message = "constant step; found steps 0 days 00:05:00, 0 days 00:07:00"
    with pytest.raises(baselines.IrregularTimeStepError, match=message):
        baselines.get(name)(past.assign_coords(time=times), 3)


def test_times_going_backwards_are_refused(rain):
    past = rain(size=32, n_frames=3).isel(time=[0, 2, 1])
    with pytest.raises(baselines.IrregularTimeStepError):
        baselines.get("persistence")(past, 3)


@pytest.mark.parametrize(("name", "n_frames", "needed"), [
    ("persistence", 1, 2), ("extrapolation", 2, 3), ("sprog", 2, 3), ("steps", 2, 3),
])
def test_too_few_frames_are_refused(rain, name, n_frames, needed):
    past = rain(size=32, n_frames=n_frames)
    with pytest.raises(baselines.NotEnoughFramesError) as caught:
        baselines.get(name)(past, 3)
    assert isinstance(caught.value, AverseError) and isinstance(caught.value, ValueError)
    if n_frames > 1:
        assert f"at least {needed} past frames, got {n_frames}" in str(caught.value)


def test_sprog_needs_ar_order_plus_one_frames(rain):
    past = rain(size=32, n_frames=3)
    with pytest.raises(baselines.NotEnoughFramesError, match="at least 4"):
        baselines.get("sprog")(past, 2, ar_order=3)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_bad_lead_count_is_refused(rain, bad):
    with pytest.raises(baselines.BaselineInputError, match="n_leads"):
        baselines.get("extrapolation")(rain(size=32, n_frames=3), bad)


def test_wrong_dims_and_types_are_refused(rain):
    past = rain(size=32, n_frames=3)
    with pytest.raises(baselines.BaselineInputError, match=r"dims \(time, y, x\)"):
        baselines.get("persistence")(past.rename(x="lon_index"), 2)
    with pytest.raises(baselines.BaselineInputError, match="DataArray"):
        baselines.get("persistence")(past.values, 2)
    with pytest.raises(baselines.BaselineInputError, match="advected_in"):
        baselines.get("sprog")(past, 2, advected_in="zeros")


def test_dims_in_another_order_are_accepted(rain):
    past = rain(size=32, n_frames=3)
    transposed = baselines.get("persistence")(past.transpose("y", "time", "x"), 2)
    np.testing.assert_array_equal(transposed.values, baselines.get("persistence")(past, 2).values)


def test_irregular_grid_is_refused(rain):
    past = rain(size=32, n_frames=3)
    x = past["x"].values.copy()
    x[10:] += 500.0
    with pytest.raises(baselines.GridSpacingError, match="'x' is not regularly spaced"):
        baselines.get("persistence")(past.assign_coords(x=x), 2)


def test_lazy_input_gives_the_same_forecast(rain):
    past = rain(size=32, n_frames=4)
    eager = baselines.get("extrapolation")(past, 3)
    lazy = baselines.get("extrapolation")(past.chunk({"time": 1}), 3)
    np.testing.assert_array_equal(lazy.values, eager.values)


def _grid(x, y, crs):
    times = pd.date_range("2024-01-01", periods=2, freq="5min")
    zeros = np.zeros((2, y.size, x.size), "float32")
    data = xr.Dataset({"precip": (("time", "y", "x"), zeros)}, coords={"time": times})
    return attach_grid(data, x=x, y=y, crs=crs)["precip"]


def test_pixel_size_of_a_projected_grid():
    grid = _grid(np.arange(8) * 2000.0, np.arange(8) * -2000.0, "EPSG:3035")
    assert read_past(grid, 2, "test").kmperpixel() == pytest.approx(2.0)


def test_pixel_size_of_a_latitude_longitude_grid_matches_geodesic_distances():
    lon, lat = 2.0 + 0.01 * np.arange(9), 45.04 - 0.01 * np.arange(9)
    fields = read_past(_grid(lon, lat, "EPSG:4326"), 2, "test")
    geod = pyproj.Geod(ellps="WGS84")
    east = geod.inv(lon[4], lat[4], lon[5], lat[4])[2] / 1000.0
    north = geod.inv(lon[4], lat[4], lon[4], lat[5])[2] / 1000.0
    assert fields.kmperpixel() == pytest.approx(np.sqrt(east * north), rel=0.01)


def test_pixel_size_without_units_is_a_clear_error_unless_given(rain):
    past = rain(size=32, n_frames=3).drop_vars("spatial_ref")
    past = past.assign_coords(x=past["x"].assign_attrs(units="furlong"))
    with pytest.raises(baselines.GridSpacingError, match="pass kmperpixel"):
        baselines.get("steps")(past, 1, n_ens_members=2, seed=1)
    forecast = baselines.get("steps")(past, 1, n_ens_members=2, seed=1, kmperpixel=0.2)
    assert json.loads(forecast.attrs["baseline_settings"])["kmperpixel"] == 0.2
