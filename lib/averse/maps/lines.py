"""Natural Earth lines projected onto a grid's CRS, for renderers without cartopy.

Bokeh (HoloViews, Panel) draws in plain x/y: coastlines must arrive already in
the grid's projection coordinates. Projecting every vertex with pyproj at once
and clipping with shapely is fast enough for the 10m layers (tens of thousands
of vertices in well under a second), and it does not depend on GeoViews'
reprojection. Vertices a projection cannot show (beyond a geostationary
satellite's limb) cut the line there.
"""

from __future__ import annotations

import numpy as np
import pyproj
import shapely

from averse.maps.offline import ExtractScaler, features

__all__ = ["lonlat_extent", "projected_lines", "feature_lines"]

_SAMPLES = 41  # grid points per side used to find the lon/lat extent of a box


def lonlat_extent(crs: pyproj.CRS, extent, margin: float = 1.0) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds ``(lon0, lon1, lat0, lat1)`` of a projected box.

    Parameters
    ----------
    crs : pyproj.CRS
        Projection of ``extent``.
    extent : (x0, x1, y0, y1)
        Box in projection coordinates.
    margin : float
        Degrees added on each side (clipped to the globe).
    """
    x0, x1, y0, y1 = extent
    xx, yy = np.meshgrid(np.linspace(x0, x1, _SAMPLES), np.linspace(y0, y1, _SAMPLES))
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise ValueError(f"extent {extent} shows no point of the Earth in CRS {crs.name!r}")
    return (max(lon[ok].min() - margin, -180.0), min(lon[ok].max() + margin, 180.0),
            max(lat[ok].min() - margin, -90.0), min(lat[ok].max() + margin, 90.0))


def projected_lines(geometries, crs: pyproj.CRS, extent) -> np.ndarray:
    """Lines (or polygon outlines) in lon/lat projected and clipped to a box.

    Parameters
    ----------
    geometries : iterable of shapely geometries
        Lines or polygons in longitude/latitude degrees.
    crs : pyproj.CRS
        Target projection.
    extent : (x0, x1, y0, y1)
        Clip box in projection coordinates.

    Returns
    -------
    ndarray, shape (n, 2)
        x, y vertices; rows of NaN separate the lines (the form HoloViews'
        ``Path`` and Bokeh's ``line`` take for many lines at once).
    """
    geoms = np.asarray(list(geometries), dtype=object)
    if geoms.size == 0:
        return np.empty((0, 2))
    outlines = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
    coords, part = shapely.get_coordinates(shapely.get_parts(outlines), return_index=True)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(coords[:, 0], coords[:, 1])
    visible = np.isfinite(x) & np.isfinite(y)
    starts = np.r_[True, part[1:] != part[:-1]] | np.r_[True, ~visible[:-1]]
    run = np.cumsum(starts)[visible]
    xy = np.column_stack([x, y])[visible]
    lengths = np.bincount(run)
    keep = lengths[run] >= 2
    if not keep.any():
        return np.empty((0, 2))
    _, line_index = np.unique(run[keep], return_inverse=True)
    lines = shapely.linestrings(xy[keep], indices=line_index)
    x0, x1, y0, y1 = extent
    clipped = shapely.get_parts(shapely.clip_by_rect(lines, x0, y0, x1, y1))
    clipped = clipped[~shapely.is_empty(clipped)]
    if clipped.size == 0:
        return np.empty((0, 2))
    out, index = shapely.get_coordinates(clipped, return_index=True)
    breaks = np.flatnonzero(np.diff(index)) + 1
    return np.insert(out, breaks, np.nan, axis=0)


def feature_lines(crs: pyproj.CRS, extent, resolution: str = "auto",
                  layers=("coastline", "borders")) -> dict[str, np.ndarray]:
    """Shipped Natural Earth layers as NaN-separated x/y lines in ``crs``.

    Parameters
    ----------
    crs : pyproj.CRS
        Projection of the map.
    extent : (x0, x1, y0, y1)
        Map box in projection coordinates.
    resolution : {"auto", "110m", "50m", "10m"}
        Natural Earth scale; ``"auto"`` chooses from the box's lon/lat size
        (see :class:`averse.maps.offline.ExtractScaler`).
    layers : iterable of str
        Layer names (see :func:`averse.maps.features`).

    Returns
    -------
    dict
        ``{layer: ndarray (n, 2)}``, see :func:`projected_lines`.
    """
    bounds = lonlat_extent(crs, extent)
    if resolution == "auto":
        resolution = ExtractScaler().scale_from_extent(bounds)
    return {
        name: projected_lines(feature.intersecting_geometries(bounds), crs, extent)
        for name, feature in features(resolution, layers).items()
    }
