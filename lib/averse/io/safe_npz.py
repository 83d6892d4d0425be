"""Read ``.npz`` archives without ever running code stored in them.

``np.load(allow_pickle=True)`` unpickles object arrays with the full pickle
machinery: a file someone sent you can name any importable callable and have
it run. MeteoNet stores its ``dates`` and ``miss_dates`` as pickled object
arrays of :class:`datetime.datetime` (or :class:`datetime.date`), so this
module reads such members with :class:`DatetimeUnpickler`, whose
``find_class`` resolves only the handful of globals a numpy object array of
dates needs and refuses anything else with a :class:`DataFormatError` naming
the file and the refused global. Numeric members are read with
``allow_pickle=False`` semantics (plain bytes), and their leading-axis slabs
can be read without loading the whole member (:func:`read_slab`), which the
lazy readers use.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from averse.errors import DataFormatError

__all__ = [
    "DatetimeUnpickler",
    "MemberHeader",
    "member_headers",
    "read_member",
    "read_npz",
    "read_slab",
]

try:  # numpy >= 2 moved the module; pickles written by numpy 1 name the old one
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct



def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``: protocol-2 pickles spell bytes as latin-1 text."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


# (module, name) -> object: everything an object array of dates/datetimes needs.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("datetime", "datetime"): _dt.datetime,
    ("datetime", "date"): _dt.date,
    ("datetime", "time"): _dt.time,
    ("datetime", "timedelta"): _dt.timedelta,
    ("datetime", "timezone"): _dt.timezone,
}
_ALLOWED_ITEM_TYPES = (_dt.date, _dt.time, _dt.timedelta)
_MAX_HEADER_SIZE = 10_000


class DatetimeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that only builds numpy arrays of dates.

    Parameters
    ----------
    file : binary file
        The pickle stream.
    source : str or Path
        The file the stream comes from, named in errors.
    """

    def __init__(self, file, source: str | Path):
        # latin1 lets pickles written by Python 2 decode their datetime bytes.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataFormatError(
                self.source,
                f"refused to unpickle global '{module}.{name}': only numpy arrays of "
                "datetime/date objects are accepted in an .npz member",
            ) from None

    def persistent_load(self, pid):
        raise DataFormatError(self.source, "refused a pickle with persistent ids")


@dataclass(frozen=True)
class MemberHeader:
    """The ``.npy`` header of one archive member.

    Attributes
    ----------
    name : str
        Member name without ``.npy``.
    shape : tuple of int
    dtype : numpy.dtype
    fortran_order : bool
    data_offset : int
        Byte offset of the array data inside the (uncompressed) member.
    """

    name: str
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    data_offset: int


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataFormatError(path, f"not a readable .npz (zip) archive: {exc}") from exc


def _member_file(path: Path, archive: zipfile.ZipFile, name: str):
    try:
        return archive.open(f"{name}.npy")
    except KeyError:
        raise DataFormatError(path, f"archive has no member '{name}.npy' (members: {archive.namelist()})") from None


def _read_header(path: Path, name: str, fh) -> MemberHeader:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER_SIZE)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER_SIZE)
        else:
            raise DataFormatError(path, f"member '{name}.npy' uses unsupported .npy format version {version}")
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(path, f"member '{name}.npy' has no valid .npy header: {exc}") from exc
    return MemberHeader(name, tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran_order), fh.tell())


def member_headers(path: str | Path) -> dict[str, MemberHeader]:
    """Headers of every ``.npy`` member of an archive (no array data is read).

    Raises
    ------
    DataFormatError
        When the file is not a zip archive or a member has no valid header.
    """
    path = Path(path)
    with _open_zip(path) as archive:
        headers = {}
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[: -len(".npy")]
            with archive.open(info) as fh:
                headers[name] = _read_header(path, name, fh)
        return headers


def _read_exact(path: Path, fh, nbytes: int, what: str) -> bytes:
    try:
        raw = fh.read(nbytes)
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, OSError
        raise DataFormatError(path, f"{what} is corrupt: {exc}") from exc
    if len(raw) != nbytes:
        raise DataFormatError(path, f"{what} is truncated: {len(raw)} of {nbytes} bytes")
    return raw


def _unpickle_dates(path: Path, header: MemberHeader, fh) -> np.ndarray:
    try:
        array = DatetimeUnpickler(fh, path).load()
    except DataFormatError:
        raise
    except Exception as exc:  # any failure of a hostile or broken stream
        raise DataFormatError(path, f"member '{header.name}.npy' holds an unreadable pickle: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype != object:
        raise DataFormatError(path, f"member '{header.name}.npy' does not unpickle to an object array")
    if array.shape != header.shape:
        raise DataFormatError(path, f"member '{header.name}.npy' unpickles to shape {array.shape}, header says {header.shape}")
    bad = [item for item in array.ravel() if not isinstance(item, _ALLOWED_ITEM_TYPES)]
    if bad:
        raise DataFormatError(path, f"member '{header.name}.npy' holds {type(bad[0]).__name__} items; only dates are accepted")
    return array


def read_member(path: str | Path, name: str) -> np.ndarray:
    """Read one member of an ``.npz`` archive safely.

    Numeric members are read as raw bytes; object members are unpickled with
    :class:`DatetimeUnpickler` (dates only).

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.
    name : str
        Member name without ``.npy`` (``"dates"``).

    Raises
    ------
    DataFormatError
        Missing member, bad header, truncated data, or a pickle that names
        anything other than numpy arrays of dates.
    """
    path = Path(path)
    with _open_zip(path) as archive, _member_file(path, archive, name) as fh:
        header = _read_header(path, name, fh)
        if header.dtype.hasobject:
            return _unpickle_dates(path, header, fh)
        count = int(np.prod(header.shape, dtype=np.int64))
        raw = _read_exact(path, fh, count * header.dtype.itemsize, f"member '{name}.npy'")
    order = "F" if header.fortran_order else "C"
    return np.frombuffer(raw, dtype=header.dtype).reshape(header.shape, order=order).copy()


_CHECKPOINT_EVERY = 32 * 2**20  # uncompressed bytes between saved decompressor states (~40 kB each)
_READ_BLOCK = 2**20
_INDEXES: OrderedDict = OrderedDict()  # (file, member, mtime, size) -> _DeflateIndex, least recently used first
_INDEXES_LOCK = threading.Lock()
_MAX_INDEXES = 32


class _DeflateIndex:
    """Random access into a deflated zip member through saved decompressor states.

    A deflate stream can only be entered at its start, so reading frames near
    the end of a multi-GB member would inflate everything before them, for
    every slab. This index saves a copy of the decompressor every
    ``_CHECKPOINT_EVERY`` uncompressed bytes as reads pass by; a later read
    resumes from the nearest checkpoint before it, so reading all slabs in
    any order inflates the member about once.
    """

    def __init__(self, path: Path, info: zipfile.ZipInfo):
        self.path = path
        with path.open("rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise DataFormatError(path, f"member '{info.filename}' has no valid local zip header")
        start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        self.end = start + info.compress_size
        # (uncompressed position, file offset of the next compressed byte, decompressor, fed but unconsumed bytes)
        self.checkpoints = [(0, start, zlib.decompressobj(-zlib.MAX_WBITS), b"")]
        self.lock = threading.Lock()

    def _save(self, checkpoint: tuple) -> None:
        bucket = checkpoint[0] // _CHECKPOINT_EVERY
        with self.lock:
            if all(c[0] // _CHECKPOINT_EVERY != bucket for c in self.checkpoints):
                self.checkpoints.append(checkpoint)

    def read(self, offset: int, nbytes: int, what: str) -> bytes:
        """``nbytes`` uncompressed bytes from ``offset``."""
        stop = offset + nbytes
        with self.lock:
            position, source, decompressor, pending = max(
                (c for c in self.checkpoints if c[0] <= offset), key=lambda c: c[0]
            )
            decompressor = decompressor.copy()
        out = bytearray()
        with self.path.open("rb") as fh:
            fh.seek(source)
            while position < stop:
                if not pending:
                    pending = fh.read(max(0, min(_READ_BLOCK, self.end - source)))
                    source += len(pending)
                    if not pending or decompressor.eof:
                        raise DataFormatError(self.path, f"{what} is truncated at byte {position} of the member")
                try:
                    block = decompressor.decompress(pending, _READ_BLOCK * 4)
                except zlib.error as exc:
                    raise DataFormatError(self.path, f"{what} is corrupt: {exc}") from exc
                pending = decompressor.unconsumed_tail
                if position + len(block) > offset:
                    out += block[max(offset - position, 0) : stop - position]
                position += len(block)
                if position // _CHECKPOINT_EVERY > (position - len(block)) // _CHECKPOINT_EVERY:
                    self._save((position, source, decompressor.copy(), pending))
        return bytes(out)


def _deflate_index(path: Path, info: zipfile.ZipInfo) -> _DeflateIndex:
    stat = path.stat()
    key = (str(path.resolve()), info.filename, stat.st_mtime_ns, stat.st_size)
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = _DeflateIndex(path, info)
            if len(_INDEXES) > _MAX_INDEXES:
                _INDEXES.popitem(last=False)
        _INDEXES.move_to_end(key)
        return _INDEXES[key]


def read_slab(path: str | Path, header: MemberHeader, start: int, stop: int) -> np.ndarray:
    """Read ``array[start:stop]`` of a numeric member without reading the rest.

    A stored member is read by seeking; a deflated one (``np.savez_compressed``,
    as MeteoNet ships) through a :class:`_DeflateIndex` of decompressor
    checkpoints kept for the session, so that reading every slab of a large
    member inflates it about once instead of once per slab.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.
    header : MemberHeader
        The member's header, from :func:`member_headers`.
    start, stop : int
        Range along the first axis.
    """
    path = Path(path)
    if header.dtype.hasobject:
        raise DataFormatError(path, f"member '{header.name}.npy' is an object array; use read_member")
    if not 0 <= start <= stop <= header.shape[0]:
        raise IndexError(f"frames {start}:{stop} outside the {header.shape[0]} of member '{header.name}.npy' in {path}")
    if header.fortran_order:
        return read_member(path, header.name)[start:stop]
    frame_shape = header.shape[1:]
    frame_bytes = int(np.prod(frame_shape, dtype=np.int64)) * header.dtype.itemsize
    offset, nbytes = header.data_offset + start * frame_bytes, (stop - start) * frame_bytes
    what = f"member '{header.name}.npy' (frames {start}:{stop})"
    with _open_zip(path) as archive:
        info = archive.getinfo(f"{header.name}.npy")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            raw = _deflate_index(path, info).read(offset, nbytes, what)
        else:
            with _member_file(path, archive, header.name) as fh:
                try:
                    fh.seek(offset)
                except Exception as exc:  # zlib.error / BadZipFile while skipping forward
                    raise DataFormatError(path, f"{what} is corrupt: {exc}") from exc
                raw = _read_exact(path, fh, nbytes, what)
    return np.frombuffer(raw, dtype=header.dtype).reshape((stop - start, *frame_shape)).copy()


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every member of an archive, read safely (see :func:`read_member`)."""
    return {name: read_member(path, name) for name in member_headers(path)}
