"""Reader of MNIST-style IDX files (raw or gzip-compressed).

IDX: a big-endian header — two zero bytes, a type code (0x08 uint8, 0x09 int8,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
dimensions — then one big-endian uint32 per dimension, then the values in C
order. MNIST images are magic 2051 (uint8, 3 dims: n × 28 × 28), labels magic
2049 (uint8, 1 dim). Headers are read eagerly and checked against the file
length (the gzip trailer's ISIZE for ``.gz``); values are read lazily.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from averse.errors import DataFormatError, InconsistentGridError
from averse.io import expand_paths

__all__ = ["NAME", "sniff", "open", "read_idx_header"]

NAME = "mnist"
_GZIP_MAGIC = b"\x1f\x8b"
_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class IdxHeader:
    """Shape and type of an IDX file.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy.dtype
        Big-endian as stored.
    compressed : bool
        Whether the file is gzip-compressed.
    """

    shape: tuple
    dtype: np.dtype
    compressed: bool

    @property
    def nbytes(self) -> int:
        """Length of the uncompressed file: header plus values."""
        return 4 + 4 * len(self.shape) + int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _open(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else path.open("rb")


def read_idx_header(path: str | Path) -> IdxHeader:
    """Read and check the header of an IDX file.

    Raises
    ------
    DataFormatError
        Bad magic number, unknown type code, or a length that does not match
        the header (truncated or padded file).
    """
    path = Path(path)
    compressed = _is_gzip(path)
    try:
        with _open(path, compressed) as fh:
            magic = fh.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _TYPES or not 1 <= magic[3] <= 4:
                raise DataFormatError(path, f"not an IDX file: magic bytes {magic.hex()}")
            raw_dims = fh.read(4 * magic[3])
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(path, f"unreadable IDX file: {exc}") from exc
    if len(raw_dims) < 4 * magic[3]:
        raise DataFormatError(path, "truncated IDX header")
    header = IdxHeader(struct.unpack(f">{magic[3]}I", raw_dims), np.dtype(_TYPES[magic[2]]), compressed)
    length = _uncompressed_length(path) if compressed else path.stat().st_size
    if length != (header.nbytes % 2**32 if compressed else header.nbytes):
        raise DataFormatError(
            path, f"file holds {length} bytes but its header {header.shape} {header.dtype} needs {header.nbytes}: truncated or corrupt"
        )
    return header


def _uncompressed_length(path: Path) -> int:
    """ISIZE of the gzip trailer: the uncompressed length modulo 2**32."""
    with path.open("rb") as fh:
        fh.seek(-4, 2)
        return struct.unpack("<I", fh.read(4))[0]


def sniff(path) -> bool:
    """True for an IDX file (raw or gzip) with 1 or 3 dimensions and a consistent length."""
    try:
        return len(read_idx_header(path).shape) in (1, 3)
    except (DataFormatError, OSError):
        return False


def _read_values(path: Path, header: IdxHeader) -> np.ndarray:
    try:
        with _open(path, header.compressed) as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(path, f"corrupt IDX data: {exc}") from exc
    if len(raw) != header.nbytes:
        raise DataFormatError(path, f"IDX data truncated: {len(raw)} of {header.nbytes} bytes")
    values = np.frombuffer(raw, dtype=header.dtype, offset=4 + 4 * len(header.shape)).reshape(header.shape)
    return values.astype(header.dtype.newbyteorder("="))


def _lazy(files: list[Path], ndim: int) -> da.Array:
    parts = []
    for path in files:
        header = read_idx_header(path)
        if len(header.shape) != ndim:
            raise DataFormatError(path, f"expected an IDX file of {ndim} dimension(s), found shape {header.shape}")
        native = header.dtype.newbyteorder("=")
        parts.append(da.from_delayed(dask.delayed(_read_values, pure=True)(path, header), header.shape, native))
    shapes = {part.shape[1:] for part in parts}
    if len(shapes) > 1:
        raise InconsistentGridError(files[-1], f"IDX files of different sample shapes {sorted(shapes)}")
    return da.concatenate(parts, axis=0)


def open(paths, labels=None) -> xr.Dataset:
    """Open IDX image files (and their labels) as a lazy dataset.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        IDX files of images (3 dims), concatenated along ``sample``; or label
        files (1 dim), giving a dataset with ``label`` only.
    labels : path or list of paths, optional
        IDX label files matching the images, in the same order.

    Returns
    -------
    xr.Dataset
        ``image`` on ``(sample, y, x)`` (uint8 for MNIST) and ``label`` on
        ``(sample,)`` when labels are given.

    Raises
    ------
    DataFormatError
        Bad magic, truncated file, or label and image counts that differ.
    """
    files = expand_paths(paths)
    if len(read_idx_header(files[0]).shape) == 1:
        if labels is not None:
            raise DataFormatError(files[0], "is a label file; pass the images as paths and this file as labels=")
        return xr.Dataset({"label": (("sample",), _lazy(files, 1), {"long_name": "class label"})})
    images = _lazy(files, 3)
    ds = xr.Dataset({"image": (("sample", "y", "x"), images, {"long_name": "image", "units": "1"})})
    if labels is not None:
        label_files = expand_paths(labels)
        label_values = _lazy(label_files, 1)
        if label_values.shape[0] != images.shape[0]:
            raise DataFormatError(
                label_files[0], f"{label_values.shape[0]} labels for {images.shape[0]} images in {[str(f) for f in files]}"
            )
        ds["label"] = (("sample",), label_values, {"long_name": "class label"})
    ds.attrs.update(files=[str(p) for p in files])
    return ds
