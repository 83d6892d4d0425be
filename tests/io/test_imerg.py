"""Tests of averse.io.imerg: IMERG V06/V07 half-hourly HDF5 -> (time, y, x) grids."""

from __future__ import annotations


import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _writers_gpm import IMERG_V07_INTERMEDIATE, write_1c, write_imerg

import averse
from averse.errors import DataFormatError, InconsistentGridError
from averse.io import imerg
from averse.io._stack import SkippedFilesWarning

LAT = np.round(40.05 + 0.1 * np.arange(6), 2)  # 6 rows
LON = np.round(2.05 + 0.1 * np.arange(9), 2)  # 9 columns: a transposition cannot go unnoticed
V07_FILE = "gpm/cut/RS/V7/IMERG-FR/3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5"
V06_FILE = "gpm/cut/RS/V6/IMERG-FR/3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V06B.HDF5"


def _fields(value_at=(3, 7), value=7.5):
    """Every IMERG field on the test grid; ``precipitation`` is ``value`` at one (lat, lon) index, 0 elsewhere, NaN in row 0."""
    shape = (LAT.size, LON.size)
    precip = np.zeros(shape)
    precip[value_at] = value
    precip[0, :] = np.nan
    fields = {name: np.full(shape, 1.0) for name in ("precipitationQualityIndex", "probabilityLiquidPrecipitation", "randomError")}
    fields.update({name: np.full(shape, 2.0) for name in IMERG_V07_INTERMEDIATE})
    fields["MWprecipSource"] = np.zeros(shape)  # 0 = no microwave observation, a value, not a fill
    fields["MWobservationTime"] = np.full(shape, np.nan)
    fields["MWobservationTime"][value_at] = 17
    fields["precipitation"] = precip
    return fields


def test_value_lands_at_its_longitude_and_latitude(tmp_path):
    path = write_imerg(tmp_path / "a.HDF5", _fields(value_at=(3, 7)), LAT, LON)
    ds = imerg.open(path)
    assert ds["precipitation"].dims == ("time", "y", "x")
    assert ds.sizes == {"time": 1, "y": LAT.size, "x": LON.size, "nv": 2}
    np.testing.assert_allclose(ds["x"], LON)
    np.testing.assert_allclose(ds["y"], LAT)
    field = ds["precipitation"].isel(time=0)
    assert float(field.sel(y=LAT[3], x=LON[7])) == 7.5
    assert float(field.sel(y=LAT[3], x=LON[7])["lat"]) == pytest.approx(LAT[3])
    assert float(field.sel(y=LAT[3], x=LON[7])["lon"]) == pytest.approx(LON[7])
    assert float(field.sum()) == 7.5
    assert averse.datamodel.crs_of(ds).to_epsg() == 4326


def test_v06_and_v07_give_the_same_utc_end_time_and_names(tmp_path):
    start = "2019-07-01T12:30"
    v07 = imerg.open(write_imerg(tmp_path / "v7.HDF5", _fields(), LAT, LON, start=start, version="V07"))
    v06 = imerg.open(write_imerg(tmp_path / "v6.HDF5", _fields(), LAT, LON, start=start, version="V06"))
    with h5py.File(tmp_path / "v7.HDF5") as h7, h5py.File(tmp_path / "v6.HDF5") as h6:
        assert h7["Grid/time"][0] != h6["Grid/time"][0]  # different epochs in the files
    for ds in (v07, v06):
        assert ds["time"].values[0] == np.datetime64("2019-07-01T13:00")
        assert ds["time_bnds"].values[0, 0] == np.datetime64("2019-07-01T12:30")
    assert set(v06.data_vars) == set(v07.data_vars)
    assert v06.attrs["imerg_version"] == "V06B" and v07.attrs["imerg_version"] == "V07B"
    assert v06["precipitation"].attrs["original_name"] == "precipitationCal"
    assert v06["MWobservationTime"].attrs["original_name"] == "HQobservationTime"
    assert v06["IRinfluence"].attrs["original_name"] == "IRkalmanFilterWeight"
    assert "V06" in v06["IRinfluence"].attrs["comment"]
    xr.testing.assert_identical(v06["precipitation"].drop_attrs(), v07["precipitation"].drop_attrs())


def test_fills_become_nan_and_zero_stays_zero(tmp_path):
    ds = imerg.open(write_imerg(tmp_path / "a.HDF5", _fields(value_at=(3, 7)), LAT, LON)).load()
    precip = ds["precipitation"].isel(time=0)
    assert precip.isel(y=0).isnull().all()  # float fill -9999.9
    assert int(precip.isnull().sum()) == LON.size
    assert (precip.isel(y=slice(1, None)) >= 0).all()
    observation = ds["MWobservationTime"].isel(time=0)  # int16 fill -9999
    assert int(observation.notnull().sum()) == 1 and float(observation.sel(y=LAT[3], x=LON[7])) == 17
    assert (ds["MWprecipSource"] == 0).all()
    assert all(ds[name].dtype == np.float32 for name in ds.data_vars)
    assert ds["precipitation"].attrs["units"] == "mm h-1"
    assert "interval: 30 minutes" in ds["precipitation"].attrs["cell_methods"]


@pytest.mark.parametrize(
    ("units", "value", "expected"),
    [
        ("seconds since 1980-01-06 00:00:00 UTC", 643852800, "2000-06-01T00:00"),
        ("seconds since 1970-01-01 00:00:00 UTC", 959817600, "2000-06-01T00:00"),
        ("minutes since 2000-01-01T00:00:00Z", 90, "2000-01-01T01:30"),
        ("hours since 2000-01-01 00:00:00+02:00", 3, "2000-01-01T01:00"),
    ],
)
def test_time_units_are_parsed_generically(units, value, expected):
    assert imerg.decode_time([value], units, "f")[0] == pd.Timestamp(expected)


def test_time_units_of_another_epoch_in_a_file(tmp_path):
    path = write_imerg(tmp_path / "a.HDF5", _fields(), LAT, LON, start="2021-03-04T05:00", time_units="minutes since 2000-01-01 00:00:00 UTC")
    assert imerg.open(path)["time"].values[0] == np.datetime64("2021-03-04T05:30")


def test_bad_time_units_is_a_format_error(tmp_path):
    with pytest.raises(DataFormatError, match="time units"):
        imerg.decode_time([1], "seconds after launch", tmp_path / "x")


def test_files_are_stacked_in_time_order_lazily(tmp_path):
    starts = ["2019-07-01T13:30", "2019-07-01T12:30", "2019-07-01T13:00"]
    paths = [write_imerg(tmp_path / f"f{i}.HDF5", _fields(value=float(i + 1)), LAT, LON, start=s) for i, s in enumerate(starts)]
    ds = imerg.open(paths)
    np.testing.assert_array_equal(ds["time"].values, pd.to_datetime(["2019-07-01T13:00", "2019-07-01T13:30", "2019-07-01T14:00"]))
    assert ds["precipitation"].chunks == ((1, 1, 1), (LAT.size,), (LON.size,))
    np.testing.assert_array_equal(ds["precipitation"].max(("y", "x")).values, [2.0, 3.0, 1.0])


def test_bbox_reads_only_its_hyperslab(tmp_path, monkeypatch):
    path = write_imerg(tmp_path / "a.HDF5", _fields(value_at=(3, 7)), LAT, LON)
    full = imerg.open(path).load()
    read_shapes = []
    original = imerg.decode_to_float
    monkeypatch.setattr(imerg, "decode_to_float", lambda raw, codes: read_shapes.append(raw.shape) or original(raw, codes))
    box = imerg.open(path, bbox=(2.3, 40.2, 2.8, 40.5), variables=["precipitation"])
    assert box["precipitation"].shape == (1, 3, 5)
    xr.testing.assert_identical(box["precipitation"].load(), full["precipitation"].sel(y=slice(40.2, 40.5), x=slice(2.3, 2.8)))
    assert read_shapes == [(5, 3)]  # (lon, lat) of the box only, as stored in the file
    assert list(box.data_vars) == ["precipitation"]
    with pytest.raises(ValueError, match="no longitude"):
        imerg.open(path, bbox=(100, 40, 101, 41))
    with pytest.raises(ValueError, match="min <= max"):
        imerg.open(path, bbox=(3, 40, 2, 41))


def test_truncated_file_is_a_format_error(tmp_path):
    path = write_imerg(tmp_path / "a.HDF5", _fields(), LAT, LON)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="a.HDF5"):
        imerg.open(path)


def test_non_hdf5_file_is_a_format_error(tmp_path):
    path = tmp_path / "notes.HDF5"
    path.write_text("not a grid")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        imerg.open(path)
    assert not imerg.sniff(path)


def test_missing_grid_and_missing_precipitation_are_format_errors(tmp_path):
    no_grid = write_1c(tmp_path / "1c.HDF5", {"S1": {"tc": np.zeros((2, 3, 1)), "lat": np.zeros((2, 3)), "lon": np.zeros((2, 3))}},
                       pd.date_range("2020-01-01", periods=2, freq="2s"))
    with pytest.raises(DataFormatError, match="no /Grid"):
        imerg.open(no_grid)
    assert not imerg.sniff(no_grid)
    fields = _fields()
    del fields["precipitation"]
    with pytest.raises(DataFormatError, match="precipitation"):
        imerg.open(write_imerg(tmp_path / "noprecip.HDF5", fields, LAT, LON))


def test_sequences_mixing_versions_or_grids_are_refused(tmp_path):
    v07 = write_imerg(tmp_path / "a.HDF5", _fields(), LAT, LON, start="2019-07-01T12:30")
    v06 = write_imerg(tmp_path / "b.HDF5", _fields(), LAT, LON, start="2019-07-01T13:00", version="V06")
    other = write_imerg(tmp_path / "c.HDF5", _fields(), LAT + 1.0, LON, start="2019-07-01T13:00")
    with pytest.raises(DataFormatError, match="V06B cannot be stacked"):
        imerg.open([v07, v06])
    with pytest.raises(InconsistentGridError, match="c.HDF5"):
        imerg.open([v07, other])


def test_skip_bad_reports_the_skipped_file(tmp_path):
    good = write_imerg(tmp_path / "a.HDF5", _fields(), LAT, LON)
    bad = tmp_path / "b.HDF5"
    bad.write_text("garbage")
    with pytest.warns(SkippedFilesWarning, match="b.HDF5"):
        ds = imerg.open([good, bad], skip_bad=True)
    assert ds.sizes["time"] == 1 and "b.HDF5" in ds.attrs["skipped_files"][0]


def test_sniff_recognises_both_versions(tmp_path):
    assert imerg.sniff(write_imerg(tmp_path / "a.HDF5", _fields(), LAT, LON, version="V07"))
    assert imerg.sniff(write_imerg(tmp_path / "b.HDF5", _fields(), LAT, LON, version="V06"))
    assert averse.io.sniff(tmp_path / "b.HDF5") == "imerg"


# --------------------------------------------------------------------------- real cut files (AVERSE_DATA)
def _direct(path, dataset):
    """A field read with h5py, transposed to (lat, lon), fills to NaN."""
    with h5py.File(path) as h5:
        raw = h5[dataset][0].T.astype("float64")
        fill = h5[dataset].attrs["_FillValue"]
    return np.where(raw == fill, np.nan, raw)


@pytest.mark.shared
@pytest.mark.parametrize(("entry", "relative", "name", "dataset"), [
    ("imerg_v07", V07_FILE, "precipitation", "Grid/precipitation"),
    ("imerg_v07", V07_FILE, "MWprecipSource", "Grid/Intermediate/MWprecipSource"),
    ("imerg_v07", V07_FILE, "randomError", "Grid/randomError"),
    ("imerg_v06", V06_FILE, "precipitation", "Grid/precipitationCal"),
    ("imerg_v06", V06_FILE, "IRinfluence", "Grid/IRkalmanFilterWeight"),
])
def test_real_cut_equals_a_direct_h5py_read(shared_data, monkeypatch, entry, relative, name, dataset):
    if not (shared_data / relative).is_file():
        pytest.skip(f"{relative} missing from AVERSE_DATA")
    monkeypatch.setenv("AVERSE_DATA", str(shared_data))
    ds = averse.open_dataset(entry)
    expected = _direct(shared_data / relative, dataset)
    assert ds[name].shape == (1, 10, 10)
    assert int(ds[name].isnull().sum()) == int(np.isnan(expected).sum())
    np.testing.assert_array_equal(ds[name].values[0], expected.astype("float32"))
    assert ds["time"].values[0] == np.datetime64("2000-06-01T00:30")


@pytest.mark.shared
def test_real_cut_matches_the_gpm_api_decoding(shared_data):
    reference_path = shared_data / "gpm/processed/RS/V7/IMERG-FR/Grid.nc"
    if not (shared_data / V07_FILE).is_file() or not reference_path.is_file():
        pytest.skip("IMERG V07 cut or its gpm_api decoding missing from AVERSE_DATA")
    ds = imerg.open(shared_data / V07_FILE).load()
    with xr.open_dataset(reference_path) as reference:  # gpm_api dims: (time, lat, lon)
        np.testing.assert_array_equal(ds["time"].values, reference["time"].values)
        np.testing.assert_allclose(ds["y"].values, reference["lat"].values, atol=1e-4)
        np.testing.assert_allclose(ds["x"].values, reference["lon"].values, atol=1e-4)
        shared = [name for name in reference.data_vars if name in ds]
        assert len(shared) == 10
        for name in shared:
            np.testing.assert_array_equal(ds[name].values, reference[name].transpose("time", "lat", "lon").values, err_msg=name)
