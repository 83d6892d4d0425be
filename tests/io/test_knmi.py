"""Tests of the KNMI HDF5 reader on files written from the KNMI HDF5 format (no sample file exists)."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pandas as pd
import pyproj
import pytest
from _odim_writer import KNMI_PROJ4_METRES, truncate, write_knmi, write_odim

import averse
from averse.errors import DataFormatError, UnknownQuantityError
from averse.io import knmi
from averse.io._stack import SkippedFilesWarning
from averse.io._composite import GeolocationWarning

# The published corners (lon, lat: LL, UL, UR, LR) of the 765 x 700 RAD_NL25 grid.
NL25_CORNERS = [(0.0, 49.362064), (0.0, 55.973602), (10.856453, 55.388973), (9.0093, 48.895302)]


def accumulation_pixels(seed: int = 0, shape=(6, 8)) -> np.ndarray:
    """uint16 pixel values of a 5-min accumulation (0.01 mm), with missing and outside codes."""
    pixels = np.random.default_rng(seed).integers(0, 400, shape).astype("uint16")
    pixels[0, :3] = 65535
    pixels[1, 1] = 65534
    pixels[2, :2] = 0
    return pixels


def test_accumulation_becomes_mm_per_hour_ending_at_product_end(tmp_path):
    pixels = accumulation_pixels()
    ds = knmi.open(write_knmi(tmp_path / "RAD_NL25_RAC_RT_201901010005.h5", pixels))
    expected = np.where(np.isin(pixels, [65534, 65535]), np.nan, pixels * 0.01 * 12)
    np.testing.assert_allclose(ds.precip.values[0], expected, rtol=1e-6)
    attrs = ds.precip.attrs
    assert attrs["units"] == "mm h-1" and attrs["original_kind"] == "accumulation" and attrs["original_units"] == "mm"
    assert pd.Timedelta(attrs["accumulation_interval"]) == pd.Timedelta("5min")
    assert "interval: 5 minutes" in attrs["cell_methods"]
    assert ds.time.values[0] == np.datetime64("2019-01-01T00:05")
    assert ds.time_start.values[0] == np.datetime64("2019-01-01T00:00")


def test_hourly_accumulation_uses_the_product_window(tmp_path):
    pixels = accumulation_pixels()
    path = write_knmi(tmp_path / "h.h5", pixels, start="20190101000000", end="20190101010000")
    np.testing.assert_allclose(
        knmi.open(path).precip.values[0], np.where(np.isin(pixels, [65534, 65535]), np.nan, pixels * 0.01), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("GEO=0.010000*PV+0.000000", (0.01, 0.0)),
        ("GEO = 0.500000 * PV + -32.000000", (0.5, -32.0)),
        ("GEO=0.5*PV-31.5", (0.5, -31.5)),
        ("geo = 1.0E-2 * PV", (0.01, 0.0)),
    ],
)
def test_calibration_formulas(formula, expected):
    assert knmi.parse_calibration(formula) == pytest.approx(expected)


def test_reflectivity_product_and_its_codes(tmp_path):
    pixels = np.array([[0, 1, 64, 140], [255, 200, 100, 2]], dtype="uint8")
    path = write_knmi(
        tmp_path / "RAD_NL25_PCP_NA_201901010005.h5", pixels, parameter="REFLECTIVITY_[DBZ]",
        formula="GEO = 0.500000 * PV + -32.000000", missing=0, outside=255,
    )
    ds = knmi.open(path)
    np.testing.assert_allclose(ds.dbz.values[0], np.where(np.isin(pixels, [0, 255]), np.nan, pixels * 0.5 - 32.0))
    assert ds.dbz.attrs["units"] == "dBZ" and "precip" not in ds


def test_without_code_attributes_the_top_value_is_outside(tmp_path):
    pixels = accumulation_pixels()
    ds = knmi.open(write_knmi(tmp_path / "a.h5", pixels, missing=None, outside=None))
    assert np.isnan(ds.precip.values[0]).sum() == (pixels == 65535).sum()


def test_quality_image_is_kept(tmp_path):
    quality = np.full((6, 8), 80, dtype="uint8")
    quality[0, 0] = 255
    ds = knmi.open(write_knmi(tmp_path / "q.h5", accumulation_pixels(), quality=quality))
    np.testing.assert_allclose(ds.quality.values[0], np.where(quality == 255, np.nan, 0.8), rtol=1e-6)


# --------------------------------------------------------------------------- grid and time


def test_full_grid_in_metres_matches_published_corners(tmp_path):
    path = write_knmi(tmp_path / "full.h5", np.zeros((765, 700), dtype="uint16"), corners=np.array(NL25_CORNERS))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeolocationWarning)
        ds = knmi.open(path)
    crs = pyproj.CRS.from_wkt(ds.spatial_ref.attrs["crs_wkt"])
    assert crs.ellipsoid.semi_major_metre == pytest.approx(6378137.0)
    assert ds.x.attrs["units"] == "m"
    assert float(ds.x[0]) == pytest.approx(0.5 * 1000.0035, abs=0.5)  # float32 attributes
    assert float(ds.y[0]) == pytest.approx(-3650.5 * 1000.0048, abs=0.5)
    assert np.all(np.diff(ds.y.values) < 0)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    dx, dy = 1000.0035, 1000.0048
    edges = {"UL": (ds.x[0] - dx / 2, ds.y[0] + dy / 2), "LR": (ds.x[-1] + dx / 2, ds.y[-1] - dy / 2)}
    assert to_lonlat.transform(*map(float, edges["UL"])) == pytest.approx(NL25_CORNERS[1], abs=0.01)
    assert to_lonlat.transform(*map(float, edges["LR"])) == pytest.approx(NL25_CORNERS[3], abs=0.01)
    centre_lon, centre_lat = to_lonlat.transform(float(ds.x[350]), float(ds.y[380]))
    assert (float(ds.lon[380, 350]), float(ds.lat[380, 350])) == pytest.approx((centre_lon, centre_lat))
    assert 51 < centre_lat < 53 and 4 < centre_lon < 6  # the middle of the Netherlands


def test_corners_that_disagree_warn(tmp_path):
    shifted = np.array(NL25_CORNERS) + (0.0, 0.1)
    path = write_knmi(tmp_path / "c.h5", np.zeros((765, 700), dtype="uint16"), corners=shifted)
    with pytest.warns(GeolocationWarning, match="corners disagree"):
        knmi.open(path)


def test_projection_strings_are_made_metric():
    assert "+a=6378137.0" in knmi.metric_proj4("+proj=stere +a=6378.137 +b=6356.752 +x_0=0 y_0=0")
    assert "+y_0=0.0" in knmi.metric_proj4("+proj=stere +a=6378.137 +b=6356.752 +x_0=0 y_0=0")
    text = knmi.metric_proj4("+proj=stere +lat_0=90 +a=6378137 +b=6356752 +units=km")
    assert "+units=m" in text and "+a=6378137" in text and "km" not in text


def test_older_files_with_a_broken_projection_string(tmp_path):
    broken = "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378.14 +b=6356.75 +x_0=0 y_0=0"
    ds = knmi.open(write_knmi(tmp_path / "old.h5", accumulation_pixels(), proj4=broken))
    reference = pyproj.Transformer.from_crs(KNMI_PROJ4_METRES, "EPSG:4326", always_xy=True)
    lon, lat = reference.transform(float(ds.x[0]), float(ds.y[0]))
    assert (float(ds.lon[0, 0]), float(ds.lat[0, 0])) == pytest.approx((lon, lat), abs=1e-3)


def test_knmi_times():
    assert knmi.parse_knmi_time("01-JAN-2019;00:05:00.000") == pd.Timestamp("2019-01-01T00:05")
    assert knmi.parse_knmi_time("31-dec-2018;24:00:00.000") == pd.Timestamp("2019-01-01T00:00")
    with pytest.raises(ValueError, match="DD-MON-YYYY"):
        knmi.parse_knmi_time("2019-01-01 00:05")


def test_sequence_and_sniffing(tmp_path):
    folder = tmp_path / "rac"
    folder.mkdir()
    for k in (2, 0, 1):
        end = pd.Timestamp("2019-01-01T00:05") + k * pd.Timedelta("5min")
        write_knmi(folder / f"RAD_NL25_RAC_RT_{end:%Y%m%d%H%M}.h5", accumulation_pixels(seed=k),
                   start=(end - pd.Timedelta("5min")).strftime("%Y%m%d%H%M%S"), end=end.strftime("%Y%m%d%H%M%S"))
    odim_file = write_odim(tmp_path / "odim.h5", np.zeros((4, 5)))
    first = sorted(folder.iterdir())[0]
    assert knmi.sniff(first) and not knmi.sniff(odim_file)
    assert averse.io.sniff(first) == "knmi"
    ds = averse.open_dataset(folder)
    assert np.all(np.diff(ds.time.values) == np.timedelta64(5, "m"))
    assert ds.precip.chunks[0] == (1, 1, 1)
    np.testing.assert_allclose(np.nanmax(ds.precip.values[1]), np.nanmax(np.where(
        accumulation_pixels(seed=1) >= 65534, np.nan, accumulation_pixels(seed=1) * 0.12)), rtol=1e-6)


# --------------------------------------------------------------------------- bad input


def test_bad_files_are_format_errors_naming_the_file(tmp_path):
    good = write_knmi(tmp_path / "good.h5", accumulation_pixels(shape=(60, 80)))
    cut = truncate(good, tmp_path / "cut.h5")
    text = tmp_path / "text.h5"
    text.write_text("not radar")
    no_image = write_knmi(tmp_path / "noimage.h5", accumulation_pixels())
    with h5py.File(no_image, "r+") as h5:
        del h5["image1"]
    no_time = write_knmi(tmp_path / "notime.h5", accumulation_pixels())
    with h5py.File(no_time, "r+") as h5:
        del h5["overview"].attrs["product_datetime_end"]
    bad_formula = write_knmi(tmp_path / "formula.h5", accumulation_pixels(), formula="PV/100")
    cases = [(cut, "truncated"), (text, "not an HDF5"), (no_image, "image1"),
             (no_time, "product_datetime_end"), (bad_formula, "calibration")]
    for path, reason in cases:
        with pytest.raises(DataFormatError, match=reason) as err:
            knmi.open(path)
        assert str(path) in str(err.value)
    with pytest.warns(SkippedFilesWarning):
        ds = knmi.open([good, cut, text], skip_bad=True)
    assert ds.sizes["time"] == 1 and set(ds.attrs["skipped_files"]) == {str(cut), str(text)}


def test_unknown_parameter_and_several_images(tmp_path):
    factor = write_knmi(tmp_path / "factor.h5", accumulation_pixels(), parameter="ADJUSTMENT_FACTOR_[DB]")
    with pytest.raises(UnknownQuantityError, match="ADJUSTMENT_FACTOR"):
        knmi.open(factor)
    forecast = write_knmi(tmp_path / "forecast.h5", accumulation_pixels())
    with h5py.File(forecast, "r+") as h5:
        h5.copy("image1", "image2")
        h5["image2/image_data"][0, 5] = 7
    with pytest.raises(DataFormatError, match="image='imageN'"):
        knmi.open(forecast)
    assert knmi.open(forecast, image="image2").precip.values[0, 0, 5] == pytest.approx(0.84)


def test_accumulation_without_window_needs_an_interval(tmp_path):
    pixels = accumulation_pixels()
    path = write_knmi(tmp_path / "w.h5", pixels, start="20190101000500", end="20190101000500")
    with pytest.raises(DataFormatError, match="accumulation_interval"):
        knmi.open(path)
    expected = np.where(np.isin(pixels, [65534, 65535]), np.nan, pixels * 0.01 * 12)
    np.testing.assert_allclose(knmi.open(path, accumulation_interval="5min").precip.values[0], expected, rtol=1e-6)
