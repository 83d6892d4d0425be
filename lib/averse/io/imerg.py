"""IMERG half-hourly grids (NASA PPS HDF5, versions 06 and 07) as averse grids.

The file stores each field as ``(time, lon, lat)`` (``DimensionNames``) on a
0.1 degree, cell-centred, south-west-origin grid. The reader returns
``(time, y, x)`` with ``x`` = longitude and ``y`` = latitude in degrees as in
the file (both ascending), EPSG:4326 in ``spatial_ref`` and 2-D ``lat``/``lon``
(see :mod:`averse.datamodel`).

Names are always those of V07. A V06 file is mapped::

    precipitationCal     -> precipitation
    HQprecipitation      -> MWprecipitation
    HQprecipSource       -> MWprecipSource
    HQobservationTime    -> MWobservationTime
    IRkalmanFilterWeight -> IRinfluence

and every variable keeps its file name in ``attrs["original_name"]``; the
dataset says which version it came from in ``attrs["imerg_version"]``.
``IRinfluence`` is *not* the same statistic in both versions although both are
0-100 %: V06 ``IRkalmanFilterWeight`` is the weight of the IR estimate in the
Kalman filter that refines the morphed microwave field, and V06 ran that
filter only where no microwave overpass fell in the half hour (weight 0 there).
V07 runs the filter at overpasses too (with the SHARPEN histogram adjustment,
Huffman et al., "Lessons learned in V07 IMERG", EGU23-2961) and reports the
relative influence of IR on the merged value. Do not pool the two versions.

Time: ``/Grid/time`` and ``time_bnds`` are decoded from their ``units``
attribute (V07: seconds since 1980-01-06, V06: seconds since 1970-01-01). The
V07 count does not include leap seconds, so it decodes directly to UTC labels
(it is not GPS time). IMERG stamps the *start* of the half hour; averse's
``time`` is the END of the averaging interval, so ``time = time_bnds[:, 1]``
(start + 30 min) and ``time_bnds`` keeps both ends. ``precipitation`` is the
mean rate over the half hour in mm/h.

Fills (``_FillValue``, ``CodeMissingValue``, -9999.9, -9999) become NaN; every
field is float32, so the integer fields hold their exact values:
``MWprecipSource`` is the microwave sensor code (0 = no microwave observation
in the half hour), ``MWobservationTime`` the minutes after the start of the
half hour at which the microwave overpass used in the cell was observed
(0-29; NaN where there was none), ``IRinfluence`` and
``probabilityLiquidPrecipitation`` in percent.

A sequence of files is stacked along time lazily (one dask chunk per file and
variable); ``bbox`` restricts every read to the hyperslab of the cells whose
centres fall in the box, so a global 3600 x 1800 file is never read whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import attach_grid, interval_cell_methods, precip_attrs
from averse.errors import DataFormatError
from averse.io import expand_paths
from averse.io._stack import check_same_grid, headers_or_skip, lazy_stack
from averse.io.gpm import clean_text, decode_to_float, file_header, fill_codes, open_hdf5, parse_pvl

__all__ = ["NAME", "V06_TO_V07", "decode_time", "sniff", "open"]

NAME = "imerg"

V06_TO_V07 = {
    "precipitationCal": "precipitation",
    "HQprecipitation": "MWprecipitation",
    "HQprecipSource": "MWprecipSource",
    "HQobservationTime": "MWobservationTime",
    "IRkalmanFilterWeight": "IRinfluence",
}
_RATES = {"precipitation", "precipitationUncal", "MWprecipitation", "IRprecipitation"}
_NOTES = {
    "MWprecipSource": "microwave sensor code of the IMERG technical documentation; 0 = no microwave observation in the half hour",
    "MWobservationTime": "minutes after the start of the half hour (time_bnds[:, 0]) of the microwave overpass used; NaN where none",
    "randomError": "root-mean-square error estimate of precipitation over the half hour",
}
_IR_NOTES = {
    "V06": "read from V06 IRkalmanFilterWeight: weight (%) of IR in the Kalman filter, which V06 applied only where "
    "no microwave overpass fell in the half hour (0 there); not the same statistic as V07 IRinfluence",
    "V07": "relative influence (%) of IR on the merged estimate; V07 applies the Kalman filter at microwave overpasses too",
}
_DEFAULT_UNITS = {"IRinfluence": "percent", "precipitationQualityIndex": "1"}  # the files give none
_INTERVALS = {"HALF_HOUR": "30min", "HOUR": "1h", "DAY": "1D"}
_UNITS_RE = re.compile(r"^(second|minute|hour|day)s?\s+since\s+(.+?)\s*(?:UTC|GMT|Z)?$", re.IGNORECASE)
_PANDAS_UNITS = {"second": "s", "minute": "min", "hour": "h", "day": "D"}
_PER_FILE_KEYS = ("FileName", "GenerationDateTime", "StartGranuleDateTime", "StopGranuleDateTime", "GranuleNumber",
                  "GranuleStart", "EmptyGranule", "MissingData", "time_coverage_start", "time_coverage_end")


@dataclass(frozen=True)
class _Variable:
    """Where one field lives in the file and how to decode it."""

    h5path: str
    original_name: str
    axes: tuple[str, ...]
    codes: tuple
    units: str
    long_name: str


@dataclass(frozen=True)
class _Header:
    """What is read eagerly from one file."""

    version: str
    attrs: dict
    start: pd.Timestamp
    end: pd.Timestamp
    lat: np.ndarray
    lon: np.ndarray
    variables: dict[str, _Variable]

    def grid_key(self) -> tuple:
        return (self.lat.size, self.lon.size, *np.round([self.lat[0], self.lat[-1], self.lon[0], self.lon[-1]], 4))


def decode_time(values, units: str, path) -> pd.DatetimeIndex:
    """Decode ``<unit> since <epoch>`` (CF-like, as IMERG writes it) into UTC timestamps.

    Raises
    ------
    DataFormatError
        When ``units`` is not of that form.
    """
    match = _UNITS_RE.match(clean_text(units))
    if not match:
        raise DataFormatError(path, f"time units {units!r} are not of the form '<unit> since <epoch>'")
    epoch = pd.Timestamp(match.group(2))
    if epoch.tzinfo is not None:
        epoch = epoch.tz_convert("UTC").tz_localize(None)
    offsets = pd.to_timedelta(np.asarray(values, dtype="float64").ravel(), unit=_PANDAS_UNITS[match.group(1).lower()])
    return pd.DatetimeIndex(epoch + offsets)


def _grid_variables(grid: h5py.Group, nlat: int, nlon: int) -> dict[str, _Variable]:
    found = {}
    groups = [grid] + [g for g in grid.values() if isinstance(g, h5py.Group)]
    for group in groups:
        for name, dataset in group.items():
            if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 3:
                continue
            declared = clean_text(dataset.attrs.get("DimensionNames", "time,lon,lat")).replace(" ", "")
            axes = tuple(declared.split(","))
            if sorted(axes) != ["lat", "lon", "time"]:
                continue
            if dataset.shape[axes.index("lat")] != nlat or dataset.shape[axes.index("lon")] != nlon:
                continue
            units = clean_text(dataset.attrs.get("Units", dataset.attrs.get("units", "")))
            found[V06_TO_V07.get(name, name)] = _Variable(
                dataset.name, name, axes, fill_codes(dataset), units, clean_text(dataset.attrs.get("LongName", "")))
    return found


def _version(attrs: dict, names: set[str], path: Path) -> str:
    if attrs.get("ProductVersion"):
        return str(attrs["ProductVersion"])
    match = re.search(r"\.(V\d\d[A-Z]?)\.", path.name)
    if match:
        return match.group(1)
    return "V06" if "precipitationCal" in names else "V07"


def _read_header(path: Path) -> _Header:
    with open_hdf5(path) as h5:
        grid = h5.get("Grid")
        if not isinstance(grid, h5py.Group):
            raise DataFormatError(path, "no /Grid group: not an IMERG grid file")
        for name in ("lat", "lon", "time"):
            if name not in grid:
                raise DataFormatError(path, f"/Grid has no {name!r} dataset")
        attrs = file_header(h5, path) if "FileHeader" in h5.attrs else {}
        lat, lon = grid["lat"][()].astype("float64"), grid["lon"][()].astype("float64")
        variables = _grid_variables(grid, lat.size, lon.size)
        if "precipitation" not in variables:
            raise DataFormatError(path, "/Grid has no (time, lon, lat) 'precipitation' or 'precipitationCal' dataset")
        time = grid["time"]
        if time.shape != (1,):
            raise DataFormatError(path, f"/Grid/time has shape {time.shape}; one interval per file is expected")
        units = time.attrs.get("units", time.attrs.get("Units", ""))
        if "time_bnds" in grid:
            bounds = grid["time_bnds"]
            start, end = decode_time(bounds[0], bounds.attrs.get("units", bounds.attrs.get("Units", units)), path)
        else:
            interval = _INTERVALS.get(str(attrs.get("TimeInterval", "")))
            if interval is None:
                raise DataFormatError(path, "no /Grid/time_bnds and no known TimeInterval in FileHeader")
            start = decode_time(time[()], units, path)[0]
            end = start + pd.Timedelta(interval)
        names = {v.original_name for v in variables.values()}
        grid_header = parse_pvl(grid.attrs.get("GridHeader", b""))
    return _Header(_version(attrs, names, path), attrs, start, end, _centres(lat, grid_header, "Latitude"),
                   _centres(lon, grid_header, "Longitude"), variables)


def _centres(values: np.ndarray, grid_header: dict, axis: str) -> np.ndarray:
    """Cell centres rounded two digits below the grid resolution, undoing the file's float32 noise."""
    try:
        resolution = float(grid_header.get(f"{axis}Resolution", 0.1))
    except ValueError:
        resolution = 0.1
    return np.round(values, max(0, int(np.ceil(-np.log10(resolution)))) + 2)


def _check_sequence(paths: list[Path], headers: list[_Header]) -> None:
    check_same_grid(paths, [h.grid_key() for h in headers], lambda k: f"{k[0]}x{k[1]} lat {k[2]}..{k[3]} lon {k[4]}..{k[5]}")
    first = headers[0]
    for path, previous, header in zip(paths[1:], headers, headers[1:]):
        if header.version[:3] != first.version[:3]:
            raise DataFormatError(path, f"IMERG {header.version} cannot be stacked with {first.version} of {paths[0]}")
        if set(header.variables) != set(first.variables):
            raise DataFormatError(path, f"variables {sorted(header.variables)} differ from {sorted(first.variables)} of {paths[0]}")
        if header.end - header.start != first.end - first.start:
            raise DataFormatError(path, f"interval {header.end - header.start} differs from {first.end - first.start} of {paths[0]}")
        if header.end == previous.end:
            raise DataFormatError(path, f"same interval (ending {header.end}) as another file of the sequence")


def _bbox_slices(lat: np.ndarray, lon: np.ndarray, bbox, path: Path) -> tuple[slice, slice]:
    if bbox is None:
        return slice(None), slice(None)
    lon_min, lat_min, lon_max, lat_max = (float(v) for v in bbox)
    if lon_min > lon_max or lat_min > lat_max:
        raise ValueError(f"bbox {tuple(bbox)} must be (lon_min, lat_min, lon_max, lat_max) with min <= max "
                         "(a box across the antimeridian is not supported)")

    def axis(values: np.ndarray, low: float, high: float, label: str) -> slice:
        inside = np.flatnonzero((values >= low) & (values <= high))
        if inside.size == 0:
            raise ValueError(f"bbox {tuple(bbox)} holds no {label} cell centre of {path} ({values.min()}..{values.max()})")
        return slice(int(inside[0]), int(inside[-1]) + 1)

    return axis(lat, lat_min, lat_max, "latitude"), axis(lon, lon_min, lon_max, "longitude")


def _read_field(path: Path, variable: _Variable, lat_slice: slice, lon_slice: slice) -> np.ndarray:
    """One field of one file, restricted to the slices, as float32 ``(lat, lon)`` with NaN fills."""
    index = tuple({"time": 0, "lat": lat_slice, "lon": lon_slice}[axis] for axis in variable.axes)
    with h5py.File(path, "r") as h5:
        field = decode_to_float(h5[variable.h5path][index], variable.codes)
    spatial = [axis for axis in variable.axes if axis != "time"]
    return field if spatial == ["lat", "lon"] else np.ascontiguousarray(field.T)


def _attrs(name: str, variable: _Variable, interval: pd.Timedelta, version: str) -> dict:
    units = "mm h-1" if variable.units == "mm/hr" else variable.units or _DEFAULT_UNITS.get(name, "")
    if name in _RATES:
        attrs = precip_attrs(interval, "rate", original_units=variable.units)
    else:
        attrs = {"cell_methods": interval_cell_methods(interval)} if units == "mm h-1" else {}
        if units:
            attrs["units"] = units
    if variable.long_name:
        attrs["long_name"] = variable.long_name
    note = _IR_NOTES[version[:3]] if name == "IRinfluence" and version[:3] in _IR_NOTES else _NOTES.get(name)
    if note:
        attrs["comment"] = note
    attrs["original_name"] = variable.original_name
    return attrs


def sniff(path) -> bool:
    """True for an HDF5 file with a ``/Grid`` group holding ``precipitation`` or ``precipitationCal``."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as h5:
            grid = h5.get("Grid")
            return isinstance(grid, h5py.Group) and ("precipitation" in grid or "precipitationCal" in grid)
    except OSError:
        return False


def open(paths, bbox=None, variables=None, skip_bad: bool = False) -> xr.Dataset:  # noqa: A001 - registry API
    """Open IMERG half-hourly files (V06 or V07) as one lazy ``(time, y, x)`` dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        IMERG HDF5 files of one version on one grid; sorted by time.
    bbox : tuple of float, optional
        ``(lon_min, lat_min, lon_max, lat_max)`` in degrees: keep the cells
        whose centres fall inside; only that hyperslab is ever read.
    variables : list of str, optional
        V07 names to keep (default every field of the file).
    skip_bad : bool
        Skip unreadable files (listed in ``attrs["skipped_files"]``) instead of raising.

    Returns
    -------
    xr.Dataset
        Dask-backed float32 fields with V07 names; ``time`` is the end of each
        half hour (UTC) and ``time_bnds`` its start and end.

    Raises
    ------
    DataFormatError
        Not HDF5, truncated, no ``/Grid``, no precipitation, undecodable time,
        or files of different versions, variables or intervals.
    InconsistentGridError
        Files on different grids.
    """
    files = expand_paths(paths)
    kept, headers, skipped = headers_or_skip(files, _read_header, skip_bad)
    order = sorted(range(len(kept)), key=lambda i: headers[i].end)
    kept, headers = [kept[i] for i in order], [headers[i] for i in order]
    _check_sequence(kept, headers)
    first = headers[0]
    names = sorted(first.variables, key=lambda n: (n != "precipitation", n)) if variables is None else list(variables)
    unknown = [n for n in names if n not in first.variables]
    if unknown:
        raise ValueError(f"unknown IMERG variable(s) {unknown}; {kept[0]} has {sorted(first.variables)}")
    lat_slice, lon_slice = _bbox_slices(first.lat, first.lon, bbox, kept[0])
    lat, lon = first.lat[lat_slice], first.lon[lon_slice]
    interval = first.end - first.start
    data_vars = {}
    for name in names:
        reader = partial(_read_field, variable=first.variables[name], lat_slice=lat_slice, lon_slice=lon_slice)
        data = lazy_stack(kept, reader, (lat.size, lon.size), "float32")
        data_vars[name] = (("time", "y", "x"), data, _attrs(name, first.variables[name], interval, first.version))
    starts = np.array([h.start for h in headers], dtype="datetime64[ns]")
    ends = np.array([h.end for h in headers], dtype="datetime64[ns]")
    time_attrs = {"standard_name": "time", "bounds": "time_bnds", "comment": "end of the averaging interval (UTC)"}
    ds = xr.Dataset(data_vars, coords={"time": ("time", ends, time_attrs), "time_bnds": (("time", "nv"), np.stack([starts, ends], axis=1))})
    for name in ("time", "time_bnds"):  # one encoding for both, as CF wants for a bounds variable
        ds[name].encoding["units"] = "seconds since 1970-01-01 00:00:00"
    shape = (lat.size, lon.size)
    ds = attach_grid(ds, lon, lat, "EPSG:4326", lat=np.broadcast_to(lat[:, None], shape), lon=np.broadcast_to(lon[None, :], shape))
    ds.attrs = {k: v for k, v in first.attrs.items() if k not in _PER_FILE_KEYS}
    ds.attrs.update(imerg_version=first.version, time_coverage_start=str(starts[0]), time_coverage_end=str(ends[-1]),
                    source_files=[p.name for p in kept])
    if skipped:
        ds.attrs["skipped_files"] = [f"{p}: {r}" for p, r in skipped.items()]
    return ds
