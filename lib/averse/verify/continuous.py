"""Continuous scores: mean error, MAE, MSE, RMSE and Pearson correlation.

:func:`continuous_statistics` reduces each case to sufficient statistics
(count, means, centred second moments, summed absolute and squared errors);
:func:`aggregate_statistics` merges them over cases with the exact pairwise
formulas of Chan et al. (1979) — the ones pysteps' ``det_cont_fct_accum``
uses — so the correlation over many cases is the correlation of all pooled
pairs, without the cancellation of raw sums of squares. The scores follow
pysteps' ``det_cont_fct`` (population moments).

NaN: pairs where the forecast or the observation is NaN are left out of every
statistic. (pysteps' ``det_cont_fct`` leaves them out of the errors, but
computes the variances of the correlation from all finite values of each
field separately, so its correlation differs when the two fields have NaN in
different places. Our tests compare with pysteps on the valid pairs.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, frame_blocks, frames_of, present, split_statistics, units_of

__all__ = ["STATISTIC_NAMES", "continuous_statistics", "aggregate_statistics", "continuous_scores", "continuous"]

STATISTIC_NAMES = (
    "count",
    "mean_forecast",
    "mean_observation",
    "m2_forecast",
    "m2_observation",
    "comoment",
    "sum_absolute_error",
    "sum_squared_error",
)


def _statistics_kernel(forecast: np.ndarray, observation: np.ndarray, n_core: int) -> np.ndarray:
    """Per-case sufficient statistics, shape ``lead + (8,)`` (means are 0 for empty cases)."""
    forecast, observation = np.broadcast_arrays(forecast, observation)
    lead, fcst = frames_of(forecast, n_core)
    _, obs = frames_of(observation, n_core)
    n_frames = fcst.shape[0]
    fcst = fcst.reshape(n_frames, -1)
    obs = obs.reshape(n_frames, -1)
    out = np.empty((n_frames, len(STATISTIC_NAMES)))
    for block in frame_blocks(n_frames, fcst.shape[1] * fcst.itemsize * 4):
        valid = ~(np.isnan(fcst[block]) | np.isnan(obs[block]))
        f = np.where(valid, fcst[block], 0.0).astype(np.float64, copy=False)  # float64 sums for float32 input
        o = np.where(valid, obs[block], 0.0).astype(np.float64, copy=False)
        count = valid.sum(axis=-1)
        safe = np.maximum(count, 1)
        mean_f = f.sum(axis=-1) / safe
        mean_o = o.sum(axis=-1) / safe
        anomaly_f = np.where(valid, f - mean_f[:, None], 0.0)
        anomaly_o = np.where(valid, o - mean_o[:, None], 0.0)
        error = f - o
        out[block] = np.stack(
            [
                count,
                mean_f,
                mean_o,
                np.einsum("ij,ij->i", anomaly_f, anomaly_f),
                np.einsum("ij,ij->i", anomaly_o, anomaly_o),
                np.einsum("ij,ij->i", anomaly_f, anomaly_o),
                np.abs(error).sum(axis=-1),
                np.einsum("ij,ij->i", error, error),
            ],
            axis=-1,
        )
    return out.reshape(lead + (len(STATISTIC_NAMES),))


def continuous_statistics(
    forecast: xr.DataArray, observation: xr.DataArray, dims: Sequence[str] = ("y", "x")
) -> xr.Dataset:
    """Sufficient statistics of each case, over the valid pairs.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields that broadcast against each other (NaN = missing).
    dims : sequence of str
        Dims reduced within a case.

    Returns
    -------
    xr.Dataset
        ``count`` (valid pairs), ``mean_forecast``, ``mean_observation``,
        ``m2_forecast``, ``m2_observation`` (sums of squared anomalies),
        ``comoment`` (sum of products of anomalies), ``sum_absolute_error``,
        ``sum_squared_error``; merge cases with :func:`aggregate_statistics`.
    """
    dims = tuple(dims)
    stacked = apply_kernel(
        _statistics_kernel,
        forecast,
        observation,
        core_dims=dims,
        new_dims={"statistic": len(STATISTIC_NAMES)},
        dtype=np.float64,
        kwargs={"n_core": len(dims)},
    )
    return split_statistics(stacked, STATISTIC_NAMES)


def aggregate_statistics(statistics: xr.Dataset, dims: Sequence[str]) -> xr.Dataset:
    """Merge the statistics of the cases along ``dims`` (exact pairwise update).

    Parameters
    ----------
    statistics : xr.Dataset
        Output of :func:`continuous_statistics`.
    dims : sequence of str
        Case dims to merge.
    """
    dims = [dim for dim in dims if dim in statistics.dims]
    if not dims:
        return statistics
    count = statistics["count"]
    total = count.sum(dims)
    safe_total = total.where(total > 0, 1.0)
    mean_f = (count * statistics["mean_forecast"]).sum(dims) / safe_total
    mean_o = (count * statistics["mean_observation"]).sum(dims) / safe_total
    shift_f = statistics["mean_forecast"] - mean_f
    shift_o = statistics["mean_observation"] - mean_o
    return xr.Dataset(
        {
            "count": total,
            "mean_forecast": mean_f,
            "mean_observation": mean_o,
            "m2_forecast": (statistics["m2_forecast"] + count * shift_f**2).sum(dims),
            "m2_observation": (statistics["m2_observation"] + count * shift_o**2).sum(dims),
            "comoment": (statistics["comoment"] + count * shift_f * shift_o).sum(dims),
            "sum_absolute_error": statistics["sum_absolute_error"].sum(dims),
            "sum_squared_error": statistics["sum_squared_error"].sum(dims),
        }
    )


def continuous_scores(statistics: xr.Dataset, units: str = "mm h-1") -> xr.Dataset:
    """Scores from (aggregated) statistics; NaN where there is no valid pair.

    Parameters
    ----------
    statistics : xr.Dataset
        Output of :func:`continuous_statistics` or :func:`aggregate_statistics`.
    units : str
        Units of the fields (those of ME, MAE and RMSE).

    Returns
    -------
    xr.Dataset
        ``me`` (forecast minus observation), ``mae``, ``mse``, ``rmse``,
        ``corr`` (Pearson) and ``valid_pairs``.
    """
    count = statistics["count"]
    n = count.where(count > 0)
    mse = statistics["sum_squared_error"] / n
    corr = statistics["comoment"] / np.sqrt(statistics["m2_forecast"] * statistics["m2_observation"])
    scores = xr.Dataset(
        {
            "me": (statistics["mean_forecast"] - statistics["mean_observation"]).where(count > 0),
            "mae": statistics["sum_absolute_error"] / n,
            "mse": mse,
            "rmse": np.sqrt(mse),
            "corr": corr.where(np.isfinite(corr)),
            "valid_pairs": count.astype(np.int64),
        }
    )
    attrs = {
        "me": ("mean error (forecast minus observation)", units),
        "mae": ("mean absolute error", units),
        "mse": ("mean squared error", f"({units})2"),
        "rmse": ("root mean squared error", units),
        "corr": ("Pearson correlation coefficient", "1"),
        "valid_pairs": ("number of valid forecast-observation pairs", "1"),
    }
    for name, (long_name, unit) in attrs.items():
        scores[name].attrs.update(long_name=long_name, units=unit)
    return scores


def continuous(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.Dataset:
    """Continuous scores over ``dims``, statistics merged over ``aggregate_dims`` first.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields that broadcast against each other (NaN = missing).
    dims : sequence of str
        Dims reduced within a case (spatial dims).
    aggregate_dims : sequence of str
        Case dims pooled before scoring (absent ones are ignored); ``()``
        gives per-case scores.

    Returns
    -------
    xr.Dataset
        See :func:`continuous_scores`.
    """
    statistics = continuous_statistics(forecast, observation, dims)
    statistics = aggregate_statistics(statistics, present(aggregate_dims, forecast, observation))
    return continuous_scores(statistics, units_of(observation))
