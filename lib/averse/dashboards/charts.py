"""Score charts of the dashboards (Bokeh): skill curves with a movable marker, two-axis scatter.

Like the maps (:mod:`averse.dashboards.mapview`) they are Bokeh figures: a
dashboard rebuilds a chart only when what it plots changes (score,
thresholds, methods) and moves the marker of the chosen lead time in place.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, GridBox, HoverTool, LabelSet, Legend, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

__all__ = ["colours", "grid_box", "line_chart", "scatter_chart"]


def grid_box(figures, ncols: int, spacing: int = 4) -> GridBox:
    """Figures in rows of ``ncols`` (``None`` leaves a cell empty), aligned in columns.

    A ``GridBox`` rather than ``gridplot``: Bokeh 3.9's ``gridplot`` left its
    figures unpainted in a served Panel page holding another Bokeh figure.
    """
    cells = [(fig, i // ncols, i % ncols) for i, fig in enumerate(figures) if fig is not None]
    return GridBox(children=cells, spacing=spacing)


def colours(names) -> dict:
    """A fixed colour per name, in order (Category10)."""
    return {name: Category10_10[i % 10] for i, name in enumerate(names)}


def line_chart(x, series: dict, title: str, x_label: str, y_label: str, colour: dict, dashed=(),
               marker: float | None = None, width: int = 300, height: int = 210):
    """Curves sharing an x axis, with an optional vertical marker.

    Parameters
    ----------
    x : sequence of float
        Abscissae (lead times...).
    series : dict
        ``{label: y values}``.
    title, x_label, y_label : str
        Texts of the chart.
    colour : dict
        ``{label: colour}``.
    dashed : collection of str
        Labels drawn dashed (baselines).
    marker : float, optional
        Position of a dotted vertical line (the chosen lead time).
    width, height : int
        Frame size in pixels.

    Returns
    -------
    (bokeh.plotting.figure, bokeh.models.Span or None)
        The chart and its marker (move it with ``span.location = x``).
    """
    chart = figure(frame_width=width, frame_height=height, title=title, x_axis_label=x_label, y_axis_label=y_label,
                   tools="pan,wheel_zoom,reset", toolbar_location=None)
    items = []
    for label, values in series.items():
        renderer = chart.line(np.asarray(x), np.asarray(values), line_color=colour[label], line_width=2,
                              line_dash="dashed" if label in dashed else "solid")
        items.append((label, [renderer]))
    chart.add_layout(Legend(items=items, label_text_font_size="10px", spacing=0, padding=4), "right")
    chart.add_tools(HoverTool(tooltips=[(x_label, "$x{0}"), (y_label, "$y{0.000}")]))
    span = None
    if marker is not None:
        span = Span(location=marker, dimension="height", line_color="black", line_dash="dotted", line_width=1)
        chart.add_layout(span)
    return chart, span


def scatter_chart(points: dict, x_label: str, y_label: str, title: str, colour: dict, y_reference: float | None = None,
                  width: int = 380, height: int = 300):
    """One labelled point per model on two score axes, with an optional reference level on y.

    Parameters
    ----------
    points : dict
        ``{label: (x, y)}``.
    x_label, y_label, title : str
        Texts of the chart.
    colour : dict
        ``{label: colour}``.
    y_reference : float, optional
        The reference's own value of the y score (dashed horizontal line).
    width, height : int
        Frame size in pixels.
    """
    labels = list(points)
    source = ColumnDataSource({"x": [float(points[k][0]) for k in labels], "y": [float(points[k][1]) for k in labels],
                               "label": labels, "colour": [colour[k] for k in labels]})
    chart = figure(frame_width=width, frame_height=height, title=title, x_axis_label=x_label, y_axis_label=y_label,
                   tools="pan,wheel_zoom,reset", toolbar_location=None)
    chart.scatter("x", "y", source=source, size=12, color="colour")
    chart.add_layout(LabelSet(x="x", y="y", text="label", source=source, x_offset=8, y_offset=4,
                              text_font_size="11px"))
    chart.add_tools(HoverTool(tooltips=[("model", "@label"), (x_label, "@x{0.000}"), (y_label, "@y{0.000}")]))
    if y_reference is not None and np.isfinite(y_reference):
        chart.add_layout(Span(location=float(y_reference), dimension="width", line_color="black", line_dash="dashed"))
        chart.title.text = f"{title} (dashed: reference {y_reference:.3g})"
    return chart
