"""Radar (1 km / 5 min) brought to IMERG's cells and half hours, with the time conventions spelt out.

Time conventions (all UTC):

- **radar**: a frame stamped ``t`` is the mean rain rate over the 5 minutes
  ``(t - 5 min, t]`` (averse's data model; the twin and the MeteoNet reader
  follow it);
- **IMERG**: NASA names each half-hourly file, and stamps ``/Grid/time``, by
  the *start* of its half hour (``3B-HHR...-S000000-E002959`` covers
  00:00:00-00:29:59). :mod:`averse.io.imerg` converts to averse's convention,
  ``time = start + 30 min``, the END of the half hour
  (:func:`imerg_end_from_file_start` says the same in code);
- so the IMERG half hour stamped ``T`` (its end) is matched with the six radar
  frames stamped ``T - 25 min, ..., T`` (:func:`radar_frames_of_half_hour`):
  the frame stamped ``T - 30 min`` belongs to the previous half hour, the one
  stamped ``T + 5 min`` to the next.

Space: each 5-min frame is regridded conservatively (area-weighted mean of
the valid radar cells, :class:`averse.grid.ConservativeRegridder`) onto
IMERG's own 0.1° grid, then the six frames are averaged
(:func:`averse.grid.aggregate_time`). The **coverage** of a cell is the mean,
over the six frames of the half hour, of the valid-area fraction of the cell
(a missing frame counts 0); a half-hour mean is kept only where every frame
covers at least ``min_coverage`` of the cell.

For training, :func:`sliding_half_hours` gives the same half-hour means ending
at *every* 5-min stamp (a rolling mean of the regridded frames); at the
clock-aligned ends ``:00`` and ``:30`` it equals the colocated value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from averse.errors import AverseError
from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time, infer_step, interval_end_labels

__all__ = [
    "HALF_HOUR",
    "NoColocatedDataError",
    "imerg_end_from_file_start",
    "radar_frames_of_half_hour",
    "half_hour_of_frames",
    "frames_on_grid",
    "radar_half_hours",
    "sliding_half_hours",
    "colocate",
]

HALF_HOUR = pd.Timedelta("30min")


class NoColocatedDataError(AverseError):
    """IMERG and the radar share no cell or no half hour (the message says which)."""


def imerg_end_from_file_start(start) -> pd.Timestamp:
    """END of the IMERG half hour whose file (and ``/Grid/time``) is stamped ``start``."""
    return pd.Timestamp(start) + HALF_HOUR


def radar_frames_of_half_hour(end, step="5min") -> pd.DatetimeIndex:
    """Stamps of the radar frames averaged into the half hour ending at ``end``.

    Parameters
    ----------
    end : datetime-like
        END of the half hour (averse's IMERG ``time``), on a :00 or :30 boundary.
    step : str or Timedelta
        Radar frame length; each frame stamped ``t`` covers ``(t - step, t]``.

    Returns
    -------
    DatetimeIndex
        ``end - 30 min + step, ..., end`` (six stamps for 5-min frames).
    """
    end, step = pd.Timestamp(end), pd.Timedelta(step)
    if end != end.floor(HALF_HOUR):
        raise ValueError(f"{end} is not the end of a half hour (:00 or :30)")
    if HALF_HOUR % step != pd.Timedelta(0):
        raise ValueError(f"the radar step {step} does not divide 30 minutes")
    return pd.date_range(end - HALF_HOUR + step, end, freq=step)


def half_hour_of_frames(times, step="5min") -> pd.DatetimeIndex:
    """END stamp of the half hour holding each radar frame (``t.ceil("30min")``)."""
    return interval_end_labels(times, HALF_HOUR, step)


def frames_on_grid(radar: xr.DataArray, target: RegularGrid, min_coverage: float = 0.9) -> tuple[xr.DataArray, xr.DataArray]:
    """Every radar frame regridded conservatively onto ``target`` (lazy).

    Parameters
    ----------
    radar : xr.DataArray
        ``(time, y, x)`` rain rate (mm/h) on a grid of the data model, NaN outside coverage.
    target : RegularGrid
        Usually IMERG's 0.1° grid (``RegularGrid.from_dataset(imerg)``).
    min_coverage : float
        Cells whose valid area is below this fraction of the cell are NaN.

    Returns
    -------
    (xr.DataArray, xr.DataArray)
        The frames on ``target`` and the valid-area fraction of every cell and frame.

    Raises
    ------
    NoColocatedDataError
        When the radar grid does not overlap ``target`` at all.
    """
    regridder = ConservativeRegridder(RegularGrid.from_dataset(radar), target)
    if not (regridder.covered_fraction > 0).any():
        raise NoColocatedDataError("the radar grid does not overlap any cell of the target grid")
    return regridder.regrid(radar, min_coverage=min_coverage), regridder.coverage(radar)


def radar_half_hours(radar: xr.DataArray, target: RegularGrid, min_coverage: float = 0.9, step=None) -> xr.Dataset:
    """Radar half-hour means on ``target``, stamped at the END of the half hour.

    Parameters
    ----------
    radar : xr.DataArray
        ``(time, y, x)`` 5-min (or any divisor of 30 min) rain rates, mm/h.
    target : RegularGrid
        IMERG's grid.
    min_coverage : float
        Every frame of the half hour must cover at least this fraction of a
        cell for the cell's mean to be kept (otherwise NaN).
    step : str or Timedelta, optional
        Radar frame length; inferred from ``time`` when omitted.

    Returns
    -------
    xr.Dataset
        ``precip`` (time, y, x) mm/h and ``coverage`` (0..1, mean valid-area
        fraction over the frames of the half hour, missing frames counting 0),
        one entry per half hour that holds at least one radar frame.
    """
    step = pd.Timedelta(step) if step is not None else infer_step(radar["time"].values)
    frames, coverage = frames_on_grid(radar, target, min_coverage)
    precip = aggregate_time(frames, HALF_HOUR, step=step, min_coverage=1.0)
    mean_cover, present = aggregate_time(coverage, HALF_HOUR, step=step, min_coverage=0.0, return_coverage=True)
    coverage = (mean_cover.fillna(0.0) * present).rename("coverage")
    coverage.attrs = {"long_name": "valid-area fraction of the cell averaged over the frames of the half hour "
                                   "(missing frames count 0)", "units": "1"}
    precip.attrs["colocation"] = (f"conservative area-weighted mean of the radar cells in the 0.1 degree cell, "
                                  f"then mean of the frames stamped (time - 30 min, time]; NaN unless every frame "
                                  f"covers at least {min_coverage:g} of the cell")
    return xr.Dataset({"precip": precip.rename("precip"), "coverage": coverage})


def sliding_half_hours(frames: xr.DataArray, step=None) -> xr.DataArray:
    """Half-hour means ending at every frame stamp: a rolling mean over ``30 min / step`` frames.

    Gaps in the series are filled with NaN frames first, so a window is NaN
    wherever one of its frames is missing. Training data only: the IMERG
    half hours are the clock-aligned ends of :func:`radar_half_hours`.

    Parameters
    ----------
    frames : xr.DataArray
        ``(time, y, x)`` frames already on the target grid (:func:`frames_on_grid`).
    step : str or Timedelta, optional
        Frame length; inferred when omitted.
    """
    step = pd.Timedelta(step) if step is not None else infer_step(frames["time"].values)
    times = pd.DatetimeIndex(frames["time"].values)
    full = frames.reindex(time=pd.date_range(times[0], times[-1], freq=step))
    window = int(HALF_HOUR // step)
    out = full.rolling(time=window, min_periods=window).mean().isel(time=slice(window - 1, None))
    out.attrs = {**frames.attrs, "cell_methods": "time: mean (interval: 30 minutes comment: time is the end of the interval)",
                 "aggregation": f"rolling mean of the {window} frames in (time - 30 min, time]"}
    return out


def colocate(imerg: xr.Dataset, radar: xr.DataArray, min_coverage: float = 0.9, step=None) -> xr.Dataset:
    """IMERG half hours with the radar aggregated to the same cells and half hours.

    Parameters
    ----------
    imerg : xr.Dataset
        IMERG V07 fields on ``(time, y, x)`` as :mod:`averse.io.imerg` (or the
        twin's ``/imerg``) gives them, ``time`` = END of the half hour.
    radar : xr.DataArray
        ``(time, y, x)`` radar rain rate, mm/h, ``time`` = END of each frame.
    min_coverage : float
        See :func:`radar_half_hours`; cells below it are NaN in ``radar``.
    step : str or Timedelta, optional
        Radar frame length (inferred when omitted).

    Returns
    -------
    xr.Dataset
        IMERG's variables on the half hours both products cover, plus
        ``radar`` (mm/h, NaN where not covered) and ``radar_coverage``; the
        grid and ``time`` are IMERG's exactly.

    Raises
    ------
    NoColocatedDataError
        When no cell or no half hour is shared.
    """
    target = RegularGrid.from_dataset(imerg)
    half_hours = radar_half_hours(radar, target, min_coverage, step)
    common = pd.DatetimeIndex(imerg["time"].values).intersection(pd.DatetimeIndex(half_hours["time"].values))
    if common.empty:
        raise NoColocatedDataError(
            f"IMERG covers {_span(imerg['time'].values)} and the radar {_span(radar['time'].values)}: "
            "no half hour in common")
    aggregated = half_hours.sel(time=common).assign_coords(x=imerg["x"].values, y=imerg["y"].values)
    out = imerg.sel(time=common).copy()
    out["radar"] = aggregated["precip"].drop_vars(["lat", "lon", "spatial_ref"], errors="ignore")
    out["radar_coverage"] = aggregated["coverage"].drop_vars(["lat", "lon", "spatial_ref"], errors="ignore")
    return out


def _span(times) -> str:
    times = pd.DatetimeIndex(np.asarray(times))
    return f"{times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M}" if times.size else "no time"
