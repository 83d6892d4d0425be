"""Static maps: cartopy projections from data-model CRSs and offline drawing to PNG."""

from __future__ import annotations

import cartopy.crs as ccrs
import matplotlib
import numpy as np
import pyproj
import pytest

import averse.maps
from averse.maps.plotting import grid_extent

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LONS = np.array([-5.0, 2.0, 10.0, 20.0, 5.0, 25.0, -75.0, -60.0, -100.0])
LATS = np.array([40.0, 46.0, 55.0, 65.0, 50.0, 35.0, 20.0, -10.0, 35.0])
CRSS = {
    "opera_laea": "+proj=laea +lat_0=55 +lon_0=10 +x_0=1950000 +y_0=-2100000 +ellps=WGS84",
    "etrs_laea": "EPSG:3035",
    "polar_stereographic_lat_ts": "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=45 +a=6378137 +b=6356752",
    "polar_stereographic_k0": "+proj=stere +lat_0=90 +lon_0=0 +k_0=0.93 +R=6371229",
    "oblique_stereographic": "+proj=stere +lat_0=46 +lon_0=2 +k=1 +R=6371229",
    "seviri_geos": "+proj=geos +h=35785831 +lon_0=0 +sweep=y +a=6378169 +b=6356583.8",
    "goes_geos": "+proj=geos +h=35786023 +lon_0=-75 +sweep=x +ellps=GRS80",
    "wgs84": "EPSG:4326",
    "sphere_latlon": "+proj=longlat +R=6371229",
    "lambert_conformal": "+proj=lcc +lat_1=30 +lat_2=60 +lat_0=45 +lon_0=10 +ellps=WGS84",
    "rotated_pole": "+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=40 +lon_0=190 +R=6371229",
    "utm32": "EPSG:32632",
    "azimuthal_equidistant": "+proj=aeqd +lat_0=52 +lon_0=5 +ellps=WGS84",
    "mercator_lat_ts": "+proj=merc +lon_0=10 +lat_ts=45 +ellps=WGS84",
    "mercator_k": "+proj=merc +lon_0=0 +k=0.99 +R=6371229",
    "web_mercator_generic": "EPSG:3857",
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", sorted(CRSS))
def test_cartopy_projection_matches_pyproj(name):
    crs = pyproj.CRS(CRSS[name])
    projection = averse.maps.cartopy_crs(crs)
    expected = np.array(pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(LONS, LATS)).T
    got = projection.transform_points(ccrs.Geodetic(), LONS, LATS)[:, :2]
    visible = np.isfinite(expected).all(axis=1)
    assert visible.sum() >= 3
    np.testing.assert_allclose(got[visible], expected[visible], atol=1e-3)  # 1 mm (or 1e-3 degree)


def test_named_classes_for_the_projections_of_our_sources():
    kinds = {
        "opera_laea": ccrs.LambertAzimuthalEqualArea,
        "polar_stereographic_k0": ccrs.Stereographic,
        "seviri_geos": ccrs.Geostationary,
        "wgs84": ccrs.PlateCarree,
    }
    for name, kind in kinds.items():
        assert type(averse.maps.cartopy_crs(CRSS[name])) is kind


def test_unboundable_crs_is_a_clear_error():
    with pytest.raises(ValueError, match="no cartopy equivalent"):
        averse.maps.cartopy_crs("+proj=sterea +lat_0=52.15 +lon_0=5.38 +k=0.9999 +ellps=bessel")


def test_kilometre_coordinates_are_refused():
    with pytest.raises(ValueError, match="metres"):
        averse.maps.cartopy_crs("+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +ellps=WGS84 +units=km")


def _pixel(ax, lon, lat):
    """Row, column in the saved PNG of a lon/lat point on ``ax``."""
    x, y = ax.projection.transform_point(lon, lat, ccrs.Geodetic())
    col, row_from_bottom = ax.transData.transform((x, y))
    height = ax.figure.canvas.get_width_height()[1]
    return int(round(height - row_from_bottom)), int(round(col))


def _dark_near(image, row, col, radius=4):
    window = image[max(row - radius, 0): row + radius + 1, max(col - radius, 0): col + radius + 1, :3]
    return (window.max(axis=-1) < 0.5).any()


@pytest.mark.parametrize("resolution", ["110m", "50m", "10m"])
def test_europe_map_draws_offline_and_the_png_shows_the_coast(no_network, europe_field, tmp_path, resolution):
    ax = averse.maps.map_axes(europe_field, resolution=resolution, layers=("coastline", "borders", "lakes"))
    artists = ax.collections
    assert len(artists) == 3
    ax.figure.savefig(tmp_path / "map.png", dpi=80)
    assert all(len(artist.get_paths()) > 0 for artist in artists)
    assert not no_network.exists()

    fig = plt.figure(figsize=(6, 5), dpi=80)
    coast = averse.maps.map_axes(europe_field, ax=fig.add_subplot(1, 1, 1), resolution=resolution,
                                 layers=("coastline",))
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba(), dtype="float64") / 255.0
    assert _dark_near(image, *_pixel(coast, 4.3, 52.1))       # Dutch coast near The Hague
    assert _dark_near(image, *_pixel(coast, 8.6, 53.9))       # German coast at Cuxhaven
    assert not _dark_near(image, *_pixel(coast, 10.0, 50.0))  # inland Germany, no coast


@pytest.mark.parametrize(
    ("crs", "x", "y"),
    [
        (CRSS["opera_laea"], np.arange(1.2e6, 2.6e6, 20e3), np.arange(-3.0e6, -1.8e6, 20e3)[::-1]),
        (CRSS["polar_stereographic_k0"], np.arange(-6e5, 6e5, 10e3), np.arange(-5.5e6, -4.5e6, 10e3)[::-1]),
        (CRSS["seviri_geos"], np.arange(-1.5e6, 1.5e6, 30e3), np.arange(4.8e6, 3.3e6, -30e3)),
        (CRSS["wgs84"], np.arange(-10.0, 20.0, 0.1) + 0.05, np.arange(40.0, 55.0, 0.1) + 0.05),
    ],
    ids=["laea", "polar_stereo", "geostationary", "latlon"],
)
def test_plot_field_on_its_own_projection(no_network, make_field, crs, x, y):
    da = make_field(crs, x, y, steps=2).isel(time=-1)
    mesh = averse.maps.plot_field(da, cmap="Blues")
    ax = mesh.axes
    assert type(ax.projection) is type(averse.maps.cartopy_crs(crs))
    np.testing.assert_allclose(ax.get_extent(ax.projection), grid_extent(da), rtol=1e-6)
    values = mesh.get_array()
    assert values.count() == np.isfinite(da.values).sum() > 0  # NaN stays masked
    assert "12:10 UTC" in ax.get_title()
    ax.figure.canvas.draw()
    assert sum(len(a.get_paths()) for a in ax.collections if a is not mesh) > 0


def test_plot_field_refuses_a_time_series(europe_field):
    with pytest.raises(ValueError, match="select one step"):
        averse.maps.plot_field(europe_field)


def test_full_disc_geostationary_grid_shows_the_whole_disc_with_world_coasts(no_network, make_field):
    seviri = CRSS["seviri_geos"]
    x = np.arange(-5.5e6, 5.5e6, 100e3) + 50e3
    da = make_field(seviri, x, x[::-1], steps=1)
    mesh = averse.maps.plot_field(da, cmap="viridis")
    ax = mesh.axes
    projection = averse.maps.cartopy_crs(seviri)
    np.testing.assert_allclose(ax.get_extent(projection), (*projection.x_limits, *projection.y_limits))
    ax.figure.canvas.draw()
    coast = ax.collections[0]  # map_axes adds the coastline first; 110m, the only scale covering the disc
    southern = [p for p in coast.get_paths() if p.vertices[:, 1].max() < -2e6]
    assert southern, "no coastline drawn south of 20°S (South Africa, Brazil)"
