"""Time aggregation of interval means, with explicit conventions.

Conventions (those of :mod:`averse.datamodel`):

- a frame stamped ``t`` holds the mean over the ``step`` ending at ``t``:
  the interval ``(t - step, t]``;
- the aggregate stamped ``T`` is the mean over ``(T - interval, T]``, so it
  gathers the frames with ``T - interval < t <= T``: with 5-min frames, the
  half hour stamped ``:30`` holds the six frames stamped ``:05, :10, ..., :30``
  (``T = t.ceil(interval)``);
- missing frames (absent from the series, or NaN at a pixel) are left out of the
  mean; the **coverage** is the fraction of the interval's frames that were
  valid (``valid / (interval / step)``), per pixel; aggregates whose coverage is
  below ``min_coverage`` are NaN.

Dask-backed inputs are reduced chunk by chunk: the time axis is first rechunked
so that no interval straddles two chunks, then each chunk is reduced with
``np.add.reduceat``; memory stays bounded by one chunk.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import interval_cell_methods

__all__ = ["aggregate_time", "interval_end_labels", "infer_step"]


def infer_step(times) -> pd.Timedelta:
    """The most common spacing of a time coordinate."""
    index = pd.DatetimeIndex(np.asarray(times))
    if index.size < 2:
        raise ValueError("cannot infer the time step of fewer than two frames; pass step=")
    diffs = pd.Series(np.diff(index.values))
    return pd.Timedelta(diffs.mode().iloc[0])


def interval_end_labels(times, interval, step) -> pd.DatetimeIndex:
    """End stamp of the ``interval`` that holds each frame of length ``step``.

    Parameters
    ----------
    times : array_like of datetime64
        End stamps of the frames (sorted, increasing).
    interval, step : str or Timedelta
        Aggregation interval and frame length; ``interval`` must be a multiple
        of ``step`` and the frames must be aligned on multiples of ``step``
        since midnight, so that every frame lies in exactly one interval.
    """
    index = pd.DatetimeIndex(np.asarray(times))
    interval, step = pd.Timedelta(interval), pd.Timedelta(step)
    if interval % step != pd.Timedelta(0):
        raise ValueError(f"interval {interval} is not a multiple of the frame step {step}")
    if not index.is_monotonic_increasing:
        raise ValueError("time coordinate must be increasing")
    if ((index - index.normalize()) % step != pd.Timedelta(0)).any():
        raise ValueError(f"frames are not aligned on multiples of {step}: they would straddle intervals")
    return index.ceil(interval)


def _chunks_of_whole_groups(group: np.ndarray, target: int) -> tuple[int, ...]:
    """Time chunk sizes of about ``target`` frames that never split a group."""
    starts = np.flatnonzero(np.r_[True, np.diff(group) != 0])
    bounds = np.append(starts, group.size)
    chunks, begin = [], 0
    for end in bounds[1:]:
        if end - begin >= target:
            chunks.append(int(end - begin))
            begin = int(end)
    if begin < group.size:
        chunks.append(int(group.size - begin))
    return tuple(chunks)


def _reduce_block(block: np.ndarray, group: np.ndarray, expected: int, block_info=None) -> np.ndarray:
    """Mean and coverage of the groups of one time block, stacked on a new axis 0.

    Sums are accumulated in the block's float type (an interval holds a few
    frames, so float32 loses nothing that matters) and in float64 otherwise.
    """
    start, stop = block_info[0]["array-location"][0]
    local = group[start:stop]
    starts = np.flatnonzero(np.r_[True, np.diff(local) != 0])
    dtype = np.float32 if block.dtype == np.float32 else np.float64
    valid = np.isfinite(block)
    if valid.all():
        sums = np.add.reduceat(block.astype(dtype, copy=False), starts, axis=0)
        counts = np.diff(np.append(starts, local.size)).reshape((-1,) + (1,) * (block.ndim - 1))
        counts = np.broadcast_to(counts, sums.shape)
    else:
        sums = np.add.reduceat(np.where(valid, block, 0).astype(dtype, copy=False), starts, axis=0)
        counts = np.add.reduceat(valid.astype("int32"), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts.astype(dtype)
    coverage = counts / dtype(expected)
    return np.stack([mean, coverage]).astype(dtype, copy=False)


def aggregate_time(
    da: xr.DataArray,
    interval,
    *,
    step=None,
    min_coverage: float = 1.0,
    return_coverage: bool = False,
):
    """Mean of interval-mean frames over longer intervals, stamped at the END.

    Parameters
    ----------
    da : xr.DataArray
        Frames with a ``time`` dim, each the mean over the ``step`` ending at
        its stamp (numpy- or dask-backed).
    interval : str or Timedelta
        Length of the aggregates (e.g. ``"30min"``).
    step : str or Timedelta, optional
        Frame length; inferred from the time coordinate when omitted.
    min_coverage : float
        Aggregates with a smaller fraction of valid frames are NaN (1.0: all the
        frames of the interval must be valid).
    return_coverage : bool
        Also return the coverage fraction (same shape as the result).

    Returns
    -------
    xr.DataArray or (xr.DataArray, xr.DataArray)
        The aggregate (time = end of each interval; ``cell_methods`` updated),
        and its coverage when asked.
    """
    step = pd.Timedelta(step) if step is not None else infer_step(da["time"].values)
    interval = pd.Timedelta(interval)
    labels = interval_end_labels(da["time"].values, interval, step)
    unique_labels, group = np.unique(labels.values, return_inverse=True)
    expected = int(interval // step)
    data = da.transpose("time", ...).data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(np.asarray(data), chunks=(data.shape[0],) + data.shape[1:])
    target = max(expected, int(max(data.chunks[0])))
    data = data.rechunk({0: _chunks_of_whole_groups(group, target)})
    groups_per_chunk = []
    offset = 0
    for size in data.chunks[0]:
        groups_per_chunk.append(int(np.unique(group[offset:offset + size]).size))
        offset += size
    stacked = dsa.map_blocks(
        _reduce_block,
        data,
        group=group,
        expected=expected,
        new_axis=0,
        chunks=((2,), tuple(groups_per_chunk)) + data.chunks[1:],
        dtype=data.dtype if data.dtype == np.float32 else np.float64,
    )
    mean_data, coverage_data = stacked[0], stacked[1]
    mean_data = dsa.where(coverage_data >= min_coverage - 1e-9, mean_data, np.nan)

    dims = ("time",) + tuple(d for d in da.dims if d != "time")
    coords = {k: v for k, v in da.coords.items() if "time" not in v.dims}
    coords["time"] = ("time", unique_labels, dict(da["time"].attrs))
    is_numpy = not isinstance(da.data, dsa.Array)

    def wrap(values, attrs, name):
        out = xr.DataArray(values.compute() if is_numpy else values, dims=dims, coords=coords, attrs=attrs, name=name)
        return out.transpose(*da.dims)

    attrs = dict(da.attrs)
    attrs["cell_methods"] = interval_cell_methods(interval)
    attrs["aggregation"] = (
        f"mean of the {step.total_seconds() / 60:g}-min frames in ({interval.total_seconds() / 60:g} min before "
        f"time, time]; NaN where fewer than {min_coverage:.0%} of the frames are valid"
    )
    mean = wrap(mean_data, attrs, da.name)
    if not return_coverage:
        return mean
    coverage = wrap(
        coverage_data,
        {"long_name": f"fraction of valid frames in the {interval.total_seconds() / 60:g}-min interval", "units": "1"},
        "coverage",
    )
    return mean, coverage
