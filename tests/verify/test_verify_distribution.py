"""Distribution scores: quantiles, histograms, Wasserstein-1 (scipy cross-check), wet fraction."""

import numpy as np
from _verify_fields import grid_array, pair
from scipy.stats import wasserstein_distance

from averse import verify

DIMS = ("time", "lead_time", "y", "x")


def valid_pairs(fcst, obs, lead):
    f, o = fcst[:, lead], obs[:, lead]
    valid = ~np.isnan(f) & ~np.isnan(o)
    return f[valid], o[valid]


def test_distribution_scores_pool_cases_on_valid_pairs(rng):
    obs, fcst = pair(rng, (3, 2, 30, 36))
    probabilities = (0.5, 0.99, 0.999)
    bins = (0.0, 0.1, 1.0, 5.0, 10.0, np.inf)
    scores = verify.distribution(
        grid_array(fcst, DIMS), grid_array(obs, DIMS), probabilities=probabilities, bins=bins, wet_threshold=0.1
    )
    assert scores["wasserstein"].dims == ("lead_time",)
    assert scores["quantile_forecast"].dims == ("lead_time", "probability")
    for lead in range(2):
        f, o = valid_pairs(fcst, obs, lead)
        got = scores.isel(lead_time=lead)
        np.testing.assert_allclose(got["wasserstein"].item(), wasserstein_distance(f, o), rtol=1e-9)
        np.testing.assert_allclose(got["quantile_forecast"].values, np.quantile(f, probabilities), rtol=1e-12)
        np.testing.assert_allclose(got["quantile_observation"].values, np.quantile(o, probabilities), rtol=1e-12)
        np.testing.assert_array_equal(got["histogram_observation"].values, np.histogram(o, bins)[0])
        np.testing.assert_allclose(got["wet_fraction_forecast"].item(), np.mean(f > 0.1))
        np.testing.assert_allclose(got["wet_fraction_observation"].item(), np.mean(o > 0.1))


def test_single_field_functions_and_per_case(rng):
    obs, _ = pair(rng, (2, 20, 20))
    observed = grid_array(obs, ("time", "y", "x"))
    q = verify.quantiles(observed, (0.99,), aggregate_dims=())
    for time in range(2):
        np.testing.assert_allclose(q.isel(time=time).item(), np.nanquantile(obs[time], 0.99))
    hist = verify.histogram(observed, (0.0, 1.0, 2.0))
    assert hist.sum() == np.sum((obs >= 0) & (obs < 2))
    assert list(hist["bin_upper"].values) == [1.0, 2.0]
    assert verify.wet_fraction(observed, 1.0).item() == np.sum(obs > 1.0) / np.sum(~np.isnan(obs))


def test_wasserstein_of_a_shift_is_the_shift(rng):
    obs, _ = pair(rng, (1, 16, 16), nan=False)
    observed = grid_array(obs, ("time", "y", "x"))
    np.testing.assert_allclose(verify.wasserstein(observed + 0.7, observed).item(), 0.7)
    all_nan = grid_array(np.full_like(obs, np.nan), ("time", "y", "x"))
    assert np.isnan(verify.wasserstein(observed, all_nan).item())
