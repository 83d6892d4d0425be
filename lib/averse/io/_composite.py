"""Pieces shared by the radar-composite readers (ODIM_H5, KNMI HDF5).

A composite file holds 2-D integer or float layers that become physical values
by ``raw × gain + offset`` with sentinel codes for "no data" and "nothing
detected", on a regular projected grid. :class:`Layer` says where a layer sits
and how to decode it, :class:`Grid` where its cells are, and
:func:`build_dataset` stacks one layer per file lazily along time (headers are
read eagerly by the readers, pixels only when computed) and attaches the grid
with lazily computed 2-D ``lat``/``lon``.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import pandas as pd
import pyproj
import xarray as xr

from averse.datamodel import attach_grid
from averse.errors import DataFormatError
from averse.io._stack import lazy_stack

__all__ = [
    "GeolocationWarning",
    "Grid",
    "Layer",
    "open_hdf5",
    "read_layer",
    "lazy_lonlat",
    "build_dataset",
    "check_same_product",
    "accumulation_window",
    "text",
    "scalar",
]


class GeolocationWarning(UserWarning):
    """A file's corner coordinates disagree with the grid its other metadata define."""


@dataclass(frozen=True)
class Grid:
    """A regular projected grid: cell ``(i, j)`` is centred on ``(x0 + (j + ½)·dx, y0 + (i + ½)·dy)``.

    ``x0``/``y0`` is the outer corner of cell ``(0, 0)`` in metres; ``dy`` is
    negative when row 0 is the northern edge (radar images).
    """

    crs_wkt: str
    nx: int
    ny: int
    x0: float
    y0: float
    dx: float
    dy: float

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    def x(self) -> np.ndarray:
        """Cell-centre x coordinates (m)."""
        return self.x0 + (np.arange(self.nx) + 0.5) * self.dx

    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (m)."""
        return self.y0 + (np.arange(self.ny) + 0.5) * self.dy

    def describe(self) -> str:
        crs = pyproj.CRS.from_wkt(self.crs_wkt)
        projection = crs.coordinate_operation.method_name if crs.coordinate_operation else crs.name
        return (
            f"{self.ny}x{self.nx} cells of {abs(self.dx):g} m x {abs(self.dy):g} m "
            f"from corner ({self.x0:.0f} m, {self.y0:.0f} m), {projection}"
        )

    def check_corners(self, path, corners: dict[str, tuple[float, float]]) -> None:
        """Warn when a stated (lon, lat) corner is more than half a cell from every outer corner of the grid."""
        to_xy = pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_wkt(self.crs_wkt), always_xy=True)
        outer = np.array(
            [(self.x0 + i * self.nx * self.dx, self.y0 + j * self.ny * self.dy) for i in (0, 1) for j in (0, 1)]
        )
        off = []
        for name, (lon, lat) in corners.items():
            x, y = to_xy.transform(lon, lat)
            cells = np.max(np.abs(outer - (x, y)) / np.abs((self.dx, self.dy)), axis=1).min()
            if not cells <= 0.5:
                off.append(f"{name} ({lon:.4f}, {lat:.4f}) lies {cells:.2f} cells away")
        if off:
            warnings.warn(
                f"{path}: corners disagree with the grid {self.describe()}: {'; '.join(off)}",
                GeolocationWarning,
                stacklevel=3,
            )


@dataclass(frozen=True)
class Layer:
    """Where a 2-D field sits in a file and how its raw values become physical ones.

    Physical value = (raw × gain + offset) × factor; raw values in ``nodata``
    become NaN, those in ``undetect`` become ``undetect_value`` (nodata wins
    when a code is in both).
    """

    path: str
    gain: float = 1.0
    offset: float = 0.0
    nodata: tuple[float, ...] = ()
    undetect: tuple[float, ...] = ()
    undetect_value: float = float("nan")
    factor: float = 1.0

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Physical float32 values of a raw array."""
        values = raw.astype("float64") * self.gain + self.offset
        if self.factor != 1.0:
            values *= self.factor
        for code in self.undetect:
            values[raw == code] = self.undetect_value
        for code in self.nodata:
            values[raw == code] = np.nan
        return values.astype("float32")


def open_hdf5(path: Path) -> h5py.File:
    """Open an HDF5 file for reading, or raise :class:`DataFormatError` saying why not."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise DataFormatError(path, "not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFormatError(path, f"cannot open the HDF5 file, truncated or corrupt: {exc}") from None


def read_layer(path: Path, layer: Layer | None, shape: tuple[int, int]) -> np.ndarray:
    """Read and decode one layer of a file; all-NaN when the file lacks the layer."""
    if layer is None:
        return np.full(shape, np.nan, dtype="float32")
    with open_hdf5(Path(path)) as h5:
        try:
            raw = h5[layer.path][...]
        except (OSError, KeyError, ValueError) as exc:
            raise DataFormatError(path, f"cannot read pixels of {layer.path}: {exc}") from None
    if raw.shape != tuple(shape):
        raise DataFormatError(path, f"{layer.path} has shape {raw.shape}, its header said {tuple(shape)}")
    return layer.decode(raw)


def _read_stacked(layers: dict[str, Layer | None], shape: tuple[int, int], path: Path) -> np.ndarray:
    return read_layer(path, layers[str(path)], shape)


def _lonlat_block(y_block: np.ndarray, x: np.ndarray, crs_wkt: str) -> np.ndarray:
    # One transformer per block: pyproj transformers are not thread-safe.
    to_lonlat = pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(crs_wkt), "EPSG:4326", always_xy=True)
    xx, yy = np.meshgrid(x, y_block[:, 0])
    return np.stack(to_lonlat.transform(xx, yy))


def lazy_lonlat(grid: Grid, rows_per_chunk: int = 512) -> tuple[da.Array, da.Array]:
    """2-D cell-centre longitude and latitude of a grid, computed lazily by row blocks."""
    y = da.from_array(grid.y(), chunks=rows_per_chunk)
    lonlat = da.map_blocks(
        _lonlat_block,
        y[:, None],
        x=grid.x(),
        crs_wkt=grid.crs_wkt,
        new_axis=0,
        chunks=((2,), y.chunks[0], (grid.nx,)),
        dtype="float64",
    )
    return lonlat[0], lonlat[1]


def build_dataset(
    paths: list[Path],
    grid: Grid,
    variables: dict[str, tuple[list[Layer | None], dict]],
    times: dict[str, tuple[list, dict]],
    attrs: dict,
) -> xr.Dataset:
    """Stack per-file layers lazily along time and attach the grid.

    Parameters
    ----------
    paths : list of Path
        One file per time step, in time order.
    grid : Grid
        The grid every file shares.
    variables : dict
        Variable name → (one :class:`Layer` or None per file, attributes).
    times : dict
        Per-time coordinate name (``"time"`` first) → (one timestamp per file, attributes).
    attrs : dict
        Dataset attributes.
    """
    data_vars = {}
    for name, (layers, var_attrs) in variables.items():
        reader = functools.partial(_read_stacked, dict(zip(map(str, paths), layers)), grid.shape)
        data = lazy_stack(paths, reader, grid.shape, dtype="float32")
        data_vars[name] = (("time", "y", "x"), data, var_attrs)
    coords = {
        name: ("time", pd.DatetimeIndex(values).as_unit("ns"), coord_attrs) for name, (values, coord_attrs) in times.items()
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    lon, lat = lazy_lonlat(grid)
    return attach_grid(ds, grid.x(), grid.y(), pyproj.CRS.from_wkt(grid.crs_wkt), lat=lat, lon=lon)


def check_same_product(paths: list[Path], products: list[tuple[str, pd.Timedelta | None]]) -> None:
    """Raise :class:`DataFormatError` naming the first file whose (quantity, accumulation interval) differs."""
    for path, product in zip(paths[1:], products[1:]):
        if product != products[0]:
            raise DataFormatError(
                path,
                f"holds {product[0]} (accumulation interval {product[1]}) but {paths[0]} holds {products[0][0]} "
                f"(accumulation interval {products[0][1]}); open them as separate sequences",
            )


def accumulation_window(path: Path, start, end: pd.Timestamp, fallback, missing: str) -> pd.Timedelta:
    """``end - start`` when the file states a window, else ``fallback`` (the user's ``accumulation_interval``).

    Raises :class:`DataFormatError` saying what is ``missing`` when there is neither.
    """
    if start is not None and end > start:
        return end - start
    if fallback is None:
        raise DataFormatError(
            path, f"{missing}: the accumulation interval is unknown; pass accumulation_interval= (e.g. '1h')"
        )
    return pd.Timedelta(fallback)


def text(value) -> str:
    """An HDF5 string attribute as ``str`` (fixed-length bytes, NUL padded)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("ascii", errors="replace")
    return str(value).strip("\x00 ")


def scalar(value):
    """An HDF5 attribute as a Python scalar: one-element arrays unwrapped, bytes decoded."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, (bytes, np.bytes_, str)):
        return text(value)
    return value.item() if isinstance(value, np.generic) else value
