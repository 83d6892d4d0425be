"""Maps of the dashboards: Bokeh figures on a grid's own projection, updated in place.

A dashboard redraws many maps of one grid on every widget change; the change
of lead time must feel immediate on a 2-core machine. A HoloViews
``DynamicMap`` per map (clone, restyle and overlay with the coastlines on
every frame) took 1.2-2 s per change for nine maps there (busy machine), so
the maps are plain Bokeh figures built once: a change replaces the pixels of
their ``ColumnDataSource`` and their titles, and the browser receives only
that (about 0.2 s from key press to new pixels, benchmarks/dashboard_latency.py).

What never changes is computed once per grid (:class:`MapGrid`): the extent,
frame sizes keeping pixels square and the Natural Earth coastlines and
borders projected on the grid's own CRS by
:func:`averse.maps.lines.feature_lines` (offline, no GeoViews: 1.15 cannot
reproject under cartopy 0.26), drawn as NaN-separated lines. Maps of one
layout share their ranges: zooming one zooms all.

The same figures make the static HTML snapshot: :meth:`LiveMap.animate`
holds every frame in the page and a slider swaps them in JavaScript.
"""

from __future__ import annotations

import functools

import numpy as np
from bokeh.layouts import column
from bokeh.models import (ColorBar, ColumnDataSource, CustomJS, HoverTool, LinearColorMapper, LogColorMapper, Range1d,
                          Slider)
from bokeh.palettes import Blues256, Cividis256, Magma256, Viridis256, interp_palette
from bokeh.plotting import figure

from averse.dashboards.charts import grid_box
from averse.maps.interactive import LINE_STYLE
from averse.maps.lines import feature_lines
from averse.maps.plotting import grid_extent
from averse.maps.projection import crs_from

__all__ = ["STYLES", "NO_DATA_COLOUR", "MAP_CSS_CLASS", "MapGrid", "LiveMap"]

#: CSS class of every map figure (browser tests and page styles find the maps by it).
MAP_CSS_CLASS = "averse-map"
#: Colour of NaN (outside coverage), distinct from "no rain" (white).
NO_DATA_COLOUR = "#cfcfcf"
_RED_BLUE = interp_palette(("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"), 255)

#: Colour scales by kind of field: (mapper class, palette, low, high, label). Rain below 0.1 mm/h is white.
STYLES = {
    "rain": (LogColorMapper, Viridis256, 0.1, 50.0, "rain rate [mm/h]"),
    "difference": (LinearColorMapper, _RED_BLUE, -10.0, 10.0, "difference [mm/h]"),
    "spread": (LinearColorMapper, tuple(reversed(Magma256)), 0.0, 10.0, "ensemble spread [mm/h]"),
    "probability": (LinearColorMapper, tuple(reversed(Blues256)), 0.0, 1.0, "exceedance probability"),
    "minutes": (LinearColorMapper, Cividis256, 0.0, 360.0, "minutes since the overpass"),
}


@functools.lru_cache(maxsize=16)
def _lines(crs_wkt: str, extent: tuple, resolution: str, layers: tuple) -> dict:
    """Projected Natural Earth lines of a map box (cached: every session shares them)."""
    return feature_lines(crs_from(crs_wkt), extent, resolution, layers)


def _mapper(style: str):
    mapper_class, palette, low, high, _ = STYLES[style]
    return mapper_class(palette=palette, low=low, high=high, nan_color=NO_DATA_COLOUR,
                        low_color="white" if style == "rain" else None)


class LiveMap:
    """One map: a Bokeh figure with an image of the grid, coastlines and a colour bar.

    Made by :meth:`MapGrid.maps`; :meth:`show` replaces its pixels and title.
    """

    def __init__(self, grid: MapGrid, style: str, colorbar: bool, x_range: Range1d, y_range: Range1d):
        self.grid = grid
        self.source = ColumnDataSource({"image": [np.full((1, 1), np.nan, dtype="float32")]})
        x0, y0, x1, y1 = grid.bounds
        self.figure = figure(frame_width=grid.frame_width, frame_height=grid.frame_height, x_range=x_range,
                             y_range=y_range, tools="pan,wheel_zoom,box_zoom,reset", toolbar_location=None,
                             title=" ", output_backend="canvas", css_classes=[MAP_CSS_CLASS])
        mapper = _mapper(style)
        image = self.figure.image(image="image", source=self.source, x=x0, y=y0, dw=x1 - x0, dh=y1 - y0,
                                  color_mapper=mapper)
        self.figure.add_tools(HoverTool(renderers=[image], tooltips=[(STYLES[style][4], "@image{0.00}")]))
        for name, xy in grid.lines.items():
            style_of_line = LINE_STYLE[name]
            self.figure.line(xy[:, 0], xy[:, 1], line_color=style_of_line["color"],
                             line_width=style_of_line["line_width"], line_dash=style_of_line.get("line_dash", "solid"))
        if colorbar:
            self.figure.add_layout(ColorBar(color_mapper=mapper, title=STYLES[style][4], width=10), "right")
        self.figure.axis.visible = False
        self.figure.grid.visible = False
        self.figure.title.text_font_size = "11px"

    def _pixels(self, values) -> np.ndarray:
        """Rows bottom-up, as Bokeh draws them."""
        values = np.asarray(values, dtype="float32")
        return values[::-1] if self.grid.north_first else values

    def show(self, values, title: str) -> None:
        """Draw a ``(y, x)`` field of the grid (rows in the grid's order) under ``title``."""
        self.source.data = {"image": [self._pixels(values)]}
        self.figure.title.text = title

    def animate(self, frames, slider: Slider) -> None:
        """Hold every frame in the page; ``slider`` (an index) swaps them in the browser.

        Parameters
        ----------
        frames : sequence of (values, title)
            One frame per slider position.
        slider : bokeh.models.Slider
            Integer slider from 0 to ``len(frames) - 1``, shared by the maps of a page.
        """
        store = ColumnDataSource({"image": [self._pixels(v) for v, _ in frames], "title": [t for _, t in frames]})
        self.show(*frames[slider.value])
        slider.js_on_change("value", CustomJS(args=dict(source=self.source, frames=store, title=self.figure.title),
                                              code="const i = cb_obj.value;"
                                                   "source.data = {image: [frames.data.image[i]]};"
                                                   "title.text = frames.data.title[i];"))


class MapGrid:
    """Maps of one grid: extent, square pixels, coastlines and borders.

    Parameters
    ----------
    grid : xr.Dataset or xr.DataArray
        Anything with the data-model ``x``, ``y`` and ``spatial_ref``.
    frame_width : int
        Width of each map's frame in pixels; the height keeps the grid's aspect.
    layers : tuple of str
        Natural Earth layers drawn over every map.
    resolution : {"auto", "110m", "50m", "10m"}
        Scale of those layers.
    """

    def __init__(self, grid, frame_width: int = 250, layers=("coastline", "borders"), resolution: str = "auto"):
        x0, x1, y0, y1 = grid_extent(grid)
        self.bounds = (x0, y0, x1, y1)
        y = np.asarray(grid["y"].values)
        self.north_first = bool(y[0] > y[-1])
        self.frame_width = frame_width
        self.frame_height = round(frame_width * (y1 - y0) / (x1 - x0))
        self.lines = {name: xy for name, xy in
                      _lines(crs_from(grid).to_wkt(), (x0, x1, y0, y1), resolution, tuple(layers)).items() if len(xy)}

    def maps(self, specs) -> list[LiveMap | None]:
        """New maps of this grid sharing their ranges (zooming one zooms all).

        Parameters
        ----------
        specs : sequence of (str, bool) or None
            ``(style, colorbar)`` per map, ``style`` a key of :data:`STYLES`;
            None for an empty cell of the layout.
        """
        x0, y0, x1, y1 = self.bounds
        x_range, y_range = Range1d(x0, x1, bounds=(x0, x1)), Range1d(y0, y1, bounds=(y0, y1))
        return [LiveMap(self, *spec, x_range, y_range) if spec is not None else None for spec in specs]

    @staticmethod
    def layout(maps, ncols: int, slider: Slider | None = None):
        """The maps' figures in rows of ``ncols`` (``None`` leaves a cell empty), the slider on top.

        The top-right map carries the toolbar; its tools act on every map
        through the shared ranges.
        """
        figures = [m.figure if m is not None else None for m in maps]
        top_right = [f for f in figures[:ncols] if f is not None][-1]
        top_right.toolbar_location = "right"
        grid = grid_box(figures, ncols)
        return column(slider, grid) if slider is not None else grid
