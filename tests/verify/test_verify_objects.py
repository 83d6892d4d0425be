"""SAL against pysteps.verification.salscores, and the centre-of-mass displacement."""

import numpy as np
import pytest
from _verify_fields import grid_array
from pysteps.verification import salscores

from averse import verify


def blobs(shape, centres, peak=10.0, width=4.0):
    """Compact single-peak rain objects (Gaussian bumps) at ``centres`` (row, col)."""
    rows, cols = np.indices(shape)
    field = np.zeros(shape)
    for (row, col), scale in zip(centres, np.linspace(1.0, 2.0, len(centres))):
        field += scale * peak * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * width**2))
    return np.where(field > 0.05, field, 0.0)


@pytest.fixture
def cases():
    shape = (80, 100)
    obs = np.stack([blobs(shape, [(20, 20), (50, 70)]), blobs(shape, [(40, 30)]), blobs(shape, [(25, 25), (60, 40), (30, 80)])])
    fcst = np.stack([blobs(shape, [(24, 26), (52, 60)]), blobs(shape, [(40, 30), (15, 80)], width=5.0), blobs(shape, [(30, 30)])])
    obs[0, 70:, :10] = np.nan
    return fcst, obs


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pysteps
def test_sal_matches_pysteps_for_compact_objects(cases):
    fcst, obs = cases
    dims = ("time", "y", "x")
    result = verify.sal(grid_array(fcst, dims), grid_array(obs, dims), min_size=50)
    for time in range(3):
        valid = ~np.isnan(fcst[time]) & ~np.isnan(obs[time])
        f, o = np.where(valid, fcst[time], np.nan), np.where(valid, obs[time], np.nan)
        structure, amplitude, location = salscores.sal(f, o)
        got = result.isel(time=time)
        np.testing.assert_allclose(got["sal_structure"].item(), structure, atol=1e-6)
        np.testing.assert_allclose(got["sal_amplitude"].item(), amplitude, atol=1e-6)
        np.testing.assert_allclose(got["sal_location"].item(), location, atol=1e-6)
        np.testing.assert_allclose(got["sal_location_centroid"].item(), salscores._sal_l1_param(f, o), atol=1e-6)


def test_centroid_displacement_in_km(cases):
    _, obs = cases
    shifted = np.roll(obs, (3, -5), axis=(1, 2))  # 3 rows down, 5 columns left
    dims = ("time", "y", "x")
    forecast = grid_array(np.nan_to_num(shifted), dims, spacing_m=2000.0)
    observed = grid_array(np.nan_to_num(obs), dims, spacing_m=2000.0)
    result = verify.sal(forecast, observed)
    np.testing.assert_allclose(result["centroid_dx"].values, -10.0, atol=1e-9)
    np.testing.assert_allclose(result["centroid_dy"].values, 6.0, atol=1e-9)
    np.testing.assert_allclose(result["sal_structure"].values, 0.0, atol=1e-12)
    # a descending y coordinate (north-up images) flips the sign of dy
    flipped = {"y": observed["y"].values[::-1]}
    result = verify.sal(forecast.assign_coords(flipped), observed.assign_coords(flipped))
    np.testing.assert_allclose(result["centroid_dy"].values, -6.0, atol=1e-9)


def test_small_objects_and_dry_fields():
    shape = (40, 40)
    obs = blobs(shape, [(20, 20)])
    fcst = obs.copy()
    fcst[2:4, 2:4] = 9.0  # a 4-pixel object
    dims = ("y", "x")
    kept = verify.sal(grid_array(fcst, dims), grid_array(obs, dims))
    dropped = verify.sal(grid_array(fcst, dims), grid_array(obs, dims), min_size=5)
    assert kept["sal_structure"].item() != 0.0
    assert dropped["sal_structure"].item() == pytest.approx(0.0, abs=1e-12)
    dry = verify.sal(grid_array(np.zeros(shape), dims), grid_array(np.zeros(shape), dims))
    assert np.isnan(dry["sal_structure"].item()) and np.isnan(dry["sal_amplitude"].item())
    assert np.isnan(dry["sal_location"].item())
