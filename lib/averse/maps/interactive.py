"""Interactive maps (HoloViews + Bokeh, served or saved by Panel) that need no CDN.

Notebooks executed by papermill on a GPU node, HTML reports opened on a
laptop without network and Panel dashboards in a meeting room must all show
their plots, so every JavaScript/CSS resource is inlined instead of fetched
from a CDN (:func:`offline_extension`, :func:`save_html`) and coastlines come
from the shipped Natural Earth extract, projected here (:mod:`averse.maps.lines`)
rather than from web tiles or by GeoViews, whose 1.15.1 release cannot
reproject lon/lat paths under cartopy 0.26 (``KeyError: 'lon_0'``, fixed
upstream by holoviz/geoviews#884 after that release).

Panel and HoloViews are imported inside the functions: ``import averse.maps``
stays cheap for code that only draws static maps.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from averse.maps.lines import feature_lines
from averse.maps.plotting import field_2d, grid_extent
from averse.maps.projection import crs_from

__all__ = ["offline_extension", "interactive_map", "save_html", "inline_resources"]

LINE_STYLE = {
    "coastline": {"color": "black", "line_width": 1.0},
    "borders": {"color": "#444444", "line_width": 0.8, "line_dash": "dashed"},
    "lakes": {"color": "#3a6ea5", "line_width": 0.8},
    "land": {"color": "black", "line_width": 0.8},
    "countries": {"color": "#444444", "line_width": 0.8},
}


def inline_resources():
    """Bokeh resources with every JS/CSS file inlined (``bokeh.resources.INLINE``)."""
    from bokeh.resources import INLINE

    return INLINE


def _silence_frame_sizing_warning() -> None:
    """Silence Bokeh's W-1005 for plots sized by their frame.

    HoloViews gives maps ``frame_width``/``frame_height`` (so that a pixel of
    the grid stays square) and leaves ``width``/``height`` unset; Bokeh's
    validator flags that as FIXED_SIZING_MODE although the layout is fully
    determined, and would print the warning under every map.
    """
    from bokeh.core.validation import silence
    from bokeh.core.validation.warnings import FIXED_SIZING_MODE

    silence(FIXED_SIZING_MODE, True)


def offline_extension(*extensions: str, **config):
    """Load Panel/HoloViews with inlined resources, for use without any network.

    Call it once at the top of a notebook (instead of ``pn.extension()`` and
    ``hv.extension("bokeh")``): the output cells then carry Bokeh's and
    Panel's JavaScript and CSS themselves, so JupyterLab, a papermill output
    notebook and its :func:`averse.maps.notebook_to_html` page render the
    plots with no request to a CDN. It also

    - sets Bokeh's default resources to ``inline`` (``bokeh.io.save``,
      ``hv.save``) and Panel's ``inline`` configuration;
    - registers a Panel preprocessing hook that inlines Panel's own
      stylesheets, which Panel and HoloViews otherwise link from Panel's CDN;
    - silences Bokeh's W-1005 warning for frame-sized plots (see
      :func:`interactive_map`).

    Parameters
    ----------
    *extensions : str
        Extra Panel extensions (``"tabulator"``...).
    **config
        Further ``pn.extension`` keyword arguments (``sizing_mode``...).

    Returns
    -------
    module
        ``panel``, for chaining (``pn = offline_extension()``).
    """
    from bokeh.settings import settings

    settings.resources.set_value("inline")
    import holoviews as hv
    import panel as pn

    pn.config.inline = True
    _silence_frame_sizing_warning()
    _inline_stylesheets_everywhere()
    hv.extension("bokeh", inline=True, logo=False)
    pn.extension(*extensions, inline=True, **config)
    return pn


def interactive_map(da, time_dim: str = "time", resolution: str = "auto", layers=("coastline", "borders"),
                    dynamic: bool = False, cmap: str = "viridis", clim=None, frame_width: int = 500, **opts):
    """A HoloViews map of a field on its own projection, with a time slider.

    Parameters
    ----------
    da : xr.DataArray
        Data-model field, ``(time, y, x)`` or ``(y, x)``, with ``spatial_ref``.
        ``x``/``y`` are the plot's coordinates (metres, or degrees for a
        lat/lon grid), so the map shows the grid's own projection. NaN
        (outside coverage) is transparent.
    time_dim : str
        Dimension given a slider.
    resolution : {"auto", "110m", "50m", "10m"}
        Natural Earth scale of the overlaid lines.
    layers : iterable of str
        Layers drawn as lines (``"coastline"``, ``"borders"``, ``"lakes"``...).
    dynamic : bool
        False (default): a ``HoloMap`` holding every step, which keeps its
        slider in saved HTML and papermill output notebooks; choose few steps.
        True: a ``DynamicMap`` that renders steps on demand (needs a live
        kernel or ``panel serve``).
    cmap : str
        Colormap name.
    clim : (float, float), optional
        Colour limits; default: from the minimum to the 99.9th percentile of
        the finite values (of the first and last steps when ``dynamic``).
    frame_width : int
        Width of the map frame in pixels; the height keeps the grid's aspect.
    **opts
        More HoloViews ``Image`` options (``logz``, ``tools``...).

    Returns
    -------
    holoviews.Overlay, HoloMap or DynamicMap
        The field (``hv.Image``) under the coastline/border ``hv.Path``
        overlays; a slider over ``time_dim`` when ``da`` has more than one step.
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh options used below)

    crs = crs_from(da)
    name = da.name or "field"
    field = da.reset_coords(drop=True).rename(name)
    steps = field.sizes.get(time_dim, 1)
    extent = grid_extent(field)
    label = f"{da.attrs.get('long_name', name)} [{da.attrs['units']}]" if "units" in da.attrs else name
    if clim is None:
        sample = field.isel({time_dim: [0, -1]}) if dynamic and steps > 1 else field
        values = np.asarray(sample.values)
        finite = values[np.isfinite(values)]
        clim = (float(finite.min()), float(np.percentile(finite, 99.9))) if finite.size else (0.0, 1.0)
    frame_height = round(frame_width * (extent[3] - extent[2]) / (extent[1] - extent[0]))
    image_opts = dict(cmap=cmap, clim=clim, colorbar=True, clabel=label, frame_width=frame_width,
                      frame_height=frame_height,
                      clipping_colors={"NaN": "transparent"}, tools=["hover"], xaxis=None, yaxis=None)
    image_opts.update(opts)
    kdims = [hv.Dimension("x", range=extent[:2]), hv.Dimension("y", range=extent[2:])]
    lines = [hv.Path([xy], kdims=kdims, label=layer).opts(backend="bokeh", **LINE_STYLE[layer])
             for layer, xy in feature_lines(crs, extent, resolution, layers).items() if len(xy)]
    overlay_lines = hv.Overlay(lines)
    if steps > 1:
        dataset = hv.Dataset(field.transpose(time_dim, "y", "x"), kdims=[time_dim, "y", "x"], vdims=[name])
        images = dataset.to(hv.Image, ["x", "y"], vdims=[name], dynamic=dynamic)
        images = images.opts({"Image": image_opts}, backend="bokeh")
        title = f"{name}  (time: end of interval, UTC)"
        return (images * overlay_lines).opts({"Overlay": {"title": title}}, backend="bokeh")
    image = hv.Image(field_2d(field), kdims=["x", "y"], vdims=[name]).opts(backend="bokeh", **image_opts)
    return image * overlay_lines


def _favicon_data_uri() -> str:
    """Panel's favicon as a ``data:`` URI, so a page never fetches an icon."""
    from panel.io.resources import DIST_DIR

    icon = Path(DIST_DIR) / "images" / "favicon.ico"
    return "data:image/x-icon;base64," + base64.b64encode(icon.read_bytes()).decode("ascii")


def _inline_panel_stylesheets(viewable, root) -> None:
    """Panel preprocessing hook: replace Panel's CDN stylesheets by their text.

    Panel's layouts and themes link their CSS from Panel's CDN even with
    inline resources (it patches them only for its own notebook display);
    HoloViews' notebook display and ``save`` keep the links. Panel ships the
    same files, so they are inlined from its install.
    """
    from bokeh.models import UIElement
    from panel.io.notebook import patch_inline_stylesheets

    for element in root.select({"type": UIElement}):
        patch_inline_stylesheets(element)


def _inline_stylesheets_everywhere() -> None:
    """Register :func:`_inline_panel_stylesheets` once for every Panel render."""
    from panel.viewable import Viewable

    if _inline_panel_stylesheets not in Viewable._preprocessing_hooks:
        Viewable._preprocessing_hooks.append(_inline_panel_stylesheets)


def save_html(obj, path: str | os.PathLike, title: str = "averse map", max_states: int = 1000) -> Path:
    """Write a HoloViews/Panel object to a self-contained HTML file.

    Every JS/CSS resource and the favicon are inlined and widget states (the
    time slider of a ``HoloMap``) are embedded, so the file opens offline,
    from ``file://`` or any static server, without a request elsewhere.
    Written to a temporary name, then renamed.

    Parameters
    ----------
    obj : HoloViews object or Panel viewable
        What to save.
    path : path-like
        Destination ``.html`` file.
    title : str
        Page title.
    max_states : int
        Most widget states embedded (slider positions times other widgets).

    Returns
    -------
    Path
        The written file.
    """
    import holoviews as hv
    import panel as pn

    _silence_frame_sizing_warning()
    _inline_stylesheets_everywhere()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.html")  # Panel appends .html otherwise
    viewable = pn.pane.HoloViews(obj, backend="bokeh") if isinstance(obj, hv.core.Dimensioned) else pn.panel(obj)
    try:
        viewable.save(str(tmp), title=title, resources=inline_resources(), embed=True, max_states=max_states,
                      progress=False, template_variables={"apple_icon": "", "app_favicon": _favicon_data_uri()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
