"""Real radar sequences for the nowcasting evaluation, when ``AVERSE_DATA`` has them.

The networks of the nowcasting track learn on the twin world: 1 km pixels,
5-min frames, rows increasing northward. A real sequence is brought as close
to that as its data allow, and :class:`RealSequence` says what was done:

- **MeteoNet** (``meteonet_nw``, ``meteonet_se``; 0.01° latitude/longitude,
  5-min accumulations read as mm/h): a ``size × size`` km box centred on the
  rainiest part of the input frames of the first case, regridded
  area-conservatively to a 1 km Lambert azimuthal equal-area grid centred on it
  (the twin's kind of grid). Time step unchanged (5 min): the networks' own.
- **OPERA ODYSSEY** (``opera_odyssey``; 2 km LAEA, 15-min instantaneous
  composites): a ``size × size`` pixel box of the native grid around the
  rainiest area, turned north-up. Its *time* step cannot be brought to 5 min:
  a network fed 15-min frames makes 15-min steps, three times its training
  step, over pixels twice as large (a feature moves about 1.5 times as many
  pixels per step as in training). Its scores there measure how far the
  network's learned motion generalises, not its skill at its own task; the
  baselines, which estimate motion from the frames, need no such assumption.

:func:`load_real_sequence` returns :class:`Unavailable` (with the reason)
instead of raising when the files are not there, so a notebook can report it;
:func:`forecast_real` runs the baselines and the radar-only networks on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from averse.errors import AverseError
from averse.nowcast.cases import rows_northward

__all__ = ["REAL_SEQUENCES", "RealSource", "RealSequence", "Unavailable", "RealEvaluation", "load_real_sequence",
           "rainiest_centre", "forecast_real"]

_KM_PER_DEGREE = 111.195


@dataclass(frozen=True)
class RealSource:
    """Where a real sequence comes from and how it is put on a network's grid.

    Attributes
    ----------
    entry : str
        Catalog entry (:func:`averse.open_dataset`).
    start, stop : str
        The consecutive frames used (UTC end-of-interval times, inclusive).
    regrid_km : float or None
        Regrid to a LAEA grid of this spacing (km) around the chosen box; None
        keeps the native projected grid.
    description : str
        One line for the notebook.
    """

    entry: str
    start: str
    stop: str
    regrid_km: float | None
    description: str


#: The real sequences of the nowcasting evaluation (see the module docstring).
REAL_SEQUENCES = {
    "meteonet_nw": RealSource("meteonet_nw", "2016-08-28T10:00", "2016-08-28T11:10", 1.0,
                              "MeteoNet north-west France, 15 frames of 5 min, 0.01° regridded to 1 km"),
    "meteonet_se": RealSource("meteonet_se", "2016-08-28T10:00", "2016-08-28T11:10", 1.0,
                              "MeteoNet south-east France, 15 frames of 5 min, 0.01° regridded to 1 km"),
    "opera_odyssey": RealSource("opera_odyssey", "2018-08-24T18:00", "2018-08-25T00:00", None,
                                "OPERA ODYSSEY composite, 24 frames of 15 min, native 2 km grid"),
}


@dataclass
class Unavailable:
    """A real sequence that could not be loaded, and why."""

    name: str
    reason: str


@dataclass
class RealSequence:
    """A real sequence on a grid the networks can read.

    Attributes
    ----------
    name : str
        Key of :data:`REAL_SEQUENCES`.
    sequence : xr.DataArray
        ``(time, y, x)`` rain rates (mm/h, NaN not observed), in memory, rows northward.
    step : pandas.Timedelta
        Time step of the frames.
    grid : str
        What was done to the grid, in words.
    centre : (float, float)
        Latitude and longitude of the box centre.
    """

    name: str
    sequence: xr.DataArray
    step: pd.Timedelta
    grid: str
    centre: tuple[float, float]

    @property
    def spacing_km(self) -> float:
        """Grid spacing (km) of the square cells."""
        return abs(float(self.sequence["x"].values[1] - self.sequence["x"].values[0])) / 1000.0


def rainiest_centre(frames: xr.DataArray, window: tuple[int, int], threshold: float = 1.0) -> tuple[int, int]:
    """Row and column of the centre of the ``window`` box with the most pixels at or above ``threshold``.

    Parameters
    ----------
    frames : xr.DataArray
        ``(time, y, x)`` rain rates; pixels counted over all frames.
    window : (int, int)
        Box size in pixels (rows, columns).
    threshold : float
        Rain rate (mm/h).
    """
    values = np.asarray(frames.values, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        rainy = (values >= threshold).sum(axis=0).astype(np.float64)
    score = ndimage.uniform_filter(rainy, size=window, mode="constant")
    ny, nx = rainy.shape
    half = (window[0] // 2, window[1] // 2)
    inner = score[half[0]:max(ny - half[0], half[0] + 1), half[1]:max(nx - half[1], half[1] + 1)]
    row, col = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(row + half[0]), int(col + half[1])


def _laea_box(sequence: xr.DataArray, centre: tuple[float, float], size: int, spacing_km: float) -> xr.DataArray:
    """``sequence`` regridded conservatively onto a ``size``² LAEA grid centred on ``centre`` (lat, lon)."""
    from averse.grid import ConservativeRegridder, RegularGrid

    crs = (f"+proj=laea +lat_0={centre[0]:.4f} +lon_0={centre[1]:.4f} +x_0=0 +y_0=0 "
           "+ellps=WGS84 +units=m +no_defs")
    x = (np.arange(size) - (size - 1) / 2.0) * spacing_km * 1000.0
    regridder = ConservativeRegridder(RegularGrid.from_dataset(sequence), RegularGrid(x, x, crs))
    return regridder.regrid(sequence)


def _window_pixels(sequence: xr.DataArray, size_km: float) -> tuple[int, int]:
    """Native pixels of a ``size_km`` box (rows, columns) on a lat/lon or projected grid."""
    dy, dx = (abs(float(np.diff(sequence[d].values[:2])[0])) for d in ("y", "x"))
    if abs(sequence["y"].values).max() <= 90 and dy < 1:  # degrees
        lat = float(np.mean(sequence["y"].values))
        dy, dx = dy * _KM_PER_DEGREE, dx * _KM_PER_DEGREE * np.cos(np.deg2rad(lat))
    else:
        dy, dx = dy / 1000.0, dx / 1000.0
    return max(int(round(size_km / dy)), 1), max(int(round(size_km / dx)), 1)


def load_real_sequence(name: str, size: int = 128, n_in: int = 6, threshold: float = 1.0) -> RealSequence | Unavailable:
    """A real sequence on a square box around its rainiest area, or why it is unavailable.

    Parameters
    ----------
    name : str
        Key of :data:`REAL_SEQUENCES`.
    size : int
        Side of the box in output pixels (km on the 1 km grid of MeteoNet,
        2-km pixels on OPERA's native grid).
    n_in : int
        The box is centred on the rainiest area of the first ``n_in`` frames
        (the inputs of the first case: no look at the verifying frames).
    threshold : float
        Rain rate (mm/h) counted when choosing the box.

    Returns
    -------
    RealSequence or Unavailable
    """
    source = REAL_SEQUENCES[name]
    from averse.catalog import open_dataset

    try:
        ds = open_dataset(source.entry)
    except (AverseError, OSError) as exc:
        return Unavailable(name, f"{type(exc).__name__}: {exc}")
    sequence = ds["precip"].sel(time=slice(source.start, source.stop)).transpose("time", "y", "x")
    if sequence.sizes["time"] <= n_in:
        return Unavailable(name, f"only {sequence.sizes['time']} frames between {source.start} and {source.stop}")
    step = pd.Timedelta(np.diff(sequence["time"].values).min())
    first = sequence.isel(time=slice(0, n_in)).load()
    # The box in native pixels: `size` km on the regridded grid, `size` pixels on the native one.
    window = _window_pixels(sequence, size * source.regrid_km) if source.regrid_km is not None else (size, size)
    row, col = rainiest_centre(first, window, threshold)
    centre = (float(sequence["lat"].values[row, col]), float(sequence["lon"].values[row, col]))
    if source.regrid_km is not None:
        box = _laea_box(sequence, centre, size, source.regrid_km)
        grid = f"regridded (area-conservative) to a {size} × {size} LAEA grid of {source.regrid_km:g} km"
    else:
        top, left = max(row - size // 2, 0), max(col - size // 2, 0)
        box = rows_northward(sequence.isel(y=slice(top, top + size), x=slice(left, left + size)))
        grid = f"native grid, {box.sizes['y']} × {box.sizes['x']} pixels, turned north-up"
    box = box.astype(np.float32).load()
    box.attrs = {**sequence.attrs, "units": "mm h-1"}
    return RealSequence(name, box, step, grid, centre)


def _text(step) -> str:
    """A time step as ``"15 min"``."""
    return f"{pd.Timedelta(step).total_seconds() / 60:g} min"


@dataclass
class RealEvaluation:
    """Forecasts of a real sequence and their observations.

    Attributes
    ----------
    real : RealSequence
        The sequence.
    observed : xr.DataArray
        ``(case, lead_time, y, x)`` observations (NaN after the end of the sequence).
    forecasts : dict of str to xr.DataArray
        Forecasts by method, same layout (networks first).
    models_run : list of str
        The networks among them.
    note : str
        What was left out and why.
    """

    real: RealSequence
    observed: xr.DataArray
    forecasts: dict[str, xr.DataArray]
    models_run: list[str]
    note: str


def forecast_real(real: RealSequence, models: Mapping[str, Any], baseline_names: Sequence[str], *, n_in: int,
                  n_cases: int, max_lead_minutes: int, model_step: str | pd.Timedelta = "5min",
                  models_at_other_steps: bool = True,
                  baseline_options: Mapping[str, Mapping] | None = None,
                  probability_matching: bool = False) -> RealEvaluation:
    """Forecast the cases of a real sequence with the baselines and the radar-only networks.

    Parameters
    ----------
    real : RealSequence
        The sequence (:func:`load_real_sequence`).
    models : mapping of str to task
        Trained tasks by name; those needing auxiliary inputs are left out (the
        real archives here have no matching infrared or training statistics).
    baseline_names : sequence of str
        Names of :func:`averse.baselines.get`.
    n_in : int
        Input frames of every method.
    n_cases : int
        Issue times, spread over the sequence (each needs ``n_in`` frames and one lead).
    max_lead_minutes : int
        Longest lead verified (also bounded by the networks' number of leads).
    model_step : str or Timedelta
        Time step the networks were trained with.
    models_at_other_steps : bool
        Run the networks on a sequence whose step differs from ``model_step``
        (one network step = one frame of the sequence; see the module docstring).
    baseline_options : mapping, optional
        Keyword arguments per baseline name (``{"steps": {"n_ens_members": 10, "seed": 0}}``).
    probability_matching : bool
        Give the networks' fields the rain distribution of the last input frame
        (:func:`~averse.nowcast.forecast.match_distribution`).

    Raises
    ------
    ValueError
        If the sequence has no usable issue time.
    """
    from averse import baselines
    from averse.nowcast.cases import sequence_issue_times
    from averse.nowcast.forecast import (
        as_cases,
        last_frames,
        match_distribution,
        predict_sequence,
        takes_auxiliary_inputs,
    )

    sequence = real.sequence
    issue = sequence_issue_times(sequence, n_in, n_cases, min_leads=1, timestep=real.step)
    if len(issue) == 0:
        raise ValueError(f"{real.name}: no issue time with {n_in} consecutive input frames and one lead")
    notes, runnable = [], {}
    same_step = real.step == pd.Timedelta(model_step)
    for name, task in models.items():
        if takes_auxiliary_inputs(task):
            notes.append(f"{name} left out: it needs auxiliary inputs this archive does not give")
        elif not same_step and not models_at_other_steps:
            notes.append(f"{name} left out: trained on {_text(model_step)} steps, the frames are {_text(real.step)}")
        else:
            runnable[name] = task
    # Every method is verified on the same leads: up to max_lead_minutes and the networks' horizon.
    n_leads = min([max(int(pd.Timedelta(minutes=max_lead_minutes) // real.step), 1)]
                  + [task.input_config.n_out for task in runnable.values()])
    observed = as_cases(baselines.observed_at_leads(sequence, issue, n_leads, real.step)).load()
    forecasts = {name: predict_sequence(task, sequence, issue, real.step).isel(lead_time=slice(0, n_leads))
                 for name, task in runnable.items()}
    if probability_matching:
        last = last_frames(sequence, issue)
        forecasts = {name: match_distribution(forecast, last) for name, forecast in forecasts.items()}
    models_run = list(runnable)
    options = baseline_options or {}
    for name in baseline_names:
        forecast = as_cases(baselines.run_over(sequence, issue, n_in, n_leads, name, **options.get(name, {})))
        forecasts[name] = forecast.mean("member", keep_attrs=True) if "member" in forecast.dims else forecast
    if models_run and not same_step:
        notes.append(f"networks trained on {_text(model_step)} steps were run with one step = {_text(real.step)}")
    return RealEvaluation(real, observed, forecasts, models_run, "; ".join(notes) or "all methods run")
