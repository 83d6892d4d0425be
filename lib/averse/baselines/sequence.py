"""Baselines over many issue times of a long sequence, and the matching observations.

:func:`run_over` issues one forecast per issue time from the ``n_in`` frames
ending at it and stacks them along an ``issue_time`` dim;
:func:`observed_at_leads` cuts the observations at the same valid times, so
that deep models and baselines are scored on the same cases::

    fc = baselines.run_over(radar, cases, n_in=4, n_leads=12, method="sprog")
    obs = baselines.observed_at_leads(radar, cases, n_leads=12)
    mae = abs(fc - obs).mean(["y", "x"])          # (issue_time, lead_time)

Each window is read from the (lazy) sequence on its own, so a long archive is
never loaded whole. Forecasts run one after the other: the parallelism is
inside each pysteps forecast (``num_workers``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import xarray as xr

from averse.baselines._registry import get
from averse.baselines.frames import BaselineInputError, NotEnoughFramesError

__all__ = ["run_over", "observed_at_leads"]

_CONCAT = {"coords": "different", "compat": "equals", "join": "exact", "combine_attrs": "drop_conflicts"}


def run_over(
    sequence: xr.DataArray,
    issue_times: Iterable,
    n_in: int,
    n_leads: int,
    method: str | Callable,
    **kwargs,
) -> xr.DataArray:
    """Run a baseline at each of many issue times of a sequence.

    Parameters
    ----------
    sequence : xr.DataArray
        ``(time, y, x)`` rain in mm/h (averse data model), lazy or not.
    issue_times : iterable of datetime-like
        Times of ``sequence`` to issue forecasts at (UTC).
    n_in : int
        Number of frames, ending at the issue time, given to the method.
    n_leads : int
        Number of lead times.
    method : str or callable
        Registry name (``"persistence"``, ``"extrapolation"``, ``"sprog"``,
        ``"steps"``) or a function with the same signature.
    **kwargs
        Settings of the method. For a method that takes a ``seed``, each issue
        time gets its own seed spawned from ``seed`` (drawn when not given), so
        that cases have independent noise and the whole run is reproducible;
        the seeds are in the ``seed`` coordinate.

    Returns
    -------
    xr.DataArray
        The forecasts with a leading ``issue_time`` dim; ``valid_time`` becomes
        ``(issue_time, lead_time)``.

    Raises
    ------
    UnknownBaselineError
        If ``method`` is a name that is not registered.
    BaselineInputError
        If an issue time is not a time of ``sequence``, or ``seed`` is given
        to a method without one.
    NotEnoughFramesError
        If an issue time has fewer than ``n_in`` frames before it (inclusive).
    """
    forecaster = get(method) if isinstance(method, str) else method
    issue = _utc_index(issue_times)
    positions = _issue_positions(sequence, issue, n_in)
    seeding = _issue_seeds(forecaster, kwargs.pop("seed", None), len(positions))
    forecasts = []
    for k, position in enumerate(positions):
        window = sequence.isel(time=slice(position - n_in + 1, position + 1))
        extra = {} if seeding is None else {"seed": seeding[1][k]}
        forecasts.append(forecaster(window, n_leads, **kwargs, **extra))
    result = xr.concat(forecasts, dim="issue_time", **_CONCAT)
    if seeding is not None:
        base, seeds = seeding
        settings = json.loads(forecasts[0].attrs.get("baseline_settings", "{}"))
        settings["seed"] = f"one per issue time (seed coordinate), spawned from {base}"
        result = result.assign_coords(seed=("issue_time", seeds))
        result.attrs["baseline_settings"] = json.dumps(settings, sort_keys=True, default=str)
    return result


def observed_at_leads(
    sequence: xr.DataArray,
    issue_times: Iterable,
    n_leads: int,
    timestep: pd.Timedelta | str | None = None,
) -> xr.DataArray:
    """Observations at the valid times of forecasts issued at ``issue_times``.

    Parameters
    ----------
    sequence : xr.DataArray
        ``(time, y, x)`` observations, lazy or not.
    issue_times : iterable of datetime-like
        Issue times (UTC).
    n_leads : int
        Number of lead times.
    timestep : Timedelta or str, optional
        Lead-time step; the smallest step of ``sequence`` when None.

    Returns
    -------
    xr.DataArray
        ``(issue_time, lead_time, y, x)`` with the same ``lead_time`` and
        ``valid_time`` coordinates as :func:`run_over`; NaN where a valid time
        is missing from ``sequence``. Lazy when ``sequence`` is.
    """
    issue = _utc_index(issue_times)
    if timestep is None:
        timestep = np.diff(sequence["time"].values).min()
    step = pd.Timedelta(timestep)
    lead_time = step.to_timedelta64() * np.arange(1, n_leads + 1)
    per_issue = []
    for issue_time in issue.values:
        valid_time = issue_time + lead_time
        frames = sequence.reindex(time=valid_time).rename(time="lead_time")
        per_issue.append(frames.assign_coords(lead_time=lead_time, valid_time=("lead_time", valid_time)))
    observed = xr.concat(per_issue, dim=pd.Index(issue.values, name="issue_time"), **_CONCAT)
    return observed.transpose("issue_time", "lead_time", ...)


def _issue_seeds(forecaster: Callable, seed: int | None, count: int) -> tuple[int, list[int]] | None:
    """The base seed and one seed spawned from it per issue time; None for a method without ``seed``."""
    if "seed" not in inspect.signature(forecaster).parameters:
        if seed is not None:
            raise BaselineInputError(f"{getattr(forecaster, '__name__', forecaster)!r} takes no seed")
        return None
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    children = np.random.SeedSequence(int(seed)).spawn(count)
    return int(seed), [int(child.generate_state(1)[0]) for child in children]


def _utc_index(times: Iterable) -> pd.DatetimeIndex:
    """Datetime-likes as naive UTC (the averse convention for ``time``)."""
    index = pd.DatetimeIndex(pd.to_datetime(list(times) if not isinstance(times, str) else [times]))
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index


def _issue_positions(sequence: xr.DataArray, issue: pd.DatetimeIndex, n_in: int) -> np.ndarray:
    """Positions of the issue times in ``sequence.time``, checked for ``n_in`` frames of history."""
    positions = sequence.get_index("time").get_indexer(issue)
    missing = issue[positions < 0]
    if len(missing):
        raise BaselineInputError(f"issue times not in the sequence: {', '.join(map(str, missing[:5]))}")
    short = issue[positions < n_in - 1]
    if len(short):
        raise NotEnoughFramesError(
            f"{n_in} input frames are needed but the sequence starts too late for issue times "
            f"{', '.join(map(str, short[:5]))}"
        )
    return positions
