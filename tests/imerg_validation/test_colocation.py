"""Radar frames meet IMERG half hours: the right six frames, the right cells, the coverage mask."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.grid import RegularGrid
from averse.imerg_validation.colocation import (
    NoColocatedDataError,
    colocate,
    frames_on_grid,
    half_hour_of_frames,
    imerg_end_from_file_start,
    radar_frames_of_half_hour,
    radar_half_hours,
    sliding_half_hours,
)
from averse.io import imerg as imerg_reader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))  # the IMERG file writer of the reader tests
from _writers_gpm import write_imerg  # noqa: E402

LAT = np.round(40.05 + 0.1 * np.arange(3), 2)
LON = np.round(2.05 + 0.1 * np.arange(4), 2)


def _radar(times, values=None, step=0.02) -> xr.DataArray:
    """Radar on a 0.02° grid exactly tiling the IMERG cells of LAT, LON; frame ``i`` uniform = its minutes after 00:00."""
    times = pd.DatetimeIndex(times)
    x = np.arange(LON[0] - 0.05 + step / 2, LON[-1] + 0.05, step)
    y = np.arange(LAT[0] - 0.05 + step / 2, LAT[-1] + 0.05, step)
    if values is None:
        minutes = ((times - times.normalize()).total_seconds() / 60).values
        values = np.broadcast_to(minutes[:, None, None], (times.size, y.size, x.size)).astype("float32").copy()
    ds = RegularGrid(x, y, "EPSG:4326").attach(xr.Dataset({"precip": (("time", "y", "x"), values)},
                                                          coords={"time": times}))
    return ds["precip"].assign_attrs(units="mm h-1")


def _imerg_file(tmp_path, start):
    fields = {name: np.zeros((LAT.size, LON.size)) for name in
              ("precipitation", "MWprecipSource", "IRinfluence", "precipitationQualityIndex")}
    fields["MWobservationTime"] = np.full((LAT.size, LON.size), np.nan)
    return imerg_reader.open(write_imerg(tmp_path / "imerg.HDF5", fields, LAT, LON, start=start))


def test_the_six_frames_of_a_half_hour():
    expected = pd.date_range("2021-06-01T00:05", "2021-06-01T00:30", freq="5min")
    assert radar_frames_of_half_hour("2021-06-01T00:30").equals(expected)
    labels = half_hour_of_frames(pd.date_range("2021-06-01T00:00", "2021-06-01T00:35", freq="5min"))
    assert list(labels.strftime("%H:%M")) == ["00:00"] + ["00:30"] * 6 + ["01:00"]
    assert imerg_end_from_file_start("2021-06-01T00:00") == pd.Timestamp("2021-06-01T00:30")
    with pytest.raises(ValueError, match="not the end of a half hour"):
        radar_frames_of_half_hour("2021-06-01T00:25")


def test_imerg_file_half_hour_is_matched_to_exactly_its_six_radar_frames(tmp_path):
    # The file is stamped by its START (00:00); the reader gives time = END (00:30).
    imerg = _imerg_file(tmp_path, start="2021-06-01T00:00")
    radar = _radar(pd.date_range("2021-06-01T00:00", "2021-06-01T01:00", freq="5min"))
    out = colocate(imerg, radar)
    assert list(pd.DatetimeIndex(out["time"].values)) == [pd.Timestamp("2021-06-01T00:30")]
    # Mean of the frames 00:05..00:30 = 17.5; a start-stamped match (00:00..00:25) would give 12.5,
    # one shifted the other way (00:10..00:35) 22.5.
    np.testing.assert_allclose(out["radar"].values, 17.5, rtol=1e-6)
    np.testing.assert_allclose(out["radar_coverage"].values, 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out["x"], imerg["x"])
    np.testing.assert_array_equal(out["y"], imerg["y"])


def test_area_weighted_mean_in_each_cell():
    times = pd.date_range("2021-06-01T00:05", "2021-06-01T00:30", freq="5min")
    radar = _radar(times)
    field = np.zeros(radar.shape[1:], dtype="float32")
    field[:5, :5] = 10.0  # the 25 radar cells of the south-west IMERG cell (0.1° / 0.02°)
    field[:5, 5:6] = 3.0  # one column of 5 cells of its eastern neighbour
    radar = radar.copy(data=np.broadcast_to(field, radar.shape).copy())
    out = radar_half_hours(radar, RegularGrid(LON, LAT, "EPSG:4326")).load()
    np.testing.assert_allclose(out["precip"].values[0, 0, 0], 10.0, rtol=1e-5)
    # Cells of equal latitude have equal areas: the neighbour holds 5 of its 25 cells at 3 mm/h.
    np.testing.assert_allclose(out["precip"].values[0, 0, 1], 3.0 * 5 / 25, rtol=1e-5)


def test_missing_frame_or_partial_cover_is_masked_with_its_coverage():
    times = pd.date_range("2021-06-01T00:05", "2021-06-01T01:00", freq="5min")
    radar = _radar(times).copy()
    radar[2] = np.nan                     # one frame of the first half hour missing everywhere
    radar[6:, :, :3] = np.nan             # second half hour: 3 of the 5 columns of the western cells lost
    out = radar_half_hours(radar, RegularGrid(LON, LAT, "EPSG:4326"), min_coverage=0.9).load()
    assert np.isnan(out["precip"].values[0]).all()
    np.testing.assert_allclose(out["coverage"].values[0], 5 / 6, rtol=1e-6)
    assert np.isnan(out["precip"].values[1][:, 0]).all() and np.isfinite(out["precip"].values[1][:, 1:]).all()
    np.testing.assert_allclose(out["coverage"].values[1][:, 0], 2 / 5, rtol=1e-5)
    lenient = radar_half_hours(radar, RegularGrid(LON, LAT, "EPSG:4326"), min_coverage=0.3).load()
    np.testing.assert_allclose(lenient["precip"].values[1][:, 0], 47.5, rtol=1e-6)


def test_sliding_half_hours_equal_the_colocation_at_clock_ends():
    times = pd.date_range("2021-06-01T00:05", "2021-06-01T01:30", freq="5min")
    rng = np.random.default_rng(0)
    radar = _radar(times, rng.gamma(0.5, 2.0, (times.size, 15, 20)).astype("float32"))
    target = RegularGrid(LON, LAT, "EPSG:4326")
    frames, _ = frames_on_grid(radar, target)
    sliding = sliding_half_hours(frames).load()
    aligned = radar_half_hours(radar, target).load()
    assert pd.Timestamp(sliding["time"].values[0]) == pd.Timestamp("2021-06-01T00:30")
    np.testing.assert_allclose(sliding.sel(time=aligned["time"]).values, aligned["precip"].values, rtol=1e-5)
    assert sliding.sizes["time"] == times.size - 5


def test_no_overlap_is_a_typed_error(tmp_path):
    imerg = _imerg_file(tmp_path, start="2021-06-01T00:00")
    with pytest.raises(NoColocatedDataError, match="no half hour in common"):
        colocate(imerg, _radar(pd.date_range("2021-06-02T00:05", "2021-06-02T00:30", freq="5min")))
    far = _radar(pd.date_range("2021-06-01T00:05", "2021-06-01T00:30", freq="5min"))
    far = far.assign_coords(x=far["x"] + 20.0)
    with pytest.raises(NoColocatedDataError, match="does not overlap"):
        colocate(imerg, far)
