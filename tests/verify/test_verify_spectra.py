"""RAPSD against pysteps.utils.spectral.rapsd on the same fields."""

import numpy as np
import pytest
from _verify_fields import grid_array, pair
from pysteps.utils.spectral import rapsd as pysteps_rapsd

from averse import verify


@pytest.mark.parametrize("shape", [(32, 32), (33, 47), (40, 25)])
def test_rapsd_matches_pysteps(rng, shape):
    obs, fcst = pair(rng, (2, 3) + shape, nan=False)  # (time, lead_time, y, x)
    dims = ("time", "lead_time", "y", "x")
    spectra = verify.rapsd(grid_array(fcst, dims, spacing_m=2000.0))
    assert spectra.dims == ("time", "lead_time", "wavenumber")
    for time in range(2):
        for lead in range(3):
            expected, freq = pysteps_rapsd(fcst[time, lead], fft_method=np.fft, return_freq=True, d=2.0)
            got = spectra.isel(time=time, lead_time=lead)
            np.testing.assert_allclose(got.values, expected, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(got["wavenumber"].values, freq, rtol=1e-12)
    np.testing.assert_allclose(spectra["wavelength"].values[1:], 1.0 / spectra["wavenumber"].values[1:])


def test_mean_spectrum_over_cases_and_nan_handling(rng):
    obs, _ = pair(rng, (3, 24, 24))
    observed = grid_array(obs, ("time", "y", "x"))
    assert np.isnan(verify.rapsd(observed)).all()  # every frame has NaN
    mean = verify.rapsd(observed, aggregate_dims=("time",), fill_value=0.0)
    expected = np.mean([pysteps_rapsd(np.nan_to_num(frame), fft_method=np.fft) for frame in obs], axis=0)
    np.testing.assert_allclose(mean.values, expected, rtol=1e-9)
    assert mean.attrs["units"] == "(mm h-1)2"


def test_blurred_forecast_loses_small_scale_power(rng):
    from scipy.ndimage import uniform_filter

    obs, _ = pair(rng, (1, 64, 64), nan=False)
    blurred = uniform_filter(obs, size=(1, 5, 5), mode="wrap")  # periodic, as the transform
    scores = verify.evaluate(
        grid_array(blurred, ("time", "y", "x")), grid_array(obs, ("time", "y", "x")), verify.VerificationConfig(scores=("spectra",))
    )
    ratio = scores["rapsd_ratio"]
    assert ratio.isel(wavenumber=slice(1, 4)).min() > 0.8  # large scales kept
    assert ratio.isel(wavenumber=slice(10, None)).max() < 0.1  # wavelengths under 6.4 km damped
