"""IMERG against a reference, pixel by pixel and half hour by half hour, stratified by how IMERG was made.

IMERG merges microwave overpasses of many sensors, morphs them along the
motion between overpasses and blends in IR where the morphed estimate has
aged. Its error therefore depends on the sensor of the overpass, on the
time since it and on the weight of the IR. A :class:`Stratification` labels
every IMERG cell and half hour by one of these (from the V07 variables, so
real files and the twin are treated the same way):

- ``sensor``: ``MWprecipSource`` decoded to the instrument name
  (:data:`SENSORS`), ``"none"`` without an overpass in the half hour
  (not ranked); the sensors are ranked as the product states (the twin
  does) or by kind;
- ``source``: the kind of estimate, ``conical imager``, ``cross-track
  sounder``, ``infrared sounder`` (an overpass in the half hour), else
  ``morphed`` (``IRinfluence`` below ``ir_dominated_from``) or
  ``IR-dominated``;
- ``time since overpass``: :func:`minutes_to_overpass` in bins;
- ``IRinfluence`` and ``precipitationQualityIndex`` in bins.

:func:`stratified_scores` scores every stratum with :mod:`averse.verify`
(POD, FAR, CSI, frequency bias at a rain threshold; volume bias, mean error,
MAE, RMSE, Pearson correlation), and :func:`ordering_verdict` compares the
observed ranking of the strata with the expected one
(:mod:`~.uncertainty` says which pairs the sample can separate). The latent distance
between the radar and IMERG embeddings of a scene (see
:mod:`averse.imerg_validation.latent`) is stratified the same way by
:func:`latent_distance_by_stratum`: each pixel of a scene's half hour
inherits that half hour's distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from averse import verify

__all__ = [
    "SENSORS",
    "SOURCE_KINDS",
    "Stratification",
    "minutes_to_overpass",
    "stratify",
    "stratified_scores",
    "validate",
    "ordering_verdict",
    "higher_is_better",
    "tier_of",
    "compared_strata",
    "stratum_fractions",
    "latent_distance_by_stratum",
]

#: IMERG V07 ``MWprecipSource`` codes -> (instrument, kind). After the
#: IMERG technical documentation, as decoded by gpm_api.
SENSORS: dict[int, tuple[str, str]] = {
    1: ("TMI", "conical imager"), 3: ("AMSR2", "conical imager"), 4: ("SSMI", "conical imager"),
    5: ("SSMIS", "conical imager"), 6: ("AMSU-B", "cross-track sounder"), 7: ("MHS", "cross-track sounder"),
    9: ("GMI", "conical imager"), 11: ("ATMS", "cross-track sounder"), 12: ("AIRS", "infrared sounder"),
    13: ("TOVS", "infrared sounder"), 14: ("CrIS", "infrared sounder"), 15: ("AMSR-E", "conical imager"),
    16: ("SSMI F11", "conical imager"), 20: ("SAPHIR", "cross-track sounder"), 21: ("ATMS NOAA-21", "cross-track sounder"),
}
#: Kinds of estimate, best first as IMERG's design expects them.
SOURCE_KINDS = ("conical imager", "cross-track sounder", "infrared sounder", "morphed", "IR-dominated")
#: The ranking of the kinds that is expected, as tiers (best first; no order inside a tier). A morphed
#: half hour next to an imager overpass can beat a sounder's own observation (the twin's generator,
#: whose quality index is its estimate of each cell's correlation, gives its morphed half hours 0.63-0.67
#: on average against 0.55 for the MHS), so sounders and morphed estimates are not ranked.
SOURCE_TIERS = (("conical imager",), ("cross-track sounder", "infrared sounder", "morphed"), ("IR-dominated",))
#: Sensor kinds, best first, when the product does not state its sensors' ranking.
SENSOR_KIND_TIERS = ("conical imager", "cross-track sounder", "infrared sounder")
AGE_EDGES = (0.0, 30.0, 60.0, 120.0, 240.0)
IR_EDGES = (0.0, 10.0, 30.0, 50.0, 70.0, 90.0, 100.0)
QUALITY_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: Scores ranked lowest first by :func:`ordering_verdict` (so is any column named ``*distance``).
LOWER_IS_BETTER = frozenset({"far", "mae", "rmse"})


@dataclass
class Stratification:
    """A label per IMERG cell and half hour.

    Attributes
    ----------
    name : str
        What the strata are (``"source"``, ``"time since overpass"``...).
    labels : ndarray of int
        ``(time, y, x)`` index into ``names``; -1 where undefined.
    names : tuple of str
        Stratum names.
    expected : tuple of tuple of str, or None
        Tiers of names from best to worst as the IMERG design (and the twin's
        generator) expects them, no order expected inside a tier; None when
        no ordering is expected. A tuple of names is read as one name per tier.
    """

    name: str
    labels: np.ndarray
    names: tuple[str, ...]
    expected: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self):
        if self.expected is not None:
            self.expected = tuple((t,) if isinstance(t, str) else tuple(t) for t in self.expected)


def tier_of(strata: Stratification) -> dict[str, int]:
    """Expected tier of every ranked stratum (0 = best), in the order of the tiers."""
    if strata.expected is None:
        raise ValueError(f"stratification {strata.name!r} has no expected ordering")
    return {name: i for i, tier in enumerate(strata.expected) for name in tier}


def compared_strata(table: pd.DataFrame, strata: Stratification, score: str, min_pixels: int) -> list[str]:
    """The ranked strata, in tier order, with at least ``min_pixels`` pairs and a finite ``score`` in ``table``."""
    return [n for n in tier_of(strata)
            if n in table.index and table.loc[n, "pixels"] >= min_pixels and np.isfinite(table.loc[n, score])]


def higher_is_better(score: str) -> bool:
    """False for :data:`LOWER_IS_BETTER` scores and ``*distance`` columns."""
    return score not in LOWER_IS_BETTER and not score.endswith("distance")


def _fields(imerg: xr.Dataset, *names: str) -> list[np.ndarray]:
    return [np.asarray(imerg[n].transpose("time", "y", "x").values, dtype="float64") for n in names]


def minutes_to_overpass(imerg: xr.Dataset, direction: str = "nearest") -> np.ndarray:
    """Minutes between each cell's half hour and the microwave overpass its estimate comes from.

    An overpass is a half hour with ``MWprecipSource > 0``, observed
    ``MWobservationTime`` minutes after its start (the middle of the half hour
    when that is missing).

    Parameters
    ----------
    imerg : xr.Dataset
        ``MWprecipSource``, ``MWobservationTime`` on ``(time, y, x)``, ``time``
        the END of each half hour.
    direction : {"nearest", "last"}
        ``"last"``: from the last overpass to the END of the half hour (0-30 in
        the overpass's own half hour; IMERG Early's forward morphing; the
        definition of the IMERG dashboard). ``"nearest"``: the smaller of that
        and the time from the START of the half hour to the next overpass
        (Late and Final morph both ways).

    Returns
    -------
    ndarray
        ``(time, y, x)`` minutes, NaN where no overpass of the record can be
        reached in that direction.
    """
    if direction not in ("nearest", "last"):
        raise ValueError(f"direction must be 'nearest' or 'last', got {direction!r}")
    source, minute = _fields(imerg, "MWprecipSource", "MWobservationTime")
    end = ((imerg["time"].values - imerg["time"].values[0]) / np.timedelta64(1, "m")).astype("float64")[:, None, None]
    start = end - 30.0
    observed = source > 0
    when = start + np.where(np.isfinite(minute), minute, 15.0)
    last = np.maximum.accumulate(np.where(observed, when, -np.inf), axis=0)
    since = end - last
    if direction == "last":
        return np.where(np.isfinite(since), since, np.nan)
    following = np.minimum.accumulate(np.where(observed, when, np.inf)[::-1], axis=0)[::-1]
    until = following - start
    nearest = np.fmin(np.where(np.isfinite(since), since, np.nan), np.where(np.isfinite(until), until, np.nan))
    return nearest


def _binned(values: np.ndarray, edges, unit: str, closed_last: bool, open_top: str | None = None):
    labels = np.full(values.shape, -1, dtype="int16")
    names = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = closed_last and i == len(edges) - 2
        labels[(values >= lo) & ((values <= hi) if last else (values < hi))] = i
        names.append(f"[{lo:g}, {hi:g}{']' if last else ')'}{unit}")
    if open_top is not None:
        labels[values >= edges[-1]] = len(names)
        names.append(f">= {edges[-1]:g}{unit}")
        labels[np.isnan(values)] = len(names)
        names.append(open_top)
    return labels, tuple(names)


def _sensor_tiers(codes: list[int], ranking) -> tuple[tuple[str, ...], ...]:
    name = {c: SENSORS.get(c, (f"code {c}", ""))[0] for c in codes}
    if ranking is not None:
        return tuple((name[c],) for c in ranking if c in name)
    tiers = [tuple(name[c] for c in codes if SENSORS.get(c, ("", ""))[1] == kind) for kind in SENSOR_KIND_TIERS]
    return tuple(t for t in tiers if t)


def stratify(imerg: xr.Dataset, age_direction: str = "nearest", ir_dominated_from: float = 50.0,
             age_edges=AGE_EDGES, ir_edges=IR_EDGES, quality_edges=QUALITY_EDGES,
             sensor_ranking=None) -> dict[str, Stratification]:
    """The five stratifications of the module docstring, keyed by name.

    Parameters
    ----------
    imerg : xr.Dataset
        IMERG V07 variables ``MWprecipSource``, ``MWobservationTime``,
        ``IRinfluence`` (%), ``precipitationQualityIndex`` on ``(time, y, x)``.
    age_direction : {"nearest", "last"}
        See :func:`minutes_to_overpass`.
    ir_dominated_from : float
        ``IRinfluence`` (%) from which a half hour without overpass counts as
        IR-dominated rather than morphed.
    age_edges, ir_edges, quality_edges : sequence of float
        Bin edges (minutes; percent; 0-1).
    sensor_ranking : sequence of int, optional
        ``MWprecipSource`` codes from the best sensor to the worst, when the
        product states it (the twin: :func:`averse.twin.sensors.imerg.sensor_ranking`);
        otherwise conical imagers are expected before cross-track sounders,
        before infrared sounders, with no order inside a kind.
    """
    source, ir, quality = _fields(imerg, "MWprecipSource", "IRinfluence", "precipitationQualityIndex")
    codes = [int(c) for c in np.unique(source[np.isfinite(source) & (source > 0)])]
    sensor_names = tuple(SENSORS.get(c, (f"code {c}", ""))[0] for c in codes) + ("none",)
    sensor = np.full(source.shape, -1, dtype="int16")
    for i, code in enumerate(codes):
        sensor[source == code] = i
    sensor[source == 0] = len(codes)

    kind = np.full(source.shape, -1, dtype="int16")
    for code in codes:
        if code in SENSORS:  # an unknown code stays unlabelled (-1) rather than guessed
            kind[source == code] = SOURCE_KINDS.index(SENSORS[code][1])
    no_overpass = source == 0
    kind[no_overpass & (ir < ir_dominated_from)] = SOURCE_KINDS.index("morphed")
    kind[no_overpass & (ir >= ir_dominated_from)] = SOURCE_KINDS.index("IR-dominated")

    age = minutes_to_overpass(imerg, age_direction)
    age_labels, age_names = _binned(age, age_edges, " min", closed_last=False, open_top="no overpass in the record")
    ir_labels, ir_names = _binned(ir, ir_edges, " %", closed_last=True)
    q_labels, q_names = _binned(quality, quality_edges, "", closed_last=True)
    return {
        "sensor": Stratification("sensor", sensor, sensor_names, _sensor_tiers(codes, sensor_ranking)),
        "source": Stratification("source", kind, SOURCE_KINDS, SOURCE_TIERS),
        "time since overpass": Stratification(f"time since overpass ({age_direction})", age_labels, age_names,
                                              age_names[:-1]),
        "IRinfluence": Stratification("IRinfluence", ir_labels, ir_names, ir_names),
        "precipitationQualityIndex": Stratification("precipitationQualityIndex", q_labels, q_names, q_names[::-1]),
    }


def _scores(f: xr.DataArray, o: xr.DataArray, threshold: float) -> dict:
    """Scores of one non-empty set of pixel pairs."""
    categorical = verify.categorical(f, o, threshold, dims=("pixel",), aggregate_dims=()).sel(threshold=threshold)
    continuous = verify.continuous(f, o, dims=("pixel",), aggregate_dims=())
    row = {"pixels": f.size, **{score: float(categorical[score]) for score in ("pod", "far", "csi", "frequency_bias")}}
    with np.errstate(invalid="ignore", divide="ignore"):
        row["volume_bias"] = float(f.sum() / o.sum())
    row.update({score: float(continuous[score]) for score in ("me", "mae", "rmse", "corr")})
    row.update(mean_imerg=float(f.mean()), mean_reference=float(o.mean()))
    return row


def stratified_scores(imerg: np.ndarray, reference: np.ndarray, strata: Stratification,
                      threshold: float = 0.1) -> pd.DataFrame:
    """Scores of IMERG against the reference in every stratum, and over all pixels.

    Parameters
    ----------
    imerg, reference : ndarray
        ``(time, y, x)`` half-hour rain rates (mm/h), NaN where missing; only
        pairs valid in both are scored.
    strata : Stratification
        Labels of the same shape.
    threshold : float
        Rain/no-rain threshold (mm/h) of the categorical scores, event ``value > threshold``.

    Returns
    -------
    pandas.DataFrame
        One row per stratum then ``"all"``: ``pixels``, ``pod``, ``far``,
        ``csi``, ``frequency_bias``, ``volume_bias`` (sum IMERG / sum
        reference), ``me``, ``mae``, ``rmse``, ``corr``, ``mean_imerg``, ``mean_reference``.
    """
    imerg, reference = np.asarray(imerg, "float64"), np.asarray(reference, "float64")
    valid = np.isfinite(imerg) & np.isfinite(reference)
    rows = {}
    for index, name in [*enumerate(strata.names), (None, "all")]:
        keep = valid & (strata.labels == index) if index is not None else valid
        f = xr.DataArray(imerg[keep], dims="pixel")
        o = xr.DataArray(reference[keep], dims="pixel")
        rows[name] = _scores(f, o, threshold) if keep.any() else {"pixels": 0}
    table = pd.DataFrame.from_dict(rows, orient="index").astype({"pixels": int})
    table.index.name = f"{strata.name} (event > {threshold:g} mm/h)"
    return table


def validate(colocated: xr.Dataset, reference: str = "radar", threshold: float = 0.1,
             **stratify_options) -> dict[str, pd.DataFrame]:
    """Stratified scores of ``precipitation`` against ``colocated[reference]`` for every stratification.

    Parameters
    ----------
    colocated : xr.Dataset
        From :func:`averse.imerg_validation.colocation.colocate` (or any
        dataset with the IMERG V07 variables and the reference).
    reference : str
        Variable holding the reference (``"radar"``; ``"truth_precipitation"`` on the twin).
    threshold : float
        See :func:`stratified_scores`.
    **stratify_options
        Passed to :func:`stratify`.

    Returns
    -------
    dict of pandas.DataFrame
        Keyed like :func:`stratify`.
    """
    imerg, ref = _fields(colocated, "precipitation", reference)
    return {key: stratified_scores(imerg, ref, strata, threshold)
            for key, strata in stratify(colocated, **stratify_options).items()}


def ordering_verdict(table: pd.DataFrame, strata: Stratification, score: str = "corr",
                     min_pixels: int = 100) -> dict:
    """Does the observed ranking of the strata by ``score`` follow the expected one?

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`stratified_scores`.
    strata : Stratification
        With ``expected`` tiers (best first).
    score : str
        A column of ``table``; see :func:`higher_is_better`.
    min_pixels : int
        Strata with fewer valid pairs are left out of the comparison.

    Returns
    -------
    dict
        ``expected`` (the compared strata in tier order) and ``observed``
        (best first), ``values`` (the score of each), ``matches`` (every pair
        of strata in different tiers ranked as expected), ``spearman`` (rank
        correlation of observed positions and expected tiers; 1 is a perfect
        match) and ``left_out`` (too few pixels or NaN).
    """
    tiers = tier_of(strata)
    usable = compared_strata(table, strata, score, min_pixels)
    values = {n: float(table.loc[n, score]) for n in usable}
    better = higher_is_better(score)
    observed = sorted(usable, key=lambda n: values[n], reverse=better)
    spearman = np.nan
    if len(usable) >= 3 and len({tiers[n] for n in usable}) >= 2:
        spearman = float(pd.Series([tiers[n] for n in usable]).corr(
            pd.Series([observed.index(n) for n in usable]), method="spearman"))
    ranked_pairs = [(a, b) for a in usable for b in usable if tiers[a] < tiers[b]]
    matches = bool(ranked_pairs) and all((values[a] > values[b]) == better for a, b in ranked_pairs)
    return {"score": score, "expected": usable, "observed": observed, "values": values,
            "matches": matches, "spearman": spearman, "left_out": [n for n in tiers if n not in usable]}


def stratum_fractions(labels: np.ndarray, valid: np.ndarray, n_strata: int) -> np.ndarray:
    """Pixel counts of every stratum in each scene half hour.

    Parameters
    ----------
    labels : ndarray of int
        ``(..., P, P)`` stratum labels cut like the scenes (-1: none).
    valid : ndarray of bool
        Same shape: pixels scored (IMERG and reference valid).
    n_strata : int
        Number of strata.

    Returns
    -------
    ndarray
        ``(..., n_strata)`` counts.
    """
    flat = labels.reshape(*labels.shape[:-2], -1)
    keep = valid.reshape(flat.shape)
    return np.stack([((flat == k) & keep).sum(-1) for k in range(n_strata)], axis=-1).astype("float64")


def latent_distance_by_stratum(distance: np.ndarray, counts: np.ndarray, strata: Stratification,
                               baseline: float | None = None) -> pd.DataFrame:
    """Mean latent distance per stratum, every pixel inheriting its scene half hour's distance.

    Parameters
    ----------
    distance : ndarray
        ``(N, T)`` distance between the radar and IMERG embeddings of each
        scene half hour.
    counts : ndarray
        ``(N, T, n_strata)`` from :func:`stratum_fractions`; ``"all"`` pools
        the labelled pixels.
    strata : Stratification
        Names of the strata.
    baseline : float, optional
        Distance between unrelated radar scenes (chance level), reported as
        the ratio ``distance / baseline``.

    Returns
    -------
    pandas.DataFrame
        ``pixels`` and ``latent_distance`` per stratum, then ``"all"``
        (and ``relative_distance`` when ``baseline`` is given).
    """
    weights = counts.reshape(-1, counts.shape[-1])
    d = np.repeat(distance.reshape(-1, 1), weights.shape[1], axis=1)
    ok = np.isfinite(d)
    pixels = np.where(ok, weights, 0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(ok, weights * d, 0).sum(0) / pixels
        total = np.where(ok, weights * d, 0).sum() / np.where(ok, weights, 0).sum()
    table = pd.DataFrame({"pixels": np.append(pixels, pixels.sum()).astype(int),
                          "latent_distance": np.append(means, total)},
                         index=pd.Index([*strata.names, "all"], name=strata.name))
    if baseline is not None:
        table["relative_distance"] = table["latent_distance"] / baseline
    return table
