"""Helpers shared by the score families of :mod:`averse.verify`.

Every score family follows the same pattern: a numpy *kernel* receives the
forecast and the observation with the reduced dims moved to the end (by
:func:`xarray.apply_ufunc`, chunk by chunk when the inputs are dask-backed)
and returns per-case *statistics* (counts, sums); the statistics are summed
over the aggregation dims with xarray, and the scores are computed from the
sums. Aggregating before scoring is the standard way of verifying many cases
(it is what pysteps' ``*_accum`` functions do); an empty ``aggregate_dims``
gives per-case scores.

NaN policy: a pixel where the forecast *or* the observation is NaN is left out
of every score (:func:`pair_valid`). The exceptions follow pysteps and are
documented where they occur (FSS counts NaN as "no event").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import dask.array as da
import numpy as np
import xarray as xr

__all__ = [
    "BLOCK_BYTES",
    "apply_kernel",
    "as_tuple",
    "frame_blocks",
    "frames_of",
    "grid_spacing_km",
    "pair_valid",
    "present",
    "row_nanquantile",
    "split_statistics",
    "units_of",
]

#: Input bytes per field handled at once by the block-wise kernels: small
#: enough to stay in the L2/L3 cache, large enough to amortise numpy calls.
BLOCK_BYTES = 1 << 20

_METRES = {"m", "metre", "metres", "meter", "meters"}
_KILOMETRES = {"km", "kilometre", "kilometres", "kilometer", "kilometers"}


def as_tuple(values: float | str | Iterable) -> tuple:
    """A scalar or an iterable as a tuple."""
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        return (values,)
    return tuple(values)


def present(dims: Iterable[str], *objects: xr.DataArray) -> tuple[str, ...]:
    """The dims of ``dims`` that occur in at least one of ``objects``."""
    found = set().union(*(obj.dims for obj in objects))
    return tuple(dim for dim in dims if dim in found)


def units_of(da: xr.DataArray, default: str = "mm h-1") -> str:
    """The ``units`` attribute of ``da`` (the data model's rain unit if absent)."""
    return str(da.attrs.get("units", default))


def pair_valid(forecast: xr.DataArray, observation: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Set both fields to NaN wherever either of them is NaN (broadcasting)."""
    valid = forecast.notnull() & observation.notnull()
    return forecast.where(valid), observation.where(valid)


def frames_of(array: np.ndarray, n_core: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Split ``array`` into its leading shape and a ``(frames, *core)`` view."""
    lead = array.shape[: array.ndim - n_core]
    return lead, array.reshape((-1,) + array.shape[array.ndim - n_core :])


def frame_blocks(n_frames: int, frame_bytes: int, block_bytes: int = BLOCK_BYTES) -> Iterator[slice]:
    """Consecutive slices of at most ``block_bytes // frame_bytes`` frames (at least one)."""
    step = max(1, block_bytes // max(frame_bytes, 1))
    for start in range(0, n_frames, step):
        yield slice(start, min(start + step, n_frames))


def apply_kernel(
    kernel: Callable[..., np.ndarray],
    *arrays: xr.DataArray,
    core_dims: Sequence[str] | Sequence[Sequence[str]],
    new_dims: dict[str, int],
    dtype,
    kwargs: dict | None = None,
) -> xr.DataArray:
    """Run a numpy kernel over ``arrays``, reducing ``core_dims`` to ``new_dims``.

    The kernel receives numpy arrays whose last axes are the core dims (the
    other axes broadcast against each other) and returns an array of shape
    ``broadcast_leading_shape + tuple(new_dims.values())``. ``core_dims`` is
    one list of dims for all arrays, or one list per array. With dask-backed
    inputs the kernel runs once per chunk (the core dims are merged into a
    single chunk when needed); nothing is computed until asked.
    """
    if all(isinstance(dim, str) for dim in core_dims):
        per_array = [list(core_dims)] * len(arrays)
    else:
        per_array = [list(dims) for dims in core_dims]
    return xr.apply_ufunc(
        _run_chunks,
        *arrays,
        input_core_dims=per_array,
        output_core_dims=[list(new_dims)],
        dask="allowed",
        kwargs={"kernel": kernel, "core_dims": per_array, "new_dims": dict(new_dims), "dtype": dtype, "kwargs": kwargs or {}},
    )


def _run_chunks(*arrays, kernel, core_dims, new_dims, dtype, kwargs):
    """Call ``kernel`` on numpy arrays, or chunk by chunk on dask arrays.

    ``dask.array.apply_gufunc`` (xarray's ``dask="parallelized"``) hands each
    chunk to the function through a concatenation that copies it, even when
    the core dims are a single chunk; that copy cost as much as the whole
    categorical kernel. Here the core dims stay in the output index of
    :func:`dask.array.blockwise` with length one (so nothing is concatenated)
    and are dropped afterwards.
    """
    if not any(isinstance(array, da.Array) for array in arrays):
        return kernel(*arrays, **kwargs)
    n_lead = arrays[0].ndim - len(core_dims[0])
    lead = tuple(f"lead{i}" for i in range(n_lead))
    core = tuple(dict.fromkeys(dim for dims in core_dims for dim in dims))  # union, in order
    new = tuple(f"new_{dim}" for dim in new_dims)
    pairs = []
    for array, dims in zip(arrays, core_dims):
        array = da.asarray(array)
        array = array.rechunk({axis: -1 for axis in range(n_lead, array.ndim)})
        pairs += [array, lead + tuple(dims)]

    def block(*blocks):
        result = kernel(*blocks, **kwargs)
        return result.reshape(result.shape[:n_lead] + (1,) * len(core) + result.shape[n_lead:])

    stacked = da.blockwise(
        block,
        lead + core + new,
        *pairs,
        adjust_chunks={dim: 1 for dim in core},
        new_axes=dict(zip(new, new_dims.values())),
        dtype=dtype,
        meta=np.empty((0,) * (n_lead + len(core) + len(new)), dtype=dtype),
    )
    return stacked[(Ellipsis,) + (0,) * len(core) + (slice(None),) * len(new)]


def row_nanquantile(samples: np.ndarray, probability: float) -> np.ndarray:
    """Quantile of the non-NaN values of each row of a 2-D array, all rows at once.

    Same result as ``np.nanquantile(samples, probability, axis=1)`` (linear
    interpolation, numpy's two-sided lerp) without numpy's loop over the rows;
    NaN for a row without values.
    """
    ordered = np.sort(samples, axis=1)  # NaN last
    count = (~np.isnan(ordered)).sum(axis=1)
    position = probability * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    low = np.take_along_axis(ordered, below[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, above[:, None], axis=1)[:, 0]
    weight = position - below
    diff = high - low
    value = np.where(weight >= 0.5, high - diff * (1.0 - weight), low + diff * weight)
    return np.where(count > 0, value, np.nan)


def split_statistics(stacked: xr.DataArray, names: Sequence[str], dim: str = "statistic") -> xr.Dataset:
    """Turn the last dim of a kernel output into one variable per statistic."""
    return stacked.assign_coords({dim: list(names)}).to_dataset(dim=dim)


def grid_spacing_km(da: xr.DataArray, x_dim: str = "x", y_dim: str = "y") -> float:
    """Grid spacing in km, read from the ``x`` coordinate (data model: metres).

    Parameters
    ----------
    da : xr.DataArray
        Field on a regular projected grid; ``x`` (and ``y`` when present)
        coordinates in metres (``units`` "m", or "km").
    x_dim, y_dim : str
        Names of the horizontal dims.

    Raises
    ------
    ValueError
        If there is no usable ``x`` coordinate, if the grid is irregular or
        its cells are not square, or if the coordinate is in degrees (pass
        ``grid_spacing_km`` explicitly for latitude/longitude grids).
    """
    if x_dim not in da.coords or da.sizes.get(x_dim, 0) < 2:
        raise ValueError(f"cannot read the grid spacing: no '{x_dim}' coordinate with two or more values; pass grid_spacing_km")
    spacing = {}
    for dim in (x_dim, y_dim):
        if dim not in da.coords or da.sizes.get(dim, 0) < 2:
            continue
        coord = da[dim]
        units = str(coord.attrs.get("units", "m")).strip().lower()
        if units in _METRES:
            factor = 1e-3
        elif units in _KILOMETRES:
            factor = 1.0
        else:
            raise ValueError(
                f"'{dim}' is in {units!r}, not in metres: the spacing in km is ambiguous; pass grid_spacing_km"
            )
        steps = np.abs(np.diff(np.asarray(coord.values, dtype="float64"))) * factor
        if not np.allclose(steps, steps[0], rtol=1e-6):
            raise ValueError(f"'{dim}' is not regularly spaced (steps {steps.min():g}..{steps.max():g} km)")
        spacing[dim] = float(steps[0])
    if y_dim in spacing and not np.isclose(spacing[y_dim], spacing[x_dim], rtol=1e-2):
        raise ValueError(
            f"cells are not square ({spacing[x_dim]:g} km x {spacing[y_dim]:g} km): square windows in pixels "
            "would not be square in km"
        )
    return spacing[x_dim]
