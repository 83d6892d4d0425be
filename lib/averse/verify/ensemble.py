"""Ensemble scores: CRPS, rank histogram, spread-skill.

The ensemble members are a dim of the forecast (``member`` by default); the
observation has no such dim. A pixel counts only where the observation and
all members are finite (pysteps' masks).

* CRPS of the empirical distribution of the members (Hersbach 2000, as
  pysteps' ``probscores.CRPS``), computed pixel-wise in the kernel form
  ``mean |x_i - y| - 1/(2 m^2) sum |x_i - x_j|``. It agrees with pysteps to
  rounding except where the observation equals a member (zero rain on both
  sides, common with rain): pysteps' strict inequalities then drop the
  intervals around the observation and under-estimate the CRPS (for members
  (0, 0, 2) and an observation of 0, pysteps gives 0 instead of 2/9).
* Rank histogram as pysteps' ``ensscores.rankhist``: the rank of the
  observation among the members, ties broken uniformly at random between the
  lowest and the highest tied rank; with ``x_min``, pairs where the
  observation and all members are below ``x_min`` are skipped and values
  below it tie. Given a seed the random draws are the same as pysteps' after
  ``numpy.random.seed(seed)`` for one field (one draw per tied pixel, in
  C order, restarted in every dask chunk).
* Spread-skill: the ensemble spread sqrt(mean ensemble variance, ddof=1)
  against the RMSE of the ensemble mean; the ratio includes the finite
  ensemble factor sqrt((m+1)/m) (Fortin et al. 2014), so a reliable ensemble
  scores 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, frames_of, present, split_statistics, units_of

__all__ = ["crps", "rank_histogram", "spread_skill"]


def _member_frames(forecast: np.ndarray, observation: np.ndarray, n_core: int):
    """Broadcast and flatten to ``(frames, members, pixels)`` and ``(frames, pixels)``."""
    forecast, observation = np.broadcast_arrays(forecast, np.expand_dims(observation, -n_core - 1))
    lead, fcst = frames_of(forecast, n_core + 1)
    _, obs = frames_of(observation[(Ellipsis, 0) + (slice(None),) * n_core], n_core)
    fcst = fcst.reshape(fcst.shape[0], fcst.shape[1], -1).astype(np.float64, copy=False)
    obs = obs.reshape(obs.shape[0], -1).astype(np.float64, copy=False)
    valid = np.isfinite(obs) & np.isfinite(fcst).all(axis=1)
    return lead, fcst, obs, valid


def _crps_kernel(forecast, observation, n_core: int):
    """Sum of pixel CRPS and number of valid pixels per case, shape ``lead + (2,)``."""
    lead, fcst, obs, valid = _member_frames(forecast, observation, n_core)
    n_members = fcst.shape[1]
    absolute = np.abs(fcst - obs[:, None, :]).mean(axis=1)
    weights = 2.0 * np.arange(1, n_members + 1) - n_members - 1
    spread = np.einsum("m,fmn->fn", weights, np.sort(fcst, axis=1)) / n_members**2
    pointwise = np.where(valid, absolute - spread, 0.0)
    out = np.stack([pointwise.sum(axis=-1), valid.sum(axis=-1)], axis=-1)
    return out.reshape(lead + (2,))


def _rank_kernel(forecast, observation, n_core: int, x_min: float | None, seed: int | None):
    """Rank counts per case, shape ``lead + (members + 1,)``."""
    lead, fcst, obs, valid = _member_frames(forecast, observation, n_core)
    n_frames, n_members, _ = fcst.shape
    if x_min is not None:
        valid &= (obs >= x_min) | (fcst >= x_min).any(axis=1)
        fcst = np.where(fcst < x_min, x_min - 1, fcst)
        obs = np.where(obs < x_min, x_min - 1, obs)
    below = (fcst < obs[:, None, :]).sum(axis=1)
    equal = (fcst == obs[:, None, :]).sum(axis=1)
    tied = valid & (equal > 0)
    draws = np.random.RandomState(seed).uniform(0.0, 1.0, size=int(tied.sum()))
    rank = below.copy()
    rank[tied] = (below[tied] + draws * (equal[tied] + 1)).astype(rank.dtype)
    index = np.arange(n_frames)[:, None] * (n_members + 1) + rank
    counts = np.bincount(index[valid], minlength=n_frames * (n_members + 1))
    return counts.reshape(lead + (n_members + 1,))


def _spread_kernel(forecast, observation, n_core: int):
    """Summed ensemble variance, summed squared error of the mean, pixels; shape ``lead + (3,)``."""
    lead, fcst, obs, valid = _member_frames(forecast, observation, n_core)
    variance = np.where(valid, np.var(fcst, axis=1, ddof=1), 0.0)
    error = np.where(valid, fcst.mean(axis=1) - obs, 0.0)
    out = np.stack([variance.sum(axis=-1), (error * error).sum(axis=-1), valid.sum(axis=-1)], axis=-1)
    return out.reshape(lead + (3,))


def _ensemble_statistics(kernel, names, forecast, observation, member_dim, dims, aggregate_dims, **kwargs):
    """Run an ensemble kernel, name its outputs and sum them over ``aggregate_dims``."""
    if member_dim not in forecast.dims:
        raise ValueError(f"the forecast has no ensemble dim {member_dim!r} (dims: {forecast.dims})")
    dims = tuple(dims)
    sizes = {"statistic": len(names)} if names else {"rank": forecast.sizes[member_dim] + 1}
    stacked = apply_kernel(
        kernel,
        forecast,
        observation,
        core_dims=[(member_dim,) + dims, dims],
        new_dims=sizes,
        dtype=np.float64 if names else np.int64,
        kwargs={"n_core": len(dims), **kwargs},
    )
    aggregate = present(aggregate_dims, forecast, observation)
    if aggregate:
        stacked = stacked.sum(aggregate)
    return split_statistics(stacked, names) if names else stacked


def crps(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    member_dim: str = "member",
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.DataArray:
    """Continuous ranked probability score of an ensemble, averaged over valid pixels.

    Parameters
    ----------
    forecast : xr.DataArray
        Ensemble with a ``member_dim``.
    observation : xr.DataArray
        Verifying field (no member dim).
    member_dim : str
        Name of the ensemble dim.
    dims : sequence of str
        Dims averaged over within a case.
    aggregate_dims : sequence of str
        Case dims pooled (sum of pixel CRPS over sum of pixels, as
        pysteps' ``CRPS_accum``); ``()`` for per-case values.

    Returns
    -------
    xr.DataArray
        ``crps`` in the units of the fields; NaN without a valid pixel.
    """
    sums = _ensemble_statistics(
        _crps_kernel, ("crps_sum", "count"), forecast, observation, member_dim, dims, aggregate_dims
    )
    score = sums["crps_sum"] / sums["count"].where(sums["count"] > 0)
    return score.rename("crps").assign_attrs(long_name="continuous ranked probability score", units=units_of(observation))


def rank_histogram(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    member_dim: str = "member",
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
    x_min: float | None = None,
    normalize: bool = True,
    seed: int | None = None,
) -> xr.DataArray:
    """Rank histogram (Talagrand diagram) of the observation among the members.

    Parameters
    ----------
    forecast, observation, member_dim, dims, aggregate_dims
        As :func:`crps`.
    x_min : float, optional
        Intensity below which values tie and pairs that are all below are
        skipped (pysteps' ``X_min``).
    normalize : bool
        Relative frequencies (summing to one) instead of counts.
    seed : int, optional
        Seed of the tie-breaking draws.

    Returns
    -------
    xr.DataArray
        ``rank_histogram`` with a ``rank`` dim of ``members + 1`` bins.
    """
    counts = _ensemble_statistics(
        _rank_kernel, (), forecast, observation, member_dim, dims, aggregate_dims, x_min=x_min, seed=seed
    )
    counts = counts.assign_coords(rank=np.arange(counts.sizes["rank"]))
    if normalize:
        total = counts.sum("rank")
        counts = counts / total.where(total > 0)
    return counts.rename("rank_histogram").assign_attrs(
        long_name="rank histogram" + (" (relative frequency)" if normalize else " (counts)"), units="1"
    )


def spread_skill(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    member_dim: str = "member",
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.Dataset:
    """Ensemble spread against the RMSE of the ensemble mean.

    Parameters
    ----------
    forecast, observation, member_dim, dims, aggregate_dims
        As :func:`crps`; needs at least two members.

    Returns
    -------
    xr.Dataset
        ``ensemble_spread`` = sqrt(mean variance, ddof=1),
        ``ensemble_mean_rmse``, and ``spread_skill_ratio`` =
        sqrt((m+1)/m) * spread / rmse.
    """
    n_members = forecast.sizes.get(member_dim, 0)
    if n_members < 2:
        raise ValueError(f"spread-skill needs at least two members along {member_dim!r}, got {n_members}")
    sums = _ensemble_statistics(
        _spread_kernel, ("variance_sum", "squared_error_sum", "count"), forecast, observation, member_dim, dims, aggregate_dims
    )
    count = sums["count"].where(sums["count"] > 0)
    spread = np.sqrt(sums["variance_sum"] / count)
    rmse = np.sqrt(sums["squared_error_sum"] / count)
    units = units_of(observation)
    result = xr.Dataset(
        {
            "ensemble_spread": spread.assign_attrs(long_name="ensemble spread sqrt(mean variance)", units=units),
            "ensemble_mean_rmse": rmse.assign_attrs(long_name="RMSE of the ensemble mean", units=units),
            "spread_skill_ratio": (np.sqrt((n_members + 1) / n_members) * spread / rmse.where(rmse > 0)).assign_attrs(
                long_name="spread-skill ratio sqrt((m+1)/m) spread / rmse", units="1"
            ),
        }
    )
    return result
