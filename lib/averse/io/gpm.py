"""GPM swath products from NASA PPS (HDF5): 1C brightness temperatures and 2A retrievals.

A granule comes back as an :class:`xarray.DataTree`: the root holds the parsed
``FileHeader``/``FileInfo`` metadata, and each swath (``S1``, ``S2`` ... for
radiometers; ``FS``/``HS`` for the V07 DPR, ``NS``/``MS``/``HS`` before V07)
is a child dataset in native swath geometry:

* dims ``scan`` (along track, ``nscan*`` in the file), ``pixel`` (across
  track, ``npixel*``/``nray*``), ``channel`` (1C ``nchannel*``),
  ``range_bin`` (DPR ``nbin*``, coordinate numbered from 1 like the file's
  ``bin*`` index variables), ``radar_frequency`` (``nfreq``: Ku, Ka); any
  other file dimension keeps its ``DimensionNames`` name;
* coordinates ``lat``/``lon`` (geodetic WGS84 degrees, read eagerly) and
  ``time`` per scan, decoded from ``ScanTime/{Year..MilliSecond}`` (UTC; the
  instant of the scan, so rates are instantaneous: ``cell_methods`` is
  ``time: point``);
* every other dataset of the swath (sub-groups ``SLV``, ``PRE``, ``CSF`` ...
  included) as a lazy dask variable under its file name, except a few
  renamed to the averse data model: ``Tc`` -> ``tb`` (K) with a ``channel``
  coordinate carrying ``frequency`` (GHz), ``frequency_offset`` (GHz, for
  double side-band channels such as 183.31 +/- 3 GHz) and ``polarization``;
  ``surfacePrecipitation`` (GPROF) or ``SLV/precipRateNearSurface`` (DPR) ->
  ``precip`` (mm/h); ``SLV/zFactorFinal`` (``zFactorCorrected`` before V07) ->
  ``dbz``; ``Quality`` -> ``quality``; ``incidenceAngle`` -> ``incidence_angle``.

Fill values (``_FillValue``, ``CodeMissingValue``, the PPS -9999.9) become NaN in
floating-point variables and in integer variables that carry ``Units`` (a
physical quantity such as ``probabilityOfPrecip`` in percent), which are read
as float32. Integer variables without units (flags, codes, bin indices) keep
their integer type; their fill code is in ``attrs["fill_value"]``.

Channel frequencies come from the ``LongName`` of ``Tc`` ("1) 10.65 GHz V-Pol
2) ..."), which every 1C file of the PPS toolkit carries; when it cannot be
parsed, a built-in table for GMI, AMSR2, SSMIS, MHS and ATMS (channel order of
the GPM 1C file specification) is used and ``attrs["channel_source"]`` says so.

Several granules of one product are concatenated along ``scan``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize

from averse.datamodel import DBZ_ATTRS, precip_attrs
from averse.errors import DataFormatError
from averse.io import expand_paths
from averse.io._stack import headers_or_skip

__all__ = [
    "PPS_FILL",
    "open_hdf5",
    "parse_pvl",
    "file_header",
    "fill_codes",
    "decode_to_float",
    "clean_text",
    "sniff_gpm_1c",
    "sniff_gpm_2a",
    "open_gpm_1c",
    "open_gpm_2a",
]

PPS_FILL = -9999.9
"""Missing-value code of floating-point fields in every PPS product."""

_SCAN_TIME_FIELDS = ("Year", "Month", "DayOfMonth", "Hour", "Minute", "Second", "MilliSecond")
_COORDINATE_SOURCES = {"Latitude", "Longitude"} | {f"ScanTime/{f}" for f in ("DayOfYear", "SecondOfDay", *_SCAN_TIME_FIELDS)}
_DIM_PATTERNS = (
    (re.compile(r"^nscan\d*$"), "scan"),
    (re.compile(r"^(npixel\d*|nray(HS|MS|NS)?)$"), "pixel"),
    (re.compile(r"^nchannel\d*$"), "channel"),
    (re.compile(r"^nbin(HS|MS|NS)?$"), "range_bin"),
    (re.compile(r"^nfreq$"), "radar_frequency"),
)
_CANONICAL = {
    "Tc": "tb",
    "surfacePrecipitation": "precip",
    "SLV/precipRateNearSurface": "precip",
    "SLV/zFactorFinal": "dbz",
    "SLV/zFactorCorrected": "dbz",
    "Quality": "quality",
    "incidenceAngle": "incidence_angle",
}
_CHANNEL_RE = re.compile(
    r"(\d+)\)\s*([0-9]+(?:\.[0-9]+)?)\s*(?:(?:\+/-|\+-|±)\s*([0-9]+(?:\.[0-9]+)?)\s*)?GHz\s*(Q?[VH])\s*-?\s*Pol",
    re.IGNORECASE,
)
# Channel order of the GPM 1C file specification, used only when Tc's LongName cannot be parsed.
_FALLBACK_CHANNELS = {
    "GMI": {
        "S1": "10.65V 10.65H 18.7V 18.7H 23.8V 36.64V 36.64H 89.0V 89.0H",
        "S2": "166.0V 166.0H 183.31+/-3V 183.31+/-7V",
    },
    "AMSR2": {
        "S1": "10.65V 10.65H", "S2": "18.7V 18.7H", "S3": "23.8V 23.8H",
        "S4": "36.5V 36.5H", "S5": "89.0V 89.0H", "S6": "89.0V 89.0H",
    },
    "SSMIS": {
        "S1": "19.35V 19.35H 22.235V", "S2": "37.0V 37.0H",
        "S3": "150.0H 183.31+/-1H 183.31+/-3H 183.31+/-6.6H", "S4": "91.655V 91.655H",
    },
    "MHS": {"S1": "89.0V 157.0V 183.31+/-1H 183.31+/-3H 190.31V"},
    "ATMS": {
        "S1": "23.8QV", "S2": "31.4QV", "S3": "88.2QV",
        "S4": "165.5QH 183.31+/-7QH 183.31+/-4.5QH 183.31+/-3QH 183.31+/-1.8QH 183.31+/-1QH",
    },
}
_LABEL_RE = re.compile(r"^([0-9.]+)(?:\+/-([0-9.]+))?(Q?[VH])$")
_CHUNK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- shared with averse.io.imerg
def open_hdf5(path: str | os.PathLike) -> h5py.File:
    """Open an HDF5 file read-only, or raise :class:`DataFormatError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise DataFormatError(path, "not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # truncated or corrupted files fail here
        raise DataFormatError(path, f"cannot open as HDF5 (truncated or corrupted?): {exc}") from exc


def clean_text(value) -> str:
    """An HDF5 string attribute as one line of text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return " ".join(str(value).split())


def parse_pvl(text: str | bytes) -> dict[str, str]:
    """Parse PPS metadata text (``key=value;`` records) into a dict of strings."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    out = {}
    for record in re.split(r";\s*", text):
        key, sep, value = record.strip().partition("=")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


def file_header(h5: h5py.File, path: str | os.PathLike) -> dict[str, str | int]:
    """The root ``FileHeader`` and ``FileInfo`` records as attributes.

    Adds ``granule_number`` (int, when the header gives one) and
    ``time_coverage_start``/``time_coverage_end`` (ISO 8601, UTC).

    Raises
    ------
    DataFormatError
        When the file has no ``FileHeader`` (not a PPS product).
    """
    if "FileHeader" not in h5.attrs:
        raise DataFormatError(path, "no FileHeader attribute: not a GPM/PPS product")
    attrs: dict[str, str | int] = parse_pvl(h5.attrs["FileHeader"])
    if "FileInfo" in h5.attrs:
        attrs.update(parse_pvl(h5.attrs["FileInfo"]))
    if str(attrs.get("GranuleNumber", "")).isdigit():
        attrs["granule_number"] = int(attrs["GranuleNumber"])
    for key, name in (("StartGranuleDateTime", "time_coverage_start"), ("StopGranuleDateTime", "time_coverage_end")):
        if attrs.get(key):
            attrs[name] = str(attrs[key])
    return attrs


def fill_codes(dataset: h5py.Dataset) -> tuple:
    """Missing-value codes of a dataset: its ``_FillValue``, ``CodeMissingValue`` and the PPS default."""
    codes = []
    if "_FillValue" in dataset.attrs:
        codes.append(np.asarray(dataset.attrs["_FillValue"]).item())
    if "CodeMissingValue" in dataset.attrs:
        try:
            codes.append(float(clean_text(dataset.attrs["CodeMissingValue"])))
        except ValueError:
            pass
    if dataset.dtype.kind == "f":
        codes.append(PPS_FILL)
    info = np.iinfo(dataset.dtype) if dataset.dtype.kind in "iu" else None
    kept = {c for c in codes if info is None or info.min <= c <= info.max}
    return tuple(sorted(kept))


def decode_to_float(raw: np.ndarray, codes: Iterable[float]) -> np.ndarray:
    """``raw`` as float32 with every missing-value code (compared in the raw dtype) set to NaN."""
    raw = np.asarray(raw)
    out = raw.astype("float32")
    for code in codes:
        out[raw == np.asarray(code).astype(raw.dtype)] = np.nan
    return out


# --------------------------------------------------------------------------- lazy swath variables
class _LazyDataset:
    """A picklable view of one HDF5 dataset that dask reads slice by slice.

    Each read opens the file, reads the hyperslab and closes it, so the graph
    holds no open handle and runs on any worker that sees the file.
    """

    def __init__(self, path: Path, name: str, shape: tuple, dtype, codes: tuple | None):
        self.path, self.name, self.shape, self.codes = str(path), name, shape, codes
        self.dtype = np.dtype("float32") if codes is not None else np.dtype(dtype)
        self.ndim = len(shape)

    def __getitem__(self, key):
        with h5py.File(self.path, "r") as h5:
            raw = h5[self.name][key]
        return decode_to_float(raw, self.codes) if self.codes is not None else raw


def _lazy(path: Path, dataset: h5py.Dataset, as_float: bool) -> da.Array:
    shape = tuple(dataset.shape)
    codes = fill_codes(dataset) if as_float else None
    source = _LazyDataset(path, dataset.name, shape, dataset.dtype, codes)
    scan_bytes = max(1, int(np.prod(shape[1:], dtype="int64")) * source.dtype.itemsize)
    chunks = (max(1, min(shape[0], _CHUNK_BYTES // scan_bytes)),) + shape[1:] if shape else ()
    name = "gpm-" + tokenize(str(path), os.path.getmtime(path), dataset.name, as_float)
    return da.from_array(source, chunks=chunks, name=name, meta=np.empty((0,) * len(shape), source.dtype))


def _dim_names(dataset: h5py.Dataset, leaf: str) -> tuple[str, ...]:
    declared = clean_text(dataset.attrs.get("DimensionNames", "")).replace(" ", "")
    names = declared.split(",") if declared else []
    if len(names) != dataset.ndim:
        names = ["nscan", "npixel"][: dataset.ndim] + [f"{leaf}_dim{i}" for i in range(2, dataset.ndim)]
    out = []
    for name in names:
        for pattern, canonical in _DIM_PATTERNS:
            if pattern.match(name):
                name = canonical
                break
        out.append(name)
    return tuple(out)


def _variable_attrs(dataset: h5py.Dataset, relative: str, canonical: str) -> dict:
    units = clean_text(dataset.attrs.get("Units", dataset.attrs.get("units", "")))
    attrs = {"original_name": relative}
    if "LongName" in dataset.attrs:
        attrs["long_name"] = clean_text(dataset.attrs["LongName"])
    if canonical == "precip":
        attrs.update(precip_attrs(None, "rate", original_name=relative, original_units=units or "mm/hr"))
    elif canonical == "dbz":
        attrs.update(DBZ_ATTRS, original_name=relative)
    elif units:
        attrs["units"] = units
    return attrs


def _channel_table(longname: str, instrument: str, swath: str, size: int) -> tuple[list[str], str]:
    """Channel labels (``"89.0V"``, ``"183.31+/-3V"``) and where they came from."""
    found = _CHANNEL_RE.findall(longname)
    if len(found) == size and [int(n) for n, *_ in found] == list(range(1, size + 1)):
        labels = [f"{freq}{'+/-' + offset if offset else ''}{pol.upper()}" for _, freq, offset, pol in found]
        return labels, "Tc LongName"
    fallback = _FALLBACK_CHANNELS.get(instrument.upper(), {}).get(swath, "").split()
    if len(fallback) == size:
        return fallback, f"built-in {instrument} table (GPM 1C file specification order)"
    return [f"{swath}_ch{i + 1}" for i in range(size)], "unknown (LongName not parsed, no table)"


def _channel_coords(labels: list[str]) -> dict:
    freq, offset, pol = [], [], []
    for label in labels:
        match = _LABEL_RE.match(label)
        freq.append(float(match.group(1)) if match else np.nan)
        offset.append(float(match.group(2) or 0.0) if match else np.nan)
        pol.append(match.group(3) if match else "")
    return {
        "channel": ("channel", np.array(labels, dtype=str)),
        "frequency": ("channel", np.array(freq), {"units": "GHz", "long_name": "centre frequency"}),
        "frequency_offset": ("channel", np.array(offset), {"units": "GHz", "long_name": "side-band offset from the centre (0: single band)"}),
        "polarization": ("channel", np.array(pol, dtype=str), {"long_name": "V, H, or QV/QH (quasi-vertical/horizontal)"}),
    }


def _scan_times(group: h5py.Group, path: Path) -> np.ndarray:
    """UTC time of each scan from ``ScanTime``; missing fields give NaT."""
    if "ScanTime" not in group:
        raise DataFormatError(path, f"swath {group.name} has no ScanTime group")
    fields = {}
    for name in _SCAN_TIME_FIELDS:
        if name not in group["ScanTime"]:
            raise DataFormatError(path, f"swath {group.name} lacks ScanTime/{name}")
        fields[name] = group["ScanTime"][name][()].astype("int64")
    valid = (fields["Year"] > 0) & (fields["Month"] >= 1) & (fields["DayOfMonth"] >= 1)
    for name in ("Hour", "Minute", "Second", "MilliSecond"):
        valid &= fields[name] >= 0
    dates = pd.to_datetime(
        {"year": np.where(valid, fields["Year"], 1970), "month": np.where(valid, fields["Month"], 1),
         "day": np.where(valid, fields["DayOfMonth"], 1)},
        errors="coerce",
    )
    # Seconds are added as an offset so that a leap second (Second == 60) rolls over instead of failing.
    offset = (fields["Hour"] * 3600 + fields["Minute"] * 60 + fields["Second"]) * 1000 + fields["MilliSecond"]
    times = dates.to_numpy().astype("datetime64[ns]") + offset.astype("timedelta64[ms]")
    times[~valid] = np.datetime64("NaT")
    return times


def _geolocation(group: h5py.Group, path: Path) -> dict:
    coords = {}
    for name, attrs in (("Latitude", {"standard_name": "latitude", "units": "degrees_north"}),
                        ("Longitude", {"standard_name": "longitude", "units": "degrees_east"})):
        if name not in group:
            raise DataFormatError(path, f"swath {group.name} has no {name} dataset")
        values = decode_to_float(group[name][()], fill_codes(group[name])).astype("float64")
        coords[name[:3].lower()] = (("scan", "pixel"), values, attrs)
    return coords


def _read_swath(h5: h5py.File, path: Path, swath: str, instrument: str, variables: set[str] | None) -> xr.Dataset:
    group = h5[swath]
    datasets: dict[str, h5py.Dataset] = {}

    def collect(name: str, obj) -> None:  # visititems stops at the first non-None return
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj

    group.visititems(collect)
    leaves = [name.rsplit("/", 1)[-1] for name in datasets]
    data_vars = {}
    for relative, dataset in datasets.items():
        if relative in _COORDINATE_SOURCES or dataset.ndim == 0:
            continue
        leaf = relative.rsplit("/", 1)[-1]
        canonical = _CANONICAL.get(relative)
        name = canonical or (leaf if leaves.count(leaf) == 1 else relative.replace("/", "_"))
        if variables is not None and name not in variables:
            continue
        as_float = dataset.dtype.kind == "f" or "Units" in dataset.attrs
        attrs = _variable_attrs(dataset, relative, canonical)
        if not as_float:
            codes = fill_codes(dataset)
            if codes:
                attrs["fill_value"] = codes[0]
        data_vars[name] = (_dim_names(dataset, leaf), _lazy(path, dataset, as_float), attrs)
    ds = xr.Dataset(data_vars, coords=_geolocation(group, path))
    ds = ds.assign_coords(time=("scan", _scan_times(group, path), {"standard_name": "time", "comment": "UTC time of the scan"}))
    if "channel" in ds.dims and "tb" in ds:
        labels, source = _channel_table(ds["tb"].attrs.get("long_name", ""), instrument, swath, ds.sizes["channel"])
        ds = ds.assign_coords(_channel_coords(labels))
        ds["tb"].attrs.update(units="K", standard_name="brightness_temperature", channel_source=source)
    if "range_bin" in ds.dims:
        ds = ds.assign_coords(range_bin=("range_bin", np.arange(1, ds.sizes["range_bin"] + 1),
                                         {"long_name": "range bin number, 1 = top (as the file's bin* variables)"}))
    if ds.sizes.get("radar_frequency") == 2:
        ds = ds.assign_coords(radar_frequency=("radar_frequency", np.array(["Ku", "Ka"])))
    return ds


# --------------------------------------------------------------------------- granules and trees
def _product_level(header: dict) -> str:
    return str(header.get("AlgorithmID", ""))[:2].upper()


def _swath_names(h5: h5py.File) -> list[str]:
    return [name for name, obj in h5.items() if isinstance(obj, h5py.Group) and "Latitude" in obj and "Longitude" in obj]


def _read_granule(path: Path, level: str, swaths: Iterable[str] | None,
                  variables: set[str] | None) -> tuple[dict, dict[str, xr.Dataset]]:
    with open_hdf5(path) as h5:
        header = file_header(h5, path)
        found = _product_level(header)
        if found != level:
            raise DataFormatError(path, f"is a level {found or '?'} product (AlgorithmID={header.get('AlgorithmID')!r}), not {level}")
        available = _swath_names(h5)
        if not available:
            raise DataFormatError(path, "no swath group (a group with Latitude and Longitude) in the file")
        wanted = list(swaths) if swaths is not None else available
        missing = [s for s in wanted if s not in available]
        if missing:
            raise DataFormatError(path, f"no swath {missing}; swaths in the file: {available}")
        instrument = str(header.get("InstrumentName", ""))
        read = {s: _read_swath(h5, path, s, instrument, variables) for s in wanted}
    absent = sorted((variables or set()) - {name for ds in read.values() for name in ds.data_vars})
    if absent:
        raise DataFormatError(path, f"no variable {absent} in swaths {wanted}")
    return header, read


def _merge_granules(paths: list[Path], granules: list) -> xr.DataTree:
    headers = [h for h, _ in granules]
    first_header, first_swaths = granules[0]
    for path, (header, swaths) in zip(paths[1:], granules[1:]):
        if header.get("AlgorithmID") != first_header.get("AlgorithmID") or list(swaths) != list(first_swaths):
            raise DataFormatError(path, f"product {header.get('AlgorithmID')} with swaths {list(swaths)} cannot be "
                                        f"concatenated with {first_header.get('AlgorithmID')} {list(first_swaths)} of {paths[0]}")
    root = dict(first_header)
    if len(granules) > 1:
        for key in ("FileName", "GranuleNumber", "granule_number", "StartGranuleDateTime", "StopGranuleDateTime", "GenerationDateTime"):
            root.pop(key, None)
        root["source_files"] = [p.name for p in paths]
        root["granule_numbers"] = [int(h.get("granule_number", -1)) for h in headers]
        root["time_coverage_end"] = str(headers[-1].get("time_coverage_end", ""))
    tree = {"/": xr.Dataset(attrs=root)}
    for swath in first_swaths:
        parts = [swaths[swath] for _, swaths in granules]
        tree[f"/{swath}"] = parts[0] if len(parts) == 1 else xr.concat(
            parts, dim="scan", data_vars="minimal", coords="minimal", compat="override", join="exact")
    return xr.DataTree.from_dict(tree)


def _open_level(paths, level: str, swaths, variables, skip_bad: bool) -> xr.DataTree:
    files = expand_paths(paths)
    wanted = None if variables is None else set(variables)
    kept, granules, skipped = headers_or_skip(files, lambda p: _read_granule(p, level, swaths, wanted), skip_bad)
    tree = _merge_granules(kept, granules)
    if skipped:
        tree.attrs["skipped_files"] = [f"{p}: {r}" for p, r in skipped.items()]
    return tree


def _sniff_level(path, level: str) -> bool:
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as h5:
            return "FileHeader" in h5.attrs and _product_level(parse_pvl(h5.attrs["FileHeader"])) == level and bool(_swath_names(h5))
    except OSError:
        return False


def sniff_gpm_1c(path) -> bool:
    """True for a PPS level-1C radiometer granule (``AlgorithmID=1C...``) with swath groups."""
    return _sniff_level(path, "1C")


def sniff_gpm_2a(path) -> bool:
    """True for a PPS level-2A granule (GPROF, DPR, Ku, Ka ...) with swath groups."""
    return _sniff_level(path, "2A")


def open_gpm_1c(paths, swaths: Iterable[str] | None = None, variables: Iterable[str] | None = None,
                skip_bad: bool = False) -> xr.DataTree:
    """Open 1C radiometer granules (GMI, AMSR2, SSMIS, MHS, ATMS ...) as a tree of swaths.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        One or more granules of one product, concatenated along ``scan`` in order.
    swaths : list of str, optional
        Swaths to read (``["S1"]``); default all.
    variables : list of str, optional
        Variables to keep, by their output name (``["tb", "quality"]``); default
        every dataset of the swath. ``lat``, ``lon`` and ``time`` always come.
    skip_bad : bool
        Skip unreadable granules (listed in ``attrs["skipped_files"]``) instead of raising.

    Returns
    -------
    xr.DataTree
        Root attrs from ``FileHeader``/``FileInfo``; one child per swath with
        ``tb`` (scan, pixel, channel) in K and the coordinates described in the module docstring.

    Raises
    ------
    DataFormatError
        Not HDF5, truncated, not a 1C product, or a requested swath or variable is missing.
    """
    return _open_level(paths, "1C", swaths, variables, skip_bad)


def open_gpm_2a(paths, swaths: Iterable[str] | None = None, variables: Iterable[str] | None = None,
                skip_bad: bool = False) -> xr.DataTree:
    """Open 2A granules (GPROF radiometer retrievals, DPR/Ku/Ka radar) as a tree of swaths.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        One or more granules of one product, concatenated along ``scan`` in order.
    swaths : list of str, optional
        Swaths to read (``["FS"]``); default all.
    variables : list of str, optional
        Variables to keep, by their output name (``["precip", "dbz"]``); a
        granule has about 140 radar variables per swath, and each costs a few
        milliseconds to open. Default all. ``lat``, ``lon`` and ``time`` always come.
    skip_bad : bool
        Skip unreadable granules (listed in ``attrs["skipped_files"]``) instead of raising.

    Returns
    -------
    xr.DataTree
        One child per swath with ``precip`` (scan, pixel) in mm/h, and for the
        radar ``dbz`` (scan, pixel, range_bin[, radar_frequency]).

    Raises
    ------
    DataFormatError
        Not HDF5, truncated, not a 2A product, or a requested swath or variable is missing.
    """
    return _open_level(paths, "2A", swaths, variables, skip_bad)
