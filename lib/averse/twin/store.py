"""Zarr storage of the twin world: layout, encodings, block writes and atomic publishing.

A twin store is a zarr DataTree: ``/static``, ``/truth``, ``/radar`` and the
sensor groups. Time-dependent groups are chunked one chunk per block of time
steps × full space (tiled above 512 cells), created empty first (metadata and
coordinates only) and then filled block by block, each block written by one
task to whole chunks, so blocks can be written in parallel by any Dask worker.

Floats are stored with their mantissa rounded to the precision the data carry
(``keep_bits``), which lets Blosc/Zstd compress them several times without any
loss that matters.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

__all__ = ["keep_bits", "create_time_group", "write_block", "publish", "temporary_path", "COMPRESSOR", "SPATIAL_TILE"]

COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
SPATIAL_TILE = 512


def keep_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to ``bits`` mantissa bits (round to nearest); NaN and 0 are kept.

    Parameters
    ----------
    values : ndarray, float32
    bits : int
        Mantissa bits kept, 1..23 (relative precision ``2**-bits``).
    """
    values = np.ascontiguousarray(values, dtype="float32")
    drop = 23 - int(bits)
    if drop <= 0:
        return values
    raw = values.view(np.uint32)
    rounded = (raw + np.uint32(1 << (drop - 1))) & np.uint32((0xFFFFFFFF << drop) & 0xFFFFFFFF)
    out = rounded.view(np.float32)
    return np.where(np.isfinite(values), out, values)


def create_time_group(
    path: Path,
    group: str,
    variables: dict[str, dict],
    times: np.ndarray,
    grid: xr.Dataset,
    block_steps: int,
    attrs: dict,
) -> None:
    """Create an empty ``(time, y, x)`` group: metadata and coordinates, no data.

    Parameters
    ----------
    path : Path
        The zarr store.
    group : str
        Group name (``"truth"``, ``"radar"``).
    variables : dict
        Name -> attributes of each float32 variable.
    times : ndarray of datetime64
        Time coordinate (end of each interval, UTC).
    grid : xr.Dataset
        A dataset carrying the grid coordinates (``x``, ``y``, ``lat``, ``lon``, ``spatial_ref``).
    block_steps : int
        Time steps per chunk.
    attrs : dict
        Group attributes.
    """
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    chunks = (block_steps, min(ny, SPATIAL_TILE), min(nx, SPATIAL_TILE))
    shape = (len(times), ny, nx)
    data_vars = {
        name: (
            ("time", "y", "x"),
            da.zeros(shape, chunks=chunks, dtype="float32"),
            dict(var_attrs, grid_mapping="spatial_ref"),
        )
        for name, var_attrs in variables.items()
    }
    coords = {name: grid[name] for name in ("x", "y", "lat", "lon", "spatial_ref")}
    coords["time"] = ("time", times, {"standard_name": "time", "long_name": "end of the averaging interval (UTC)"})
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    encoding = {name: {"chunks": chunks, "compressors": [COMPRESSOR]} for name in variables}
    encoding["time"] = {"units": "minutes since 1970-01-01 00:00:00", "dtype": "int64"}
    ds.to_zarr(path, group=group, mode="w", compute=False, encoding=encoding, consolidated=False)


def write_block(path: Path, group: str, start: int, arrays: dict[str, np.ndarray], bits: dict[str, int]) -> None:
    """Write a block of time steps (whole chunks along time) into an existing group.

    Parameters
    ----------
    path : Path
        The zarr store.
    group : str
        Group created by :func:`create_time_group`.
    start : int
        Index of the first time step of the block.
    arrays : dict of ndarray (block, ny, nx)
        The values, by variable name.
    bits : dict of int
        Mantissa bits kept per variable (see :func:`keep_bits`); all bits when absent.
    """
    root = zarr.open_group(str(path), mode="r+")
    for name, values in arrays.items():
        target = root[f"{group}/{name}"]
        target[start : start + values.shape[0]] = keep_bits(values, bits.get(name, 23))


def temporary_path(store: Path) -> Path:
    """A unique sibling path where a store is built before it is published."""
    return store.with_name(f".{store.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def publish(tmp: Path, store: Path, overwrite: bool = False) -> Path:
    """Consolidate the metadata of ``tmp`` and rename it to ``store`` (atomically).

    An existing ``store`` is replaced only with ``overwrite=True``: it is moved
    aside first, then deleted once the new store is in place.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(tmp))
    old = None
    if store.exists():
        if not overwrite:
            raise FileExistsError(f"{store} already exists; pass overwrite=True (regenerate=True) to replace it")
        old = store.with_name(f".{store.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(store, old)
    os.rename(tmp, store)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return store
