"""The data contract shared by every reader, the twin world and the tracks.

Grids are ``(time, y, x)`` with ``x``/``y`` projection coordinates in metres,
2-D ``lat``/``lon`` coordinates and the CRS in a CF ``spatial_ref`` variable
(``crs_wkt``). Grids that are regular in latitude/longitude (IMERG, MeteoNet)
keep the same dims: ``x`` is then longitude and ``y`` latitude in degrees, the
CRS is EPSG:4326 and the ``units`` attributes say so; one code path serves both. Rain is ``precip`` in mm/h, a mean rate over the interval that
ends at ``time`` (UTC). Missing or outside coverage is NaN; no rain detected is 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import xarray as xr
from dask.base import is_dask_collection

__all__ = [
    "PRECIP_ATTRS",
    "DBZ_ATTRS",
    "precip_attrs",
    "attach_grid",
    "crs_of",
    "interval_cell_methods",
]

PRECIP_ATTRS = {
    "standard_name": "rainfall_rate",
    "long_name": "precipitation rate",
    "units": "mm h-1",
}
DBZ_ATTRS = {
    "standard_name": "equivalent_reflectivity_factor",
    "long_name": "radar reflectivity",
    "units": "dBZ",
}


def interval_cell_methods(interval: pd.Timedelta | str | None) -> str:
    """CF ``cell_methods`` for a mean over an interval ending at ``time``.

    Parameters
    ----------
    interval : Timedelta, str or None
        Length of the averaging interval; None for an instantaneous value.
    """
    if interval is None:
        return "time: point"
    minutes = pd.Timedelta(interval).total_seconds() / 60.0
    return f"time: mean (interval: {minutes:g} minutes comment: time is the end of the interval)"


def precip_attrs(interval, source_kind: str, **extra) -> dict:
    """Attributes of a ``precip`` variable.

    Parameters
    ----------
    interval : Timedelta, str or None
        Averaging interval ending at ``time``; None for an instantaneous rate.
    source_kind : str
        What the file stored originally (``"rate"``, ``"accumulation"``,
        ``"reflectivity"``...), kept in ``original_kind``.
    **extra
        More attributes (``original_units`` ...).
    """
    attrs = dict(PRECIP_ATTRS)
    attrs["cell_methods"] = interval_cell_methods(interval)
    attrs["original_kind"] = source_kind
    attrs.update(extra)
    return attrs


def crs_of(obj: xr.Dataset | xr.DataArray) -> pyproj.CRS:
    """The CRS of a dataset following the data model (``spatial_ref``)."""
    if "spatial_ref" not in obj.coords and "spatial_ref" not in getattr(obj, "data_vars", {}):
        raise KeyError("object has no 'spatial_ref' coordinate; it does not follow the averse grid model")
    return pyproj.CRS.from_wkt(obj["spatial_ref"].attrs["crs_wkt"])


def _float64(values):
    """``values`` as float64; a dask array stays lazy (readers of large grids pass lazy lat/lon)."""
    if is_dask_collection(values):
        return values.astype("float64")
    return np.asarray(values, dtype="float64")


def attach_grid(
    ds: xr.Dataset,
    x: np.ndarray,
    y: np.ndarray,
    crs: pyproj.CRS | str,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
) -> xr.Dataset:
    """Attach projection coordinates, 2-D lat/lon and the CF CRS to a dataset.

    Parameters
    ----------
    ds : xr.Dataset
        Dataset with ``y`` and ``x`` dims.
    x, y : ndarray
        Cell-centre projection coordinates (1-D): metres, or degrees for a
        geographic CRS.
    crs : pyproj.CRS or str
        Projection of ``x``/``y`` (anything ``pyproj.CRS`` accepts).
    lat, lon : ndarray, optional
        2-D geographic coordinates of the cell centres; computed from the
        projection when not given.

    Returns
    -------
    xr.Dataset
        The dataset with ``x``, ``y``, ``lat``, ``lon`` and ``spatial_ref``.
    """
    crs = pyproj.CRS(crs)
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if lat is None or lon is None:
        transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        xx, yy = np.meshgrid(x, y)
        lon, lat = transformer.transform(xx, yy)
    if crs.is_geographic:
        x_attrs = {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}
        y_attrs = {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
    else:
        x_attrs = {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}
        y_attrs = {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}
    ds = ds.assign_coords(
        x=("x", x, x_attrs),
        y=("y", y, y_attrs),
        lat=(("y", "x"), _float64(lat), {"standard_name": "latitude", "units": "degrees_north"}),
        lon=(("y", "x"), _float64(lon), {"standard_name": "longitude", "units": "degrees_east"}),
    )
    cf = crs.to_cf()
    cf["crs_wkt"] = crs.to_wkt()
    cf["spatial_ref"] = cf["crs_wkt"]
    ds = ds.assign_coords(spatial_ref=xr.DataArray(np.int32(0), attrs=cf))
    for name in ds.data_vars:
        if {"x", "y"} <= set(ds[name].dims):
            ds[name].attrs["grid_mapping"] = "spatial_ref"
    return ds
