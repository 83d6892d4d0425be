"""Conservative regridding and time aggregation (averse.grid)."""

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time, latlon_grid_covering

LAEA = "+proj=laea +lat_0=48.8 +lon_0=2.3 +ellps=WGS84 +units=m"


def laea_grid(n=96, dx=1000.0, descending_y=False):
    x = (np.arange(n) - n / 2 + 0.5) * dx
    y = (np.arange(n) - n / 2 + 0.5) * dx
    return RegularGrid(x, y[::-1] if descending_y else y, LAEA)


@pytest.fixture(scope="module")
def to_latlon():
    source = laea_grid()
    return ConservativeRegridder(source, latlon_grid_covering(source, 0.1))


def test_cell_areas():
    grid = laea_grid()
    np.testing.assert_allclose(grid.cell_area(), 1e6, rtol=1e-9)  # LAEA is equal-area
    ll = latlon_grid_covering(grid, 0.1)
    lat = np.deg2rad(ll.y)
    expected = (6_371_007.2 * np.deg2rad(0.1)) ** 2 * np.cos(lat)  # spherical small-cell approximation
    np.testing.assert_allclose(ll.cell_area()[:, 0], expected, rtol=5e-3)
    # The 0.1° grid is aligned on IMERG's global grid (centres at k*0.1 + 0.05).
    np.testing.assert_allclose((ll.x - 0.05) / 0.1, np.round((ll.x - 0.05) / 0.1), atol=1e-6)


def test_latlon_total_is_conserved(to_latlon):
    rng = np.random.default_rng(1)
    field = rng.gamma(0.5, 2.0, size=to_latlon.source.shape)
    mean, coverage = to_latlon.regrid_array(field, min_coverage=0.0, return_coverage=True)
    valid = np.isfinite(mean)
    regridded_total = np.sum(mean[valid] * to_latlon.overlap_area[valid])
    source_total = np.sum(field * to_latlon.source.cell_area())
    # Every source cell lies inside the covering grid, so the totals agree to rounding.
    assert regridded_total == pytest.approx(source_total, rel=1e-12)
    assert coverage.max() <= 1.0


def test_interior_cells_fully_covered_and_rim_partial(to_latlon):
    ratio = to_latlon.overlap_area / to_latlon.target_area
    interior = ratio[2:-2, 2:-2]
    # Exact area of a cell vs the subsampled parts inside it: within a 1/subsample-wide rim.
    assert np.all(np.abs(interior - 1.0) < 0.03)
    assert ratio.min() < 0.5  # the bounding box of a LAEA square has partly covered rim cells


def test_constant_field_stays_constant_and_nan_coverage(to_latlon):
    field = np.full(to_latlon.source.shape, 3.5, dtype="float32")
    mean = to_latlon.regrid_array(field, min_coverage=0.5)
    assert mean.dtype == np.float32
    np.testing.assert_allclose(mean[np.isfinite(mean)], 3.5, rtol=1e-6)
    # Cells covered less than half by the source are NaN; cells more than half are valid.
    fraction = to_latlon.covered_fraction
    assert np.all(np.isnan(mean[fraction < 0.5]))
    assert np.all(np.isfinite(mean[fraction >= 0.5]))
    # Knock out the western half of the source: cells there lose coverage and become NaN.
    field[:, : field.shape[1] // 2] = np.nan
    mean, coverage = to_latlon.regrid_array(field, min_coverage=0.5, return_coverage=True)
    np.testing.assert_allclose(mean[np.isfinite(mean)], 3.5, rtol=1e-6)
    assert np.nanmax(coverage[:, 0]) < 0.05
    assert np.all(np.isnan(mean[coverage < 0.5]))


def test_linear_field_mean_is_the_cell_centre_value(to_latlon):
    src = to_latlon.source
    xx, yy = np.meshgrid(src.x, src.y)
    field = 2.0 + 1e-4 * xx - 3e-5 * yy
    mean = to_latlon.regrid_array(field, min_coverage=0.99)
    import pyproj

    lon, lat = np.meshgrid(to_latlon.target.x, to_latlon.target.y)
    cx, cy = pyproj.Transformer.from_crs("EPSG:4326", LAEA, always_xy=True).transform(lon, lat)
    expected = 2.0 + 1e-4 * cx - 3e-5 * cy
    ok = np.isfinite(mean)
    assert ok.sum() > 20
    # A 0.1° cell is a near-parallelogram in LAEA: its mean is the value at its centre.
    np.testing.assert_allclose(mean[ok], expected[ok], atol=0.02)


@pytest.mark.parametrize("descending_y", [False, True])
def test_same_crs_coarsening_is_the_exact_block_mean(descending_y):
    src = laea_grid(n=100, descending_y=descending_y)
    coarse = src.coarsen(3)
    regridder = ConservativeRegridder(src, coarse)
    field = np.random.default_rng(2).normal(size=(4,) + src.shape)
    mean = regridder.regrid_array(field)
    expected = field[:, :99, :99].reshape(4, 33, 3, 33, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(mean, expected, atol=1e-9)
    assert coarse.y[1] - coarse.y[0] == pytest.approx(3 * (src.y[1] - src.y[0]))


def test_offset_grid_shares_areas_exactly():
    src = laea_grid(n=12, dx=1000.0)
    # 2-km cells centred on source centres: each straddles half cells on every side.
    target = RegularGrid(src.x[1:-1:2], src.y[1:-1:2], LAEA)
    regridder = ConservativeRegridder(src, target)
    np.testing.assert_allclose(regridder.overlap_area, 4e6)
    shares = np.sort(regridder.weights[0].data)
    # 4 quarter cells, 4 half cells and the central cell: 9 source cells, 4 km².
    np.testing.assert_allclose(shares, [0.25e6] * 4 + [0.5e6] * 4 + [1e6], rtol=1e-6)


def test_dataarray_regrid_is_lazy_and_attaches_target_grid(to_latlon):
    src = to_latlon.source
    data = dsa.random.random((6,) + src.shape, chunks=(2, -1, -1)).astype("float32")
    times = pd.date_range("2021-06-01 00:05", periods=6, freq="5min")
    ds = src.attach(xr.Dataset({"precip": (("time", "y", "x"), data, {"units": "mm h-1"})}, coords={"time": times}))
    out = to_latlon.regrid(ds["precip"])
    assert isinstance(out.data, dsa.Array)
    assert out.dims == ("time", "y", "x")
    assert out.attrs["units"] == "mm h-1" and "regrid_method" in out.attrs
    assert out["lat"].shape == to_latlon.target.shape
    assert "EPSG" in out["spatial_ref"].attrs["crs_wkt"] or "WGS 84" in out["spatial_ref"].attrs["crs_wkt"]
    np.testing.assert_allclose(out.values, to_latlon.regrid_array(ds["precip"].values), rtol=1e-6)
    coverage = to_latlon.coverage(ds["precip"]).isel(time=0).values
    np.testing.assert_allclose(coverage, to_latlon.covered_fraction, rtol=1e-6)


# -- time aggregation ------------------------------------------------------------------


def five_minute_frames(start="2021-06-01 00:05", periods=24, chunks=None):
    times = pd.date_range(start, periods=periods, freq="5min")
    values = np.arange(periods, dtype="float32")[:, None, None] * np.ones((1, 2, 3), "float32")
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": times}, name="precip")
    return da.chunk({"time": chunks}) if chunks else da


def test_half_hour_ending_30_holds_frames_ending_05_to_30():
    """Time = END: the frames stamped :05, :10, ..., :30 make the half hour stamped :30."""
    da = five_minute_frames()
    out = aggregate_time(da, "30min")
    assert list(pd.DatetimeIndex(out.time.values).strftime("%H:%M")) == ["00:30", "01:00", "01:30", "02:00"]
    # Frames 0..5 (stamped 00:05..00:30) hold values 0..5.
    assert float(out.isel(time=0, y=0, x=0)) == pytest.approx(np.mean(np.arange(6)))
    assert float(out.isel(time=1, y=0, x=0)) == pytest.approx(np.mean(np.arange(6, 12)))
    assert "interval: 30 minutes" in out.attrs["cell_methods"]


def test_partial_intervals_and_nan_frames_follow_coverage():
    # Starting at 00:00: that frame is alone in the half hour ending 00:00.
    da = five_minute_frames(start="2021-06-01 00:00", periods=13)
    da[3, 0, 0] = np.nan  # the frame stamped 00:15
    mean, coverage = aggregate_time(da, "30min", min_coverage=1.0, return_coverage=True)
    assert list(pd.DatetimeIndex(mean.time.values).strftime("%H:%M")) == ["00:00", "00:30", "01:00"]
    assert float(coverage[0, 1, 1]) == pytest.approx(1 / 6)
    assert np.isnan(float(mean[0, 1, 1]))
    assert float(coverage[1, 0, 0]) == pytest.approx(5 / 6) and np.isnan(float(mean[1, 0, 0]))
    assert float(mean[1, 1, 1]) == pytest.approx(np.mean(np.arange(1, 7)))
    relaxed = aggregate_time(da, "30min", min_coverage=0.5)
    assert float(relaxed[1, 0, 0]) == pytest.approx(np.mean([1, 2, 4, 5, 6]))


@pytest.mark.parametrize("chunks", [1, 4, 7])
def test_dask_aggregation_matches_numpy_whatever_the_chunks(chunks):
    ref = aggregate_time(five_minute_frames(periods=36), "15min")
    out = aggregate_time(five_minute_frames(periods=36, chunks=chunks), "15min")
    assert isinstance(out.data, dsa.Array)
    np.testing.assert_allclose(out.values, ref.values)
    assert out.sizes["time"] == 12


def test_misaligned_frames_are_refused():
    times = pd.date_range("2021-06-01 00:02", periods=6, freq="5min")
    da = xr.DataArray(np.zeros(6), dims="time", coords={"time": times})
    with pytest.raises(ValueError, match="aligned"):
        aggregate_time(da, "30min")
    with pytest.raises(ValueError, match="multiple"):
        aggregate_time(five_minute_frames(), "12min")


def test_polygon_clipping_matches_shapely():
    from averse.grid.regrid import _clip_to_boxes

    shapely = pytest.importorskip("shapely")
    rng = np.random.default_rng(3)
    n = 2000
    # Convex quadrilaterals: rotated, sheared squares of random sizes; random boxes.
    angle = rng.uniform(0, np.pi, n)[:, None]
    size = rng.uniform(0.2, 1.5, n)[:, None]
    u = np.array([-0.5, 0.5, 0.5, -0.5])[None, :]
    v = np.array([-0.5, -0.5, 0.5, 0.5])[None, :]
    qx = rng.uniform(0, 3, n)[:, None] + size * (np.cos(angle) * u - np.sin(angle) * v)
    qy = rng.uniform(0, 3, n)[:, None] + size * (np.sin(angle) * u + np.cos(angle) * v)
    qx = qx + 0.3 * qy
    x0, y0 = rng.uniform(0, 3, n), rng.uniform(0, 3, n)
    width, height = rng.uniform(0.05, 1.5, n), rng.uniform(0.05, 1.5, n)
    ours = _clip_to_boxes(qx, qy, x0, x0 + width, y0, y0 + height)
    reference = shapely.area(shapely.intersection(
        shapely.polygons(np.stack([qx, qy], axis=-1)), shapely.box(x0, y0, x0 + width, y0 + height)))
    assert 0.1 < np.mean(reference > 0) < 0.9  # partial, full and empty overlaps all occur
    np.testing.assert_allclose(ours, reference, atol=1e-12)
