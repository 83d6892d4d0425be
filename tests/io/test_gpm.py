"""Tests of averse.io.gpm: GPM 1C and 2A swath granules -> DataTree of (scan, pixel) swaths."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _writers_gpm import GMI_S1_LONGNAME, GMI_S2_LONGNAME, write_1c, write_2a_dpr, write_2a_gprof, write_imerg

import averse
from averse.errors import DataFormatError
from averse.io import gpm

NSCAN, NPIXEL = 4, 5
TIMES = pd.to_datetime(["2014-03-04T17:59:33.519", "2014-03-04T17:59:35.394", "2014-03-04T17:59:37.269", "2014-03-04T17:59:39.144"])
LAT = -69.0 + 0.01 * np.arange(NSCAN * NPIXEL).reshape(NSCAN, NPIXEL)
LON = -116.0 + 0.1 * np.arange(NSCAN * NPIXEL).reshape(NSCAN, NPIXEL)
CUT = "gpm/cut/RS/V7"
FILES = {
    "gpm_1c_gmi": f"{CUT}/1C-GMI/1C.GPM.GMI.XCAL2016-C.20140304-S175932-E193159.000079.V07A.HDF5",
    "gpm_2a_gmi": f"{CUT}/2A-GMI/2A.GPM.GMI.GPROF2021v1.20140304-S175932-E193159.000079.V07A.HDF5",
    "gpm_2a_dpr": f"{CUT}/2A-DPR/2A.GPM.DPR.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5",
}


def _gmi(path, s1_longname=GMI_S1_LONGNAME, s2_longname=GMI_S2_LONGNAME, instrument="GMI", times=TIMES):
    tc1 = np.full((NSCAN, NPIXEL, 9), 200.0)
    tc1[2, 3, 7] = 250.0  # 89.0 GHz V at scan 2, pixel 3
    tc1[0, 0, :] = np.nan  # fill
    tc2 = np.full((NSCAN, NPIXEL, 4), 260.0)
    return write_1c(path, {"S1": {"tc": tc1, "lat": LAT, "lon": LON, "longname": s1_longname},
                           "S2": {"tc": tc2, "lat": LAT + 0.5, "lon": LON, "longname": s2_longname}}, times, instrument=instrument)


def test_parse_pvl_reads_key_value_records():
    text = b"AlgorithmID=1CGMI;\nGranuleNumber=000079;\nInputFileNames=a=1,b;\nEmpty=;\n"
    assert gpm.parse_pvl(text) == {"AlgorithmID": "1CGMI", "GranuleNumber": "000079", "InputFileNames": "a=1,b", "Empty": ""}


def test_1c_swaths_channels_values_and_times(tmp_path):
    tree = gpm.open_gpm_1c(_gmi(tmp_path / "1c.HDF5"))
    assert set(tree.children) == {"S1", "S2"}
    assert tree.attrs["AlgorithmID"] == "1CGMI" and tree.attrs["granule_number"] == 79
    assert tree.attrs["InstrumentName"] == "GMI" and tree.attrs["DataFormatVersion"] == "7e"
    s1, s2 = tree["S1"].to_dataset(), tree["S2"].to_dataset()
    assert s1["tb"].dims == ("scan", "pixel", "channel") and s1["tb"].attrs["units"] == "K"
    assert list(s1["channel"].values) == ["10.65V", "10.65H", "18.7V", "18.7H", "23.8V", "36.64V", "36.64H", "89.0V", "89.0H"]
    assert list(s2["channel"].values) == ["166.0V", "166.0H", "183.31+/-3V", "183.31+/-7V"]
    np.testing.assert_array_equal(s2["frequency"], [166.0, 166.0, 183.31, 183.31])
    np.testing.assert_array_equal(s2["frequency_offset"], [0, 0, 3, 7])
    assert list(s2["polarization"].values) == ["V", "H", "V", "V"]
    assert float(s1["tb"].isel(scan=2, pixel=3).sel(channel="89.0V")) == 250.0
    assert int((s1["tb"] == 250.0).sum()) == 1
    assert s1["tb"].isel(scan=0, pixel=0).isnull().all() and int(s1["tb"].isnull().sum()) == 9
    np.testing.assert_allclose(s1["lat"], LAT, atol=1e-5)
    np.testing.assert_allclose(s2["lat"], LAT + 0.5, atol=1e-5)
    np.testing.assert_array_equal(s1["time"].values, TIMES.values)  # milliseconds kept
    assert s1["incidence_angle"].dims == ("scan", "pixel", "nchUIA1")
    assert s1["quality"].dtype == np.int8 and s1["quality"].attrs["fill_value"] == -99
    assert s1["tb"].chunks is not None  # lazy


def test_1c_channel_table_fallback_and_unknown_sensor(tmp_path):
    fallback = gpm.open_gpm_1c(_gmi(tmp_path / "a.HDF5", s1_longname="Intercalibrated Tb", s2_longname=None))
    assert list(fallback["S2"]["channel"].values) == ["166.0V", "166.0H", "183.31+/-3V", "183.31+/-7V"]
    assert fallback["S1"]["tb"].attrs["channel_source"].startswith("built-in GMI")
    assert fallback["S1"]["channel"].values[7] == "89.0V"
    unknown = gpm.open_gpm_1c(_gmi(tmp_path / "b.HDF5", s1_longname="", s2_longname="", instrument="XYZ"))
    assert list(unknown["S2"]["channel"].values) == ["S2_ch1", "S2_ch2", "S2_ch3", "S2_ch4"]
    assert np.isnan(unknown["S2"]["frequency"]).all()


def test_missing_scan_time_fields_give_nat(tmp_path):
    path = _gmi(tmp_path / "a.HDF5")
    with h5py.File(path, "r+") as h5:
        h5["S1/ScanTime/Year"][1] = -9999
    times = gpm.open_gpm_1c(path)["S1"]["time"].values
    assert np.isnat(times[1]) and not np.isnat(times[[0, 2, 3]]).any()


def test_2a_gprof_precipitation(tmp_path):
    precip = np.zeros((NSCAN, NPIXEL))
    precip[1, 2] = 3.25
    precip[3, :] = np.nan
    probability = np.full((NSCAN, NPIXEL), 40.0)
    probability[0, 0] = np.nan
    tree = gpm.open_gpm_2a(write_2a_gprof(tmp_path / "2a.HDF5", precip, probability, LAT, LON, TIMES))
    s1 = tree["S1"].to_dataset()
    assert s1["precip"].dims == ("scan", "pixel")
    assert s1["precip"].attrs["units"] == "mm h-1" and s1["precip"].attrs["cell_methods"] == "time: point"
    assert s1["precip"].attrs["original_name"] == "surfacePrecipitation"
    assert float(s1["precip"].isel(scan=1, pixel=2)) == 3.25
    assert int(s1["precip"].isnull().sum()) == NPIXEL and float(s1["precip"].sum()) == 3.25
    assert s1["probabilityOfPrecip"].dtype == np.float32  # int8 with units: a quantity, fill -> NaN
    assert int(s1["probabilityOfPrecip"].isnull().sum()) == 1
    assert s1["qualityFlag"].dtype == np.int8  # a flag keeps its type


def _dpr_swaths(nbin=8):
    z_fs = np.full((NSCAN, NPIXEL, nbin, 2), np.nan)
    z_fs[2, 1, 5, 1] = 31.5  # Ka at bin 6 (1-based)
    z_hs = np.full((NSCAN, NPIXEL, nbin // 2), np.nan)
    z_hs[0, 4, 3] = 12.0
    precip = np.zeros((NSCAN, NPIXEL))
    precip[2, 1] = 4.0
    return {"FS": {"precip": precip, "z": z_fs, "lat": LAT, "lon": LON},
            "HS": {"precip": precip * 0.5, "z": z_hs, "lat": LAT, "lon": LON}}


def test_2a_dpr_precip_and_reflectivity(tmp_path):
    tree = gpm.open_gpm_2a(write_2a_dpr(tmp_path / "dpr.HDF5", _dpr_swaths(), TIMES))
    fs, hs = tree["FS"].to_dataset(), tree["HS"].to_dataset()
    assert fs["dbz"].dims == ("scan", "pixel", "range_bin", "radar_frequency")
    assert list(fs["radar_frequency"].values) == ["Ku", "Ka"]
    assert fs["range_bin"].values[0] == 1
    assert float(fs["dbz"].isel(scan=2, pixel=1).sel(range_bin=6, radar_frequency="Ka")) == 31.5
    assert int(fs["dbz"].notnull().sum()) == 1 and fs["dbz"].attrs["units"] == "dBZ"
    assert float(fs["precip"].isel(scan=2, pixel=1)) == 4.0
    assert hs["dbz"].dims == ("scan", "pixel", "range_bin") and float(hs["dbz"].max()) == 12.0
    assert fs["binRealSurface"].dtype == np.int16
    assert tree.attrs["granule_number"] == 144


def test_2a_dpr_before_v07_names(tmp_path):
    swaths = _dpr_swaths()
    old = {"NS": swaths["FS"] | {"z": swaths["FS"]["z"][..., 0]}, "HS": swaths["HS"]}
    tree = gpm.open_gpm_2a(write_2a_dpr(tmp_path / "v6.HDF5", old, TIMES, version="V06A"))
    assert set(tree.children) == {"NS", "HS"}
    assert tree["NS"]["dbz"].attrs["original_name"] == "SLV/zFactorCorrected"
    assert tree["NS"]["dbz"].dims == ("scan", "pixel", "range_bin")


def test_swath_selection_and_granules_concatenated_along_scan(tmp_path):
    first = write_2a_dpr(tmp_path / "g1.HDF5", _dpr_swaths(), TIMES, granule=144)
    second = write_2a_dpr(tmp_path / "g2.HDF5", _dpr_swaths(), TIMES + pd.Timedelta("92min"), granule=145)
    tree = gpm.open_gpm_2a([first, second], swaths=["FS"])
    assert set(tree.children) == {"FS"}
    assert tree["FS"].sizes["scan"] == 2 * NSCAN
    assert tree.attrs["granule_numbers"] == [144, 145]
    assert (np.diff(tree["FS"]["time"].values) > np.timedelta64(0)).all()
    assert float(tree["FS"]["precip"].sum()) == 8.0
    radar_only = gpm.open_gpm_2a(first, variables=["precip", "dbz"])
    assert set(radar_only["FS"].data_vars) == set(radar_only["HS"].data_vars) == {"precip", "dbz"}
    with pytest.raises(DataFormatError, match=r"no variable \['tb'\]"):
        gpm.open_gpm_2a(first, variables=["tb"])


def test_errors_name_the_file_and_the_reason(tmp_path):
    one_c = _gmi(tmp_path / "1c.HDF5")
    with pytest.raises(DataFormatError, match=r"1c\.HDF5.*level 1C.*not 2A"):
        gpm.open_gpm_2a(one_c)
    with pytest.raises(DataFormatError, match=r"no swath \['FS'\]"):
        gpm.open_gpm_1c(one_c, swaths=["FS"])
    text = tmp_path / "text.HDF5"
    text.write_text("hello")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        gpm.open_gpm_1c(text)
    truncated = tmp_path / "cut.HDF5"
    truncated.write_bytes(one_c.read_bytes()[:4000])
    with pytest.raises(DataFormatError, match="truncated"):
        gpm.open_gpm_1c(truncated)
    bare = tmp_path / "bare.HDF5"
    with h5py.File(bare, "w") as h5:
        h5.create_group("S1")
    with pytest.raises(DataFormatError, match="no FileHeader"):
        gpm.open_gpm_1c(bare)


def test_sniffers_tell_the_products_apart(tmp_path):
    one_c = _gmi(tmp_path / "1c.HDF5")
    dpr = write_2a_dpr(tmp_path / "dpr.HDF5", _dpr_swaths(), TIMES)
    grid = write_imerg(tmp_path / "imerg.HDF5", {"precipitation": np.zeros((2, 3))}, [0.05, 0.15], [0.05, 0.15, 0.25])
    assert gpm.sniff_gpm_1c(one_c) and not gpm.sniff_gpm_2a(one_c)
    assert gpm.sniff_gpm_2a(dpr) and not gpm.sniff_gpm_1c(dpr)
    assert not gpm.sniff_gpm_1c(grid) and not gpm.sniff_gpm_2a(grid)
    assert averse.io.sniff(one_c) == "gpm_1c" and averse.io.sniff(dpr) == "gpm_2a"


# --------------------------------------------------------------------------- real cut files (AVERSE_DATA)
def _real(shared_data, entry, monkeypatch):
    if not (shared_data / FILES[entry]).is_file():
        pytest.skip(f"{FILES[entry]} missing from AVERSE_DATA")
    monkeypatch.setenv("AVERSE_DATA", str(shared_data))
    return averse.open_dataset(entry), h5py.File(shared_data / FILES[entry])


@pytest.mark.shared
@pytest.mark.parametrize(("entry", "swath", "name", "dataset"), [
    ("gpm_1c_gmi", "S1", "tb", "S1/Tc"),
    ("gpm_1c_gmi", "S2", "tb", "S2/Tc"),
    ("gpm_2a_gmi", "S1", "precip", "S1/surfacePrecipitation"),
    ("gpm_2a_dpr", "FS", "precip", "FS/SLV/precipRateNearSurface"),
    ("gpm_2a_dpr", "FS", "dbz", "FS/SLV/zFactorFinal"),
    ("gpm_2a_dpr", "HS", "dbz", "HS/SLV/zFactorFinal"),
])
def test_real_cut_equals_a_direct_h5py_read(shared_data, monkeypatch, entry, swath, name, dataset):
    tree, h5 = _real(shared_data, entry, monkeypatch)
    with h5:
        raw = h5[dataset][()]
        expected = np.where(raw == h5[dataset].attrs["_FillValue"], np.nan, raw)
        np.testing.assert_allclose(tree[swath]["lat"], h5[f"{swath}/Latitude"][()])
    values = tree[swath][name].values
    assert values.shape == raw.shape
    assert int(np.isnan(values).sum()) == int(np.isnan(expected).sum())
    np.testing.assert_array_equal(values, expected)


@pytest.mark.shared
def test_real_dpr_cut_has_its_few_echoes(shared_data, monkeypatch):
    tree, h5 = _real(shared_data, "gpm_2a_dpr", monkeypatch)
    h5.close()
    fs = tree["FS"].to_dataset()
    assert float(fs["precip"].max()) == pytest.approx(0.43015906)
    assert float(fs["dbz"].max()) == pytest.approx(19.96)
    assert fs["time"].values[0] == np.datetime64("2014-03-08T22:09:51.089")


@pytest.mark.shared
@pytest.mark.parametrize("swath", ["S1", "S2"])
def test_real_1c_matches_the_gpm_api_decoding(shared_data, monkeypatch, swath):
    reference_path = shared_data / f"gpm/processed/RS/V7/1C-GMI/{swath}.nc"
    if not reference_path.is_file():
        pytest.skip(f"{reference_path} missing")
    tree, h5 = _real(shared_data, "gpm_1c_gmi", monkeypatch)
    h5.close()
    ours = tree[swath].to_dataset()
    with xr.open_dataset(reference_path) as reference:  # gpm_api dims: (cross_track, along_track, pmw_frequency)
        reference = reference.transpose("along_track", "cross_track", "pmw_frequency")
        np.testing.assert_array_equal(ours["lat"].values, reference["lat"].values)
        np.testing.assert_array_equal(ours["lon"].values, reference["lon"].values)
        # gpm_api drops the milliseconds of ScanTime; ours keeps them.
        np.testing.assert_array_equal(ours["time"].values.astype("datetime64[s]"), reference["time"].values.astype("datetime64[s]"))
        np.testing.assert_array_equal(np.isnan(ours["tb"].values), np.isnan(reference["Tc"].values))
        valid = ~np.isnan(reference["Tc"].values)
        np.testing.assert_array_equal(ours["tb"].values[valid], reference["Tc"].values[valid])
        polarizations = [re.search(r"[VH]", label).group() for label in reference["pmw_frequency"].values]
        assert list(ours["polarization"].values) == polarizations
        assert ours.sizes["channel"] == reference.sizes["pmw_frequency"]
