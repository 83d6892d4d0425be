"""Reader of NWC SAF GEO Convective Rainfall Rate (CRR) netCDF files.

One file per repeat cycle of a geostationary imager (SEVIRI: 15 min), on the
satellite's native grid. The reader maps:

``crr_intensity`` → ``precip``
    instantaneous rain rate in mm/h (packed uint16, scale 0.1, fill 65535),
    ``cell_methods = "time: point"``.
``crr_accum`` → ``precip_1h``
    the product's hourly accumulation in mm, expressed as the mean rate over
    the hour ending at ``time`` (numerically the same value, units mm h-1;
    ``original_kind = "accumulation"``).
``crr`` → ``crr_class``
    rain-rate class 0–11 (``flag_meanings`` kept), 255 missing.
``crr_status_flag``, ``crr_conditions``, ``crr_quality``
    bit flags kept as integers with their CF flag attributes.

Packing (``scale_factor``, ``add_offset``, ``_FillValue``, ``valid_range``) is
read from each variable's attributes, not assumed.

Grid. The files give the projection as a PROJ string (``gdal_projection``,
``+proj=geos ... +h=35785863``), pixel-centre coordinates ``nx``/``ny`` on a
round 3000 m step, and the CGMS navigation (``cgms_projection``: ``cfac``,
``lfac``, ``coff``, ``loff``). For ``+proj=geos`` PROJ expects x/y as scan
angle × ``h`` (height above the ellipsoid). The CGMS factors give the true
step: 2**16/cfac degrees per column, i.e. 3000.406 m for the SEVIRI
``cfac`` = 13642337 — the step satpy also uses for SEVIRI (3000.403 m) — not
the 3000 m of ``nx``. The difference grows to ~450 m at the region's edge and
moves limb pixels by tenths of a degree: with ``nx``/``ny`` as given, the
lat/lon extremes miss the file's own ``geospatial_lon_max`` by 0.30°; with the
CGMS step they match within 0.005° (``geospatial_lat_min`` within 1e-4°), and
every pixel agrees with the CGMS (LRIT/HRIT) navigation formulas to 1e-8°.
The reader therefore builds ``x``/``y`` from the CGMS factors when they agree
with ``nx``/``ny`` to within half a pixel, and falls back on ``nx``/``ny``
otherwise; ``attrs["navigation"]`` says which. ``lat``/``lon`` are NaN off the
Earth disk.

Time. ``time`` is the nominal slot time (``nominal_product_time``, else the
file name), the start of the repeat cycle; the actual scan of the region is
kept in the ``time_coverage_start``/``time_coverage_end`` coordinates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pyproj
import xarray as xr
from xarray.backends.locks import HDF5_LOCK

from averse.datamodel import attach_grid, interval_cell_methods, precip_attrs
from averse.errors import DataFormatError
from averse.io import _stack, expand_paths

__all__ = ["NAME", "sniff", "open"]

NAME = "nwcsaf_crr"
_FILENAME_TIME = re.compile(r"_(\d{8}T\d{6})Z")
_PROJ_NUMBER = re.compile(r"\+(\w+)=([-+\d.eE]+)")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_FLAG_ATTRS = ("long_name", "flag_masks", "flag_mask", "flag_values", "flag_meanings", "valid_range", "comment")

# file variable -> (averse name, whether it is a packed physical quantity)
_VARIABLES = {
    "crr_intensity": ("precip", True),
    "crr_accum": ("precip_1h", True),
    "crr": ("crr_class", False),
    "crr_status_flag": ("crr_status_flag", False),
    "crr_conditions": ("crr_conditions", False),
    "crr_quality": ("crr_quality", False),
}


@dataclass(frozen=True)
class _Header:
    time: pd.Timestamp
    coverage: tuple[pd.Timestamp, pd.Timestamp]
    projection: str
    x: np.ndarray
    y: np.ndarray
    navigation: str
    variables: dict  # file variable -> (dtype, attrs)

    @property
    def grid_key(self) -> tuple:
        return (self.projection, self.x.size, self.y.size, float(self.x[0]), float(self.y[0]), float(self.x[-1]), float(self.y[-1]))


def sniff(path) -> bool:
    """True for a netCDF-4 file whose attributes say it is an NWC SAF CRR product."""
    path = Path(path)
    with path.open("rb") as fh:
        if fh.read(8) != _HDF5_MAGIC:
            return False
    with HDF5_LOCK, netCDF4.Dataset(path) as nc:
        return getattr(nc, "product_name", "") == "CRR" or "crr_intensity" in nc.variables


def _timestamp(path: Path, text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text).as_unit("ns")
    except ValueError as exc:
        raise DataFormatError(path, f"unreadable time {text!r}: {exc}") from exc
    return stamp.tz_convert(None) if stamp.tzinfo else stamp


def _read_header(path: Path) -> _Header:
    with HDF5_LOCK:
        try:
            nc = netCDF4.Dataset(path)
        except OSError as exc:
            raise DataFormatError(path, f"not a readable netCDF file: {exc}") from exc
        with nc:
            if "crr_intensity" not in nc.variables:
                raise DataFormatError(path, "not an NWC SAF CRR file: no 'crr_intensity' variable")
            if "nx" not in nc.variables or "ny" not in nc.variables:
                raise DataFormatError(path, "no 'nx'/'ny' projection coordinates")
            attrs = {key: nc.getncattr(key) for key in nc.ncattrs()}
            variables = {
                name: (nc.variables[name].dtype, {key: nc.variables[name].getncattr(key) for key in nc.variables[name].ncattrs()})
                for name in _VARIABLES
                if name in nc.variables
            }
            x = np.asarray(nc.variables["nx"][:], dtype="float64")
            y = np.asarray(nc.variables["ny"][:], dtype="float64")
    projection = attrs.get("gdal_projection")
    if not projection or "proj=geos" not in projection:
        raise DataFormatError(path, f"no geostationary 'gdal_projection' attribute (found {projection!r})")
    nominal = attrs.get("nominal_product_time")
    if nominal is None:
        match = _FILENAME_TIME.search(path.name)
        if match is None:
            raise DataFormatError(path, "no 'nominal_product_time' attribute and no time in the file name")
        nominal = match.group(1)
    coverage = tuple(_timestamp(path, attrs.get(key, nominal)) for key in ("time_coverage_start", "time_coverage_end"))
    cgms = attrs.get("cgms_projection", "")
    x, y, navigation = _navigate(projection, cgms, x, y)
    return _Header(_timestamp(path, nominal), coverage, projection, x, y, navigation, variables)


def _navigate(projection: str, cgms: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Pixel-centre x/y (scan angle × h, in metres) from the CGMS factors, else ``nx``/``ny``."""
    factors = {key: float(value) for key, value in _PROJ_NUMBER.findall(cgms)}
    height = dict(_PROJ_NUMBER.findall(projection)).get("h")
    if height is None or not {"cfac", "lfac", "coff", "loff"} <= set(factors) or x.size < 2 or y.size < 2:
        return x, y, "nx/ny coordinates of the file"
    height = float(height)
    x_cgms = (np.arange(1, x.size + 1) - factors["coff"]) * height * np.deg2rad(2.0**16 / factors["cfac"])
    y_cgms = (factors["loff"] - np.arange(1, y.size + 1)) * height * np.deg2rad(2.0**16 / factors["lfac"])
    half_pixel = 0.5 * min(abs(x[1] - x[0]), abs(y[1] - y[0]))
    if max(np.abs(x_cgms - x).max(), np.abs(y_cgms - y).max()) > half_pixel:
        return x, y, "nx/ny coordinates of the file (CGMS factors disagree with them)"
    return x_cgms, y_cgms, "CGMS column/line factors of cgms_projection"


def _unpack(raw: np.ndarray, attrs: dict) -> np.ndarray:
    """Packed integers → float32 physical values; fill and out-of-range → NaN."""
    out = raw.astype("float32") * np.float32(attrs.get("scale_factor", 1.0)) + np.float32(attrs.get("add_offset", 0.0))
    invalid = np.zeros(raw.shape, dtype=bool)
    if "_FillValue" in attrs:
        invalid |= raw == attrs["_FillValue"]
    if "valid_range" in attrs:
        valid = np.asarray(attrs["valid_range"]).ravel()[:2]
        # CF: a valid_range of the packed type is in packed units, otherwise in physical units
        compared = raw if valid.dtype == raw.dtype else out
        invalid |= (compared < valid[0]) | (compared > valid[1])
    out[invalid] = np.nan
    return out


def _read_variable(path: Path, name: str, attrs: dict, packed: bool) -> np.ndarray:
    # the HDF5 library under netCDF4 is not thread-safe: share xarray's lock with its own netCDF reads
    try:
        with HDF5_LOCK, netCDF4.Dataset(path) as nc:
            variable = nc.variables[name]
            variable.set_auto_maskandscale(False)
            raw = np.asarray(variable[:])
    except (OSError, KeyError, RuntimeError) as exc:
        raise DataFormatError(path, f"cannot read variable '{name}': {exc}") from exc
    return _unpack(raw, attrs) if packed else raw


def _variable_attrs(name: str, attrs: dict) -> dict:
    if name == "crr_intensity":
        return precip_attrs(
            None, "rate", original_name=name, source="NWC SAF GEO CRR",
            comment="time is the nominal slot; the region was scanned between time_coverage_start and time_coverage_end",
        )
    if name == "crr_accum":
        return precip_attrs(
            pd.Timedelta("1h"), "accumulation", original_name=name, original_units=attrs.get("units", "mm"),
            comment="hourly accumulation of the CRR rates over the hour ending at the nominal slot time, "
            "expressed as its mean rate", source="NWC SAF GEO CRR",
        )
    kept = {key: attrs[key] for key in _FLAG_ATTRS if key in attrs and not (isinstance(attrs[key], str) and not attrs[key])}
    if "_FillValue" in attrs:
        kept["missing_value"] = attrs["_FillValue"]
    kept["cell_methods"] = interval_cell_methods(None)
    return kept


def _lat_lon(projection: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    transformer = pyproj.Transformer.from_crs(pyproj.CRS(projection), "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(*np.meshgrid(x, y))
    off_disk = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[off_disk] = np.nan
    lat[off_disk] = np.nan
    return lat, lon


def open(paths, skip_bad: bool = False) -> xr.Dataset:
    """Open NWC SAF GEO CRR files as a lazy ``(time, y, x)`` dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        CRR netCDF files of one region (stacked along time, sorted).
    skip_bad : bool
        Skip unreadable files (reported in ``attrs["skipped_files"]``).

    Returns
    -------
    xr.Dataset
        ``precip`` (mm/h, instantaneous), ``precip_1h`` (mm/h, mean over the
        hour ending at ``time``), ``crr_class`` and the flag variables, on the
        geostationary grid (``x``/``y`` in metres, ``spatial_ref`` from
        ``gdal_projection``), with 2-D ``lat``/``lon``.
    """
    files, headers, skipped = _stack.headers_or_skip(expand_paths(paths), _read_header, skip_bad)
    _stack.check_same_grid(files, [h.grid_key for h in headers], lambda key: f"{key[0]} {key[1]}x{key[2]}")
    order = np.argsort([h.time.value for h in headers], kind="stable")
    files, headers = [files[i] for i in order], [headers[i] for i in order]
    times = pd.DatetimeIndex([h.time for h in headers])
    if times.has_duplicates:
        raise DataFormatError(files[int(np.argmax(times.duplicated()))], "two files share the same nominal time")

    reference = headers[0]
    shape = (reference.y.size, reference.x.size)
    data_vars = {}
    for name, (new_name, packed) in _VARIABLES.items():
        if not all(name in h.variables for h in headers):
            continue
        dtype, attrs = reference.variables[name]
        stacked = _stack.lazy_stack(
            files,
            functools.partial(_read_variable, name=name, attrs=attrs, packed=packed),
            shape,
            dtype="float32" if packed else dtype,
        )
        data_vars[new_name] = (("time", "y", "x"), stacked, _variable_attrs(name, attrs))

    scan = {edge: pd.DatetimeIndex([h.coverage[i] for h in headers]) for i, edge in enumerate(("start", "end"))}
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": "nominal slot time (UTC)"}),
            **{
                f"time_coverage_{edge}": ("time", values, {"long_name": f"{edge} of the region's scan (UTC)"})
                for edge, values in scan.items()
            },
        },
    )
    lat, lon = _lat_lon(reference.projection, reference.x, reference.y)
    ds = attach_grid(ds, reference.x, reference.y, reference.projection, lat=lat, lon=lon)
    ds.attrs.update(
        source="NWC SAF GEO Convective Rainfall Rate", navigation=reference.navigation, files=[str(p) for p in files]
    )
    if skipped:
        ds.attrs["skipped_files"] = skipped
    return ds
