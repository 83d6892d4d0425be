"""Categorical scores against pysteps.verification.det_cat_fct on the same arrays."""

import numpy as np
import pytest
from _verify_fields import THRESHOLDS, grid_array, pair
from pysteps.verification import detcatscores

from averse import verify

# our name -> pysteps name
PYSTEPS_NAMES = {
    "pod": "POD",
    "far": "FAR",
    "pofd": "FA",
    "csi": "CSI",
    "ets": "ETS",
    "hss": "HSS",
    "frequency_bias": "BIAS",
    "accuracy": "ACC",
}


def pysteps_scores(frames_f, frames_o, threshold):
    """pysteps on the valid pairs of each frame, tables accumulated over the frames."""
    table = detcatscores.det_cat_fct_init(threshold)
    for f, o in zip(frames_f, frames_o):
        valid = ~np.isnan(f) & ~np.isnan(o)
        detcatscores.det_cat_fct_accum(table, f[valid], o[valid])
    return {name: detcatscores.det_cat_fct_compute(table, ps)[ps] for name, ps in PYSTEPS_NAMES.items()}


def test_per_frame_scores_match_pysteps(rng):
    obs, fcst = pair(rng, (3, 40, 56))
    scores = verify.categorical(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), THRESHOLDS, aggregate_dims=())
    for frame in range(3):
        for threshold in THRESHOLDS:
            expected = pysteps_scores(fcst[frame : frame + 1], obs[frame : frame + 1], threshold)
            got = scores.sel(threshold=threshold).isel(time=frame)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name].item(), value, atol=1e-6, err_msg=f"{name} at {threshold}")


def test_tables_are_summed_before_scoring(rng):
    obs, fcst = pair(rng, (4, 2, 32, 40))  # (time, lead_time, y, x)
    dims = ("time", "lead_time", "y", "x")
    scores = verify.categorical(grid_array(fcst, dims), grid_array(obs, dims), THRESHOLDS)
    assert scores["csi"].dims == ("lead_time", "threshold")
    for lead in range(2):
        for threshold in THRESHOLDS:
            expected = pysteps_scores(fcst[:, lead], obs[:, lead], threshold)
            for name, value in expected.items():
                np.testing.assert_allclose(scores[name].isel(lead_time=lead).sel(threshold=threshold).item(), value, atol=1e-6)


def test_contingency_counts_ignore_nan_pairs(rng):
    obs, fcst = pair(rng, (1, 24, 72))  # 72 * 24 pixels: not a whole number of 64-bit words per row... per frame
    table = verify.contingency_table(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), 1.0)
    valid = ~np.isnan(fcst[0]) & ~np.isnan(obs[0])
    f, o = fcst[0][valid] > 1.0, obs[0][valid] > 1.0
    expected = [np.sum(f & o), np.sum(~f & o), np.sum(f & ~o), np.sum(~f & ~o)]
    got = [int(table[name].item()) for name in ("hits", "misses", "false_alarms", "correct_negatives")]
    assert got == expected
    assert sum(got) == valid.sum() < valid.size


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pysteps divides by zero
def test_no_event_gives_nan_like_pysteps(rng):
    obs, fcst = pair(rng, (2, 16, 16), nan=False)
    obs[:] = 0.0
    fcst[1] = 0.0
    scores = verify.categorical(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), [1.0], aggregate_dims=())
    for frame in range(2):
        expected = pysteps_scores(fcst[frame : frame + 1], obs[frame : frame + 1], 1.0)
        for name, value in expected.items():
            got = scores[name].isel(time=frame, threshold=0).item()
            assert np.isnan(got) == np.isnan(value), name
            if not np.isnan(value):
                np.testing.assert_allclose(got, value, atol=1e-6)
    assert np.isnan(scores["pod"].isel(time=0, threshold=0))


def test_all_nan_gives_nan(rng):
    obs, fcst = pair(rng, (1, 16, 16))
    obs[:] = np.nan
    scores = verify.categorical(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), THRESHOLDS)
    assert all(np.isnan(scores[name]).all() for name in PYSTEPS_NAMES)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_hss_has_the_factor_two(rng, threshold):
    obs, fcst = pair(rng, (1, 32, 32))
    table = verify.contingency_table(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), threshold)
    a, b, c, d = (float(table[name].item()) for name in ("hits", "false_alarms", "misses", "correct_negatives"))
    hss = verify.categorical_scores(table)["hss"].item()
    np.testing.assert_allclose(hss, 2 * (a * d - b * c) / ((a + c) * (c + d) + (a + b) * (b + d)), rtol=1e-12)
