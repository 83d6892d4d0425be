"""How sure is a stratified ranking? Block bootstrap of the stratified scores.

Strata of IMERG sample different weather: overpasses come at different hours,
IR-dominated half hours follow long gaps. Two strata a few hundredths of
correlation apart may swap with the next week of weather. The scores are
therefore resampled by blocks of time (a day by default: rain systems live for
hours, so half hours are not independent) and every pair of strata whose
ranking is expected is decided from the interval of their difference:
``"as expected"``, ``"reversed"`` or ``"not separated"``.

The resampling works on sufficient statistics per (block, stratum) — counts,
sums, sums of squares and products, contingency counts — so any resample is
a weighted sum of blocks and its scores are exact: a thousand resamples of a
week of IMERG take well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from averse.imerg_validation.validation import Stratification, compared_strata, higher_is_better, tier_of

__all__ = [
    "time_blocks",
    "block_statistics",
    "scores_from_statistics",
    "bootstrap_scores",
    "latent_block_statistics",
    "bootstrap_latent_distance",
    "ordering_test",
    "ordering_summary",
    "DECISIONS",
]

DECISIONS = ("as expected", "reversed", "not separated")
_STATS = ("n", "sum_f", "sum_o", "sum_ff", "sum_oo", "sum_fo", "sum_abs", "hits", "misses", "false_alarms")


def time_blocks(times, length: str = "1D", interval: str = "30min") -> np.ndarray:
    """Block index of every time stamp: the block of length ``length`` holding the START of its interval.

    Parameters
    ----------
    times : array of datetime64
        END stamps of the intervals (the averse convention).
    length : str
        Block length (pandas frequency): ``"1D"`` puts the half hour ending at
        00:00 in the day it belongs to.
    interval : str
        Length of the interval each stamp ends.
    """
    starts = pd.DatetimeIndex(np.asarray(times).ravel()) - pd.Timedelta(interval)
    _, index = np.unique(starts.floor(length), return_inverse=True)
    return index.reshape(np.shape(times))


def block_statistics(imerg: np.ndarray, reference: np.ndarray, strata: Stratification, blocks: np.ndarray,
                     threshold: float = 0.1) -> np.ndarray:
    """Sufficient statistics of the stratified scores per (block, stratum).

    Parameters
    ----------
    imerg, reference : ndarray
        ``(time, y, x)`` rain rates (mm/h); pairs valid in both are used.
    strata : Stratification
        Labels of the same shape.
    blocks : ndarray of int
        ``(time,)`` block index of every half hour (:func:`time_blocks`).
    threshold : float
        Event ``value > threshold`` of the categorical scores.

    Returns
    -------
    ndarray
        ``(n_blocks, n_strata, len(_STATS))``.
    """
    imerg, reference = np.asarray(imerg, "float64"), np.asarray(reference, "float64")
    labels = strata.labels
    keep = np.isfinite(imerg) & np.isfinite(reference) & (labels >= 0)
    block = np.broadcast_to(np.asarray(blocks)[:, None, None], labels.shape)[keep]
    n_blocks, n_strata = int(np.max(blocks)) + 1, len(strata.names)
    cell = block * n_strata + labels[keep]
    f, o = imerg[keep], reference[keep]
    f_event, o_event = f > threshold, o > threshold
    columns = (np.ones_like(f), f, o, f * f, o * o, f * o, np.abs(f - o),
               f_event & o_event, ~f_event & o_event, f_event & ~o_event)
    stats = np.stack([np.bincount(cell, weights=c.astype("float64"), minlength=n_blocks * n_strata)
                      for c in columns], axis=-1)
    return stats.reshape(n_blocks, n_strata, len(_STATS))


def scores_from_statistics(stats: np.ndarray) -> dict[str, np.ndarray]:
    """Scores from summed statistics ``(..., len(_STATS))``: the columns of :func:`~.validation.stratified_scores`."""
    s = dict(zip(_STATS, np.moveaxis(stats, -1, 0)))
    n = s["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_f, mean_o = s["sum_f"] / n, s["sum_o"] / n
        cov = s["sum_fo"] / n - mean_f * mean_o
        var_f = np.maximum(s["sum_ff"] / n - mean_f**2, 0.0)
        var_o = np.maximum(s["sum_oo"] / n - mean_o**2, 0.0)
        hits, misses, false_alarms = s["hits"], s["misses"], s["false_alarms"]
        return {
            "pixels": n,
            "pod": hits / (hits + misses),
            "far": false_alarms / (hits + false_alarms),
            "csi": hits / (hits + misses + false_alarms),
            "frequency_bias": (hits + false_alarms) / (hits + misses),
            "volume_bias": s["sum_f"] / s["sum_o"],
            "me": mean_f - mean_o,
            "mae": s["sum_abs"] / n,
            "rmse": np.sqrt(np.maximum((s["sum_ff"] - 2 * s["sum_fo"] + s["sum_oo"]) / n, 0.0)),
            "corr": cov / np.sqrt(var_f * var_o),
        }


def _resampled(stats: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """``(resample, stratum, statistic)`` sums over blocks drawn with replacement."""
    n_blocks = stats.shape[0]
    weights = np.random.default_rng(seed).multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=n_resamples)
    return np.einsum("rb,bsk->rsk", weights.astype("float64"), stats)


def bootstrap_scores(stats: np.ndarray, strata: Stratification, n_resamples: int = 1000,
                     seed: int = 0) -> dict[str, pd.DataFrame]:
    """Scores of every stratum in ``n_resamples`` block-bootstrap resamples.

    Parameters
    ----------
    stats : ndarray
        From :func:`block_statistics`.
    strata : Stratification
        Names of the strata.
    n_resamples : int
    seed : int

    Returns
    -------
    dict of pandas.DataFrame
        Per score, ``(resample, stratum)``.
    """
    return {score: pd.DataFrame(values, columns=list(strata.names))
            for score, values in scores_from_statistics(_resampled(stats, n_resamples, seed)).items()}


def latent_block_statistics(distance: np.ndarray, counts: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Pixel-weighted sums of the latent distance per (block, stratum).

    Parameters
    ----------
    distance : ndarray
        ``(N, T)`` distance of each scene half hour.
    counts : ndarray
        ``(N, T, n_strata)`` from :func:`~.validation.stratum_fractions`.
    blocks : ndarray of int
        ``(N, T)`` block of each scene half hour (:func:`time_blocks` of the scenes' times).

    Returns
    -------
    ndarray
        ``(n_blocks, n_strata, 2)``: pixels and the sum of their distances.
    """
    ok = np.isfinite(distance)
    weights = np.where(ok[..., None], counts, 0.0).reshape(-1, counts.shape[-1])
    d = np.where(ok, distance, 0.0).reshape(-1, 1)
    block = np.asarray(blocks).reshape(-1)
    n_blocks = int(block.max()) + 1
    out = np.zeros((n_blocks, weights.shape[1], 2))
    np.add.at(out[..., 0], block, weights)
    np.add.at(out[..., 1], block, weights * d)
    return out


def bootstrap_latent_distance(stats: np.ndarray, strata: Stratification, n_resamples: int = 1000,
                              seed: int = 0) -> pd.DataFrame:
    """Mean latent distance of every stratum in block-bootstrap resamples: ``(resample, stratum)``."""
    resampled = _resampled(stats, n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(resampled[..., 1] / resampled[..., 0], columns=list(strata.names))


def ordering_test(table: pd.DataFrame, samples: pd.DataFrame, strata: Stratification, score: str = "corr",
                  min_pixels: int = 100, confidence: float = 0.9) -> dict:
    """Decide every expected pairwise ranking of the strata from bootstrap intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        The point scores (:func:`~.validation.stratified_scores` or
        :func:`~.validation.latent_distance_by_stratum`), with ``pixels``.
    samples : pandas.DataFrame
        ``(resample, stratum)`` values of ``score`` (:func:`bootstrap_scores`).
    strata : Stratification
        With ``expected`` tiers.
    score : str
        Higher is better unless :func:`~.validation.higher_is_better` says otherwise.
    min_pixels : int
        Strata with fewer pairs are left out.
    confidence : float
        Level of the two-sided percentile interval of each difference.

    Returns
    -------
    dict
        ``pairs``: a DataFrame with one row per pair of strata in different
        tiers (``better``, ``worse`` as expected; ``difference`` of the scores,
        positive when as expected; ``low``, ``high`` its interval;
        ``decision``); ``intervals``: the interval of each stratum's score;
        ``recovered``: every pair as expected; ``consistent``: no pair reversed;
        ``left_out``.
    """
    if strata.expected is None:
        raise ValueError(f"stratification {strata.name!r} has no expected ordering")
    sign = 1.0 if higher_is_better(score) else -1.0
    tiers = tier_of(strata)
    usable = compared_strata(table, strata, score, min_pixels)
    alpha = (1.0 - confidence) / 2.0
    rows = []
    for a in usable:
        for b in usable:
            if tiers[a] >= tiers[b]:
                continue
            diff = sign * (samples[a] - samples[b]).dropna()
            low, high = (np.quantile(diff, [alpha, 1.0 - alpha]) if len(diff) else (np.nan, np.nan))
            decision = "as expected" if low > 0 else "reversed" if high < 0 else "not separated"
            rows.append({"better": a, "worse": b,
                         "difference": sign * float(table.loc[a, score] - table.loc[b, score]),
                         "low": float(low), "high": float(high), "decision": decision})
    pairs = pd.DataFrame(rows, columns=["better", "worse", "difference", "low", "high", "decision"])
    intervals = pd.DataFrame({"value": [float(table.loc[n, score]) for n in usable],
                              "low": [float(samples[n].quantile(alpha)) for n in usable],
                              "high": [float(samples[n].quantile(1.0 - alpha)) for n in usable]}, index=usable)
    return {"score": score, "confidence": confidence, "pairs": pairs, "intervals": intervals,
            "recovered": len(pairs) > 0 and bool((pairs["decision"] == "as expected").all()),
            "consistent": len(pairs) > 0 and not bool((pairs["decision"] == "reversed").any()),
            "left_out": [n for n in tiers if n not in usable]}


def ordering_summary(test: dict) -> str:
    """One line of :func:`ordering_test`: how many pairs fell in each decision, and the verdict."""
    counts = test["pairs"]["decision"].value_counts()
    decided = ", ".join(f"{counts.get(d, 0)} {d}" for d in DECISIONS)
    return (f"pairs of {len(test['pairs'])}: {decided} ({test['confidence']:.0%} intervals) | "
            f"recovered: {test['recovered']}, consistent: {test['consistent']}")
