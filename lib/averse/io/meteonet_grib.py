"""Reader of static fields on regular lat/lon GRIB grids (MeteoNet masks).

MeteoNet ships a land-sea mask and a relief for each zone as GRIB edition 1
files of two messages (``lsm``, 0 sea / 1 land, with fractions along some
coasts; ``h`` "geometrical height",
parameter 8 of table 2, which MeteoNet's documentation calls ``p3008``, in
metres). This reader handles any GRIB 1 or 2 file of ``regular_ll`` messages
through the ``eccodes`` Python package: the grid comes from the geometry keys
of each message (first/last grid point, ``Ni``/``Nj``, scanning mode), points
flagged missing by the bitmap become NaN, and each message becomes one
variable on ``(y, x)`` with ``x`` = longitude and ``y`` = latitude in degrees,
EPSG:4326. Known parameters get averse names (``land_sea``, ``dem``); others
keep their eccodes ``shortName``. Headers are read eagerly, values lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
from dask.utils import SerializableLock
import numpy as np
import pyproj  # noqa: F401  (load pyproj's PROJ first: eccodes' eckitlib bundles another libproj that breaks pyproj)
import xarray as xr

from averse.datamodel import attach_grid
from averse.errors import DataFormatError, InconsistentGridError
from averse.io import expand_paths

try:
    import eccodes
except ImportError as exc:  # pragma: no cover - the registry reports the reader as unavailable
    raise ImportError("the meteonet_grib reader needs the 'eccodes' package (pip install eccodes)") from exc

__all__ = ["NAME", "sniff", "open"]

NAME = "meteonet_grib"
_ECCODES_LOCK = SerializableLock()  # dask reads messages from several threads
# eccodes shortName -> (averse variable, attributes)
_KNOWN = {
    "lsm": ("land_sea", {"standard_name": "land_area_fraction", "long_name": "land-sea mask (land fraction: 0 sea, 1 land)", "units": "1"}),
    "h": ("dem", {"standard_name": "surface_altitude", "long_name": "relief (terrain height)", "units": "m"}),
    "orog": ("dem", {"standard_name": "surface_altitude", "long_name": "relief (terrain height)", "units": "m"}),
}
_GEOMETRY_KEYS = (
    "Ni",
    "Nj",
    "latitudeOfFirstGridPointInDegrees",
    "longitudeOfFirstGridPointInDegrees",
    "latitudeOfLastGridPointInDegrees",
    "longitudeOfLastGridPointInDegrees",
    "iScansNegatively",
    "jScansPositively",
    "jPointsAreConsecutive",
)


@dataclass(frozen=True)
class _Message:
    """Header of one GRIB message: where it is, what it holds, on which grid."""

    path: Path
    offset: int
    short_name: str
    param_id: int
    name: str
    units: str
    level: str
    bitmap: bool
    geometry: tuple


def sniff(path) -> bool:
    """True when the file starts with the GRIB indicator ``b"GRIB"``."""
    with Path(path).open("rb") as fh:
        return fh.read(4) == b"GRIB"


def _read_messages(path: Path) -> list[_Message]:
    messages = []
    with _ECCODES_LOCK, path.open("rb") as fh:
        while True:
            try:
                handle = eccodes.codes_grib_new_from_file(fh)
            except eccodes.CodesInternalError as exc:
                raise DataFormatError(path, f"corrupt or truncated GRIB message after {len(messages)} message(s): {exc}") from exc
            if handle is None:
                break
            try:
                grid_type = eccodes.codes_get(handle, "gridType")
                if grid_type != "regular_ll":
                    raise DataFormatError(path, f"message {len(messages) + 1} is on a {grid_type!r} grid; only regular_ll is read")
                messages.append(
                    _Message(
                        path=path,
                        offset=int(eccodes.codes_get(handle, "offset")),
                        short_name=eccodes.codes_get(handle, "shortName"),
                        param_id=int(eccodes.codes_get(handle, "paramId")),
                        name=eccodes.codes_get(handle, "name"),
                        units=eccodes.codes_get(handle, "units"),
                        level=f"{eccodes.codes_get(handle, 'typeOfLevel')}{eccodes.codes_get(handle, 'level')}",
                        bitmap=bool(eccodes.codes_get(handle, "bitmapPresent")),
                        geometry=tuple(eccodes.codes_get(handle, key) for key in _GEOMETRY_KEYS),
                    )
                )
            except eccodes.CodesInternalError as exc:
                raise DataFormatError(path, f"GRIB message {len(messages) + 1} lacks a key: {exc}") from exc
            finally:
                eccodes.codes_release(handle)
    if not messages:
        raise DataFormatError(path, "no GRIB message found")
    return messages


def _axes(geometry: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre longitudes (``x``) and latitudes (``y``) in the message's scanning order.

    Longitudes are given in [-180, 180) when that keeps them monotonic (GRIB 2
    stores them in [0, 360)); a grid across the antimeridian keeps [0, 360).
    """
    ni, nj, lat_first, lon_first, lat_last, lon_last, i_negative, *_ = geometry
    if not i_negative and lon_last < lon_first:
        lon_last += 360.0  # grid crossing the 0/360 seam
    elif i_negative and lon_last > lon_first:
        lon_last -= 360.0
    lon = np.linspace(lon_first, lon_last, ni)
    wrapped = (lon + 180.0) % 360.0 - 180.0
    if ni == 1 or np.all(np.diff(wrapped) > 0) or np.all(np.diff(wrapped) < 0):
        lon = wrapped
    return lon, np.linspace(lat_first, lat_last, nj)


def _read_values(message: _Message) -> np.ndarray:
    ni, nj, *_, j_consecutive = message.geometry
    with _ECCODES_LOCK, message.path.open("rb") as fh:
        fh.seek(message.offset)
        handle = eccodes.codes_grib_new_from_file(fh)
        if handle is None:
            raise DataFormatError(message.path, f"GRIB message at byte {message.offset} vanished")
        try:
            values = eccodes.codes_get_values(handle).astype("float32")
            missing = eccodes.codes_get(handle, "missingValue")
        except eccodes.CodesInternalError as exc:
            raise DataFormatError(message.path, f"cannot decode GRIB message at byte {message.offset}: {exc}") from exc
        finally:
            eccodes.codes_release(handle)
    if message.bitmap:
        values[values == np.float32(missing)] = np.nan
    return values.reshape((ni, nj)).T if j_consecutive else values.reshape((nj, ni))


def _variable_name(message: _Message, taken: set[str]) -> tuple[str, dict]:
    name, attrs = _KNOWN.get(message.short_name, (message.short_name, {"long_name": message.name, "units": message.units}))
    if name == "unknown":
        name = f"param{message.param_id}"
    for candidate in (name, f"{name}_{message.level}"):
        if candidate not in taken:
            return candidate, dict(attrs)
    suffix = 2
    while f"{name}_{message.level}_{suffix}" in taken:
        suffix += 1
    return f"{name}_{message.level}_{suffix}", dict(attrs)


def open(paths) -> xr.Dataset:
    """Open GRIB files of regular lat/lon static fields as one lazy dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        GRIB 1/2 files whose messages share one regular_ll grid.

    Returns
    -------
    xr.Dataset
        One variable per message (``land_sea``, ``dem`` in m, or the message's
        ``shortName``) on ``(y, x)``, with ``x`` = longitude and ``y`` =
        latitude in degrees, 2-D ``lat``/``lon`` and ``spatial_ref`` (EPSG:4326).

    Raises
    ------
    DataFormatError
        Not GRIB, truncated or corrupt messages, a grid other than regular_ll.
    InconsistentGridError
        Messages on different grids.
    """
    messages = [message for path in expand_paths(paths) for message in _read_messages(Path(path))]
    reference = messages[0]
    for message in messages[1:]:
        if message.geometry != reference.geometry:
            raise InconsistentGridError(
                message.path, f"message {message.short_name!r} is on another grid than {reference.short_name!r} of {reference.path}"
            )
    ni, nj = reference.geometry[:2]
    variables = {}
    for message in messages:
        name, attrs = _variable_name(message, set(variables))
        attrs.update(grib_short_name=message.short_name, grib_name=message.name, grib_level=message.level)
        lazy = da.from_delayed(dask.delayed(_read_values, pure=True)(message), (nj, ni), "float32")
        variables[name] = (("y", "x"), lazy, attrs)
    x, y = _axes(reference.geometry)
    ds = attach_grid(xr.Dataset(variables), x, y, "EPSG:4326")
    ds.attrs.update(files=sorted({str(m.path) for m in messages}))
    return ds
