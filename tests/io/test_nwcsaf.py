"""NWC SAF GEO CRR reader: packing, time, geostationary navigation, stacking, errors."""

from __future__ import annotations

import warnings

import dask.array as da
import netCDF4
import numpy as np
import pandas as pd
import pytest
from _writers_misc import crr_region, truncate, write_crr

import averse
from averse.datamodel import crs_of
from averse.errors import DataFormatError, InconsistentGridError
from averse.io import nwcsaf
from averse.io._stack import SkippedFilesWarning

COLUMNS, LINES = 40, 30
# a strip straddling the eastern limb at the equator: the last columns are off the Earth disk
COFF, LOFF = -1790.0, 15.0


def cgms_lat_lon(columns, lines, cgms: str, sub_lon: float = 0.0):
    """Pixel lat/lon by the CGMS LRIT/HRIT navigation formulas (independent of PROJ)."""
    factors = dict(item[1:].split("=") for item in cgms.split() if "=" in item)
    factors = {key: float(value) for key, value in factors.items() if key != "proj"}
    c, line = np.meshgrid(np.asarray(columns, float), np.asarray(lines, float))
    x = np.deg2rad(2.0**16 * (c - factors["coff"]) / factors["cfac"])
    y = np.deg2rad(2.0**16 * (line - factors["loff"]) / factors["lfac"])
    ratio = (factors["r_eq"] / factors["r_pol"]) ** 2
    distance = factors["h"]
    cos_x, cos_y, sin_y = np.cos(x), np.cos(y), np.sin(y)
    with np.errstate(invalid="ignore"):
        sd = np.sqrt((distance * cos_x * cos_y) ** 2 - (cos_y**2 + ratio * sin_y**2) * (distance**2 - factors["r_eq"] ** 2))
        sn = (distance * cos_x * cos_y - sd) / (cos_y**2 + ratio * sin_y**2)
        s1, s2, s3 = distance - sn * cos_x * cos_y, sn * np.sin(x) * cos_y, -sn * sin_y
        lon = np.rad2deg(np.arctan(s2 / s1)) + sub_lon
        lat = np.rad2deg(np.arctan(ratio * s3 / np.hypot(s1, s2)))
    return lat, lon


def _fields(seed: int = 0):
    rng = np.random.default_rng(seed)
    intensity = rng.integers(0, 400, size=(LINES, COLUMNS)).astype("u2")
    intensity[0, :3] = 65535  # fill
    intensity[1, 0] = 600  # outside valid_range
    accum = rng.integers(0, 200, size=(LINES, COLUMNS)).astype("u2")
    accum[2, 2] = 65535
    crr_class = rng.integers(0, 12, size=(LINES, COLUMNS)).astype("u1")
    crr_class[0, :3] = 255
    return intensity, accum, crr_class


def _crr(tmp_path, stamp="20180601T140000Z", nominal="from-stamp", seed=0, coff=COFF, cgms_coff=None):
    nx, ny, _ = crr_region(COLUMNS, LINES, coff, LOFF)
    _, _, cgms = crr_region(COLUMNS, LINES, coff if cgms_coff is None else cgms_coff, LOFF)
    if nominal == "from-stamp":
        nominal = pd.Timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / f"S_NWC_CRR_MSG4_Europe-VISIR_{stamp}.nc"
    return write_crr(path, *_fields(seed), nx, ny, cgms, nominal)


def test_packed_values_become_precip_and_flags_are_kept(tmp_path):
    path = _crr(tmp_path)
    ds = nwcsaf.open(path)
    intensity, accum, crr_class = _fields()
    assert isinstance(ds.precip.data, da.Array) and ds.precip.dims == ("time", "y", "x")
    expected = np.where((intensity == 65535) | (intensity > 500), np.nan, intensity * 0.1)
    np.testing.assert_allclose(ds.precip.values[0], expected, rtol=1e-6)
    np.testing.assert_allclose(ds.precip_1h.values[0], np.where(accum == 65535, np.nan, accum * 0.1), rtol=1e-6)
    assert ds.precip.attrs["units"] == "mm h-1" and ds.precip.attrs["cell_methods"] == "time: point"
    assert ds.precip_1h.attrs["original_kind"] == "accumulation" and "60 minutes" in ds.precip_1h.attrs["cell_methods"]
    np.testing.assert_array_equal(ds.crr_class.values[0], crr_class)
    assert ds.crr_class.dtype == np.uint8 and ds.crr_class.attrs["missing_value"] == 255
    assert {"crr_status_flag", "crr_conditions", "crr_quality"} <= set(ds.data_vars)


def test_navigation_follows_the_cgms_formulas_and_is_nan_off_disk(tmp_path):
    ds = nwcsaf.open(_crr(tmp_path))
    _, _, cgms = crr_region(COLUMNS, LINES, COFF, LOFF)
    lat, lon = cgms_lat_lon(np.arange(1, COLUMNS + 1), np.arange(1, LINES + 1), cgms)
    assert "CGMS" in ds.attrs["navigation"]
    np.testing.assert_array_equal(np.isnan(ds.lat.values), np.isnan(lat))
    assert 0 < np.isnan(lat).sum() < lat.size  # the strip does cross the limb
    np.testing.assert_allclose(ds.lat.values, lat, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ds.lon.values, lon, atol=1e-6, equal_nan=True)
    crs = crs_of(ds)
    assert "Geostationary" in crs.coordinate_operation.method_name and ds.x.attrs["units"] == "m"


def test_inconsistent_cgms_factors_fall_back_on_nx_ny(tmp_path):
    ds = nwcsaf.open(_crr(tmp_path, coff=100.0, cgms_coff=120.0))
    nx, ny, _ = crr_region(COLUMNS, LINES, 100.0, LOFF)
    assert "nx/ny" in ds.attrs["navigation"]
    np.testing.assert_allclose(ds.x.values, nx)
    np.testing.assert_allclose(ds.y.values, ny)


def test_files_stack_in_time_order_with_scan_times(tmp_path):
    stamps = ["20180601T143000Z", "20180601T140000Z", "20180601T141500Z"]
    paths = [_crr(tmp_path, stamp, seed=i) for i, stamp in enumerate(stamps)]
    ds = averse.open_dataset(str(tmp_path / "S_NWC_CRR_*.nc"))
    assert list(ds.time.values) == list(pd.DatetimeIndex(sorted(pd.Timestamp(s).tz_convert(None) for s in stamps)).values)
    np.testing.assert_allclose(ds.precip.values[2], nwcsaf.open(paths[0]).precip.values[0])
    assert ds.time_coverage_start.values[0] == np.datetime64("2018-06-01T14:08:58")
    assert ds.time.attrs["long_name"].startswith("nominal")


def test_time_from_the_file_name_when_the_attribute_is_absent(tmp_path):
    ds = nwcsaf.open(_crr(tmp_path, "20180601T154500Z", nominal=None))
    assert ds.time.values[0] == np.datetime64("2018-06-01T15:45:00")
    nameless = _crr(tmp_path, nominal=None).rename(tmp_path / "crr.nc")
    with pytest.raises(DataFormatError, match="time"):
        nwcsaf.open(nameless)


def test_errors_name_the_file(tmp_path):
    first = _crr(tmp_path, "20180601T140000Z")
    (tmp_path / "copy").mkdir()
    with pytest.raises(DataFormatError, match="same nominal time"):
        nwcsaf.open([first, _crr(tmp_path / "copy", "20180601T140000Z")])
    with pytest.raises(InconsistentGridError):
        nwcsaf.open([first, _crr(tmp_path, "20180601T141500Z", coff=COFF + 5)])
    broken = truncate(_crr(tmp_path, "20180601T143000Z"), 0.5)
    with pytest.raises(DataFormatError, match=broken.name):
        nwcsaf.open(broken)
    other = tmp_path / "other.nc"
    with netCDF4.Dataset(other, "w") as nc:
        nc.createDimension("t", 1)
    with pytest.raises(DataFormatError, match="crr_intensity"):
        nwcsaf.open(other)
    assert nwcsaf.sniff(first) and not nwcsaf.sniff(other)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = nwcsaf.open([first, broken], skip_bad=True)
    assert ds.sizes["time"] == 1 and list(ds.attrs["skipped_files"]) == [str(broken)]
    assert any(issubclass(w.category, SkippedFilesWarning) for w in caught)


# ---------------------------------------------------------------- real CRR files


@pytest.fixture(scope="module")
def real_crr(shared_data):
    return averse.open_dataset("nwcsaf_crr"), sorted((shared_data / "nwcsaf_crr").glob("S_NWC_CRR_*.nc"))


@pytest.mark.shared
def test_real_crr_equals_a_direct_netcdf_read(real_crr):
    ds, files = real_crr
    precip, precip_1h = ds.precip.values, ds.precip_1h.values
    assert precip.shape[0] == len(files)
    for i, path in enumerate(files):
        with netCDF4.Dataset(path) as nc:
            rate, accum = nc["crr_intensity"][:], nc["crr_accum"][:]  # netCDF4 masks and scales
            assert precip.shape[1:] == rate.shape
            assert np.isnan(precip[i]).sum() == np.ma.count_masked(rate)
            np.testing.assert_allclose(precip[i], rate.filled(np.nan), rtol=1e-6, equal_nan=True)
            np.testing.assert_allclose(precip_1h[i], accum.filled(np.nan), rtol=1e-6, equal_nan=True)
            assert ds.time.values[i] == np.datetime64(pd.Timestamp(nc.nominal_product_time).tz_convert(None))
            assert ds.time_coverage_end.values[i] == np.datetime64(pd.Timestamp(nc.time_coverage_end).tz_convert(None))
    assert ds.precip.attrs["units"] == "mm h-1"


@pytest.mark.shared
def test_real_crr_navigation_matches_the_files_own_bounds(real_crr):
    ds, files = real_crr
    lat, lon = ds.lat.values, ds.lon.values
    with netCDF4.Dataset(files[0]) as nc:
        bounds = {k: float(nc.getncattr(f"geospatial_{k}")) for k in ("lat_max", "lat_min", "lon_max", "lon_min")}
        cgms = nc.cgms_projection
    assert np.nanmax(lat) == pytest.approx(bounds["lat_max"], abs=0.01)
    assert np.nanmin(lat) == pytest.approx(bounds["lat_min"], abs=0.01)
    assert np.nanmax(lon) == pytest.approx(bounds["lon_max"], abs=0.01)
    assert np.nanmin(lon) == pytest.approx(bounds["lon_min"], abs=0.01)
    columns, lines = np.arange(1, lon.shape[1] + 1, 97), np.arange(1, lat.shape[0] + 1, 53)
    ref_lat, ref_lon = cgms_lat_lon(columns, lines, cgms)
    np.testing.assert_allclose(lat[lines - 1][:, columns - 1], ref_lat, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(lon[lines - 1][:, columns - 1], ref_lon, atol=1e-6, equal_nan=True)
