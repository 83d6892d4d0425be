"""The shipped Natural Earth extract: layout cartopy finds, coverage, content, offline use."""

from __future__ import annotations

import subprocess
import sys

import cartopy
import cartopy.io
import cartopy.io.shapereader as shapereader
import pytest
import shapely

import averse.maps
from averse.maps.offline import EXTRACT_BOX, LAYERS, RESOLUTIONS, ExtractScaler

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
ALL_FILES = [(name, res) for name in LAYERS for res in RESOLUTIONS]
BREST = shapely.Point(-4.49, 48.38)     # harbour on the Atlantic coast
PARIS = shapely.Point(2.35, 48.86)      # 150 km from the nearest sea
INSIDE = shapely.box(*EXTRACT_BOX).buffer(1e-9)


def read(name: str, resolution: str):
    category, ne_name, _ = LAYERS[name]
    path = shapereader.natural_earth(resolution=resolution, category=category, name=ne_name)
    return path, shapereader.Reader(path)


@pytest.mark.parametrize(("name", "resolution"), ALL_FILES)
def test_cartopy_finds_every_layer_in_the_package_offline(no_network, name, resolution):
    path, reader = read(name, resolution)
    assert path.is_relative_to(averse.maps.NATURAL_EARTH_DIR)
    assert all(path.with_suffix(ext).is_file() for ext in SHAPEFILE_PARTS)
    geoms = list(reader.geometries())
    assert geoms and all(g.is_valid for g in geoms if resolution != "110m")
    assert not no_network.exists(), "cartopy tried to download into data_dir"


def test_blocked_network_is_what_an_unshipped_layer_meets(no_network):
    """Control: a layer averse does not ship needs the network, which is blocked."""
    with pytest.warns(cartopy.io.DownloadWarning), pytest.raises(OSError, match="network access attempted"):
        shapereader.natural_earth(resolution="110m", category="physical", name="rivers_lake_centerlines")


@pytest.mark.parametrize("resolution", ["50m", "10m"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_fine_scales_are_clipped_to_the_europe_box(name, resolution):
    _, reader = read(name, resolution)
    assert all(INSIDE.contains(g) for g in reader.geometries())


def test_110m_keeps_the_whole_world():
    _, reader = read("coastline", "110m")
    west, south, east, north = shapely.total_bounds(list(reader.geometries()))
    assert west < -170 and east > 170 and south < -60 and north > 80


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_coastline_runs_along_the_real_coast(resolution):
    _, reader = read("coastline", resolution)
    coast = shapely.union_all(list(reader.geometries()))
    tolerance = {"10m": 0.1, "50m": 0.2, "110m": 0.6}[resolution]  # degrees
    assert coast.distance(BREST) < tolerance
    assert coast.distance(PARIS) > 1.0


def test_borders_and_countries_keep_names_and_codes():
    _, countries = read("countries", "10m")
    records = {r.attributes["ADM0_A3"]: r.attributes for r in countries.records()}
    assert records["FRA"]["NAME"] == "France" and records["DEU"]["NAME"] == "Germany"
    assert "ESP" in records and "USA" not in records  # clipped to Europe
    _, borders = read("borders", "10m")
    pairs = {frozenset((r.attributes["ADM0_A3_L"], r.attributes["ADM0_A3_R"])) for r in borders.records()}
    assert frozenset(("FRA", "DEU")) in pairs


def test_extract_stays_small():
    total = sum(p.stat().st_size for p in averse.maps.NATURAL_EARTH_DIR.rglob("*") if p.is_file())
    assert total < 10e6, f"shipped Natural Earth extract is {total / 1e6:.1f} MB"


def test_import_points_cartopy_at_the_extract():
    averse.maps.use_offline_natural_earth()
    assert cartopy.config["pre_existing_data_dir"] == averse.maps.NATURAL_EARTH_DIR
    assert cartopy.config["data_dir"] != averse.maps.NATURAL_EARTH_DIR


def test_import_is_light():
    code = (
        "import sys, averse.maps, cartopy; "
        "assert str(cartopy.config['pre_existing_data_dir']).endswith('natural_earth'); "
        "print(sorted(m for m in ('panel', 'holoviews', 'bokeh', 'matplotlib.pyplot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("extent", "scale"),
    [
        ((-5, 8, 42, 52), "10m"),        # France
        ((-20, 30, 35, 70), "50m"),      # most of Europe
        ((-45, 65, 25, 82), "110m"),     # the whole box: wider than 50 degrees
        ((-80, -70, 35, 45), "110m"),    # US east coast: small but outside the extract
        ((40, 70, 30, 50), "110m"),      # straddles the eastern edge
    ],
)
def test_extract_scaler_never_asks_for_missing_coverage(extent, scale):
    assert ExtractScaler().scale_from_extent(extent) == scale


def test_features_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown layers"):
        averse.maps.features("10m", ["rivers"])
    with pytest.raises(ValueError, match="resolution"):
        averse.maps.features("5m")
