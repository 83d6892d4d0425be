"""Categorical (yes/no) scores at rain-rate thresholds: POD, FAR, CSI, ETS, HSS, bias...

An *event* is ``value > threshold`` (strictly greater, as pysteps'
``det_cat_fct``). :func:`contingency_table` counts hits, misses, false alarms
and correct negatives per case for all thresholds at once;
:func:`categorical_scores` turns (summed) tables into scores, with exactly
pysteps' formulas, so a threshold without events gives NaN as in pysteps.
:func:`categorical` does both, aggregating the tables over ``aggregate_dims``
first (the standard way over many cases) — pass ``aggregate_dims=()`` for
per-case scores.

NaN: a pixel where the forecast or the observation is NaN is not counted.
(pysteps' docstring says the same, but its code counts such a pixel as "no
event": a NaN forecast over observed rain becomes a miss, NaN on both sides a
correct negative. Our tests therefore compare with pysteps on the valid pairs.)

Speed: the kernel works on blocks of frames that fit in the cache; each
threshold costs one comparison per field, the masks are packed to bits
(:func:`numpy.packbits`) and counted with :func:`numpy.bitwise_count`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, as_tuple, frame_blocks, frames_of, present, split_statistics

__all__ = ["CONTINGENCY_NAMES", "SCORE_ATTRS", "contingency_table", "categorical_scores", "categorical"]

CONTINGENCY_NAMES = ("hits", "misses", "false_alarms", "correct_negatives")

#: Attributes of every categorical score (all dimensionless).
SCORE_ATTRS = {
    "pod": "probability of detection H/(H+M)",
    "far": "false alarm ratio F/(H+F)",
    "pofd": "probability of false detection (false alarm rate) F/(F+R)",
    "csi": "critical success index (threat score) H/(H+M+F)",
    "ets": "equitable threat score (Gilbert skill score)",
    "hss": "Heidke skill score 2(HR-FM)/((H+M)(M+R)+(H+F)(F+R))",
    "frequency_bias": "frequency bias (H+F)/(H+M)",
    "accuracy": "fraction correct (H+R)/N",
}


def _popcount_rows(words: np.ndarray) -> np.ndarray:
    """Number of set bits in each row of a 2-D uint64 array."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def _pack(target: np.ndarray, mask: np.ndarray, ufunc, values: np.ndarray, operand) -> None:
    """``ufunc(values, operand)`` as bits, row by row, into the byte array ``target``."""
    ufunc(values, operand, out=mask)
    target[:, : (mask.shape[1] + 7) // 8] = np.packbits(mask, axis=-1)


def _contingency_kernel(forecast: np.ndarray, observation: np.ndarray, thresholds: tuple[float, ...], n_core: int):
    """Per-case contingency counts, shape ``lead + (thresholds, 4)``."""
    forecast, observation = np.broadcast_arrays(forecast, observation)
    lead, fcst = frames_of(forecast, n_core)
    _, obs = frames_of(observation, n_core)
    n_frames = fcst.shape[0]
    fcst = fcst.reshape(n_frames, -1)
    obs = obs.reshape(n_frames, -1)
    n_pixels = fcst.shape[1]
    out = np.empty((n_frames, len(thresholds), 4), dtype=np.int64)
    blocks = list(frame_blocks(n_frames, n_pixels * fcst.itemsize))
    n_block = blocks[0].stop - blocks[0].start
    n_bytes = 8 * -(-n_pixels // 64)  # packed bits, padded to whole uint64 words
    # work buffers allocated once, reused by every block (allocation is not free)
    mask_buffer = np.empty((n_block, n_pixels), dtype=bool)
    packed_buffer = np.zeros((4, n_block, n_bytes), dtype=np.uint8)
    scratch_buffer = np.empty((n_block, n_bytes // 8), dtype=np.uint64)
    for block in blocks:
        f, o = fcst[block], obs[block]
        n = f.shape[0]
        mask, scratch = mask_buffer[:n], scratch_buffer[:n]
        packed = packed_buffer[:, :n]
        valid_f, valid_o, event_f, event_o = packed.view(np.uint64)
        _pack(packed[0], mask, np.equal, f, f)  # not NaN
        _pack(packed[1], mask, np.equal, o, o)
        n_valid = _popcount_rows(np.bitwise_and(valid_f, valid_o, out=scratch))
        for index, threshold in enumerate(thresholds):
            _pack(packed[2], mask, np.greater, f, threshold)  # NaN > t is False
            _pack(packed[3], mask, np.greater, o, threshold)
            hits = _popcount_rows(np.bitwise_and(event_f, event_o, out=scratch))
            forecast_yes = _popcount_rows(np.bitwise_and(event_f, valid_o, out=scratch))
            observed_yes = _popcount_rows(np.bitwise_and(event_o, valid_f, out=scratch))
            counts = out[block, index]
            counts[:, 0] = hits
            counts[:, 1] = observed_yes - hits
            counts[:, 2] = forecast_yes - hits
            counts[:, 3] = n_valid - forecast_yes - observed_yes + hits
    return out.reshape(lead + (len(thresholds), 4))


def contingency_table(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    thresholds: float | Sequence[float],
    dims: Sequence[str] = ("y", "x"),
) -> xr.Dataset:
    """Contingency counts per case and threshold.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields (numpy- or dask-backed) that broadcast against each other.
    thresholds : float or sequence of float
        Event thresholds, in the units of the fields; event = ``value > threshold``.
    dims : sequence of str
        Dims counted over (usually the spatial dims).

    Returns
    -------
    xr.Dataset
        ``hits``, ``misses``, ``false_alarms``, ``correct_negatives`` (int64),
        with the remaining dims of the inputs and a ``threshold`` dim. Tables
        add up: sum them over cases before calling :func:`categorical_scores`.
    """
    thresholds = tuple(float(t) for t in as_tuple(thresholds))
    dims = tuple(dims)
    stacked = apply_kernel(
        _contingency_kernel,
        forecast,
        observation,
        core_dims=dims,
        new_dims={"threshold": len(thresholds), "statistic": len(CONTINGENCY_NAMES)},
        dtype=np.int64,
        kwargs={"thresholds": thresholds, "n_core": len(dims)},
    )
    table = split_statistics(stacked, CONTINGENCY_NAMES).assign_coords(threshold=list(thresholds))
    table["threshold"].attrs.update(units=forecast.attrs.get("units", "mm h-1"))
    for name in CONTINGENCY_NAMES:
        table[name].attrs.update(long_name=name.replace("_", " "), units="1", comment="event: value > threshold")
    return table


def _scores_from_counts(hits, misses, false_alarms, correct_negatives):
    """pysteps' formulas (``det_cat_fct_compute``) on float counts; returns a stacked array."""
    h, m, f, r = (np.asarray(c, dtype="float64") for c in (hits, misses, false_alarms, correct_negatives))
    with np.errstate(divide="ignore", invalid="ignore"):
        n = h + m + f + r
        pod = h / (h + m)
        pofd = f / (f + r)
        base_rate = (h + m) / n
        scores = {
            "pod": pod,
            "far": f / (h + f),
            "pofd": pofd,
            "csi": h / (h + m + f),
            "ets": (pod - pofd) / ((1 - base_rate * pod) / (1 - base_rate) + pofd * (1 - base_rate) / base_rate),
            "hss": 2 * (h * r - f * m) / ((h + m) * (m + r) + (h + f) * (f + r)),
            "frequency_bias": (h + f) / (h + m),
            "accuracy": (h + r) / n,
        }
    return np.stack([scores[name] for name in SCORE_ATTRS], axis=-1)


def categorical_scores(table: xr.Dataset) -> xr.Dataset:
    """Scores of a (summed) contingency table.

    The formulas are pysteps' (``det_cat_fct_compute``): HSS with the factor
    2; ETS written with POD, POFD and the base rate s = (H+M)/N, which equals
    (H - H_r)/(H + M + F - H_r) with H_r = (H+M)(H+F)/N. A denominator of zero
    (for instance no observed event) gives NaN, as in pysteps.

    Parameters
    ----------
    table : xr.Dataset
        Output of :func:`contingency_table`, possibly summed over cases.

    Returns
    -------
    xr.Dataset
        ``pod, far, pofd, csi, ets, hss, frequency_bias, accuracy``
        (dimensionless), same dims as ``table``.
    """
    stacked = xr.apply_ufunc(
        _scores_from_counts,
        *(table[name] for name in CONTINGENCY_NAMES),
        output_core_dims=[["statistic"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"statistic": len(SCORE_ATTRS)}},
    )
    scores = split_statistics(stacked, tuple(SCORE_ATTRS))
    for name, long_name in SCORE_ATTRS.items():
        scores[name].attrs.update(long_name=long_name, units="1", comment="event: value > threshold")
    return scores


def categorical(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    thresholds: float | Sequence[float],
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
) -> xr.Dataset:
    """Categorical scores, contingency tables summed over ``aggregate_dims`` first.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields that broadcast against each other (NaN = missing).
    thresholds : float or sequence of float
        Event thresholds (event = ``value > threshold``).
    dims : sequence of str
        Dims counted over within a case (spatial dims).
    aggregate_dims : sequence of str
        Case dims whose tables are summed before scoring (those absent from
        the inputs are ignored); ``()`` gives per-case scores.

    Returns
    -------
    xr.Dataset
        Scores (see :func:`categorical_scores`) by ``threshold`` and the
        remaining dims (``lead_time``, ``member``...).
    """
    table = contingency_table(forecast, observation, thresholds, dims)
    aggregate = present(aggregate_dims, forecast, observation)
    if aggregate:
        table = table.sum(aggregate)
    return categorical_scores(table)
