"""Continuous scores against pysteps.verification.det_cont_fct on the same arrays."""

import numpy as np
from _verify_fields import grid_array, pair
from pysteps.verification import detcontscores

from averse import verify

PYSTEPS_NAMES = {"me": "ME", "mae": "MAE", "mse": "MSE", "rmse": "RMSE", "corr": "corr_p"}


def pysteps_scores(frames_f, frames_o):
    """pysteps on the valid pairs of each frame, accumulated over the frames."""
    err = detcontscores.det_cont_fct_init()
    for f, o in zip(frames_f, frames_o):
        valid = ~np.isnan(f) & ~np.isnan(o)
        detcontscores.det_cont_fct_accum(err, f[valid], o[valid])
    result = detcontscores.det_cont_fct_compute(err, list(PYSTEPS_NAMES.values()))
    return {name: float(result[ps]) for name, ps in PYSTEPS_NAMES.items()}


def test_per_frame_scores_match_pysteps(rng):
    obs, fcst = pair(rng, (3, 40, 56))
    dims = ("time", "y", "x")
    scores = verify.continuous(grid_array(fcst, dims), grid_array(obs, dims), aggregate_dims=())
    for frame in range(3):
        expected = pysteps_scores(fcst[frame : frame + 1], obs[frame : frame + 1])
        for name, value in expected.items():
            np.testing.assert_allclose(scores[name].isel(time=frame).item(), value, atol=1e-6, err_msg=name)
    valid = ~np.isnan(fcst) & ~np.isnan(obs)
    assert (scores["valid_pairs"].values == valid.sum(axis=(1, 2))).all()


def test_aggregation_pools_all_pairs(rng):
    obs, fcst = pair(rng, (5, 2, 24, 32))
    fcst[:, 1] += 3.0 * np.arange(5)[:, None, None]  # case means differ: the pairwise merge matters
    dims = ("time", "lead_time", "y", "x")
    scores = verify.continuous(grid_array(fcst, dims), grid_array(obs, dims))
    assert scores["corr"].dims == ("lead_time",)
    for lead in range(2):
        expected = pysteps_scores(fcst[:, lead], obs[:, lead])
        valid = ~np.isnan(fcst[:, lead]) & ~np.isnan(obs[:, lead])
        pooled = np.corrcoef(fcst[:, lead][valid], obs[:, lead][valid])[0, 1]
        np.testing.assert_allclose(scores["corr"].isel(lead_time=lead).item(), pooled, atol=1e-9)
        for name, value in expected.items():
            np.testing.assert_allclose(scores[name].isel(lead_time=lead).item(), value, atol=1e-6, err_msg=name)


def test_all_nan_case_gives_nan(rng):
    obs, fcst = pair(rng, (2, 16, 16))
    obs[1] = np.nan
    dims = ("time", "y", "x")
    scores = verify.continuous(grid_array(fcst, dims), grid_array(obs, dims), aggregate_dims=())
    assert all(np.isnan(scores[name].isel(time=1).item()) for name in PYSTEPS_NAMES)
    assert np.isfinite(scores["rmse"].isel(time=0).item())
    assert scores["rmse"].attrs["units"] == "mm h-1"
