"""Reader of Météo-France MeteoNet radar archives (``.npz``).

Each archive holds ``data`` (int16 maps, time first), ``dates`` (one
:class:`datetime.datetime` per map, or :class:`datetime.date` per day for the
daily quality files) and ``miss_dates`` (the slots of the period that have no
map), the dates being pickled object arrays read with the restricted
unpickler of :mod:`averse.io.safe_npz`. The grid is regular in latitude and
longitude (0.01°, EPSG:4326); pixel centres come from the companion
``radar_coords_<ZONE>.npz`` (``lats``, ``lons``), passed as ``coords=`` or found
next to the data file.

Products (told apart by the file name, or ``product=``):

``rainfall``
    5-min accumulations in 1/100 mm, −1 missing → ``precip`` in mm/h, the mean
    rate over the 5 minutes (value × 0.01 mm / (5/60) h = value × 0.12).
``reflectivity_old``
    reflectivity classes coded by their lower bound in dBZ (0: Z < 8,
    8: 8–16, 16: 16–20, 17+N: 17+N–18+N, 70: Z ≥ 70), 255 missing → ``dbz``
    holding the class lower bound (0 therefore means "below 8 dBZ").
``quality``
    daily mean quality code of the rainfall product in % (``mean_quality-code``
    files), 255 missing → ``quality``; time is the end of the day.

Time convention. MeteoNet's documentation gives a map every 5 min from 00:00
to 23:55 each day but does not say whether a rainfall date opens or closes its
5-min accumulation. averse reads a date as the END of the accumulation (how
radar accumulations are usually stamped, and what the data model wants); pass
``date_label="start"`` to shift times by +5 min if your archive stamps the
start. The choice is recorded in the variable's ``time_convention``.

Size. A full archive holds up to 3168 maps (11 days), 2.8 GB of int16 for the
north-west zone, deflated inside the ``.npz``; maps are read lazily in chunks
of ``chunk_frames`` through :func:`averse.io.safe_npz.read_slab`, which keeps
decompressor checkpoints so that the archive is inflated about once however
the chunks are visited.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import DBZ_ATTRS, attach_grid, interval_cell_methods, precip_attrs
from averse.errors import DataFormatError, InconsistentGridError, UnknownQuantityError
from averse.io import _stack, expand_paths
from averse.io.safe_npz import MemberHeader, member_headers, read_member, read_slab

__all__ = ["NAME", "sniff", "open"]

NAME = "meteonet"
TIME_STEP = pd.Timedelta("5min")
_ZONE = re.compile(r"_(NW|SE)_")
_REGULAR_TOLERANCE_DEG = 1e-6


def _rainfall(raw: np.ndarray) -> np.ndarray:
    rate = raw.astype("float32") * np.float32(0.01 / (TIME_STEP / pd.Timedelta("1h")))
    rate[raw < 0] = np.nan
    return rate


def _coded(missing: int):
    def decode(raw: np.ndarray) -> np.ndarray:
        out = raw.astype("float32")
        out[raw == missing] = np.nan
        return out

    return decode


@dataclass(frozen=True)
class _Product:
    """How one MeteoNet product maps to an averse variable."""

    variable: str
    decode: Callable[[np.ndarray], np.ndarray]
    attrs: dict
    daily: bool = False

    @property
    def step(self) -> pd.Timedelta:
        """Spacing of the archive's slots."""
        return pd.Timedelta("1D") if self.daily else TIME_STEP

    def shift_to_end(self, date_label: str) -> pd.Timedelta:
        """What to add to a file date to get the end of its interval.

        A daily mean is dated by its day; an accumulation by its start or end
        (``date_label``); a reflectivity is instantaneous.
        """
        if self.daily:
            return self.step
        if self.variable == "precip" and date_label == "start":
            return self.step
        return pd.Timedelta(0)


_PRODUCTS = {
    "rainfall": _Product(
        "precip",
        _rainfall,
        precip_attrs(
            TIME_STEP,
            "accumulation",
            original_units="1e-2 mm per 5 min",
            original_missing_value=-1,
            source="MeteoNet radar rainfall composite",
        ),
    ),
    "reflectivity_old": _Product(
        "dbz",
        _coded(255),
        {
            **DBZ_ATTRS,
            "cell_methods": interval_cell_methods(None),
            "original_kind": "reflectivity class",
            "comment": "lower bound of the reflectivity class: 0 means Z < 8 dBZ, 8 means 8-16, 16 means 16-20, "
            "17+N means 17+N to 18+N, 70 means Z >= 70 dBZ",
            "original_missing_value": 255,
            "source": "MeteoNet radar reflectivity composite (old product)",
        },
    ),
    "quality": _Product(
        "quality",
        _coded(255),
        {
            "long_name": "daily mean quality code of the radar rainfall",
            "units": "%",
            "valid_range": [0.0, 100.0],
            "comment": "0 very bad, 100 perfect; time is the end of the day the mean covers",
            "cell_methods": interval_cell_methods(pd.Timedelta("1D")),
            "original_missing_value": 255,
            "source": "MeteoNet radar rainfall quality code (daily mean)",
        },
        daily=True,
    ),
}


def product_of(path: str | Path) -> str:
    """MeteoNet product of a file, from its name (``rainfall_NW_2016_08.3.npz`` → ``"rainfall"``).

    Raises
    ------
    UnknownQuantityError
        For products averse does not convert (``diff`` quality codes, the new
        reflectivity product) and for names it cannot place.
    """
    name = Path(path).name.lower()
    if "quality" in name:
        if "mean" in name:
            return "quality"
        raise UnknownQuantityError(path, "MeteoNet quality-code differences are not converted; use the daily mean files")
    if name.startswith("reflectivity_new"):
        raise UnknownQuantityError(path, "the new MeteoNet reflectivity product (1/10 dBZ, prob, height) is not supported")
    if name.startswith("reflectivity"):
        return "reflectivity_old"
    if name.startswith("rainfall"):
        return "rainfall"
    raise UnknownQuantityError(
        path, f"cannot tell the MeteoNet product from the file name; pass product= one of {sorted(_PRODUCTS)}"
    )


def sniff(path) -> bool:
    """True for a zip archive with ``data.npy`` and ``dates.npy`` members."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return {"data.npy", "dates.npy"} <= set(archive.namelist())


def _as_utc_index(path: Path, values: np.ndarray, what: str) -> pd.DatetimeIndex:
    if values.dtype != object:
        if values.size == 0:
            return pd.DatetimeIndex([], dtype="datetime64[ns]")
        raise DataFormatError(path, f"'{what}' holds {values.dtype} values, not dates")
    index = pd.to_datetime(list(values.ravel()), utc=True)
    return pd.DatetimeIndex(index.tz_convert(None)).as_unit("ns")


@dataclass(frozen=True)
class _FileHeader:
    data: MemberHeader
    dates: pd.DatetimeIndex
    missing: pd.DatetimeIndex


def _read_header(path: Path) -> _FileHeader:
    headers = member_headers(path)
    for member in ("data", "dates"):
        if member not in headers:
            raise DataFormatError(path, f"not a MeteoNet archive: no '{member}.npy' member (members: {sorted(headers)})")
    data = headers["data"]
    if len(data.shape) != 3 or data.dtype.kind not in "iu":
        raise DataFormatError(path, f"'data' should be integer maps (time, y, x), found {data.dtype} {data.shape}")
    dates = _as_utc_index(path, read_member(path, "dates"), "dates")
    if len(dates) != data.shape[0]:
        raise DataFormatError(path, f"{len(dates)} dates for {data.shape[0]} maps")
    missing = _as_utc_index(path, read_member(path, "miss_dates"), "miss_dates") if "miss_dates" in headers else dates[:0]
    return _FileHeader(data, dates, missing)


def _lazy_maps(path: Path, header: MemberHeader, decode, chunk_frames: int) -> da.Array:
    n_frames, *frame_shape = header.shape
    parts = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        raw = dask.delayed(read_slab, pure=True)(path, header, start, stop)
        parts.append(da.from_delayed(dask.delayed(decode, pure=True)(raw), (stop - start, *frame_shape), "float32"))
    return da.concatenate(parts, axis=0)


def _grid(coords: Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lats = np.asarray(read_member(coords, "lats"), dtype="float64")
    lons = np.asarray(read_member(coords, "lons"), dtype="float64")
    if lats.shape != shape or lons.shape != shape:
        raise InconsistentGridError(coords, f"coordinates of shape {lats.shape} do not match maps of shape {shape}")
    x, y = lons[0], lats[:, 0]
    if np.abs(lons - x).max() > _REGULAR_TOLERANCE_DEG or np.abs(lats - y[:, None]).max() > _REGULAR_TOLERANCE_DEG:
        raise DataFormatError(coords, "pixel centres are not on a regular latitude/longitude grid")
    return x, y, lats, lons


def _fill_missing(ds: xr.Dataset, missing: pd.DatetimeIndex, step: pd.Timedelta, path: Path) -> xr.Dataset:
    """Reindex onto every slot from the first to the last, NaN maps where none exists."""
    slots = ds.indexes["time"].union(missing)
    full = pd.date_range(slots[0], slots[-1], freq=step)
    if not slots.isin(full).all():
        raise DataFormatError(path, f"dates are not on a regular {step} axis; cannot fill the missing slots")
    return ds.reindex(time=full)


def _find_coords(path: Path) -> Path:
    match = _ZONE.search(path.name)
    candidate = path.with_name(f"radar_coords_{match.group(1)}.npz") if match else None
    if candidate is None or not candidate.is_file():
        raise DataFormatError(path, "MeteoNet maps carry no coordinates: pass coords= the zone's radar_coords_<ZONE>.npz")
    return candidate


def open(
    paths,
    coords: str | Path | None = None,
    product: str | None = None,
    date_label: str = "end",
    fill_missing: bool = False,
    chunk_frames: int = 24,
    skip_bad: bool = False,
) -> xr.Dataset:
    """Open MeteoNet radar archives of one product and zone as a lazy dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        ``.npz`` archives of one product and one zone (periods are concatenated
        along time).
    coords : path, optional
        ``radar_coords_<ZONE>.npz``; default: that file next to the first archive.
    product : {"rainfall", "reflectivity_old", "quality"}, optional
        Default: told from the file name.
    date_label : {"end", "start"}
        Whether a rainfall date marks the end (default) or the start of its
        5-min accumulation; ``time`` is always the end.
    fill_missing : bool
        Reindex onto the full 5-min (daily for quality) axis from the first to
        the last slot, with NaN maps where the archive lists a missing date.
    chunk_frames : int
        Maps per dask chunk.
    skip_bad : bool
        Skip unreadable archives (reported in ``attrs["skipped_files"]``).

    Returns
    -------
    xr.Dataset
        ``precip`` (mm/h), ``dbz`` or ``quality`` (%) on ``(time, y, x)``, with
        ``x`` = longitude and ``y`` = latitude in degrees (EPSG:4326), 2-D
        ``lat``/``lon`` and the ``missing_time`` coordinate listing the slots
        the archives declare missing.
    """
    if date_label not in ("end", "start"):
        raise ValueError(f"date_label must be 'end' or 'start', not {date_label!r}")
    files = expand_paths(paths)
    kind = product or product_of(files[0])
    if kind not in _PRODUCTS:
        raise UnknownQuantityError(files[0], f"unknown MeteoNet product {kind!r}; known: {sorted(_PRODUCTS)}")
    spec = _PRODUCTS[kind]
    files, headers, skipped = _stack.headers_or_skip(files, _read_header, skip_bad)
    _stack.check_same_grid(files, [h.data.shape[1:] for h in headers], lambda s: f"{s[0]}x{s[1]} pixels")

    maps = da.concatenate([_lazy_maps(p, h.data, spec.decode, chunk_frames) for p, h in zip(files, headers)], axis=0)
    dates = pd.DatetimeIndex(np.concatenate([h.dates.values for h in headers]))
    if dates.has_duplicates:
        raise DataFormatError(files[0], f"duplicate dates across {len(files)} archive(s): {list(dates[dates.duplicated()][:3])}")
    shift = spec.shift_to_end(date_label)
    attrs = dict(spec.attrs)
    if spec.variable == "precip":
        attrs["time_convention"] = f"file dates read as the {date_label} of the 5-min accumulation; time is its end (UTC)"
    ds = xr.Dataset(
        {spec.variable: (("time", "y", "x"), maps, attrs)},
        coords={"time": ("time", dates + shift, {"standard_name": "time", "long_name": "end of the interval (UTC)"})},
    )
    if spec.daily:
        ds = ds.assign_coords(day=("time", dates, {"long_name": "day the mean covers (UTC)"}))
    if not ds.indexes["time"].is_monotonic_increasing:
        ds = ds.sortby("time")
    missing = pd.DatetimeIndex(np.unique(np.concatenate([h.missing.values for h in headers]))) + shift
    if fill_missing:
        ds = _fill_missing(ds, missing, spec.step, files[0])
    ds = ds.assign_coords(
        missing_time=("missing_time", missing, {"long_name": "slots the archives list as missing (end of interval, UTC)"})
    )

    x, y, lats, lons = _grid(Path(coords) if coords else _find_coords(files[0]), maps.shape[1:])
    ds = attach_grid(ds, x, y, "EPSG:4326", lat=lats, lon=lons)
    ds.attrs.update(
        source="MeteoNet (Meteo-France), Etalab Open Licence 2.0",
        meteonet_product=kind,
        files=[str(p) for p in files],
    )
    if skipped:
        ds.attrs["skipped_files"] = skipped
    return ds
