"""Readers of the file formats averse works with, one module per format.

Each reader module defines::

    NAME: str                      # registry name used in data_catalog.yaml
    def sniff(path) -> bool        # cheap check: is this file in my format?
    def open(paths, **kwargs)      # -> xr.Dataset or xr.DataTree following averse.datamodel

Readers are looked up by name (:func:`get_reader`), the way pysteps looks up
its importers. A reader whose optional dependency is missing is skipped at
registration, so the rest of averse still imports.
"""

from __future__ import annotations

import glob as _glob
import importlib
import os
from pathlib import Path
from types import ModuleType

from averse.errors import AverseError, DataFormatError, DataNotFoundError

__all__ = ["get_reader", "readers", "sniff", "open_path", "expand_paths"]

# registry name -> module (relative to averse.io); order matters for sniffing.
_MODULES = {
    "twin": "averse.twin.reader",
    "odim": "averse.io.odim",
    "knmi": "averse.io.knmi",
    "meteonet": "averse.io.meteonet",
    "meteonet_grib": "averse.io.meteonet_grib",
    "nwcsaf_crr": "averse.io.nwcsaf",
    "imerg": "averse.io.imerg",
    "gpm_1c": "averse.io.gpm",
    "gpm_2a": "averse.io.gpm",
    "mnist": "averse.io.mnist",
}
_MISSING: dict[str, str] = {}


def _load(name: str) -> ModuleType:
    try:
        module_name = _MODULES[name]
    except KeyError:
        raise AverseError(f"unknown reader {name!r}; known readers: {', '.join(_MODULES)}") from None
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        _MISSING[name] = str(exc)
        raise AverseError(f"reader {name!r} is unavailable: {exc}") from exc


class _Reader:
    """A registry view binding a module's ``open``/``sniff`` and its product kind."""

    def __init__(self, name: str, module: ModuleType):
        self.name = name
        self.module = module

    def sniff(self, path) -> bool:
        sniffer = getattr(self.module, f"sniff_{self.name}", None) or self.module.sniff
        return bool(sniffer(path))

    def open(self, paths, **kwargs):
        opener = getattr(self.module, f"open_{self.name}", None) or self.module.open
        return opener(paths, **kwargs)

    def __repr__(self) -> str:
        return f"<averse reader {self.name!r} from {self.module.__name__}>"


def get_reader(name: str) -> _Reader:
    """Reader registered under ``name`` (see ``data_catalog.yaml``)."""
    return _Reader(name, _load(name))


def readers() -> list[str]:
    """Names of every registered reader."""
    return list(_MODULES)


def expand_paths(paths) -> list[Path]:
    """Expand a path, a folder, a glob or a list of them into a sorted list of files."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for item in paths:
        text = os.fspath(item)
        if any(ch in text for ch in "*?["):
            out.extend(Path(p) for p in sorted(_glob.glob(text)))
        elif Path(text).is_dir():
            out.extend(sorted(p for p in Path(text).iterdir() if p.is_file()))
        else:
            out.append(Path(text))
    if not out:
        raise DataNotFoundError(f"no file matches {paths!r}")
    return out


def sniff(path) -> str:
    """Name of the reader that recognises ``path``.

    Raises
    ------
    DataFormatError
        When no reader recognises the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file")
    for name in _MODULES:
        if name == "twin":
            continue
        try:
            reader = get_reader(name)
        except AverseError:
            continue
        try:
            if reader.sniff(path):
                return name
        except Exception:  # a sniffer must never stop the search
            continue
    raise DataFormatError(path, "format not recognised by any averse reader " f"({', '.join(n for n in _MODULES if n != 'twin')})")


def open_path(path_or_glob, **kwargs):
    """Open a file, folder or glob with the reader that recognises its first file."""
    files = expand_paths(path_or_glob)
    reader = kwargs.pop("reader", None) or sniff(files[0])
    return get_reader(reader).open(files, **kwargs)
