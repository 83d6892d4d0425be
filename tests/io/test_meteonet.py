"""MeteoNet readers: the restricted npz unpickler, radar archives and GRIB masks."""

from __future__ import annotations

import datetime as dt
import os
import warnings
import zipfile

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from _writers_misc import truncate, write_grib, write_meteonet, write_meteonet_coords, write_npz

import averse
from averse.datamodel import crs_of
from averse.errors import DataFormatError, InconsistentGridError, UnknownQuantityError
from averse.io import meteonet, meteonet_grib, safe_npz
from averse.io._stack import SkippedFilesWarning

SHAPE = (3, 4)
T0 = dt.datetime(2016, 8, 28, 10, 0)


class _RunsCommand:
    """An object whose unpickling would run a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _slots(*minutes):
    return [T0 + dt.timedelta(minutes=m) for m in minutes]


@pytest.fixture
def coords(tmp_path):
    return write_meteonet_coords(tmp_path / "radar_coords_NW.npz", 51.0, -5.0, SHAPE)


def _rain(tmp_path, name="rainfall_NW_2016_08.3.npz", minutes=(0, 5, 15), missing=(10,)):
    rng = np.random.default_rng(len(minutes))
    data = rng.integers(0, 300, size=(len(minutes), *SHAPE)).astype("int16")
    data[0, 0, 0] = -1
    return write_meteonet(tmp_path / name, data, _slots(*minutes), _slots(*missing)), data


# ---------------------------------------------------------------- safe_npz


@pytest.mark.parametrize("protocol", [2, 3, None])
def test_dates_are_read_without_allow_pickle(tmp_path, protocol):
    dates = _slots(0, 5) + [dt.date(2016, 8, 21)]
    path = write_npz(tmp_path / "d.npz", pickle_protocol=protocol, dates=np.array(dates, dtype=object), data=np.arange(6))
    assert list(safe_npz.read_member(path, "dates")) == dates
    np.testing.assert_array_equal(safe_npz.read_npz(path)["data"], np.arange(6))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    hostile = np.array([T0, _RunsCommand(f"touch {marker}")], dtype=object)
    path = write_npz(tmp_path / "rainfall_NW_2016_08.3.npz", data=np.zeros((2, *SHAPE), "int16"), dates=hostile)
    with pytest.raises(DataFormatError) as info:
        safe_npz.read_member(path, "dates")
    assert str(path) in str(info.value) and "system" in info.value.reason
    with pytest.raises(DataFormatError, match="refused to unpickle"):
        meteonet.open(path, coords=write_meteonet_coords(tmp_path / "c.npz", 51.0, -5.0, SHAPE))
    assert not marker.exists()


def test_object_array_of_non_dates_is_refused(tmp_path):
    path = write_npz(tmp_path / "x.npz", dates=np.array(["2016-08-21", "rm -rf"], dtype=object))
    with pytest.raises(DataFormatError, match="only dates"):
        safe_npz.read_member(path, "dates")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_slabs_equal_the_whole_member_in_any_order(tmp_path, monkeypatch, compression):
    monkeypatch.setattr(safe_npz, "_CHECKPOINT_EVERY", 1000)  # many checkpoints in a small member
    data = np.random.default_rng(3).integers(-1, 300, size=(40, 20, 30)).astype("int16")
    path = write_meteonet(tmp_path / "r.npz", data, _slots(*range(0, 200, 5)), compression=compression)
    header = safe_npz.member_headers(path)["data"]
    for start in (30, 3, 17, 0, 39, 10):
        stop = min(start + 1 + start % 4, len(data))
        np.testing.assert_array_equal(safe_npz.read_slab(path, header, start, stop), data[start:stop])
    with pytest.raises(IndexError):
        safe_npz.read_slab(path, header, 38, 41)


def test_corrupt_compressed_maps_are_a_format_error(tmp_path):
    shape = (60, 80)
    data = np.random.default_rng(4).integers(0, 300, size=(20, *shape)).astype("int16")
    path = write_meteonet(tmp_path / "rainfall_NW_2016_08.3.npz", data, _slots(*range(0, 100, 5)))
    coords = write_meteonet_coords(tmp_path / "radar_coords_NW.npz", 51.0, -5.0, shape)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("data.npy")
    raw = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    raw[middle : middle + 64] = bytes(range(64))
    path.write_bytes(bytes(raw))
    ds = meteonet.open(path, coords=coords)  # headers and dates are intact: the damage shows when maps are read
    with pytest.raises(DataFormatError, match="data.npy"):
        ds.precip.values


# ---------------------------------------------------------------- radar archives


def test_rainfall_becomes_precip_in_mm_per_hour(tmp_path, coords):
    path, data = _rain(tmp_path)
    ds = meteonet.open(path, coords=coords, chunk_frames=2)
    assert isinstance(ds.precip.data, da.Array) and ds.precip.dims == ("time", "y", "x")
    expected = np.where(data < 0, np.nan, data * 0.01 / (5 / 60)).astype("float32")
    np.testing.assert_allclose(ds.precip.values, expected, rtol=1e-6)
    assert ds.precip.attrs["units"] == "mm h-1" and "5 minutes" in ds.precip.attrs["cell_methods"]
    assert list(ds.time.values) == list(pd.DatetimeIndex(_slots(0, 5, 15)).values)
    assert list(ds.missing_time.values) == list(pd.DatetimeIndex(_slots(10)).values)
    lats = safe_npz.read_member(coords, "lats")
    np.testing.assert_allclose(ds.y.values, lats[:, 0])
    np.testing.assert_allclose(ds.lat.values, lats)
    assert crs_of(ds).to_epsg() == 4326 and ds.x.attrs["units"] == "degrees_east"


def test_start_label_shifts_to_the_end_of_the_window(tmp_path, coords):
    path, _ = _rain(tmp_path)
    ds = meteonet.open(path, coords=coords, date_label="start")
    assert list(ds.time.values) == list(pd.DatetimeIndex(_slots(5, 10, 20)).values)
    assert "start" in ds.precip.attrs["time_convention"]


def test_fill_missing_gives_a_complete_axis_with_nan_frames(tmp_path, coords):
    path, _ = _rain(tmp_path, minutes=(0, 5, 25), missing=(10, 15, 20))
    ds = meteonet.open(path, coords=coords, fill_missing=True)
    assert ds.sizes["time"] == 6
    empty = ds.precip.isnull().all(("y", "x")).values
    assert list(empty) == [False, False, True, True, True, False]


def test_periods_of_several_archives_are_concatenated_in_time(tmp_path, coords):
    late, late_data = _rain(tmp_path, "rainfall_NW_2016_08.3.npz", minutes=(60, 65))
    early, early_data = _rain(tmp_path, "rainfall_NW_2016_08.2.npz", minutes=(0, 5, 10))
    ds = meteonet.open([late, early], coords=coords)
    assert ds.indexes["time"].is_monotonic_increasing and ds.sizes["time"] == 5
    np.testing.assert_array_equal(np.isnan(ds.precip.values), np.concatenate([early_data, late_data]) < 0)


def test_reflectivity_classes_and_daily_quality(tmp_path, coords):
    classes = np.array([[0, 8, 16, 17], [40, 70, 255, 255], [0, 0, 0, 0]], dtype="int16")[None]
    refl = meteonet.open(write_meteonet(tmp_path / "reflectivity_old_NW_2016_08.3.npz", classes, _slots(0)), coords=coords)
    np.testing.assert_array_equal(refl.dbz.values, np.where(classes == 255, np.nan, classes))
    assert refl.dbz.attrs["units"] == "dBZ" and refl.dbz.attrs["cell_methods"] == "time: point"

    days = [dt.date(2016, 8, 21), dt.date(2016, 8, 22)]
    codes = np.stack([np.full(SHAPE, 80), np.full(SHAPE, 255)]).astype("int16")
    path = write_meteonet(tmp_path / "rainfall_mean_quality-code_NW_2016_08.3.npz", codes, days, pickle_protocol=2)
    quality = meteonet.open(path)  # coords found next to the archive
    assert quality.quality.attrs["units"] == "%"
    assert list(quality.time.values) == list(pd.DatetimeIndex(["2016-08-22", "2016-08-23"]).values)
    assert list(quality.day.values) == list(pd.DatetimeIndex(days).values)
    assert np.isnan(quality.quality.values[1]).all() and (quality.quality.values[0] == 80).all()


def test_product_comes_from_the_name_or_the_argument(tmp_path, coords):
    path, data = _rain(tmp_path, name="radar_archive.npz")
    with pytest.raises(UnknownQuantityError, match="product="):
        meteonet.open(path, coords=coords)
    assert "precip" in meteonet.open(path, coords=coords, product="rainfall")
    with pytest.raises(UnknownQuantityError, match="new MeteoNet reflectivity"):
        meteonet.open(write_meteonet(tmp_path / "reflectivity_new_NW_2018_12.2.npz", data, _slots(0, 5, 15)), coords=coords)


def test_coordinates_must_match_and_exist(tmp_path):
    path, _ = _rain(tmp_path, name="rainfall_SE_2016_08.3.npz")
    with pytest.raises(DataFormatError, match="coords="):
        meteonet.open(path)
    other = write_meteonet_coords(tmp_path / "radar_coords_SE.npz", 46.0, 2.0, (5, 4))
    with pytest.raises(InconsistentGridError):
        meteonet.open(path, coords=other)


def test_bad_archive_is_skipped_on_request(tmp_path, coords):
    good, _ = _rain(tmp_path, "rainfall_NW_2016_08.2.npz")
    bad = write_npz(tmp_path / "rainfall_NW_2016_08.3.npz", data=np.zeros(4, "int16"))
    with pytest.raises(DataFormatError, match="dates"):
        meteonet.open([good, bad], coords=coords)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = meteonet.open([good, bad], coords=coords, skip_bad=True)
    assert any(issubclass(w.category, SkippedFilesWarning) for w in caught)
    assert list(ds.attrs["skipped_files"]) == [str(bad)]


def test_sniff(tmp_path, coords):
    path, _ = _rain(tmp_path)
    assert meteonet.sniff(path) and not meteonet.sniff(coords)
    assert averse.io.sniff(path) == "meteonet"


# ---------------------------------------------------------------- GRIB masks


def _mask_fields():
    rng = np.random.default_rng(0)
    land = (rng.random(SHAPE) > 0.5).astype(float)
    relief = np.round(rng.random(SHAPE) * 600, 1)
    hole = np.zeros(SHAPE, bool)
    hole[1, 2] = True
    return land, relief, hole


@pytest.mark.parametrize("edition", [1, 2])
def test_grib_masks_become_land_sea_and_dem(tmp_path, edition):
    land, relief, hole = _mask_fields()
    grid = {"lat_first": 51.9, "lon_first": -5.85, "step": 0.025}
    path = write_grib(tmp_path / "NW_masks.grib", [(172, land, None), (3008, relief, hole)], edition, grid)
    ds = meteonet_grib.open(path)
    assert set(ds.data_vars) == {"land_sea", "dem"} and ds.dem.dims == ("y", "x")
    np.testing.assert_array_equal(ds.land_sea.values, land)
    np.testing.assert_allclose(ds.dem.values, np.where(hole, np.nan, relief), atol=0.1)
    assert ds.dem.attrs["units"] == "m" and crs_of(ds).to_epsg() == 4326
    np.testing.assert_allclose(ds.y.values, 51.9 - 0.025 * np.arange(SHAPE[0]))
    np.testing.assert_allclose(ds.x.values, -5.85 + 0.025 * np.arange(SHAPE[1]))


def test_unknown_grib_parameters_keep_their_short_name(tmp_path):
    land, relief, _ = _mask_fields()
    grid = {"lat_first": 45.0, "lon_first": 2.0, "step": 0.1}
    path = write_grib(tmp_path / "f.grib", [(167, relief, None), (167, land, None)], 1, grid)
    ds = meteonet_grib.open(path)
    assert set(ds.data_vars) == {"2t", "2t_surface0"}
    assert ds["2t"].attrs["units"] == "K"


def test_grib_errors(tmp_path):
    land, relief, _ = _mask_fields()
    grid = {"lat_first": 45.0, "lon_first": 2.0, "step": 0.1}
    path = write_grib(tmp_path / "t.grib", [(172, land, None), (3008, relief, None)], 1, grid)
    with pytest.raises(DataFormatError, match="t.grib"):
        meteonet_grib.open(truncate(path, 0.7))
    other = write_grib(tmp_path / "o.grib", [(172, land[:2], None)], 1, grid)
    with pytest.raises(InconsistentGridError):
        meteonet_grib.open([write_grib(tmp_path / "g.grib", [(172, land, None)], 1, grid), other])
    with pytest.raises(DataFormatError, match="reduced_gg"):
        meteonet_grib.open(_reduced(tmp_path))
    not_grib = tmp_path / "x.grib"
    not_grib.write_bytes(b"no grib here")
    with pytest.raises(DataFormatError, match="no GRIB message"):
        meteonet_grib.open(not_grib)
    assert meteonet_grib.sniff(path.with_name("g.grib")) and not meteonet_grib.sniff(not_grib)


def _reduced(tmp_path):
    import eccodes

    handle = eccodes.codes_grib_new_from_samples("reduced_gg_pl_32_grib2")
    path = tmp_path / "reduced.grib"
    with path.open("wb") as fh:
        eccodes.codes_write(handle, fh)
    eccodes.codes_release(handle)
    return path


# ---------------------------------------------------------------- real MeteoNet samples


@pytest.mark.shared
@pytest.mark.parametrize("zone", ["nw", "se"])
def test_real_rainfall_equals_a_direct_read(shared_data, zone):
    ds = averse.open_dataset(f"meteonet_{zone}")
    raw = np.load(shared_data / f"meteonet/radar/rainfall_{zone.upper()}_2016_08.3.npz")["data"]  # numeric member: no pickle
    precip = ds.precip.values
    assert precip.shape == raw.shape
    assert np.isnan(precip).sum() == (raw == -1).sum()
    assert np.nanmax(precip) == pytest.approx(raw.max() * 0.12, rel=1e-6)
    np.testing.assert_allclose(precip[raw >= 0], raw[raw >= 0] * 0.12, rtol=1e-6)
    times, missing = ds.indexes["time"], ds.indexes["missing_time"]
    slots = times.union(missing)
    assert times.is_monotonic_increasing and not times.intersection(missing).size
    assert (slots == pd.date_range(slots[0], slots[-1], freq="5min")).all()  # dates + miss_dates tile the period
    assert slots[0].time() == dt.time(0, 0) and slots[-1].time() == dt.time(23, 55)  # the documented daily cycle
    lats = np.load(shared_data / f"meteonet/radar/radar_coords_{zone.upper()}.npz")["lats"]
    np.testing.assert_allclose(ds.lat.values, lats)


@pytest.mark.shared
def test_real_reflectivity_and_quality(shared_data):
    refl = averse.open_dataset("meteonet_nw_reflectivity")
    raw = np.load(shared_data / "meteonet/radar/reflectivity_old_NW_2016_08.3.npz")["data"]
    assert np.isnan(refl.dbz.values).sum() == (raw == 255).sum()
    assert np.nanmax(refl.dbz.values) == raw[raw != 255].max()
    path = shared_data / "meteonet/radar/rainfall_mean_quality-code_NW_2016_08.3.npz"
    quality = averse.open_dataset(path, coords=shared_data / "meteonet/radar/radar_coords_NW.npz")
    raw = np.load(path)["data"]
    assert quality.quality.shape == raw.shape and np.nanmax(quality.quality.values) == raw[raw != 255].max()
    assert ((quality.time - quality.day).values == np.timedelta64(1, "D")).all()


@pytest.mark.shared
@pytest.mark.parametrize("zone", ["nw", "se"])
def test_real_masks_equal_a_direct_eccodes_read(shared_data, zone):
    import eccodes

    ds = averse.open_dataset(f"meteonet_{zone}_masks")
    with (shared_data / f"meteonet/masks/{zone.upper()}_masks.grib").open("rb") as fh:
        for name in ("land_sea", "dem"):
            handle = eccodes.codes_grib_new_from_file(fh)
            nj, ni = eccodes.codes_get(handle, "Nj"), eccodes.codes_get(handle, "Ni")
            values = eccodes.codes_get_values(handle).reshape(nj, ni)
            first = [eccodes.codes_get(handle, f"{k}OfFirstGridPointInDegrees") for k in ("latitude", "longitude")]
            last = [eccodes.codes_get(handle, f"{k}OfLastGridPointInDegrees") for k in ("latitude", "longitude")]
            eccodes.codes_release(handle)
            np.testing.assert_allclose(ds[name].values, values, rtol=1e-6, atol=1e-3)
            assert [ds.y.values[0], ds.x.values[0]] == pytest.approx(first)
            assert [ds.y.values[-1], ds.x.values[-1]] == pytest.approx(last)
    assert ds.dem.attrs["units"] == "m" and not ds.dem.isnull().any()
    land = ds.land_sea.values
    assert land.min() == 0.0 and land.max() == 1.0  # a land fraction: 0 sea, 1 land, fractions on some coasts
