"""Physics of the twin world: does its rain behave like radar rain?

Reference values (see also ``benchmarks/twin_generation.py``):

- Spectra. STEPS / pysteps model rain (in dBR) with power-law spectra whose
  exponent is about -3 below a scale break of ~50-200 km (Seed 2003; Bowler et
  al. 2006; pysteps' parametric noise fits bound the slopes to [-4, -1]). On
  the real samples of ``shared/data`` we measured, over 4-64 km: OPERA ODYSSEY
  2018-08-24 (2 km), rate -1.9 … -2.65 and dBR -2.7 … -3.0; MeteoNet NW
  2016-08-28 (1 km, 2-64 km), rate and dBR -2.6 … -2.8. The twin must fall in
  rate [-3.0, -1.8] and dBR [-3.3, -2.3]: real fields ± a margin.
- Intermittency: 5-35 % of the pixels wet (> 0.1 mm/h) in rainy frames, with dry
  spells; heavy tail: p99 / median of wet pixels above 8 (MeteoNet NW: 5-18).
- Lifetime grows with scale (Germann & Zawadzki 2002; STEPS AR(2) cascades):
  after 30 min in the moving frame, 2-6 km structures are nearly forgotten
  while 32-128 km systems are still there.
"""

import dataclasses

import numpy as np
import pytest
import xarray as xr
from averse.twin import diagnostics as dg
from averse.twin.radar import observe_radar, radar_geometry
from averse.twin.regions import RadarSite, get_region
from averse.twin.spectral import gaussian_field
from averse.twin.static import terrain, terrain_slopes
from averse.twin.weather import RainRegime
from averse.twin.world import generate

LAG = 6  # steps: 30 min


def _open(store):
    tree = xr.open_datatree(store, engine="zarr")
    return {name: tree[name].to_dataset().load() for name in ("static", "truth", "radar")}


@pytest.fixture(scope="module")
def idf(tmp_path_factory):
    store = tmp_path_factory.mktemp("twin_idf") / "idf.zarr"
    return _open(generate("idf", seed=0, days=0.5, store=store, sensors=False))


@pytest.fixture(scope="module")
def med(tmp_path_factory):
    region = get_region("med")
    region = region.replace(climate=dataclasses.replace(region.climate, dry_fraction=0.02))
    store = tmp_path_factory.mktemp("twin_med") / "med.zarr"
    return region, _open(generate(region, seed=1, days=1.0, store=store, sensors=False))


def _wet_frames(precip, minimum=0.05):
    return np.flatnonzero(dg.wet_fraction(precip) > minimum)


def test_diagnostics_measure_what_they_claim():
    rng = np.random.default_rng(0)
    field = np.stack([gaussian_field((256, 256), 1000.0, 3.0, 1e9, rng) for _ in range(4)])
    assert abs(dg.spectral_slope(field, 1.0, (4, 64)) + 3.0) < 0.15
    rain = np.zeros((3, 100, 120))
    rain[:, 60:90, 10:40] = 2.0
    rain[1, :5] = np.nan
    rows, cols = dg.wettest_window(rain, 40, stride=5)
    assert rain[:, rows, cols].mean() > 1.0 and np.isfinite(rain[:, rows, cols]).all()
    np.testing.assert_allclose(dg.wet_fraction(rain), [900 / 12000, 900 / 11400, 900 / 12000])
    lonlat = xr.Dataset(coords={"x": ("x", [0.0, 0.01], {"units": "degrees_east"}), "y": ("y", [45.0, 45.01])})
    assert abs(dg.cell_size_km(lonlat) - 1.113 * np.sqrt(np.cos(np.deg2rad(45.005)))) < 0.01


def test_spectral_slope_like_radar_rain(idf):
    precip = idf["truth"]["precip"].values
    frames = _wet_frames(precip)[::6]
    assert frames.size >= 10
    rate = dg.spectral_slope(precip[frames], 1.0, (4, 64), "rate")
    dbr = dg.spectral_slope(precip[frames], 1.0, (4, 64), "dbr")
    assert -3.0 <= rate <= -1.8, rate
    assert -3.3 <= dbr <= -2.3, dbr
    observed = np.nan_to_num(idf["radar"]["precip"].values[frames])
    assert -3.3 <= dg.spectral_slope(observed, 1.0, (4, 64), "dbr") <= -2.3


def test_intermittency_and_heavy_tail(idf):
    precip = idf["truth"]["precip"].values
    wet = dg.wet_fraction(precip)
    rainy = wet[wet > 0.01]
    assert 0.05 <= rainy.mean() <= 0.35
    median, p90, p99 = dg.wet_quantiles(precip)
    assert 0.4 <= median <= 3.0
    assert p99 / median > 8, "the wet-pixel distribution has a heavy tail"
    assert precip.max() > 20


def test_dry_spells_follow_the_climate():
    for name in ("idf", "med"):
        region = get_region(name)
        regime = RainRegime(region, seed=0)
        hours = np.arange(0, 24 * 60, 1.0)
        wetness = np.array([regime.wetness(h * 3600) for h in hours])
        dry = np.mean(wetness == 0)
        assert abs(dry - region.climate.dry_fraction) < 0.2, (name, dry)
        assert 0 < np.mean((wetness > 0) & (wetness < 1)), "rainy spells grow and decay"


def test_lifetime_grows_with_scale(idf):
    truth = idf["truth"]
    precip, u, v = (truth[name].values for name in ("precip", "u", "v"))
    cells_per_step = 300.0 / 1000.0  # m/s -> 1 km cells per 5-min step
    small, large = [], []
    for t in _wet_frames(precip[:-LAG], 0.1)[::8][:8]:
        velocity = np.stack([u[t + LAG // 2], v[t + LAG // 2]]) * cells_per_step
        small.append(dg.lagrangian_correlation(precip[t], precip[t + LAG], velocity, LAG, 1.0, (2, 6)))
        large.append(dg.lagrangian_correlation(precip[t], precip[t + LAG], velocity, LAG, 1.0, (32, 128)))
    assert len(small) >= 4
    assert np.mean(small) < 0.3, small
    assert np.mean(large) > 0.75, large


def test_lucas_kanade_recovers_the_motion(idf):
    precip = idf["truth"]["precip"].values
    observed = idf["radar"]["precip"].values
    u, v = idf["truth"]["u"].values, idf["truth"]["v"].values
    errors = []
    for t in _wet_frames(precip)[2::24][:6]:
        motion = dg.lucas_kanade_motion(observed[t - 1 : t + 1])
        wet = precip[t] > 0.1
        estimated = np.array([motion[0][wet].mean(), motion[1][wet].mean()])
        true = np.array([u[t][wet].mean(), v[t][wet].mean()]) * 300.0 / 1000.0
        errors.append(np.hypot(*(estimated - true)) / max(np.hypot(*true), 0.5))
    assert len(errors) >= 4
    assert np.median(errors) < 0.2, errors


def test_windward_slopes_get_more_rain(med):
    region, world = med
    slope_x, slope_y = terrain_slopes(world["static"]["dem"].values, region.dx)
    precip = world["truth"]["precip"].values
    upslope = world["truth"]["u"].values * slope_x + world["truth"]["v"].values * slope_y
    windward = precip[upslope > 0.1].mean()
    leeward = precip[upslope < -0.1].mean()
    flat = precip[np.abs(upslope) < 0.02].mean()
    assert windward > 1.5 * flat and windward > 2 * leeward, (windward, flat, leeward)
    assert leeward < flat, "a little drying on the lee side"


def test_convection_peaks_in_the_afternoon(med):
    region, world = med
    truth = world["truth"]
    land = world["static"]["land_sea"].values == 1
    convective_rain = (truth["precip"] * truth["convective"]).values[:, land].mean(axis=1)
    solar_hour = (truth["time"].dt.hour + truth["time"].dt.minute / 60 + region.center_lon / 15) % 24
    afternoon = convective_rain[(solar_hour >= 13) & (solar_hour < 19)].mean()
    night = convective_rain[(solar_hour >= 1) & (solar_hour < 7)].mean()
    assert afternoon > 2 * night, (afternoon, night)


def test_radar_coverage_and_range_underestimation(idf, med):
    region, world = med
    observed = world["radar"]["precip"].values
    site = region.radars[0]
    xx, yy = np.meshgrid(region.x - site.x, region.y - site.y)
    beyond = np.hypot(xx, yy) > site.range_m
    assert beyond.any() and np.isnan(observed[:, beyond]).all()
    assert np.isfinite(observed[:, ~beyond]).all()
    assert (world["radar"]["quality"].values[:, beyond] == 0).all()

    idf_region = get_region("idf")
    distance = np.hypot(*np.meshgrid(idf_region.x, idf_region.y))
    truth, seen = idf["truth"]["precip"].values, idf["radar"]["precip"].values
    ratios = [
        np.nanmean(seen[:, ring]) / truth[:, ring].mean()
        for ring in (distance < 50e3, (distance > 130e3) & (distance < 180e3))
    ]
    assert 0.75 < ratios[0] < 1.1, ratios
    assert ratios[1] < ratios[0] - 0.25, "far from the radar the beam overshoots the rain"


def test_radar_blockage_behind_the_ridge(med):
    region, world = med
    geometry = radar_geometry(region, world["static"]["dem"].values)[0]
    blocked = np.zeros((region.ny, region.nx), dtype=bool)
    clear = np.zeros_like(blocked)
    blocked[geometry.rows, geometry.cols] = geometry.inside & (geometry.blockage > 0.5)
    clear[geometry.rows, geometry.cols] = geometry.inside & (geometry.blockage < 0.05)
    site = region.radars[0]
    rows_north_of_ridge = region.y > 45e3
    assert blocked[rows_north_of_ridge].mean() > 0.3, "the coastal range hides what lies behind it"
    assert blocked[region.y < site.y].mean() < 0.05, "towards the sea the view is open"
    truth, seen = world["truth"]["precip"].values, world["radar"]["precip"].values
    distance = np.hypot(*np.meshgrid(region.x - site.x, region.y - site.y))
    ring = (distance > 60e3) & (distance < 120e3)
    ratio_blocked = seen[:, blocked & ring].mean() / truth[:, blocked & ring].mean()
    ratio_clear = seen[:, clear & ring].mean() / truth[:, clear & ring].mean()
    assert ratio_blocked < 0.6 * ratio_clear, (ratio_blocked, ratio_clear)
    quality = world["radar"]["quality"].values
    assert quality[:, blocked].mean() < 0.5 * quality[:, clear].mean()


def test_xband_attenuation_behind_a_heavy_cell():
    region = get_region("xband", nx=240, ny=240)
    dem, _ = terrain(region.replace(orography=dataclasses.replace(region.orography, hills_m=0.0, ridges=())), 0)
    xx, yy = np.meshgrid(region.x, region.y)
    rain = np.full((1, region.ny, region.nx), 2.0, dtype="float32")
    rain[0, np.hypot(xx - 10e3, yy) < 3e3] = 80.0  # a heavy cell 10 km east of the radar
    convective = np.zeros_like(rain)
    behind = (np.abs(yy) < 1e3) & (xx > 16e3) & (xx < 26e3)
    west = (np.abs(yy) < 1e3) & (xx < -16e3) & (xx > -26e3)
    seen = {}
    for band in ("X", "C"):
        site = RadarSite("test", 0.0, 0.0, 28e3, band, elevation_deg=1.0)
        seen[band], _ = observe_radar(rain, convective, radar_geometry(region.replace(radars=(site,)), dem), 0, 1)
    x_band, c_band = seen["X"][0], seen["C"][0]
    assert x_band[behind].mean() < 0.3 * x_band[west].mean(), "X-band echoes fade behind the heavy cell"
    assert c_band[behind].mean() > 0.3 * c_band[west].mean(), "C-band is attenuated too, but far less"
    assert c_band[behind].mean() > 2 * x_band[behind].mean()
