"""Maps that render offline: static (matplotlib/cartopy) and interactive (HoloViz).

Importing this package points cartopy at the Natural Earth extract shipped in
``averse/maps/natural_earth`` (coastlines, borders, lakes, land and countries:
the world at 110m, Europe at 50m and 10m), so maps draw on machines with no
network: papermill batches on GPU nodes, offline laptops, CI.

- :func:`plot_field` / :func:`map_axes`: a data-model field on its own
  projection (LAEA, stereographic, geostationary, lat/lon...) with coastlines.
- :func:`features`: the shipped layers as cartopy features.
- :func:`offline_extension` / :func:`interactive_map` / :func:`save_html`:
  HoloViews/Panel output with every JavaScript and CSS resource inlined (no
  CDN), a time-slider map of a field, and self-contained HTML files;
  :func:`notebook_to_html`: an executed notebook as an HTML page that needs
  no network. These import Panel, HoloViews or nbconvert only when used.
"""

from __future__ import annotations

from averse.maps.offline import (
    EXTRACT_BOX,
    NATURAL_EARTH_DIR,
    RESOLUTIONS,
    features,
    use_offline_natural_earth,
)
from averse.maps.plotting import add_features, map_axes, plot_field
from averse.maps.projection import cartopy_crs

__all__ = [
    "EXTRACT_BOX",
    "NATURAL_EARTH_DIR",
    "RESOLUTIONS",
    "use_offline_natural_earth",
    "features",
    "cartopy_crs",
    "map_axes",
    "plot_field",
    "add_features",
    "offline_extension",
    "interactive_map",
    "save_html",
    "notebook_to_html",
]

_LAZY = {
    "offline_extension": "interactive",
    "interactive_map": "interactive",
    "save_html": "interactive",
    "notebook_to_html": "notebook_html",
}


def __getattr__(name: str):
    """Import the HoloViz and nbconvert helpers on first use (they are slow to import)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"averse.maps.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


use_offline_natural_earth()
