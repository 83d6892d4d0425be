"""Interactive maps: projected Natural Earth lines, the time-slider map, self-contained HTML."""

from __future__ import annotations

import re
from importlib.metadata import version

import numpy as np
import pyproj
import pytest
from packaging.version import Version

import averse.maps
from averse.maps.lines import feature_lines, lonlat_extent, projected_lines
from averse.maps.plotting import grid_extent

hv = pytest.importorskip("holoviews")

GEOVIEWS_LON0_BUG = Version(version("cartopy")) >= Version("0.26") and Version(version("geoviews")) <= Version("1.15.1")

SEVIRI = pyproj.CRS("+proj=geos +h=35785831 +lon_0=0 +sweep=y +a=6378169 +b=6356583.8")
REMOTE_REFERENCE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_lines_are_projected_with_pyproj_and_clipped():
    import shapely

    crs = pyproj.CRS("EPSG:3035")
    line = shapely.LineString([(0.0, 45.0), (5.0, 50.0), (20.0, 50.0)])
    xy = projected_lines([line], crs, (3.0e6, 4.5e6, 2.0e6, 3.5e6))
    corner = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(5.0, 50.0)
    assert any(np.allclose(p, corner) for p in xy)  # the vertex inside the box is kept exactly
    assert xy[:, 0].max() <= 4.5e6 and xy[:, 1].min() >= 2.0e6


def test_lines_stop_at_the_limb_of_a_geostationary_disc():
    extent = (-5.5e6, 5.5e6, -5.5e6, 5.5e6)
    lines = feature_lines(SEVIRI, extent, "auto", ("coastline", "borders"))
    coast = lines["coastline"]
    assert len(coast) > 500
    finite = coast[np.isfinite(coast).all(axis=1)]
    assert np.isnan(coast).all(axis=1).sum() == len(coast) - len(finite)  # only separator rows are NaN
    assert np.abs(finite).max() <= 5.5e6
    assert finite[:, 1].min() < -3e6  # southern Africa: 110m world coasts under a full disc


def test_lonlat_extent_of_a_projected_box():
    lon0, lon1, lat0, lat1 = lonlat_extent(pyproj.CRS("EPSG:4326"), (-10, 20, 40, 55), margin=0)
    assert (lon0, lon1, lat0, lat1) == (-10, 20, 40, 55)
    with pytest.raises(ValueError, match="no point of the Earth"):
        lonlat_extent(SEVIRI, (6e6, 7e6, 6e6, 7e6))


def test_interactive_map_has_a_time_slider_and_coastlines(europe_field):
    hmap = averse.maps.interactive_map(europe_field, layers=("coastline", "borders", "lakes"))
    assert isinstance(hmap, hv.HoloMap)
    assert hmap.kdims[0].name == "time" and len(hmap) == europe_field.sizes["time"]
    frame = hmap.last
    image = frame.get(0)
    assert isinstance(image, hv.Image)
    np.testing.assert_allclose(image.dimension_values("precip", flat=False)[::-1],  # hv stores y ascending
                               europe_field.isel(time=-1).values, equal_nan=True)
    paths = [el for el in frame if isinstance(el, hv.Path)]
    assert [p.label for p in paths] == ["coastline", "borders", "lakes"]
    x0, x1, y0, y1 = grid_extent(europe_field)
    for path in paths:
        xy = path.array([0, 1])
        xy = xy[np.isfinite(xy).all(axis=1)]
        assert len(xy) > 10 and xy[:, 0].min() >= x0 and xy[:, 1].max() <= y1


def test_interactive_map_of_one_step_and_dynamic_mode(europe_field):
    single = averse.maps.interactive_map(europe_field.isel(time=[0]))
    assert isinstance(single, hv.Overlay)
    assert isinstance(averse.maps.interactive_map(europe_field, dynamic=True), hv.DynamicMap)


def test_saved_html_is_self_contained(europe_field, tmp_path):
    target = averse.maps.save_html(averse.maps.interactive_map(europe_field), tmp_path / "maps" / "tour.html")
    html = target.read_text(encoding="utf-8")
    assert REMOTE_REFERENCE.search(html) is None
    assert "cdn.holoviz.org" not in html and "cdn.bokeh.org" not in html
    # one Bokeh image in the initial document, then one per embedded slider position
    assert html.count('"name":"Image"') == europe_field.sizes["time"] + 1
    assert '"name":"Slider"' in html
    assert [p.name for p in target.parent.iterdir()] == ["tour.html"]  # no temporary left behind


def _render_geoviews_coastline(projection):
    gv = pytest.importorskip("geoviews")
    import cartopy.crs as ccrs
    from bokeh.models import MultiLine, Patches

    import holoviews.plotting.bokeh  # noqa: F401

    overlay = gv.feature.coastline.opts(projection=projection, global_extent=False, backend="bokeh") * gv.Points(
        [(5.0, 50.0)], crs=ccrs.PlateCarree()).opts(projection=projection, backend="bokeh")
    figure = hv.render(overlay, backend="bokeh")
    return [r for r in figure.renderers if isinstance(r.glyph, (MultiLine, Patches))]


def test_geoviews_features_read_the_extract_offline(no_network):
    import cartopy.crs as ccrs

    assert _render_geoviews_coastline(ccrs.PlateCarree())
    assert not no_network.exists()


@pytest.mark.xfail(GEOVIEWS_LON0_BUG, raises=KeyError, strict=True,
                   reason="GeoViews 1.15.1 reads PlateCarree.proj4_params['lon_0'], gone in cartopy 0.26 "
                          "(holoviz/geoviews#884); interactive_map projects its lines itself meanwhile")
def test_geoviews_reprojects_features_to_a_grid_projection(no_network):
    assert _render_geoviews_coastline(averse.maps.cartopy_crs("EPSG:3035"))
