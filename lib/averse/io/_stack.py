"""Lazy stacking of per-file 2-D fields along time, shared by the grid readers.

A sequence is opened by reading each file's header eagerly (cheap) and its
data lazily through :func:`dask.delayed`, so that opening hundreds of files
costs no pixel reads. Files that fail are either raised on (default) or skipped
and reported when ``skip_bad=True``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from averse.errors import AverseError, InconsistentGridError

__all__ = ["SkippedFilesWarning", "headers_or_skip", "check_same_grid", "lazy_stack"]


class SkippedFilesWarning(UserWarning):
    """Some files of a sequence were skipped (``skip_bad=True``)."""


def headers_or_skip(
    paths: Sequence[Path], read_header: Callable[[Path], Any], skip_bad: bool
) -> tuple[list[Path], list[Any], dict[str, str]]:
    """Read every header; on failure raise, or skip and record why.

    Returns
    -------
    kept_paths, headers, skipped
        ``skipped`` maps each skipped file to its reason; it is also stored by
        the readers in ``attrs["skipped_files"]`` and reported as a warning.
    """
    kept, headers, skipped = [], [], {}
    for path in paths:
        try:
            headers.append(read_header(Path(path)))
            kept.append(Path(path))
        except (AverseError, OSError, KeyError, ValueError) as exc:
            if not skip_bad:
                raise
            skipped[str(path)] = str(exc)
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} bad file(s): " + "; ".join(f"{p}: {r}" for p, r in skipped.items()),
            SkippedFilesWarning,
            stacklevel=3,
        )
    if not kept:
        raise AverseError("no readable file in the sequence: " + "; ".join(f"{p}: {r}" for p, r in skipped.items()))
    return kept, headers, skipped


def check_same_grid(paths: Sequence[Path], keys: Sequence[tuple], describe: Callable[[Any], str] = str) -> None:
    """Raise :class:`InconsistentGridError` naming the first file whose grid differs."""
    reference = keys[0]
    for path, key in zip(paths[1:], keys[1:]):
        if key != reference:
            raise InconsistentGridError(
                path, f"grid {describe(key)} differs from {describe(reference)} of {paths[0]}; cannot stack them in one sequence"
            )


def lazy_stack(
    paths: Sequence[Path], read_data: Callable[[Path], np.ndarray], shape: tuple[int, ...], dtype="float32"
) -> da.Array:
    """Stack per-file arrays of one ``shape`` into a dask array ``(len(paths), *shape)``."""
    parts = [
        da.from_delayed(dask.delayed(read_data, pure=True)(Path(p)), shape=shape, dtype=dtype)[None]
        for p in paths
    ]
    return da.concatenate(parts, axis=0)
