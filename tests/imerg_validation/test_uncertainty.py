"""Block bootstrap of the stratified scores: exact sufficient statistics, blocks by day, pairwise decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from averse.imerg_validation.uncertainty import (
    block_statistics,
    bootstrap_latent_distance,
    bootstrap_scores,
    latent_block_statistics,
    ordering_summary,
    ordering_test,
    scores_from_statistics,
    time_blocks,
)
from averse.imerg_validation.validation import (
    Stratification,
    latent_distance_by_stratum,
    stratified_scores,
    stratum_fractions,
)

SCORES = ("pixels", "pod", "far", "csi", "frequency_bias", "volume_bias", "me", "mae", "rmse", "corr")


def _world(noise_by_stratum, n_time=96, seed=0):
    """Rain on (time, 6, 8) cells; stratum k (columns k*cols..) is the truth times log-normal noise of sigma k."""
    rng = np.random.default_rng(seed)
    reference = rng.gamma(0.5, 2.0, (n_time, 6, 8)) * (rng.random((n_time, 6, 8)) < 0.6)
    labels = np.repeat(np.arange(len(noise_by_stratum)), 8 // len(noise_by_stratum))[None, None, :]
    labels = np.broadcast_to(labels, reference.shape).astype("int16")
    sigma = np.asarray(noise_by_stratum, dtype="float64")[labels]
    estimate = reference * rng.lognormal(0.0, 1.0, reference.shape) ** sigma + 0.3 * sigma * rng.random(reference.shape)
    times = pd.date_range("2021-06-01T00:30", periods=n_time, freq="30min").values
    return estimate, reference, labels, times


def test_time_blocks_put_each_half_hour_in_the_block_of_its_start():
    times = pd.to_datetime(["2021-06-01T23:30", "2021-06-02T00:00", "2021-06-02T00:30", "2021-06-02T12:30"]).values
    np.testing.assert_array_equal(time_blocks(times, "1D"), [0, 0, 1, 1])
    np.testing.assert_array_equal(time_blocks(times, "12h"), [0, 0, 1, 2])
    assert time_blocks(times.reshape(2, 2), "1D").shape == (2, 2)


def test_block_statistics_give_the_scores_of_the_direct_computation():
    estimate, reference, labels, _ = _world([0.2, 0.6, 1.2, 2.0], n_time=10)
    estimate[0, 0, 0] = np.nan
    labels = labels.copy()
    labels[1, 1, 1] = -1
    strata = Stratification("s", labels, ("a", "b", "c", "d"))
    direct = stratified_scores(estimate, reference, strata, threshold=0.5)
    stats = block_statistics(estimate, reference, strata, np.arange(10) % 3, threshold=0.5)
    assert stats.shape == (3, 4, 10)
    pooled = scores_from_statistics(stats.sum(axis=0))
    for score in SCORES:
        np.testing.assert_allclose(pooled[score], direct.loc[["a", "b", "c", "d"], score].to_numpy(dtype=float),
                                   rtol=1e-9, err_msg=score)


def test_intervals_hold_the_point_value():
    estimate, reference, labels, times = _world([0.3, 1.5], n_time=192)
    strata = Stratification("s", labels, ("good", "poor"), ("good", "poor"))
    table = stratified_scores(estimate, reference, strata)
    for block in ("1D", "2h"):
        samples = bootstrap_scores(block_statistics(estimate, reference, strata, time_blocks(times, block)),
                                   strata, n_resamples=400, seed=1)
        assert list(samples["corr"].columns) == ["good", "poor"] and len(samples["corr"]) == 400
        low, high = samples["corr"]["good"].quantile([0.02, 0.98])
        assert low < table.loc["good", "corr"] < high


def test_ordering_test_decides_each_pair_from_its_interval():
    estimate, reference, labels, times = _world([0.2, 1.0, 1.0, 3.0], n_time=192)
    strata = Stratification("s", labels, ("a", "b", "c", "d"), ("a", "b", "c", "d"))
    table = stratified_scores(estimate, reference, strata)
    samples = bootstrap_scores(block_statistics(estimate, reference, strata, time_blocks(times, "2h")), strata, 300)
    test = ordering_test(table, samples["corr"], strata, "corr")
    decisions = test["pairs"].set_index(["better", "worse"])["decision"]
    assert decisions["a", "b"] == decisions["a", "d"] == decisions["c", "d"] == "as expected"
    assert decisions["b", "c"] == "not separated"  # the same skill
    assert not test["recovered"] and test["consistent"]
    assert (test["intervals"]["low"] <= test["intervals"]["value"]).all()
    # Lower is better for the MAE: the noisier stratum d is still decided worse than a.
    by_mae = ordering_test(table, samples["mae"], strata, "mae")["pairs"].set_index(["better", "worse"])
    assert by_mae.loc[("a", "d"), "decision"] == "as expected" and by_mae.loc[("a", "d"), "difference"] > 0

    reversed_strata = Stratification("s", labels, ("a", "b", "c", "d"), ("d", "a"))
    test = ordering_test(table, samples["corr"], reversed_strata, "corr")
    assert test["pairs"]["decision"].tolist() == ["reversed"] and not test["consistent"]
    assert "1 reversed" in ordering_summary(test) and "consistent: False" in ordering_summary(test)


def test_ordering_test_ranks_tiers_and_leaves_small_strata_out():
    estimate, reference, labels, times = _world([0.2, 1.0, 1.2, 3.0], n_time=96)
    strata = Stratification("s", labels, ("a", "b", "c", "d"), (("a",), ("b", "c"), ("d",)))
    table = stratified_scores(estimate, reference, strata)
    samples = bootstrap_scores(block_statistics(estimate, reference, strata, time_blocks(times, "2h")), strata, 200)
    test = ordering_test(table, samples["corr"], strata, "corr")
    assert {(a, b) for a, b in test["pairs"][["better", "worse"]].itertuples(index=False)} == {
        ("a", "b"), ("a", "c"), ("a", "d"), ("b", "d"), ("c", "d")}
    assert test["recovered"]
    table.loc["c", "pixels"] = 10
    assert ordering_test(table, samples["corr"], strata, "corr", min_pixels=100)["left_out"] == ["c"]
    with pytest.raises(ValueError, match="no expected ordering"):
        ordering_test(table, samples["corr"], Stratification("s", labels, ("a", "b", "c", "d")), "corr")


def test_latent_bootstrap_pools_like_the_point_table():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (20, 4, 5, 5)).astype("int16")  # 20 scenes of 4 half hours
    valid = rng.random(labels.shape) > 0.1
    counts = stratum_fractions(labels, valid, 3)
    distance = rng.random((20, 4)) + labels.mean(axis=(2, 3))
    distance[0, 0] = np.nan
    strata = Stratification("s", labels, ("x", "y", "z"), ("x", "y", "z"))
    blocks = np.repeat(np.arange(5), 4)[:, None] * np.ones((1, 4), int)
    stats = latent_block_statistics(distance, counts, blocks)
    table = latent_distance_by_stratum(distance, counts, strata)
    np.testing.assert_allclose(stats[..., 1].sum(0) / stats[..., 0].sum(0), table["latent_distance"].iloc[:3])
    samples = bootstrap_latent_distance(stats, strata, n_resamples=50)
    assert samples.shape == (50, 3) and np.isfinite(samples.to_numpy()).all()
