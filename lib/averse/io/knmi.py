"""Reader of KNMI HDF5 radar composites (RAD_NL25_*: the Dutch 1 km radar products).

The KNMI HDF5 format (KNMI HDF5 Data Format Specification v3.5) stores one or
more images ``/imageN/image_data`` (unsigned integers), each with

- ``imageN`` attributes ``image_geo_parameter`` (what and in which unit, e.g.
  ``PRECIP_[MM]``, ``REFLECTIVITY_[DBZ]``, ``QUALITY_[-]``) and
  ``image_product_name``;
- ``imageN/calibration`` attributes ``calibration_formulas``
  (``"GEO=0.010000*PV+0.000000"``: physical = a × pixel value + b),
  ``calibration_missing_data`` and ``calibration_out_of_image`` (pixel values
  that mean "no data"; when neither is given, the largest value of the pixel
  type, 65535 for 16 bits, is taken as "outside the image");

``/geographic`` holds the grid (``geo_number_columns``/``rows``,
``geo_pixel_size_x``/``y`` in ``geo_dim_pixel`` units, kilometres for the
radar products; ``geo_column_offset``/``geo_row_offset`` in pixels;
``geo_product_corners`` as four lon/lat pairs) and
``/geographic/map_projection`` the PROJ.4 string ``projection_proj4_params``,
whose ellipsoid axes are in KILOMETRES
(``+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378.137 +b=6356.752``). The
axes are converted to metres so that ``x``/``y`` come out in metres. The edge of
pixel column ``j`` / row ``i`` lies at ``(geo_column_offset + j) ×
geo_pixel_size_x`` / ``(geo_row_offset + i) × geo_pixel_size_y`` (a negative
``y`` size: row 0 is the northern edge); ``geo_product_corners`` are checked
against that grid and a :class:`~averse.io._composite.GeolocationWarning` says when
they disagree by more than half a pixel.

``/overview`` attributes ``product_datetime_start``/``_end``
(``"01-JAN-2019;00:05:00.000"``, UTC) bound the product; ``time`` is the end.
``PRECIP_[MM]`` (RAD_NL25_RAC_RT and the other accumulation products, the
radar data of the SmaAt-UNet dataset) is an accumulation over that window,
5 min for the real-time products: it becomes ``precip`` in mm/h
(``original_kind="accumulation"``). ``REFLECTIVITY_[DBZ]`` (RAD_NL25_PCP_NA)
becomes ``dbz``; ``QUALITY_[-]`` images become ``quality``.
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
)
from averse.io._stack import check_same_grid, headers_or_skip

__all__ = ["NAME", "sniff", "open", "read_header", "parse_calibration", "parse_knmi_time", "metric_proj4"]

NAME = "knmi"
# unit of image_geo_parameter -> kind of field
_KINDS = {"MM": "accumulation", "MM/H": "rate", "MM/HR": "rate", "DBZ": "dbz"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CALIBRATION = re.compile(rf"GEO\s*=\s*({_NUMBER})\s*\*\s*PV\s*(?:([-+])\s*({_NUMBER}))?\s*$", re.IGNORECASE)
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_DATETIME = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4});(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?")
_UNIT_FACTORS = {"KM": 1000.0, "M": 1.0}


def parse_calibration(formula: str) -> tuple[float, float]:
    """``(a, b)`` of a KNMI calibration ``"GEO = a * PV + b"`` (spaces and ``+ -b`` allowed)."""
    match = _CALIBRATION.search(formula.strip())
    if not match:
        raise ValueError(f"calibration formula {formula!r} is not of the form 'GEO=a*PV+b'")
    a, sign, b = match.groups()
    return float(a), (-1.0 if sign == "-" else 1.0) * float(b or 0.0)


def parse_knmi_time(value: str) -> pd.Timestamp:
    """A KNMI date-time ``"01-JAN-2019;00:05:00.000"`` (UTC) as a naive UTC timestamp."""
    match = _DATETIME.fullmatch(value.strip())
    if not match or match.group(2).upper() not in _MONTHS:
        raise ValueError(f"date-time {value!r} is not of the form 'DD-MON-YYYY;hh:mm:ss.sss'")
    day, month, year, hour, minute, second, fraction = match.groups()
    start_of_day = pd.Timestamp(int(year), _MONTHS[month.upper()], int(day))
    # 24:00:00 (end of a daily product) is the next day's midnight.
    return start_of_day + pd.Timedelta(hours=int(hour), minutes=int(minute), seconds=int(second) + float(fraction or 0))


def metric_proj4(proj4: str) -> str:
    """A KNMI PROJ.4 string with kilometre axes (``+a=6378.137``) or ``+units=km`` rewritten in metres.

    Also repairs parameters written without their ``+`` (``y_0=0``), seen in older files.
    """
    params = {}
    for token in proj4.replace("+", " ").split():
        key, _, value = token.partition("=")
        params[key] = value
    params.pop("units", None)
    # With kilometre axes PROJ works in kilometres, false easting/northing included.
    if float(params.get("a", params.get("R", 6.4e6))) < 1e5:
        for key in ("a", "b", "R", "x_0", "y_0"):
            if key in params:
                params[key] = repr(float(params[key]) * 1000.0)
    params["units"] = "m"
    return " ".join(f"+{k}={v}" if v else f"+{k}" for k, v in params.items())


@dataclass(frozen=True)
class _Frame:
    """What one KNMI file holds, read from its metadata only."""

    path: Path
    kind: str
    main: Layer
    grid: Grid
    time_end: pd.Timestamp
    time_start: pd.Timestamp
    interval: pd.Timedelta | None
    quality: Layer | None = field(compare=False)
    info: dict = field(compare=False)


def _attrs(h5: h5py.File, path: str) -> dict:
    group = h5.get(path)
    return {k: scalar(v) for k, v in group.attrs.items()} if group is not None else {}


def _image_layer(h5: h5py.File, path: Path, image: str, factor: float = 1.0) -> Layer:
    calibration = _attrs(h5, f"{image}/calibration")
    if "calibration_formulas" not in calibration:
        raise DataFormatError(path, f"{image}/calibration has no calibration_formulas attribute")
    try:
        a, b = parse_calibration(calibration["calibration_formulas"])
    except ValueError as exc:
        raise DataFormatError(path, f"{image}/calibration: {exc}") from None
    code_keys = ("calibration_missing_data", "calibration_out_of_image")
    codes = tuple(float(calibration[k]) for k in code_keys if k in calibration)
    array = h5.get(f"{image}/image_data")
    if not isinstance(array, h5py.Dataset) or array.ndim != 2:
        raise DataFormatError(path, f"{image}/image_data is missing or not a 2-D array")
    if not codes and array.dtype.kind == "u":
        codes = (float(np.iinfo(array.dtype).max),)
    return Layer(f"{image}/image_data", a, b, nodata=codes, factor=factor)


def _parameter(h5: h5py.File, image: str) -> tuple[str, str]:
    """(name, unit) of ``image_geo_parameter`` (``"PRECIP_[MM]"`` → ``("PRECIP", "MM")``)."""
    value = str(_attrs(h5, image).get("image_geo_parameter", ""))
    match = re.fullmatch(r"(.*?)_?\[(.*)\]", value.strip())
    return (match.group(1).upper(), match.group(2).upper()) if match else (value.upper(), "")


def _knmi_grid(h5: h5py.File, path: Path, shape: tuple[int, int]) -> Grid:
    geo = _attrs(h5, "geographic")
    projection = _attrs(h5, "geographic/map_projection").get("projection_proj4_params")
    if not projection:
        raise DataFormatError(path, "geographic/map_projection has no projection_proj4_params")
    try:
        crs = pyproj.CRS(metric_proj4(projection))
    except (pyproj.exceptions.CRSError, ValueError) as exc:
        raise DataFormatError(path, f"projection {projection!r} is not a valid PROJ definition: {exc}") from None
    unit = str(geo.get("geo_dim_pixel", "KM")).split(",")[0].strip().upper()
    if unit not in _UNIT_FACTORS:
        raise DataFormatError(path, f"geographic/geo_dim_pixel {geo.get('geo_dim_pixel')!r} is not in KM or M")
    scale = _UNIT_FACTORS[unit]
    ny, nx = shape
    for key, size in (("geo_number_columns", nx), ("geo_number_rows", ny)):
        if key in geo and int(geo[key]) != size:
            raise DataFormatError(path, f"geographic/{key} = {geo[key]} but image_data has {size}")
    try:
        dx, dy = float(geo["geo_pixel_size_x"]) * scale, float(geo["geo_pixel_size_y"]) * scale
        x0, y0 = float(geo.get("geo_column_offset", 0.0)) * dx, float(geo.get("geo_row_offset", 0.0)) * dy
    except KeyError as exc:
        raise DataFormatError(path, f"geographic lacks {exc.args[0]}") from None
    grid = Grid(crs.to_wkt(), nx, ny, x0, y0, dx, dy)
    corners = np.asarray(h5["geographic"].attrs.get("geo_product_corners", []), dtype="float64").reshape(-1, 2)
    grid.check_corners(path, {f"corner {k + 1}": (lon, lat) for k, (lon, lat) in enumerate(corners)})
    return grid


def _time_attr(path: Path, overview: dict, key: str) -> pd.Timestamp | None:
    if key not in overview:
        return None
    try:
        return parse_knmi_time(str(overview[key]))
    except ValueError as exc:
        raise DataFormatError(path, f"overview/{key}: {exc}") from None


def read_header(path, *, image: str | None = None, accumulation_interval=None) -> _Frame:
    """Read what one KNMI file holds (metadata only); see :func:`open` for the arguments."""
    path = Path(path)
    with open_hdf5(path) as h5:
        try:
            return _read_header(h5, path, image, accumulation_interval)
        except DataFormatError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DataFormatError(path, f"unreadable KNMI HDF5 metadata: {exc}") from None


def _read_header(h5, path, image, accumulation_interval) -> _Frame:
    if not {"overview", "geographic"} <= set(h5):
        raise DataFormatError(path, "no /overview or /geographic group: not a KNMI HDF5 image file")
    images = sorted((g for g in h5 if re.fullmatch(r"image\d+", g)), key=lambda g: int(g[5:]))
    if not images:
        raise DataFormatError(path, "no /image1 group: the file holds no image")
    parameters = {g: _parameter(h5, g) for g in images}
    if image is not None and image not in parameters:
        raise DataFormatError(path, f"no group {image!r}; the file holds {images}")
    mains = [image] if image else [g for g in images if parameters[g][1] in _KINDS]
    if not mains or parameters[mains[0]][1] not in _KINDS:
        found = {g: "_".join(parameters[g]) for g in ([image] if image else images)}
        raise UnknownQuantityError(path, f"no image averse can convert ({found}); it reads units {sorted(_KINDS)}")
    if len(mains) > 1:
        raise DataFormatError(
            path, f"holds several convertible images {mains} (a forecast product?); pass image='imageN' to choose one"
        )
    main_image = mains[0]
    kind = _KINDS[parameters[main_image][1]]
    overview = _attrs(h5, "overview")
    end = _time_attr(path, overview, "product_datetime_end")
    start = _time_attr(path, overview, "product_datetime_start")
    if end is None:
        raise DataFormatError(path, "overview/product_datetime_end is missing: the product has no time")
    interval = None
    if kind == "accumulation":
        interval = accumulation_window(
            path, start, end, accumulation_interval, "accumulation without product_datetime_start before its end"
        )
        start = end - interval
    factor = 3600.0 / interval.total_seconds() if interval is not None else 1.0
    main = _image_layer(h5, path, main_image, factor)
    grid = _knmi_grid(h5, path, h5[main.path].shape)
    qualities = [g for g in images if parameters[g][0] == "QUALITY" and g != main_image]
    quality = _image_layer(h5, path, qualities[0]) if qualities else None
    if quality is not None and h5[quality.path].shape != grid.shape:
        raise DataFormatError(path, f"{quality.path} has shape {h5[quality.path].shape}, the data {grid.shape}")
    info = {
        "source_format": "KNMI HDF5",
        "product": str(_attrs(h5, main_image).get("image_product_name", overview.get("product_group_name", ""))),
        "knmi_parameter": "_".join(parameters[main_image]),
    }
    return _Frame(path, kind, main, grid, end, start if start is not None else pd.NaT, interval, quality, info)


def sniff(path) -> bool:
    """True for an HDF5 file with KNMI's ``overview``, ``geographic`` and ``image1`` groups."""
    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as h5:
            return {"overview", "geographic", "image1"} <= set(h5) and "Conventions" not in h5.attrs
    except OSError:
        return False


def _variable_attrs(frame: _Frame) -> tuple[str, dict]:
    extra = {"knmi_parameter": frame.info["knmi_parameter"]}
    if frame.kind == "accumulation":
        interval = frame.interval
        return "precip", precip_attrs(
            interval, "accumulation", original_units="mm", accumulation_interval=interval.isoformat(), **extra
        )
    if frame.kind == "rate":
        return "precip", precip_attrs(None, "rate", original_units="mm h-1", **extra)
    return "dbz", {**DBZ_ATTRS, "cell_methods": "time: point", **extra}


def open(paths, *, skip_bad: bool = False, image: str | None = None, accumulation_interval=None) -> xr.Dataset:
    """Open KNMI HDF5 radar files as one lazy ``(time, y, x)`` dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        One product per file; files are stacked along time (sorted by end time).
    skip_bad : bool
        Skip unreadable files (a warning and ``attrs["skipped_files"]`` say which).
    image : str, optional
        Image group to read (``"image1"``...) when a file holds several
        convertible images; default the only one.
    accumulation_interval : str or Timedelta, optional
        Interval of an accumulation whose file states no start time.

    Returns
    -------
    xr.Dataset
        ``precip`` (mm/h) or ``dbz``, ``quality`` when present, ``time`` (end of
        the product window, UTC), ``time_start``, ``x``/``y`` (m), lazy
        ``lat``/``lon`` and ``spatial_ref``; one dask chunk per frame.
    """
    read = functools.partial(read_header, image=image, accumulation_interval=accumulation_interval)
    _, frames, skipped = headers_or_skip(expand_paths(paths), read, skip_bad)
    frames = sorted(frames, key=lambda frame: frame.time_end)
    first, paths = frames[0], [f.path for f in frames]
    check_same_product(paths, [(f.kind, f.interval) for f in frames])
    check_same_grid(paths, [f.grid for f in frames], describe=Grid.describe)
    name, attrs = _variable_attrs(first)
    variables = {name: ([f.main for f in frames], attrs)}
    if any(f.quality is not None for f in frames):
        variables["quality"] = ([f.quality for f in frames], {"long_name": "quality index", "units": "1"})
    window = "accumulation interval" if first.interval is not None else "product window"
    times = {
        "time": ([f.time_end for f in frames], {"long_name": f"end of the {window} (UTC)"}),
        "time_start": ([f.time_start for f in frames], {"long_name": f"start of the {window} (UTC)"}),
    }
    ds_attrs = {k: v for k, v in first.info.items() if k != "knmi_parameter"}
    if skipped:
        ds_attrs["skipped_files"] = skipped
    return build_dataset(paths, first.grid, variables, times, ds_attrs)
