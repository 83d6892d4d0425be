"""Static maps (matplotlib + cartopy) of data-model fields on their own projection.

A field of the data model (``(y, x)`` projection coordinates with
``spatial_ref``) is drawn in its native CRS, so pixels stay pixels and no
regridding happens; coastlines, borders and lakes come from the shipped
Natural Earth extract (:mod:`averse.maps.offline`), so the same call works on
an offline GPU node and in a notebook.
"""

from __future__ import annotations

import numpy as np

from averse.maps.offline import features
from averse.maps.projection import cartopy_crs

__all__ = ["map_axes", "plot_field", "add_features", "field_2d", "grid_extent"]

DEFAULT_LAYERS = ("coastline", "borders")


def add_features(ax, resolution: str = "auto", layers=DEFAULT_LAYERS, linewidth: float = 0.6, **style) -> list:
    """Draw shipped Natural Earth layers on a cartopy ``GeoAxes``.

    Parameters
    ----------
    ax : cartopy.mpl.geoaxes.GeoAxes
        Target axes.
    resolution : {"auto", "110m", "50m", "10m"}
        See :func:`averse.maps.features`.
    layers : iterable of str
        Layer names (``"coastline"``, ``"borders"``, ``"lakes"``, ``"land"``,
        ``"countries"``).
    linewidth : float
        Line width of line layers, in points.
    **style
        Extra matplotlib style for every layer (``edgecolor``, ``zorder``...).

    Returns
    -------
    list of cartopy.mpl.feature_artist.FeatureArtist
        One artist per layer, in the order of ``layers``.
    """
    return [ax.add_feature(feature, linewidth=linewidth, **style)
            for feature in features(resolution, layers).values()]


def map_axes(obj, ax=None, extent=None, resolution: str = "auto", layers=DEFAULT_LAYERS, figsize=(7, 6)):
    """A cartopy map axes on the projection of a grid, with coastlines and borders.

    Parameters
    ----------
    obj : xr.Dataset, xr.DataArray, pyproj.CRS, cartopy CRS, str or int
        A data-model grid (its ``spatial_ref`` gives the projection and its
        ``x``/``y`` the default extent) or a CRS.
    ax : matplotlib Axes, optional
        Axes to replace by a map in the same place; a new figure otherwise.
    extent : (x0, x1, y0, y1), optional
        Map extent in the projection's coordinates; default: the grid's
        cell edges, or the projection's whole domain for a bare CRS.
    resolution : {"auto", "110m", "50m", "10m"}
        Natural Earth scale of the layers.
    layers : iterable of str
        Layers drawn (see :func:`add_features`).
    figsize : (float, float)
        Size of a new figure, in inches.

    Returns
    -------
    cartopy.mpl.geoaxes.GeoAxes
    """
    import matplotlib.pyplot as plt

    projection = cartopy_crs(obj)
    if ax is None:
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(1, 1, 1, projection=projection)
    else:
        fig, spec = ax.figure, ax.get_subplotspec()
        ax.remove()
        ax = fig.add_subplot(spec, projection=projection)
    if extent is None and hasattr(obj, "coords"):
        extent = grid_extent(obj)
    if extent is not None:
        _set_projected_extent(ax, projection, extent)
    add_features(ax, resolution, layers)
    return ax


def _set_projected_extent(ax, projection, extent) -> None:
    """Show ``extent`` (projection coordinates) or, if it holds it all, the whole domain.

    A full-disc geostationary grid reaches past the disc the satellite sees;
    cartopy cannot intersect such a box with the domain, so the map is then
    the whole disc.
    """
    x0, x1, y0, y1 = extent
    (px0, px1), (py0, py1) = projection.x_limits, projection.y_limits
    if x0 <= px0 and x1 >= px1 and y0 <= py0 and y1 >= py1:
        ax.set_global()
    else:
        ax.set_extent((max(x0, px0), min(x1, px1), max(y0, py0), min(y1, py1)), crs=projection)


def _edges(centres: np.ndarray) -> tuple[float, float]:
    """Outer cell edges (low, high) of regularly spaced cell centres."""
    centres = np.asarray(centres, dtype="float64")
    half = abs(centres[1] - centres[0]) / 2 if centres.size > 1 else 0.5
    return float(centres.min() - half), float(centres.max() + half)


def grid_extent(obj) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)``: outer cell edges of a grid's ``x``/``y`` coordinates."""
    return (*_edges(obj["x"].values), *_edges(obj["y"].values))


def field_2d(da):
    """The ``(y, x)`` field of ``da``, squeezing a single time step.

    Raises
    ------
    ValueError
        When ``da`` has other dimensions of length > 1 (select a time first).
    """
    extra = [d for d in da.dims if d not in ("y", "x")]
    if {"y", "x"} - set(da.dims):
        raise ValueError(f"field {da.name!r} has dims {da.dims}; a map needs 'y' and 'x'")
    if any(da.sizes[d] > 1 for d in extra):
        raise ValueError(
            f"field {da.name!r} has dims {da.dims}; select one step first, e.g. da.isel(time=-1)"
        )
    return da.squeeze(extra, drop=False).transpose("y", "x")


def _label(da) -> str:
    name = da.attrs.get("long_name") or da.name or ""
    units = da.attrs.get("units")
    return f"{name} [{units}]" if units else str(name)


def plot_field(da, ax=None, resolution: str = "auto", layers=DEFAULT_LAYERS, colorbar: bool = True,
               title: str | None = None, **pcolormesh_kw):
    """Draw a data-model field on its own projection with coastlines and borders.

    Parameters
    ----------
    da : xr.DataArray
        Field with ``y``/``x`` dims and a ``spatial_ref`` coordinate; a
        ``time`` dim of length 1 is squeezed (select longer ones first).
        NaN (outside coverage) stays transparent.
    ax : matplotlib Axes, optional
        A cartopy ``GeoAxes`` to draw on (its projection is kept), or plain
        axes to replace by a map on the field's projection.
    resolution : {"auto", "110m", "50m", "10m"}
        Natural Earth scale of the layers.
    layers : iterable of str
        Layers drawn over the field.
    colorbar : bool
        Add a colorbar labelled with ``long_name`` and ``units``.
    title : str, optional
        Axes title; default: the field's name and time (UTC, end of interval).
    **pcolormesh_kw
        Passed to ``pcolormesh`` (``cmap``, ``norm``, ``vmin``, ``vmax``...).

    Returns
    -------
    matplotlib.collections.QuadMesh
        The drawn field; its map is ``mesh.axes``.
    """
    from cartopy.mpl.geoaxes import GeoAxes

    field = field_2d(da)
    projection = cartopy_crs(field)
    if isinstance(ax, GeoAxes):
        add_features(ax, resolution, layers)
    else:
        ax = map_axes(field, ax=ax, resolution=resolution, layers=layers)
    mesh = ax.pcolormesh(field["x"].values, field["y"].values, np.ma.masked_invalid(field.values),
                         transform=projection, shading="nearest", **pcolormesh_kw)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, shrink=0.8, label=_label(field))
    if title is None:
        title = str(field.name or "")
        if "time" in field.coords and np.issubdtype(field["time"].dtype, np.datetime64):
            title += f"  {np.datetime_as_string(field['time'].values, unit='m')} UTC"
    ax.set_title(title)
    return mesh
