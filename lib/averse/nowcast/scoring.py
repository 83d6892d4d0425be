"""Scores of nowcasts over test cases: pooled skill, per-case statistics and paired bootstraps.

- :func:`score_forecasts` — every method against the same observations with
  :func:`averse.verify.evaluate` (categorical, continuous, FSS), pooled over
  cases: what :func:`averse.dashboards.results.write_nowcast_results` stores.
- :func:`case_statistics` — per-case sums from which pooled scores are rebuilt
  for any subset of cases: contingency counts (event ``value > threshold``) and
  the sum of absolute errors with its number of valid pixels. A run of notebook
  ``10_nowcast_train`` writes them (:func:`write_case_statistics`) so that a batch
  of runs can be compared case by case.
- :func:`pooled_scores` — CSI and MAE from summed statistics.
- :func:`bootstrap_difference` — mean difference of a score between two input
  configurations over the same cases (and seeds), with a percentile bootstrap
  95 % interval from resampling the cases.
- :func:`skill_table`, :func:`compare_methods`, :func:`head_to_head` — tables
  and plain true/false statements computed from the scores (the notebooks
  print these, never prose).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from averse import verify
from averse.verify.categorical import contingency_table

__all__ = [
    "score_forecasts",
    "stack_methods",
    "case_statistics",
    "write_case_statistics",
    "read_case_statistics",
    "pooled_scores",
    "bootstrap_difference",
    "skill_table",
    "compare_methods",
    "head_to_head",
    "lead_minutes",
]

#: Scores for which a larger value is better (the others: smaller is better).
HIGHER_IS_BETTER = {"csi", "pod", "hss", "ets", "fss", "corr"}


def lead_minutes(lead_time) -> np.ndarray:
    """Lead times (timedelta64) as integer minutes."""
    return (pd.to_timedelta(np.atleast_1d(np.asarray(lead_time))).total_seconds() // 60).astype(int).to_numpy()


def stack_methods(forecasts: Mapping[str, xr.DataArray]) -> xr.DataArray:
    """Forecasts by method name stacked along a ``method`` dim (their grids must be identical)."""
    if not forecasts:
        raise ValueError("no forecast to stack")
    arrays = [f.drop_vars(["valid_time", "seed"], errors="ignore").expand_dims(method=[name])
              for name, f in forecasts.items()]
    return xr.concat(arrays, dim="method", join="exact", coords="minimal", compat="override")


def score_forecasts(forecasts: Mapping[str, xr.DataArray], observed: xr.DataArray,
                    thresholds: Sequence[float] = (0.1, 1.0, 5.0), fss_scales_km: Sequence[float] = (1.0, 5.0, 20.0),
                    grid_spacing_km: float | None = None) -> xr.Dataset:
    """Scores of every method, pooled over cases.

    Parameters
    ----------
    forecasts : mapping of str to xr.DataArray
        ``(case, lead_time, y, x)`` forecasts (mm/h) by method name.
    observed : xr.DataArray
        ``(case, lead_time, y, x)`` observations on the same cases and grid.
    thresholds : sequence of float
        Rain thresholds (mm/h) of the categorical scores and the FSS.
    fss_scales_km : sequence of float
        FSS neighbourhood sizes.
    grid_spacing_km : float, optional
        Needed when ``x``/``y`` are not in metres.

    Returns
    -------
    xr.Dataset
        ``csi pod far hss ets frequency_bias ...`` (method, lead_time, threshold),
        ``mae rmse me corr ...`` (method, lead_time), ``fss`` (method, lead_time,
        threshold, scale); computed (not lazy).
    """
    config = verify.VerificationConfig(thresholds=tuple(thresholds), fss_scales_km=tuple(fss_scales_km),
                                       grid_spacing_km=grid_spacing_km, aggregate_dims=("case",),
                                       scores=("categorical", "continuous", "fss"))
    stacked = stack_methods(forecasts)
    observed = observed.drop_vars(["valid_time"], errors="ignore")
    return verify.evaluate(stacked, observed, config).compute()


def case_statistics(forecast: xr.DataArray, observed: xr.DataArray,
                    thresholds: Sequence[float] = (0.1, 1.0, 5.0)) -> xr.Dataset:
    """Per-case sums from which pooled CSI and MAE are rebuilt.

    Returns
    -------
    xr.Dataset
        ``hits, misses, false_alarms, correct_negatives`` (case, lead_time,
        threshold; event ``value > threshold``), ``abs_error`` (sum of
        ``|forecast - observed|``, mm/h) and ``valid`` (pixels where both are
        finite), (case, lead_time). Computed.
    """
    forecast = forecast.drop_vars(["valid_time"], errors="ignore")
    observed = observed.drop_vars(["valid_time"], errors="ignore")
    table = contingency_table(forecast, observed, tuple(thresholds), dims=("y", "x"))
    error = abs(forecast.astype(np.float64) - observed.astype(np.float64))
    sums = xr.Dataset({"abs_error": error.sum(("y", "x")), "valid": error.notnull().sum(("y", "x"))})
    stats = xr.merge([table, sums], compat="override", combine_attrs="drop").compute()
    keep = ["hits", "misses", "false_alarms", "correct_negatives", "abs_error", "valid"]
    stats = stats[keep].drop_vars([c for c in stats.coords if c not in ("case", "lead_time", "threshold")])
    stats.attrs = {"description": "per-case sums of averse.nowcast.scoring.case_statistics",
                   "categorical_event": "value > threshold", "abs_error_units": "mm h-1 (summed over pixels)"}
    return stats


def write_case_statistics(stats: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write :func:`case_statistics` as netCDF through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        stats.to_netcdf(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_case_statistics(path: str | os.PathLike) -> xr.Dataset:
    """Read what :func:`write_case_statistics` wrote (loaded, file closed)."""
    with xr.open_dataset(path, decode_timedelta=True) as ds:
        return ds.load()


def pooled_scores(stats: xr.Dataset, dims: Sequence[str] = ("case",)) -> xr.Dataset:
    """``csi`` (…, threshold) and ``mae`` from statistics summed over ``dims``."""
    total = stats.sum([d for d in dims if d in stats.dims])
    with np.errstate(divide="ignore", invalid="ignore"):
        events = total["hits"] + total["misses"] + total["false_alarms"]
        csi = xr.where(events > 0, total["hits"] / events, np.nan)
        mae = xr.where(total["valid"] > 0, total["abs_error"] / total["valid"], np.nan)
    return xr.Dataset({"csi": csi, "mae": mae})


def _ratio_parts(stats: xr.Dataset, score: str, threshold: float | None) -> tuple[xr.DataArray, xr.DataArray]:
    """Numerator and denominator of a pooled score, both summable over cases."""
    if score == "csi":
        stats = stats.sel(threshold=threshold)
        return stats["hits"], stats["hits"] + stats["misses"] + stats["false_alarms"]
    if score == "mae":
        return stats["abs_error"], stats["valid"]
    raise ValueError(f"score must be 'csi' or 'mae', got {score!r}")


def bootstrap_difference(stats: xr.Dataset, reference: xr.Dataset, score: str = "csi",
                         threshold: float | None = 1.0, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95, average_leads: bool = False) -> xr.Dataset:
    """Mean difference of a pooled score (``stats`` minus ``reference``) with a bootstrap interval.

    Both datasets hold :func:`case_statistics` on the same cases, optionally with
    a ``seed`` dim (training seeds, paired by value). For each lead time the
    score is pooled over the cases of each seed, differenced, and averaged over
    seeds. The interval resamples the cases with replacement (the same draw for
    both configurations and every seed: a paired bootstrap) and takes the
    percentiles of the resampled mean difference. It therefore covers the
    uncertainty from the finite set of test cases; the spread between seeds is
    in ``seed_std``.

    Parameters
    ----------
    stats, reference : xr.Dataset
        Per-case statistics of the configuration and of the reference (radar only).
    score : {"csi", "mae"}
        The score compared.
    threshold : float, optional
        Threshold (mm/h) of the CSI.
    n_boot : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the interval.
    average_leads : bool
        Average the per-lead differences over lead times (in every resample)
        and return scalars instead of per-lead values.

    Returns
    -------
    xr.Dataset
        ``difference``, ``low``, ``high``, ``seed_std`` (lead_time, unless
        ``average_leads``) and the number of cases ``n_cases``.
    """
    stats, reference = xr.align(stats, reference, join="inner")
    n_cases = stats.sizes["case"]
    if n_cases == 0:
        raise ValueError("the two configurations share no test case")
    parts = [part.transpose("case", ...) for part in (*_ratio_parts(stats, score, threshold),
                                                      *_ratio_parts(reference, score, threshold))]
    template = parts[0].isel(case=0, drop=True)
    flat = [np.asarray(part.values, dtype=np.float64).reshape(n_cases, -1) for part in parts]
    # Resampled sums as (draw counts) @ (per-case values): every draw at once.
    counts = np.stack([np.bincount(draw, minlength=n_cases) for draw in
                       np.random.default_rng(seed).integers(0, n_cases, size=(n_boot, n_cases))])
    weights = np.vstack([np.ones((1, n_cases)), counts])
    with np.errstate(divide="ignore", invalid="ignore"):
        a_num, a_den, b_num, b_den = (weights @ values for values in flat)
        diff = (a_num / a_den - b_num / b_den).reshape((n_boot + 1, *template.shape))
    per_seed = template.copy(data=diff[0])
    draws = xr.DataArray(diff[1:], dims=("resample", *template.dims), coords=template.coords)
    if average_leads:
        per_seed, draws = per_seed.mean("lead_time"), draws.mean("lead_time")
    mean_over_seeds = (lambda d: d.mean("seed")) if "seed" in template.dims else (lambda d: d)
    tail = (1.0 - level) / 2.0
    resampled = mean_over_seeds(draws)
    return xr.Dataset({
        "difference": mean_over_seeds(per_seed),
        "low": resampled.quantile(tail, dim="resample", skipna=True).drop_vars("quantile"),
        "high": resampled.quantile(1.0 - tail, dim="resample", skipna=True).drop_vars("quantile"),
        "seed_std": per_seed.std("seed") if "seed" in template.dims else xr.zeros_like(per_seed),
        "n_cases": n_cases,
    })


def skill_table(scores: xr.Dataset, leads_minutes: Sequence[int], thresholds: Sequence[float] = (1.0, 5.0),
                fss_threshold: float = 1.0, fss_scale: float | None = None) -> pd.DataFrame:
    """CSI at ``thresholds``, FSS and MAE of every method at a few lead times.

    Returns
    -------
    pandas.DataFrame
        Rows: method; columns: ``(score, lead in minutes)``. Leads not in
        ``scores`` are left out.
    """
    minutes = lead_minutes(scores["lead_time"].values)
    leads = [m for m in leads_minutes if m in minutes]
    index = [int(np.flatnonzero(minutes == m)[0]) for m in leads]
    picked = scores.isel(lead_time=index)
    columns = {}
    for threshold in thresholds:
        columns[f"CSI >{threshold:g} mm/h"] = picked["csi"].sel(threshold=threshold)
    scale = fss_scale if fss_scale is not None else float(scores["scale"].values[len(scores["scale"]) // 2])
    columns[f"FSS >={fss_threshold:g} mm/h, {scale:g} km"] = picked["fss"].sel(threshold=fss_threshold, scale=scale)
    columns["MAE mm/h"] = picked["mae"]
    frames = {name: pd.DataFrame(values.transpose("method", "lead_time").values,
                                 index=[str(m) for m in picked["method"].values], columns=leads)
              for name, values in columns.items()}
    table = pd.concat(frames, axis=1)
    table.columns.names = ["score", "lead (min)"]
    return table


def compare_methods(scores: xr.Dataset, method: str, other: str, score: str = "csi",
                    threshold: float | None = 1.0) -> pd.Series:
    """Per lead time (minutes), whether ``method`` scores better than ``other`` (NaN: undefined)."""
    a, b = (scores[score].sel({"method": name}) for name in (method, other))  # sel(method=) is sel's keyword
    if threshold is not None and "threshold" in a.dims:
        a, b = a.sel(threshold=threshold), b.sel(threshold=threshold)
    better = (a > b) if score in HIGHER_IS_BETTER else (a < b)
    defined = a.notnull() & b.notnull()
    values = np.where(defined.values, better.values, np.nan)
    return pd.Series(values, index=pd.Index(lead_minutes(a["lead_time"].values), name="lead (min)"),
                     name=f"{method} better than {other} ({score})")


def head_to_head(scores: xr.Dataset, methods: Sequence[str], others: Sequence[str] = ("persistence", "sprog"),
                 criteria: Sequence[tuple[str, float | None]] = (("csi", 1.0), ("csi", 5.0), ("mae", None))
                 ) -> pd.DataFrame:
    """Whether each of ``methods`` beats each of ``others``, score by score, counted over lead times.

    Returns
    -------
    pandas.DataFrame
        Rows ``(method, other, score)``; columns ``defined_leads`` (leads where
        both scores exist), ``better_leads`` and ``better_at_all_leads`` (True
        only when defined somewhere and better everywhere defined).
        ``others`` absent from ``scores`` are skipped.
    """
    present = set(map(str, scores["method"].values))
    rows = {}
    for method in methods:
        for other in (o for o in others if o in present and o != method):
            for score, threshold in criteria:
                better = compare_methods(scores, method, other, score, threshold).dropna()
                label = score.upper() + (f" >{threshold:g} mm/h" if threshold is not None else "")
                rows[(method, other, label)] = {"defined_leads": len(better), "better_leads": int(better.sum()),
                                                "better_at_all_leads": bool(len(better)) and bool(better.all())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if len(table):
        table.index.names = ["method", "against", "score"]
    return table
