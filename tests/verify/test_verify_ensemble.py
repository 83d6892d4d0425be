"""CRPS, rank histogram and spread-skill against pysteps (probscores.CRPS, ensscores.rankhist)."""

import numpy as np
import pytest
import xarray as xr
from _verify_fields import grid_array, pair
from pysteps.verification import ensscores, probscores

from averse import verify

DIMS = ("time", "member", "y", "x")


def ensemble(rng, n_time=2, n_members=5, shape=(20, 24), ties=False):
    """Members (time, member, y, x) and observation (time, y, x); continuous values unless ``ties``."""
    obs, _ = pair(rng, (n_time,) + shape)
    members = np.stack([pair(rng, (n_time,) + shape)[1] for _ in range(n_members)], axis=1)
    if not ties:  # strictly positive, continuous: no member equals the observation
        obs = obs + rng.uniform(0.01, 0.02, obs.shape)
        members = members + rng.uniform(0.01, 0.02, members.shape)
    return grid_array(members, DIMS), grid_array(obs, ("time", "y", "x"))


def crps_by_integration(members: np.ndarray, observation: float) -> float:
    """Integral of (F_ens(x) - H(x - y))^2 over x, piecewise exact."""
    points = np.sort(np.append(members, observation))
    widths = np.diff(points)
    mids = points[:-1]
    cdf = (members[None, :] <= mids[:, None]).mean(axis=1)
    step = (mids >= observation).astype(float)
    return float(np.sum(widths * (cdf - step) ** 2))


def test_crps_matches_pysteps_per_frame_and_accumulated(rng):
    forecast, observation = ensemble(rng)
    per_frame = verify.crps(forecast, observation, aggregate_dims=())
    state = probscores.CRPS_init()
    for time in range(2):
        f, o = forecast.values[time], observation.values[time]
        np.testing.assert_allclose(per_frame.isel(time=time).item(), probscores.CRPS(f, o), rtol=1e-9)
        probscores.CRPS_accum(state, f, o)
    np.testing.assert_allclose(verify.crps(forecast, observation).item(), probscores.CRPS_compute(state), rtol=1e-9)


def test_crps_with_ties_is_the_integral(rng):
    # zero rain on both sides ties the observation with members (pysteps drops those intervals)
    members = xr.DataArray(np.array([0.0, 0.0, 2.0]).reshape(3, 1, 1), dims=("member", "y", "x"))
    observed = xr.DataArray(np.zeros((1, 1)), dims=("y", "x"))
    np.testing.assert_allclose(verify.crps(members, observed).item(), 2.0 / 9.0)
    forecast, observation = ensemble(rng, n_time=1, shape=(6, 7), ties=True)
    f, o = forecast.values[0], observation.values[0]
    valid = np.isfinite(o) & np.isfinite(f).all(axis=0)
    expected = np.mean([crps_by_integration(f[:, i, j], o[i, j]) for i, j in zip(*np.nonzero(valid))])
    np.testing.assert_allclose(verify.crps(forecast, observation).item(), expected, rtol=1e-9)


def test_rank_histogram_matches_pysteps_without_ties(rng):
    forecast, observation = ensemble(rng, n_time=3)
    counts = verify.rank_histogram(forecast, observation, normalize=False)
    state = ensscores.rankhist_init(5)
    for time in range(3):
        ensscores.rankhist_accum(state, forecast.values[time], observation.values[time])
    assert counts.dims == ("rank",)
    np.testing.assert_array_equal(counts.values, ensscores.rankhist_compute(state, normalize=False))
    np.testing.assert_allclose(verify.rank_histogram(forecast, observation).sum(), 1.0)


def test_rank_histogram_breaks_ties_like_pysteps(rng):
    forecast, observation = ensemble(rng, n_time=1, shape=(30, 30), ties=True)
    f, o = forecast.values[0], observation.values[0]
    ours = verify.rank_histogram(forecast.isel(time=0), observation.isel(time=0), x_min=0.1, normalize=False, seed=7)
    np.random.seed(7)
    expected = ensscores.rankhist(f, o, X_min=0.1, normalize=False)
    np.testing.assert_array_equal(ours.values, expected)


def test_spread_skill(rng):
    forecast, observation = ensemble(rng, n_time=2, n_members=4)
    result = verify.spread_skill(forecast, observation, aggregate_dims=())
    for time in range(2):
        f, o = forecast.values[time], observation.values[time]
        valid = np.isfinite(o) & np.isfinite(f).all(axis=0)
        spread = np.sqrt(np.var(f[:, valid], axis=0, ddof=1).mean())
        rmse = np.sqrt(np.mean((f[:, valid].mean(axis=0) - o[valid]) ** 2))
        got = result.isel(time=time)
        np.testing.assert_allclose(got["ensemble_spread"].item(), spread, rtol=1e-9)
        np.testing.assert_allclose(got["ensemble_mean_rmse"].item(), rmse, rtol=1e-9)
        np.testing.assert_allclose(got["spread_skill_ratio"].item(), np.sqrt(5 / 4) * spread / rmse, rtol=1e-9)


def test_reliable_ensemble_has_flat_histogram_and_unit_ratio():
    rng = np.random.default_rng(3)
    draws = rng.standard_normal((9, 200, 200))  # observation and 8 members from one distribution
    members = xr.DataArray(draws[1:], dims=("member", "y", "x"))
    observed = xr.DataArray(draws[0], dims=("y", "x"))
    np.testing.assert_allclose(verify.rank_histogram(members, observed).values, 1 / 9, atol=0.01)
    np.testing.assert_allclose(verify.spread_skill(members, observed)["spread_skill_ratio"].item(), 1.0, atol=0.02)


def test_dask_members_give_the_numpy_result(rng):
    forecast, observation = ensemble(rng, n_time=3)
    config = verify.VerificationConfig(scores=("ensemble",))
    expected = verify.evaluate(forecast, observation, config)
    lazy = verify.evaluate(forecast.chunk(time=1), observation.chunk(time=2), config)
    xr.testing.assert_allclose(lazy.compute(), expected)


def test_member_dim_is_required(rng):
    forecast, observation = ensemble(rng, n_time=1)
    with pytest.raises(ValueError, match="ensemble dim"):
        verify.crps(forecast.isel(member=0), observation)
    with pytest.raises(ValueError, match="two members"):
        verify.spread_skill(forecast.isel(member=[0]), observation)
