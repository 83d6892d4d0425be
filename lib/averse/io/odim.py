"""Reader of ODIM_H5 Cartesian products: OPERA composites and national radar images.

ODIM_H5 (the OPERA Data Information Model, versions 2.0 to 2.4) stores a
Cartesian product (``what/object`` ``COMP`` or ``IMAGE``) as arrays
``/datasetN/dataM/data`` described by ``what``/``where``/``how`` groups.
Attributes are inherited downwards, the lowest level winning:
``/what`` → ``/datasetN/what`` → ``/datasetN/dataM/what``. Version 2.0 files
(OPERA ODYSSEY) keep ``quantity``, ``gain``, ``offset``, ``nodata`` and
``undetect`` on ``datasetN/what``, later versions on ``dataM/what``; both read
the same way.

What comes out (the data model of :mod:`averse.datamodel`):

- ``RATE`` → ``precip`` in mm/h, an instantaneous composite
  (``cell_methods = "time: point"``);
- ``ACRR`` → ``precip`` in mm/h = accumulation / interval length, with
  ``original_kind="accumulation"``, ``original_units="mm"`` and
  ``accumulation_interval`` (ISO 8601) in the attributes;
- ``DBZH``, ``DBZ``, ``TH`` → ``dbz`` in dBZ.

Physical value = raw × gain + offset. ``nodata`` becomes NaN. ``undetect``
(observed, nothing detected) becomes 0 for rain and, for reflectivity, the
floor ``dbz_undetect`` (default −32 dBZ, the bottom of the usual 0.5 dB /
−32 dBZ coding), stated in the variable's ``undetect_value`` attribute, so
that NaN always means "not observed". Quality layers are kept: ``QIND``
datasets (v2.0) as ``quality``, ``qualityK`` groups (v2.1+) as
``quality_<task>`` (``pl.imgw.quality.qi_total`` → ``quality_qi_total``),
NaN where nodata or undetect.

Time: ``time`` is the END of the product's data window as stored
(``enddate``/``endtime``; the nominal ``what/date``/``time`` when the file
states no window), UTC, and ``time_start``/``time_nominal`` come along as
per-time coordinates. For an accumulation the window is the accumulation
interval. For a rate or reflectivity composite it is the window of radar scans
the producer merged: OPERA ODYSSEY states nominal − 10 min to nominal + 5 min,
so its ``time`` is 5 min after the file name's; use
``ds.assign_coords(time=ds.time_nominal)`` to index by nominal time.

Grid: ODIM places a Cartesian grid by the longitude/latitude of its four outer
corners (``UL_lon``... "upper left corner of the upper left pixel") in the
projection ``where/projdef`` (a PROJ.4 string, mandatory in ODIM 2.x; pass
``projdef=`` for a producer that omits it), with cell sizes ``xscale``/``yscale``
in metres; row 0 is the northern edge. Corners are stored to about 1e-5° (1 m)
and producers of the same grid differ by that much (OPERA ODYSSEY and NIMBUS
by 2.5 m), so the projected corner is moved to the roundest number within 1 %
of a cell (−2.53 m → 0 m): the same grid then gets identical coordinates.

Decoding, grids and lazy stacking are shared with the KNMI reader
(:mod:`averse.io._composite`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from averse.datamodel import DBZ_ATTRS, precip_attrs
from averse.errors import DataFormatError, UnknownQuantityError
from averse.io import expand_paths
from averse.io._composite import (
    Grid,
    Layer,
    accumulation_window,
    build_dataset,
    check_same_product,
    open_hdf5,
    scalar,
    text,
)
from averse.io._stack import check_same_grid, headers_or_skip

__all__ = ["NAME", "sniff", "open", "read_header"]

NAME = "odim"
PRECIP_QUANTITIES = {"RATE": "rate", "ACRR": "accumulation"}
DBZ_QUANTITIES = ("DBZH", "DBZ", "TH")
QUANTITY_PREFERENCE = ("RATE", "ACRR", "DBZH", "DBZ", "TH")
DBZ_UNDETECT = -32.0
_CARTESIAN_OBJECTS = ("COMP", "IMAGE")
_CORNERS = ("UL", "UR", "LL", "LR")


# --------------------------------------------------------------------------- ODIM header


@dataclass(frozen=True)
class _Frame:
    """What one ODIM file holds, read from its metadata only."""

    path: Path
    quantity: str
    main: Layer
    grid: Grid
    time_end: pd.Timestamp
    time_start: pd.Timestamp
    time_nominal: pd.Timestamp
    interval: pd.Timedelta | None
    quality: dict[str, tuple[Layer, dict]] = field(compare=False)
    info: dict = field(compare=False)


def _group_attrs(h5: h5py.File, path: str) -> dict:
    group = h5.get(path)
    return {k: scalar(v) for k, v in group.attrs.items()} if isinstance(group, h5py.Group) else {}


def _inherited(h5: h5py.File, levels: list[str], name: str) -> dict:
    """``name`` (what/where/how) attributes merged down ``levels``, the lowest level winning."""
    merged: dict = {}
    for level in levels:
        merged.update(_group_attrs(h5, f"{level}/{name}"))
    return merged


def _numbered(group: h5py.Group, prefix: str) -> list[str]:
    """Names of the subgroups ``<prefix>1``, ``<prefix>2``... in numeric order."""
    found = []
    for name in group:
        match = re.fullmatch(prefix + r"(\d+)", name)
        if match and isinstance(group.get(name), h5py.Group):
            found.append((int(match.group(1)), name))
    return [name for _, name in sorted(found)]


def _odim_time(path: Path, what: dict, date_key: str, time_key: str) -> pd.Timestamp | None:
    if date_key not in what or time_key not in what:
        return None
    stamp = f"{what[date_key]}{str(what[time_key]).zfill(6)}"
    try:
        return pd.Timestamp(pd.to_datetime(stamp, format="%Y%m%d%H%M%S"))
    except ValueError:
        raise DataFormatError(path, f"what/{date_key}+{time_key} = {stamp!r} is not YYYYMMDD + HHMMSS") from None


def _odim_layer(path: Path, what: dict, data_path: str, undetect_value: float, factor: float = 1.0) -> Layer:
    try:
        return Layer(
            path=data_path,
            gain=float(what.get("gain", 1.0)),
            offset=float(what.get("offset", 0.0)),
            nodata=(float(what["nodata"]),) if "nodata" in what else (),
            undetect=(float(what["undetect"]),) if "undetect" in what else (),
            undetect_value=undetect_value,
            factor=factor,
        )
    except (TypeError, ValueError):
        raise DataFormatError(path, f"{data_path}: gain/offset/nodata/undetect are not numbers") from None


def _odim_grid(path: Path, where: dict, shape: tuple[int, int], projdef: str | None) -> Grid:
    """Place the grid from the projected outer corners and the cell sizes."""
    projdef = where.get("projdef") or projdef
    if not projdef:
        raise DataFormatError(
            path,
            "where/projdef is missing: ODIM needs a PROJ.4 projection to place a Cartesian grid "
            "(the corner longitudes/latitudes alone do not define one); pass projdef='+proj=...' "
            "when you know the producer's projection",
        )
    try:
        crs = pyproj.CRS(projdef)
    except pyproj.exceptions.CRSError as exc:
        raise DataFormatError(path, f"where/projdef {projdef!r} is not a valid PROJ definition: {exc}") from None
    ny, nx = shape
    for key, size in (("xsize", nx), ("ysize", ny)):
        if key in where and int(where[key]) != size:
            raise DataFormatError(path, f"where/{key} = {where[key]} but the data array has {size}")
    corners = {
        c: (float(where[f"{c}_lon"]), float(where[f"{c}_lat"]))
        for c in _CORNERS
        if {f"{c}_lon", f"{c}_lat"} <= set(where)
    }
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xy = {c: to_xy.transform(*lonlat) for c, lonlat in corners.items()}

    def mean(names, axis):
        values = [xy[c][axis] for c in names if c in xy]
        return float(np.mean(values)) if values else None

    left, right = mean(("UL", "LL"), 0), mean(("UR", "LR"), 0)
    top, bottom = mean(("UL", "UR"), 1), mean(("LL", "LR"), 1)
    dx = float(where["xscale"]) if "xscale" in where else (right - left) / nx if None not in (left, right) else None
    dy = float(where["yscale"]) if "yscale" in where else (top - bottom) / ny if None not in (top, bottom) else None
    if dx is None or dy is None or (left is None and right is None) or (top is None and bottom is None):
        raise DataFormatError(
            path, f"where has too few corners ({', '.join(corners) or 'none'}) and scales to place the grid"
        )
    left = left if left is not None else right - nx * dx
    top = top if top is not None else bottom + ny * dy
    grid = Grid(crs.to_wkt(), nx, ny, _snap(left, dx), _snap(top, dy), dx, -dy)
    grid.check_corners(path, corners)
    return grid


def _snap(value: float, cell: float) -> float:
    """The roundest number (multiple of the largest power of ten, 1 m to 1000 km) within 1 % of a cell of ``value``."""
    for unit in 10.0 ** np.arange(6, -1, -1):
        rounded = float(np.round(value / unit) * unit) + 0.0
        if abs(rounded - value) <= abs(cell) / 100.0:
            return rounded
    return value


def _quality_layers(h5: h5py.File, path: Path, candidates: list[tuple[str, dict]], chosen: str) -> dict:
    """QIND datasets and ``qualityK`` groups of the chosen data (and its dataset), by variable name."""
    found: dict[str, tuple[Layer, dict]] = {}

    def add(stem: str, layer: Layer, attrs: dict):
        name, n = stem, 1
        while name in found:
            n += 1
            name = f"{stem}_{n}"
        found[name] = (layer, {"long_name": "quality index", "units": "1", "odim_path": layer.path, **attrs})

    for data_path, what in candidates:
        if what.get("quantity") == "QIND":
            add("quality", _odim_layer(path, what, f"{data_path}/data", np.nan), {})
    for parent in (chosen, chosen.rsplit("/", 1)[0]):
        for name in _numbered(h5[parent], "quality"):
            group = f"{parent}/{name}"
            task = str(_group_attrs(h5, f"{group}/how").get("task", ""))
            suffix = re.sub(r"\W+", "_", task.rsplit(".", 1)[-1]).strip("_") or name
            layer = _odim_layer(path, _group_attrs(h5, f"{group}/what"), f"{group}/data", np.nan)
            add(f"quality_{suffix}", layer, {"odim_task": task} if task else {})
    return found


def _main_attrs(quantity: str, interval: pd.Timedelta | None, how: dict, dbz_undetect: float) -> dict:
    extra = {"odim_quantity": quantity, **{k: how[k] for k in ("zr_a", "zr_b") if k in how}}
    if quantity == "ACRR":
        return precip_attrs(
            interval, "accumulation", original_units="mm", accumulation_interval=interval.isoformat(), **extra
        )
    if quantity == "RATE":
        return precip_attrs(
            None,
            "rate",
            original_units="mm h-1",
            comment="instantaneous rain-rate composite; time is the end of the producer's data window",
            **extra,
        )
    return {
        **DBZ_ATTRS,
        "cell_methods": "time: point",
        "undetect_value": dbz_undetect,
        "comment": f"no echo detected (ODIM undetect) is set to undetect_value = {dbz_undetect:g} dBZ; NaN is no data",
        **extra,
    }


def read_header(
    path,
    *,
    quantity: str | None = None,
    projdef: str | None = None,
    accumulation_interval=None,
    dbz_undetect: float = DBZ_UNDETECT,
) -> _Frame:
    """Read what one ODIM file holds (metadata only); see :func:`open` for the arguments.

    Raises
    ------
    DataFormatError
        The file is not a readable ODIM Cartesian product (the message says why).
    UnknownQuantityError
        The file holds no quantity averse converts, or the requested one cannot be converted.
    """
    path = Path(path)
    with open_hdf5(path) as h5:
        try:
            return _read_header(h5, path, quantity, projdef, accumulation_interval, dbz_undetect)
        except DataFormatError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DataFormatError(path, f"unreadable ODIM metadata: {exc}") from None


def _data_candidates(h5: h5py.File, path: Path) -> list[tuple[str, dict]]:
    """(data group path, inherited ``what``) of every ``/datasetN/dataM``."""
    datasets = _numbered(h5, "dataset")
    if not datasets:
        raise DataFormatError(path, "no /dataset1 group: the file holds no product")
    candidates = []
    for dataset in datasets:
        datas = _numbered(h5[dataset], "data")
        if not datas:
            raise DataFormatError(path, f"/{dataset} has no data1 group")
        for data in datas:
            levels = ["", f"/{dataset}", f"/{dataset}/{data}"]
            candidates.append((levels[-1], _inherited(h5, levels, "what")))
    return candidates


def _choose(path: Path, candidates: list[tuple[str, dict]], quantity: str | None) -> tuple[str, str, dict]:
    """(quantity, data group path, inherited ``what``) of the layer to read."""
    present = sorted({str(what.get("quantity", "?")) for _, what in candidates})
    wanted = [quantity.upper()] if quantity else [q for q in QUANTITY_PREFERENCE if q in present]
    if quantity and wanted[0] not in present:
        raise DataFormatError(path, f"quantity {quantity!r} is not in the file, which holds {present}")
    if not wanted or wanted[0] not in QUANTITY_PREFERENCE:
        raise UnknownQuantityError(
            path,
            f"quantity {(wanted or present)[0]!r} cannot be read as rain or reflectivity (file holds {present}); "
            f"averse reads {', '.join(PRECIP_QUANTITIES)} as precip and {', '.join(DBZ_QUANTITIES)} as dbz",
        )
    data_path, what = next((p, w) for p, w in candidates if w.get("quantity") == wanted[0])
    return wanted[0], data_path, what


def _window(path: Path, quantity: str, what: dict, accumulation_interval) -> tuple:
    """(end, start, nominal, accumulation interval or None) of the chosen layer."""
    nominal = _odim_time(path, what, "date", "time")
    start = _odim_time(path, what, "startdate", "starttime")
    end = _odim_time(path, what, "enddate", "endtime") or nominal
    if end is None:
        raise DataFormatError(path, "what/date+time and enddate+endtime are missing: the product has no time")
    if quantity != "ACRR":
        return end, start, nominal, None
    interval = accumulation_window(
        path, start, end, accumulation_interval, "ACRR without startdate/starttime before enddate/endtime"
    )
    return end, end - interval, nominal, interval


def _read_header(h5, path, quantity, projdef, accumulation_interval, dbz_undetect) -> _Frame:
    conventions = text(h5.attrs.get("Conventions", ""))
    if not conventions.startswith("ODIM_H5"):
        raise DataFormatError(path, f"root attribute Conventions = {conventions!r}, not ODIM_H5/V2_x")
    top = _group_attrs(h5, "what")
    if top.get("object", "COMP") not in _CARTESIAN_OBJECTS:
        raise DataFormatError(path, f"ODIM object {top['object']!r} is not a Cartesian product (COMP or IMAGE)")
    candidates = _data_candidates(h5, path)
    qty, data_path, what = _choose(path, candidates, quantity)
    array = h5.get(f"{data_path}/data")
    if not isinstance(array, h5py.Dataset) or array.ndim != 2:
        raise DataFormatError(path, f"{data_path}/data is missing or not a 2-D array")
    levels = ["", data_path.rsplit("/", 1)[0], data_path]
    grid = _odim_grid(path, _inherited(h5, levels, "where"), array.shape, projdef)
    end, start, nominal, interval = _window(path, qty, what, accumulation_interval)
    if qty in PRECIP_QUANTITIES:
        factor = 3600.0 / interval.total_seconds() if interval is not None else 1.0
        main = _odim_layer(path, what, f"{data_path}/data", 0.0, factor)
    else:
        main = _odim_layer(path, what, f"{data_path}/data", dbz_undetect)
    quality = _quality_layers(h5, path, candidates, data_path)
    for layer, _ in quality.values():
        if h5[layer.path].shape != array.shape:
            raise DataFormatError(path, f"{layer.path} has shape {h5[layer.path].shape}, the data {array.shape}")
    dataset_what = _group_attrs(h5, f"{levels[1]}/what")
    info = {
        "source_format": conventions,
        "odim_object": top.get("object", ""),
        "source": top.get("source", ""),
        "product": dataset_what.get("prodname") or dataset_what.get("product", ""),
        "main_attrs": _main_attrs(qty, interval, _inherited(h5, levels, "how"), dbz_undetect),
    }
    start = start if start is not None else pd.NaT
    return _Frame(path, qty, main, grid, end, start, nominal or pd.NaT, interval, quality, info)


# --------------------------------------------------------------------------- reader interface


def sniff(path) -> bool:
    """True for an HDF5 file whose root attribute ``Conventions`` starts with ``ODIM_H5``."""
    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as h5:
            return text(h5.attrs.get("Conventions", "")).startswith("ODIM_H5")
    except OSError:
        return False


def open(
    paths,
    *,
    quantity: str | None = None,
    skip_bad: bool = False,
    projdef: str | None = None,
    accumulation_interval=None,
    dbz_undetect: float = DBZ_UNDETECT,
) -> xr.Dataset:
    """Open ODIM_H5 Cartesian products as one lazy ``(time, y, x)`` dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        One product per file; files are stacked along time (sorted by time).
    quantity : str, optional
        ODIM quantity to read when a file holds several (``"RATE"``, ``"ACRR"``,
        ``"DBZH"``, ``"DBZ"``, ``"TH"``); default the first present in that order.
    skip_bad : bool
        Skip files that cannot be read (a warning and ``attrs["skipped_files"]``
        say which and why) instead of raising.
    projdef : str, optional
        PROJ.4 projection for files that lack ``where/projdef``.
    accumulation_interval : str or Timedelta, optional
        Interval of an ``ACRR`` product whose file states no start/end time.
    dbz_undetect : float
        Reflectivity given to ``undetect`` pixels (dBZ).

    Returns
    -------
    xr.Dataset
        ``precip`` (mm/h) or ``dbz`` (dBZ), quality layers, ``time`` (end of the
        data window, UTC), ``time_start``, ``time_nominal``, ``x``/``y`` (m),
        lazy 2-D ``lat``/``lon`` and ``spatial_ref``; one dask chunk per frame.

    Raises
    ------
    DataFormatError, UnknownQuantityError, InconsistentGridError
        Naming the file and the reason.
    """
    read = functools.partial(
        read_header,
        quantity=quantity,
        projdef=projdef,
        accumulation_interval=accumulation_interval,
        dbz_undetect=dbz_undetect,
    )
    _, frames, skipped = headers_or_skip(expand_paths(paths), read, skip_bad)
    frames = sorted(frames, key=lambda frame: frame.time_end)
    paths = [f.path for f in frames]
    check_same_product(paths, [(f.quantity, f.interval) for f in frames])
    check_same_grid(paths, [f.grid for f in frames], describe=Grid.describe)
    first = frames[0]
    variable = "precip" if first.quantity in PRECIP_QUANTITIES else "dbz"
    variables = {variable: ([f.main for f in frames], first.info["main_attrs"])}
    for name, (_, attrs) in first.quality.items():
        variables[name] = ([f.quality.get(name, (None,))[0] for f in frames], attrs)
    window = "accumulation interval" if first.interval is not None else "data window"
    times = {
        "time": ([f.time_end for f in frames], {"long_name": f"end of the {window} (UTC)"}),
        "time_start": ([f.time_start for f in frames], {"long_name": f"start of the {window} (UTC)"}),
        "time_nominal": ([f.time_nominal for f in frames], {"long_name": "nominal product time what/date+time (UTC)"}),
    }
    attrs = {k: v for k, v in first.info.items() if k != "main_attrs"}
    if skipped:
        attrs["skipped_files"] = skipped
    return build_dataset(paths, first.grid, variables, times, attrs)
