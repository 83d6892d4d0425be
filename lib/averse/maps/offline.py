"""Natural Earth layers that cartopy finds without a network.

averse ships a small Natural Earth extract (see ``natural_earth/README.md``)
laid out as cartopy expects under ``pre_existing_data_dir``. Pointing cartopy
at it makes ``cartopy.feature.COASTLINE``, ``BORDERS``, ``LAKES``, ``LAND``
and GeoViews' ``gv.feature.*`` (which wrap them) work on a machine with no
internet. The extract holds the whole world at 110m and Europe only
(:data:`EXTRACT_BOX`) at 50m and 10m; :class:`ExtractScaler` picks the finer
scales only for maps inside that box, so a map elsewhere gets the world
coastlines instead of an empty frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import cartopy
import cartopy.feature as cfeature

__all__ = [
    "NATURAL_EARTH_DIR",
    "EXTRACT_BOX",
    "RESOLUTIONS",
    "LAYERS",
    "ExtractScaler",
    "covered_by_extract",
    "use_offline_natural_earth",
    "features",
]

#: Folder used as cartopy's ``pre_existing_data_dir``.
NATURAL_EARTH_DIR = Path(__file__).resolve().parent / "natural_earth"
#: lon_min, lat_min, lon_max, lat_max (degrees) of the 50m and 10m layers:
#: Europe from the Azores and Iceland to the Urals and Svalbard, covering the
#: OPERA radar composite domain and the Mediterranean with North Africa's coast.
EXTRACT_BOX = (-45.0, 25.0, 65.0, 82.0)
#: Natural Earth scales shipped, coarsest first.
RESOLUTIONS = ("110m", "50m", "10m")
#: Shipped layers: averse name -> (cartopy category, Natural Earth name, style).
LAYERS = {
    "coastline": ("physical", "coastline", {"edgecolor": "black", "facecolor": "never"}),
    "borders": ("cultural", "admin_0_boundary_lines_land", {"edgecolor": "black", "facecolor": "never"}),
    "lakes": ("physical", "lakes", {"edgecolor": "none", "facecolor": cfeature.COLORS["water"]}),
    "land": ("physical", "land", {"edgecolor": "none", "facecolor": cfeature.COLORS["land"], "zorder": -1}),
    "countries": ("cultural", "admin_0_countries", {"edgecolor": "black", "facecolor": "none"}),
}


def _default_cache_dir() -> Path:
    """Writable folder for anything cartopy downloads itself (``data_dir``)."""
    root = os.environ.get("AVERSE_CACHE") or "~/.cache/averse"
    return Path(os.path.expandvars(root)).expanduser() / "cartopy"


def use_offline_natural_earth(cache_dir: str | os.PathLike | None = None) -> Path:
    """Make cartopy read Natural Earth from the shipped extract first.

    Sets ``cartopy.config["pre_existing_data_dir"]`` to :data:`NATURAL_EARTH_DIR`
    and ``cartopy.config["data_dir"]`` to a writable cache, where cartopy puts
    any layer it still has to download (layers averse does not ship, such as
    rivers, when a network is there). Called on ``import averse.maps``; cheap
    and idempotent.

    Parameters
    ----------
    cache_dir : path-like, optional
        Folder for cartopy's own downloads; default ``$AVERSE_CACHE/cartopy``
        (``~/.cache/averse/cartopy``). It is created only when cartopy writes.

    Returns
    -------
    Path
        The folder now used as ``pre_existing_data_dir``.
    """
    cartopy.config["pre_existing_data_dir"] = NATURAL_EARTH_DIR
    cartopy.config["data_dir"] = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    return NATURAL_EARTH_DIR


class ExtractScaler(cfeature.AdaptiveScaler):
    """cartopy's automatic scale choice, limited to what the extract covers.

    Same thresholds as ``cartopy.feature.auto_scaler`` (50m under 50 degrees,
    10m under 15 degrees), but a map that reaches outside :data:`EXTRACT_BOX`
    stays at 110m, the only scale shipped for the whole world.
    """

    def __init__(self):
        super().__init__("110m", (("50m", 50), ("10m", 15)))

    def scale_from_extent(self, extent):
        """Scale for a map extent ``(lon0, lon1, lat0, lat1)`` in degrees."""
        if extent is not None and not covered_by_extract(extent):
            self._scale = self._default_scale
            return self._scale
        return super().scale_from_extent(extent)


def covered_by_extract(extent) -> bool:
    """Whether ``(lon0, lon1, lat0, lat1)`` lies inside :data:`EXTRACT_BOX`."""
    lon0, lon1, lat0, lat1 = extent
    west, south, east, north = EXTRACT_BOX
    return west <= min(lon0, lon1) and max(lon0, lon1) <= east and south <= min(lat0, lat1) and max(lat0, lat1) <= north


def features(resolution: str = "auto", layers=("coastline", "borders", "lakes")) -> dict:
    """Cartopy features of the shipped Natural Earth layers.

    Parameters
    ----------
    resolution : {"auto", "110m", "50m", "10m"}
        Natural Earth scale; ``"auto"`` follows the map extent through
        :class:`ExtractScaler`. 50m and 10m hold Europe only.
    layers : iterable of str
        Names among ``"coastline"``, ``"borders"``, ``"lakes"``, ``"land"``,
        ``"countries"``.

    Returns
    -------
    dict
        ``{name: cartopy.feature.NaturalEarthFeature}`` in the order asked,
        styled like cartopy's own ``COASTLINE``, ``BORDERS``, ``LAKES``...
    """
    if resolution != "auto" and resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be 'auto' or one of {RESOLUTIONS}, not {resolution!r}")
    unknown = [name for name in layers if name not in LAYERS]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; shipped layers are {sorted(LAYERS)}")
    out = {}
    for name in layers:
        category, ne_name, style = LAYERS[name]
        scale = ExtractScaler() if resolution == "auto" else resolution
        out[name] = cfeature.NaturalEarthFeature(category, ne_name, scale, **style)
    return out
