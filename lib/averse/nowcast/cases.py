"""Test cases of a nowcasting experiment: the evaluation domain and the issue times.

A *case* is one issue time: the end (UTC) of the last observed interval given to
every method. Models and baselines are scored on the same cases, on the same
grid, so that their curves can be compared.

- :func:`radar_sequence` — the ``(time, y, x)`` rain rates of a tree or dataset;
- :func:`centre_crop` — the central ``size × size`` pixels of a field or of every
  group of a twin-like tree that shares the radar grid (the evaluation domain);
- :func:`rows_northward` — a grid whose row index increases northward, as in the
  twin world the networks are trained on (MeteoNet and OPERA store north first);
- :func:`spread` — ``n`` issue times evenly spread over candidates;
- :func:`split_issue_times` — the issue times of one split of a
  :class:`~averse.data.NowcastDataModule` that only the radar decides (so that
  runs with and without auxiliary inputs get the same cases);
- :func:`sequence_issue_times` — issue times of a plain (real) sequence with a
  full, gap-free history;
- :func:`time_slice` — a tree cut to a period (groups without a time axis kept whole).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from averse.data.splits import SPLITS
from averse.data.windows import contiguous_starts, valid_starts

__all__ = [
    "radar_sequence",
    "centre_crop",
    "rows_northward",
    "spread",
    "split_issue_times",
    "sequence_issue_times",
    "time_slice",
]


def radar_sequence(data: xr.DataTree | xr.Dataset | xr.DataArray, group: str = "radar",
                   variable: str = "precip") -> xr.DataArray:
    """The rain rates ``(time, y, x)`` (mm/h, float32, lazy when the source is) of ``data``.

    Parameters
    ----------
    data : xr.DataTree, xr.Dataset or xr.DataArray
        A twin-like tree (``/<group>/<variable>``), a dataset (``variable``) or the field.
    group, variable : str
        Where the rain rates are.
    """
    if isinstance(data, xr.DataTree):
        if group not in data.children:
            raise KeyError(f"no /{group} group in the tree; groups: {sorted(data.children)}")
        data = data[group].to_dataset()
    if isinstance(data, xr.Dataset):
        if variable not in data.data_vars:
            raise KeyError(f"no variable {variable!r}; variables: {list(data.data_vars)}")
        data = data[variable]
    return data.transpose("time", "y", "x").astype(np.float32)


def _centre_slices(ny: int, nx: int, size: int) -> dict[str, slice]:
    if size > min(ny, nx):
        raise ValueError(f"crop of {size} pixels is larger than the {ny} × {nx} grid")
    top, left = (ny - size) // 2, (nx - size) // 2
    return {"y": slice(top, top + size), "x": slice(left, left + size)}


def centre_crop(data, size: int | None, group: str = "radar"):
    """The central ``size × size`` pixels of a field, a dataset or a twin-like tree.

    For a tree, every group on the grid of ``/<group>`` (same ``x`` and ``y``) is
    cropped; groups on other grids (the coarser infrared imager) are kept whole,
    since the data module regrids them onto the cropped radar grid.

    Parameters
    ----------
    data : xr.DataArray, xr.Dataset or xr.DataTree
        What to crop.
    size : int or None
        Side in pixels; None returns ``data`` unchanged.
    group : str
        The group whose grid defines the crop (trees only).
    """
    if size is None:
        return data
    if not isinstance(data, xr.DataTree):
        return data.isel(_centre_slices(data.sizes["y"], data.sizes["x"], int(size)))
    reference = data[group].to_dataset()
    slices = _centre_slices(reference.sizes["y"], reference.sizes["x"], int(size))

    def on_grid(ds: xr.Dataset) -> bool:
        return ("x" in ds.dims and "y" in ds.dims and ds.sizes["x"] == reference.sizes["x"]
                and ds.sizes["y"] == reference.sizes["y"]
                and np.array_equal(ds["x"].values, reference["x"].values)
                and np.array_equal(ds["y"].values, reference["y"].values))

    groups = {node.path: node.to_dataset(inherit=False) for node in data.subtree}
    return xr.DataTree.from_dict({path: ds.isel(slices) if on_grid(ds) else ds for path, ds in groups.items()})


def rows_northward(field: xr.DataArray | xr.Dataset):
    """``field`` with its ``y`` coordinate increasing with the row index (north up in the
    projection's sense), as in the twin world; unchanged when it already does."""
    y = field["y"].values
    return field.isel(y=slice(None, None, -1)) if y.size > 1 and y[1] < y[0] else field


def spread(times, n: int, min_separation=None) -> pd.DatetimeIndex:
    """``n`` of ``times`` evenly spread from the first to the last (all of them if fewer).

    Parameters
    ----------
    times : array_like of datetime64
        Candidate issue times, increasing.
    n : int
        How many to keep.
    min_separation : str or Timedelta, optional
        First thin the candidates in time order, keeping a time only when it is
        at least this long after the last kept one (consecutive 5-min windows
        share almost all their frames: they are not independent cases).
    """
    times = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"))
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if min_separation is not None and len(times):
        gap, kept = pd.Timedelta(min_separation), [times[0]]
        for time in times[1:]:
            if time - kept[-1] >= gap:
                kept.append(time)
        times = pd.DatetimeIndex(kept)
    if len(times) <= n:
        return times
    return times[np.unique(np.round(np.linspace(0, len(times) - 1, n)).astype(int))]


def split_issue_times(datamodule, split: str = "test", n_cases: int | None = None,
                      min_separation=None, min_input_rain: float = 0.0) -> pd.DatetimeIndex:
    """Issue times of the usable windows of one split, chosen by the radar alone.

    The windows follow the data module's rules (consecutive frames, no missing
    frame, one split, ``min_rain_fraction`` of the target frames) but *not* the
    availability of auxiliary inputs, so every input configuration of an
    ablation gets the same candidates (see :func:`averse.nowcast.forecast.window_issue_times`
    for the windows a given configuration can serve).

    Parameters
    ----------
    datamodule : averse.data.NowcastDataModule
        A data module (set up here if needed).
    split : {"train", "val", "test"}
        Which split.
    n_cases : int, optional
        Keep this many, evenly spread over the split (:func:`spread`); all if None.
    min_separation : str or Timedelta, optional
        Minimum time between two kept cases (:func:`spread`).
    min_input_rain : float
        Every input frame needs at least this share of rainy pixels (at or
        above the module's rain threshold): a nowcast is issued while it rains,
        and the statistical baselines cannot forecast from dry frames.

    Returns
    -------
    pandas.DatetimeIndex
        Analysis times (UTC): the time of the newest input frame of each window.
    """
    datamodule.setup()
    n_in = datamodule.spec.n_in
    starts = valid_starts(datamodule.times, datamodule.dt, datamodule.spec, datamodule.summary,
                          datamodule.labels, SPLITS.index(split))
    if min_input_rain > 0 and starts.size:
        rainy = datamodule.summary.rain_fraction >= min_input_rain
        starts = starts[[bool(rainy[start:start + n_in].all()) for start in starts]]
    times = pd.DatetimeIndex(datamodule.times[starts + n_in - 1])
    if len(times) == 0:
        return times
    return spread(times, n_cases if n_cases is not None else len(times), min_separation)


def sequence_issue_times(sequence: xr.DataArray, n_in: int, n_cases: int | None = None,
                         min_leads: int = 1, timestep=None) -> pd.DatetimeIndex:
    """Issue times of a sequence with ``n_in`` gap-free frames up to them and ``min_leads`` after.

    Parameters
    ----------
    sequence : xr.DataArray
        ``(time, y, x)`` frames (a real archive may have gaps).
    n_in : int
        Input frames needed, ending at the issue time.
    n_cases : int, optional
        Keep this many, evenly spread; all if None.
    min_leads : int
        Consecutive frames needed after the issue time (to verify at least that many leads).
    timestep : str or Timedelta, optional
        The step; the smallest spacing of ``sequence.time`` if None.
    """
    times = pd.DatetimeIndex(sequence["time"].values)
    if len(times) < n_in + min_leads:
        return pd.DatetimeIndex([])
    step = pd.Timedelta(timestep) if timestep is not None else pd.Timedelta(np.diff(times.values).min())
    ok = contiguous_starts(times.values, step, n_in + min_leads)
    issue = times[np.flatnonzero(ok) + n_in - 1]
    return issue if n_cases is None or len(issue) == 0 else spread(issue, n_cases)


def time_slice(tree: xr.DataTree, start=None, stop=None) -> xr.DataTree:
    """``tree`` with every group that has a ``time`` dim cut to ``[start, stop]`` (labels, inclusive)."""
    groups = {}
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        groups[node.path] = ds.sel(time=slice(start, stop)) if "time" in ds.dims else ds
    return xr.DataTree.from_dict(groups)
