"""FSS against pysteps.verification.fss on the same arrays (NaN included), and km scales."""

import numpy as np
import pytest
from _verify_fields import THRESHOLDS, grid_array, pair
from pysteps.verification import spatialscores

from averse import verify
from averse.verify.spatial import fss_statistics

SCALES = (1, 2, 3, 4, 7, 10)


def test_per_frame_fss_matches_pysteps_with_nan(rng):
    obs, fcst = pair(rng, (2, 37, 52))  # odd and even sizes, NaN pixels and blocks
    dims = ("time", "y", "x")
    scores = verify.fss(grid_array(fcst, dims), grid_array(obs, dims), THRESHOLDS, scales_pixels=SCALES, aggregate_dims=())
    for frame in range(2):
        for threshold in THRESHOLDS:
            for scale in SCALES:
                expected = spatialscores.fss(fcst[frame], obs[frame], threshold, scale)
                got = scores.isel(time=frame).sel(threshold=threshold, scale=scale).item()
                np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=f"thr {threshold} scale {scale}")


def test_fss_sums_are_accumulated_like_fss_accum(rng):
    obs, fcst = pair(rng, (4, 3, 24, 30))
    dims = ("time", "lead_time", "y", "x")
    scores = verify.fss(grid_array(fcst, dims), grid_array(obs, dims), THRESHOLDS, scales_pixels=(1, 5, 8))
    assert scores.dims == ("lead_time", "threshold", "scale")
    for lead in range(3):
        for threshold in THRESHOLDS:
            for scale in (1, 5, 8):
                state = spatialscores.fss_init(threshold, scale)
                for time in range(4):
                    spatialscores.fss_accum(state, fcst[time, lead], obs[time, lead])
                expected = spatialscores.fss_compute(state)
                got = scores.isel(lead_time=lead).sel(threshold=threshold, scale=scale).item()
                np.testing.assert_allclose(got, expected, atol=1e-6)


def test_windows_wider_than_127_pixels_use_wider_counts(rng):
    obs, fcst = pair(rng, (1, 20, 150), nan=False)
    scores = verify.fss(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), 1.0, scales_pixels=(130, 181))
    for scale in (130, 181):
        expected = spatialscores.fss(fcst[0], obs[0], 1.0, scale)
        np.testing.assert_allclose(scores.sel(scale=scale).item(), expected, atol=1e-6)


def test_counts_near_the_16_bit_limit_are_exact(rng):
    # everywhere raining: window counts of If + Io reach 2 * 127**2 = 32258 < 2**15
    fcst = np.full((1, 131, 131), 3.0)
    obs = fcst.copy()
    obs[0, rng.integers(0, 131, 40), rng.integers(0, 131, 40)] = 0.0
    scores = verify.fss(grid_array(fcst, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), 1.0, scales_pixels=(127, 128))
    for scale in (127, 128):
        expected = spatialscores.fss(fcst[0], obs[0], 1.0, scale)
        assert expected < 1.0
        np.testing.assert_allclose(scores.sel(scale=scale).item(), expected, atol=1e-9)


def test_scales_in_km_use_the_grid_spacing(rng):
    obs, fcst = pair(rng, (1, 30, 30), nan=False)
    dims = ("time", "y", "x")
    forecast, observed = grid_array(fcst, dims, spacing_m=2000.0), grid_array(obs, dims, spacing_m=2000.0)
    scores = verify.fss(forecast, observed, 5.0, scales_km=(1.0, 5.0, 20.0))
    assert list(scores["scale_pixels"].values) == [1, 3, 10]
    assert scores["scale"].attrs["units"] == "km"
    for km, pixels in zip((1.0, 5.0, 20.0), (1, 3, 10)):
        np.testing.assert_allclose(scores.sel(scale=km).item(), spatialscores.fss(fcst[0], obs[0], 5.0, pixels), atol=1e-6)
    assert verify.scales_to_pixels((0.4, 5, 7.5), 2.5) == (1, 2, 3)


def test_no_event_gives_nan_and_perfect_forecast_one(rng):
    obs, _ = pair(rng, (2, 16, 16), nan=False)
    obs[1] = 0.0
    observed = grid_array(obs, ("time", "y", "x"))
    scores = verify.fss(observed, observed, 1.0, scales_pixels=(1, 3), aggregate_dims=())
    assert np.isnan(scores.isel(time=1)).all()
    np.testing.assert_allclose(scores.isel(time=0), 1.0)


def test_statistics_and_argument_checks(rng):
    obs, fcst = pair(rng, (1, 12, 12))
    dims = ("time", "y", "x")
    statistics = fss_statistics(grid_array(fcst, dims), grid_array(obs, dims), (1.0,), (3,))
    assert set(statistics.data_vars) == {"fss_numerator", "fss_denominator"}
    with pytest.raises(ValueError, match="exactly one"):
        verify.fss(grid_array(fcst, dims), grid_array(obs, dims), 1.0)
    with pytest.raises(ValueError, match="at least one pixel"):
        fss_statistics(grid_array(fcst, dims), grid_array(obs, dims), 1.0, 0)
