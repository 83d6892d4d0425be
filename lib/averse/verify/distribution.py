"""Distribution scores (the statistical axis of the IR-retrieval track).

Histograms, quantiles (QQ plots, 99th and 99.9th percentiles), the
Wasserstein-1 distance between the forecast and observed distributions, and
the wet fraction. Each is computed over the *pooled* pixels of ``dims`` and
``aggregate_dims`` (all pixels of all cases), separately for each remaining
dim (``lead_time``, ``model``...). Pooling over cases needs all of them in
one chunk per kernel call: with dask the pooled dims are merged into one
chunk (memory: one pooled sample per remaining index).

:func:`distribution` compares a forecast with an observation on the valid
pairs only (a pixel NaN in either field is dropped from both), so both
distributions describe the same place and time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, frames_of, pair_valid, present, units_of

__all__ = ["DEFAULT_BINS", "quantiles", "histogram", "wet_fraction", "wasserstein", "distribution"]

#: Rain-rate bin edges (mm/h) of :func:`histogram`; bins are [lower, upper).
DEFAULT_BINS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, np.inf)


def _pooled_dims(field: xr.DataArray, dims: Sequence[str], aggregate_dims: Sequence[str]) -> tuple[str, ...]:
    return present(aggregate_dims, field) + tuple(dims)


def _quantile_kernel(field, n_core: int, probabilities: tuple[float, ...]):
    lead, samples = frames_of(field, n_core)
    samples = samples.reshape(samples.shape[0], -1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        values = np.nanquantile(samples, probabilities, axis=1)
    return np.moveaxis(values, 0, -1).reshape(lead + (len(probabilities),))


def _histogram_kernel(field, n_core: int, edges: tuple[float, ...]):
    lead, samples = frames_of(field, n_core)
    samples = samples.reshape(samples.shape[0], -1)
    n_bins = len(edges) - 1
    index = np.searchsorted(np.asarray(edges), samples, side="right") - 1
    inside = (index >= 0) & (index < n_bins) & ~np.isnan(samples)
    flat = (np.arange(samples.shape[0])[:, None] * n_bins + index)[inside]
    counts = np.bincount(flat, minlength=samples.shape[0] * n_bins)
    return counts.reshape(lead + (n_bins,))


def _wet_kernel(field, n_core: int, threshold: float):
    lead, samples = frames_of(field, n_core)
    samples = samples.reshape(samples.shape[0], -1)
    valid = (~np.isnan(samples)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = (samples > threshold).sum(axis=1) / valid
    return fraction.reshape(lead)


def _wasserstein_kernel(forecast, observation, n_core: int):
    forecast, observation = np.broadcast_arrays(forecast, observation)
    lead, fcst = frames_of(forecast, n_core)
    _, obs = frames_of(observation, n_core)
    fcst = fcst.reshape(fcst.shape[0], -1).astype(np.float64, copy=False)
    obs = obs.reshape(obs.shape[0], -1).astype(np.float64, copy=False)
    valid = ~(np.isnan(fcst) | np.isnan(obs))
    # same number of valid values in both: sorted, the NaN line up at the end
    sorted_f = np.sort(np.where(valid, fcst, np.nan), axis=1)
    sorted_o = np.sort(np.where(valid, obs, np.nan), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.nansum(np.abs(sorted_f - sorted_o), axis=1) / valid.sum(axis=1)
    return distance.reshape(lead)


def quantiles(
    field: xr.DataArray,
    probabilities: Sequence[float] = (0.5, 0.9, 0.99, 0.999),
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.DataArray:
    """Quantiles of the pooled non-NaN values (numpy's linear interpolation).

    Returns
    -------
    xr.DataArray
        ``quantile`` by ``probability`` (0.99 and 0.999 give the 99th and
        99.9th percentiles), in the units of the field.
    """
    probabilities = tuple(float(p) for p in probabilities)
    pooled = _pooled_dims(field, dims, aggregate_dims)
    result = apply_kernel(
        _quantile_kernel,
        field,
        core_dims=pooled,
        new_dims={"probability": len(probabilities)},
        dtype=np.float64,
        kwargs={"n_core": len(pooled), "probabilities": probabilities},
    )
    result = result.assign_coords(probability=list(probabilities))
    return result.rename("quantile").assign_attrs(long_name="quantile of the pooled values", units=units_of(field))


def histogram(
    field: xr.DataArray,
    bins: Sequence[float] = DEFAULT_BINS,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.DataArray:
    """Counts of the pooled values in bins ``[lower, upper)``; NaN and values outside are not counted.

    Returns
    -------
    xr.DataArray
        ``histogram`` (int64) with a ``bin`` dim and ``bin_lower``/``bin_upper``
        coordinates.
    """
    edges = tuple(float(edge) for edge in bins)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be at least two increasing edges, got {edges}")
    pooled = _pooled_dims(field, dims, aggregate_dims)
    result = apply_kernel(
        _histogram_kernel,
        field,
        core_dims=pooled,
        new_dims={"bin": len(edges) - 1},
        dtype=np.int64,
        kwargs={"n_core": len(pooled), "edges": edges},
    )
    units = units_of(field)
    result = result.assign_coords(
        bin=np.arange(len(edges) - 1),
        bin_lower=("bin", list(edges[:-1]), {"units": units}),
        bin_upper=("bin", list(edges[1:]), {"units": units}),
    )
    return result.rename("histogram").assign_attrs(long_name="number of values in [bin_lower, bin_upper)", units="1")


def wet_fraction(
    field: xr.DataArray,
    threshold: float = 0.1,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.DataArray:
    """Fraction of the pooled non-NaN values above ``threshold`` (``value > threshold``)."""
    pooled = _pooled_dims(field, dims, aggregate_dims)
    result = apply_kernel(
        _wet_kernel,
        field,
        core_dims=pooled,
        new_dims={},
        dtype=np.float64,
        kwargs={"n_core": len(pooled), "threshold": float(threshold)},
    )
    return result.rename("wet_fraction").assign_attrs(
        long_name=f"fraction of values above {threshold:g} {units_of(field)}", units="1"
    )


def wasserstein(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.DataArray:
    """Wasserstein-1 (earth mover's) distance between the pooled distributions.

    On the valid pairs both samples have the same size ``n``, so the distance
    is ``mean |sort(forecast) - sort(observation)|``, the value
    ``scipy.stats.wasserstein_distance`` gives for the same two samples.

    Returns
    -------
    xr.DataArray
        ``wasserstein`` in the units of the fields; NaN without valid pairs.
    """
    pooled = present(aggregate_dims, forecast, observation) + tuple(dims)
    result = apply_kernel(
        _wasserstein_kernel,
        forecast,
        observation,
        core_dims=pooled,
        new_dims={},
        dtype=np.float64,
        kwargs={"n_core": len(pooled)},
    )
    return result.rename("wasserstein").assign_attrs(
        long_name="Wasserstein-1 distance between forecast and observed distributions", units=units_of(observation)
    )


def distribution(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
    probabilities: Sequence[float] = (0.5, 0.9, 0.99, 0.999),
    bins: Sequence[float] = DEFAULT_BINS,
    wet_threshold: float = 0.1,
) -> xr.Dataset:
    """All distribution scores of a forecast and an observation, on the valid pairs.

    Returns
    -------
    xr.Dataset
        ``quantile_forecast``, ``quantile_observation`` (by ``probability``:
        the QQ plot), ``histogram_forecast``, ``histogram_observation`` (by
        ``bin``), ``wet_fraction_forecast``, ``wet_fraction_observation`` and
        ``wasserstein``.
    """
    paired_f, paired_o = pair_valid(forecast, observation)
    paired_f.attrs, paired_o.attrs = forecast.attrs, observation.attrs
    scores = {"wasserstein": wasserstein(forecast, observation, dims, aggregate_dims)}
    for suffix, field in (("forecast", paired_f), ("observation", paired_o)):
        scores[f"quantile_{suffix}"] = quantiles(field, probabilities, dims, aggregate_dims)
        scores[f"histogram_{suffix}"] = histogram(field, bins, dims, aggregate_dims)
        scores[f"wet_fraction_{suffix}"] = wet_fraction(field, wet_threshold, dims, aggregate_dims)
    return xr.Dataset(scores)
