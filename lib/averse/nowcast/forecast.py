"""Forecasts of trained networks laid out like the baselines: ``(case, lead_time, y, x)`` in mm/h.

Two ways in:

- :func:`predict_windows` — from the windows of a
  :class:`~averse.data.WindowDataset` (the evaluation data module of an
  experiment), which carry every auxiliary input a model may need (DEM,
  infrared, training statistics);
- :func:`predict_sequence` — from a plain ``(time, y, x)`` sequence (a real
  radar archive): radar-only models only.

Both return a DataArray with the coordinates of :func:`as_cases` applied to
:func:`averse.baselines.run_over` / :func:`averse.baselines.observed_at_leads`:
``case`` (issue time, UTC), ``lead_time`` (timedelta, one step to ``n_out``
steps), ``valid_time`` (case, lead_time) and the grid of the input frames, so
that ``xr.align(..., join="exact")`` of models, baselines and observations holds.

Lead ``k`` of a network is ``k`` *input* time steps after the issue time: a
network trained on 5-min frames and given 15-min frames (OPERA) makes 15-min
steps, which is only meaningful if it generalises to that step; the caller says so.

:func:`match_distribution` gives each forecast field the rain distribution of
the last observed frame (empirical CDF matching, as S-PROG and STEPS do in
pysteps): a network trained on a squared error smooths its late leads below
the rain thresholds; the matching keeps where it puts rain and restores how
much.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import xarray as xr

from averse.data.dataset import WindowDataset
from averse.datamodel import PRECIP_ATTRS

__all__ = ["as_cases", "last_frames", "match_distribution", "window_issue_times", "predict_windows", "predict_sequence",
           "takes_auxiliary_inputs"]


def as_cases(da: xr.DataArray) -> xr.DataArray:
    """A baseline forecast or observation with its ``issue_time`` dim renamed ``case``."""
    return da.rename(issue_time="case") if "issue_time" in da.dims else da


def last_frames(sequence: xr.DataArray, issue_times) -> xr.DataArray:
    """``(case, y, x)`` the frame of ``sequence`` at each issue time: the last input of every case."""
    return sequence.sel(time=pd.DatetimeIndex(issue_times)).rename(time="case")


def match_distribution(forecast: xr.DataArray, reference: xr.DataArray) -> xr.DataArray:
    """Forecast fields rescaled to the rain distribution of a reference field of their case.

    Ranks are kept; values become those of the reference at the same ranks
    (``pysteps.postprocessing.probmatching.nonparam_match_empirical_cdf``) over
    the pixels valid in both. A case whose reference has no rain is left as it is.

    Parameters
    ----------
    forecast : xr.DataArray
        ``(case, lead_time, y, x)`` rain (mm/h).
    reference : xr.DataArray
        ``(case, y, x)`` rain (mm/h), typically the last observed frame of each case.

    Returns
    -------
    xr.DataArray
        Like ``forecast``, with ``attrs["probability_matching"]`` saying what was done.
    """
    from pysteps.postprocessing.probmatching import nonparam_match_empirical_cdf

    ordered = forecast.transpose("case", "lead_time", "y", "x")
    values = ordered.values.copy()
    target = reference.transpose("case", "y", "x").values
    for case in range(values.shape[0]):
        for lead in range(values.shape[1]):
            field = values[case, lead]
            valid = np.isfinite(field) & np.isfinite(target[case])
            if valid.any() and (target[case][valid] > 0).any():
                field[valid] = nonparam_match_empirical_cdf(field[valid], target[case][valid])
    return ordered.copy(data=values).assign_attrs(probability_matching="empirical CDF of the last observed frame of each case")


def window_issue_times(dataset: WindowDataset) -> pd.DatetimeIndex:
    """Issue (analysis) time of every window of ``dataset``, in its order."""
    last_input = dataset.starts + dataset.spec.n_in - 1
    return pd.DatetimeIndex(dataset.times[last_input].astype("datetime64[ns]"))


def _frame_template(frame: xr.DataArray) -> xr.DataArray:
    """One ``(y, x)`` frame reduced to its grid: coordinates on ``y``/``x`` and ``spatial_ref``."""
    grid = {"y", "x"}
    dropped = [name for name, coord in frame.coords.items()
               if name != "spatial_ref" and not (coord.dims and set(coord.dims) <= grid)]
    return frame.drop_vars(dropped)


def _wrap(values: np.ndarray, issue_times: pd.DatetimeIndex, step: pd.Timedelta, template: xr.DataArray,
          task) -> xr.DataArray:
    """``(case, lead, y, x)`` values of ``task`` as a forecast DataArray on ``template``'s grid."""
    leads = getattr(task, "leads", slice(0, values.shape[1]))  # a single-lead model predicts lead `start + 1`
    lead_time = step.to_timedelta64() * np.arange(leads.start + 1, leads.start + 1 + values.shape[1])
    valid_time = issue_times.values[:, None] + lead_time[None, :]
    grid = _frame_template(template)
    coords = {name: coord for name, coord in grid.coords.items()}
    coords.update(case=issue_times.values, lead_time=lead_time, valid_time=(("case", "lead_time"), valid_time))
    attrs = {**PRECIP_ATTRS, "cell_methods": f"time: mean (interval: {step} comment: valid_time is the end)",
             "model": _model_name(task)}
    return xr.DataArray(values.astype(np.float32), dims=("case", "lead_time", "y", "x"), coords=coords,
                        name="precip", attrs=attrs)


def _model_name(task) -> str:
    return str(task.hparams.get("model") or type(task.model).__name__)


@torch.no_grad()
def _predict(task, batch: Mapping[str, torch.Tensor]) -> np.ndarray:
    """Rain rates (mm/h) of a batch, on the task's device, as float32 numpy."""
    device = next(task.parameters()).device
    batch = {name: value.to(device) for name, value in batch.items() if torch.is_tensor(value)}
    return task.predict_rates(batch).float().cpu().numpy()


def predict_windows(task, dataset: WindowDataset, issue_times, template: xr.DataArray, step,
                    batch_size: int = 4) -> xr.DataArray:
    """Forecasts of ``task`` for the windows of ``dataset`` issued at ``issue_times``.

    Parameters
    ----------
    task : averse.train.RegressionTask
        A trained task (``predict_rates`` gives mm/h); put in eval mode here.
    dataset : averse.data.WindowDataset
        Windows over full frames (a data module built with ``crop=None``).
    issue_times : array_like of datetime64
        Cases; each must be the analysis time of a window of ``dataset``.
    template : xr.DataArray
        A frame (or sequence) on the grid of the windows: its ``y``/``x``/``lat``/
        ``lon``/``spatial_ref`` become the forecast's.
    step : str or Timedelta
        Time step of the frames (the lead-time step).
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    xr.DataArray
        ``(case, lead_time, y, x)`` float32 mm/h.

    Raises
    ------
    KeyError
        If an issue time is not the analysis time of a window of ``dataset``.
    """
    if dataset.crop != (template.sizes["y"], template.sizes["x"]):
        raise ValueError(f"the windows are {dataset.crop} pixels but the template grid is "
                         f"{(template.sizes['y'], template.sizes['x'])}: build the data module with crop=None")
    issue = pd.DatetimeIndex(np.asarray(issue_times, dtype="datetime64[ns]"))
    position = window_issue_times(dataset).get_indexer(issue)
    if (position < 0).any():
        raise KeyError(f"no window issued at {', '.join(map(str, issue[position < 0][:5]))}")
    task.eval()
    parts = [_predict(task, dataset[[int(i) for i in position[k:k + batch_size]]])
             for k in range(0, len(position), batch_size)]
    return _wrap(np.concatenate(parts), issue, pd.Timedelta(step), template, task)


def takes_auxiliary_inputs(task) -> bool:
    """Whether ``task`` needs more than radar frames (DEM, infrared, training statistics)."""
    config = task.input_config
    return bool(config.dem or config.ir_channels or config.stats)


def predict_sequence(task, sequence: xr.DataArray, issue_times, timestep=None) -> xr.DataArray:
    """Forecasts of a radar-only ``task`` from the frames of a plain sequence.

    Parameters
    ----------
    task : averse.train.RegressionTask
        A trained task whose input configuration has no auxiliary input.
    sequence : xr.DataArray
        ``(time, y, x)`` rain rates (mm/h, NaN missing), lazy or not; only the
        ``n_in`` frames before each issue time are read.
    issue_times : array_like of datetime64
        Cases; each needs ``n_in`` frames at the regular step ending at it.
    timestep : str or Timedelta, optional
        The step of the frames; the smallest spacing of ``sequence.time`` if None.

    Returns
    -------
    xr.DataArray
        ``(case, lead_time, y, x)`` float32 mm/h, ``n_out`` leads at ``timestep``.

    Raises
    ------
    ValueError
        If the model needs auxiliary inputs, or an issue time lacks its input frames.
    """
    config = task.input_config
    if takes_auxiliary_inputs(task):
        raise ValueError(f"{_model_name(task)} takes auxiliary inputs (dem={config.dem}, ir={config.ir_channels}, "
                         f"stats={config.stats}); only radar-only models run on a plain sequence")
    times = pd.DatetimeIndex(sequence["time"].values)
    step = pd.Timedelta(timestep) if timestep is not None else pd.Timedelta(np.diff(times.values).min())
    issue = pd.DatetimeIndex(np.asarray(issue_times, dtype="datetime64[ns]"))
    task.eval()
    forecasts = []
    for time in issue:
        wanted = time - step * np.arange(config.n_in - 1, -1, -1)
        position = times.get_indexer(wanted)
        if (position < 0).any():
            raise ValueError(f"issue time {time}: input frames {', '.join(map(str, wanted[position < 0]))} "
                             "are not in the sequence")
        frames = np.asarray(sequence.isel(time=position).values, dtype=np.float32)
        forecasts.append(_predict(task, {"radar": torch.from_numpy(frames[None])}))
    return _wrap(np.concatenate(forecasts), issue, step, sequence.isel(time=0), task)
