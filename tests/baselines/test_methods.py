"""The four baselines on synthetic rain moving at a known velocity."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pysteps.utils.spectral import rapsd

from averse import baselines

SMALL_STEPS = {"n_ens_members": 5, "n_cascade_levels": 5}


def settings_of(forecast):
    return json.loads(forecast.attrs["baseline_settings"])


def run(name, past, n_leads, **kwargs):
    if name == "steps":
        kwargs = {**SMALL_STEPS, "seed": 7, **kwargs}
    return baselines.get(name)(past, n_leads, **kwargs)


def high_frequency_power(field: np.ndarray) -> float:
    """Power at wavelengths shorter than 4 pixels (radially averaged spectrum)."""
    power, frequency = rapsd(field, fft_method=np.fft, return_freq=True)
    return float(power[frequency > 0.25].sum())


def test_registry_lists_the_four_methods():
    assert baselines.available() == ["extrapolation", "persistence", "sprog", "steps"]
    assert baselines.get(" SProg ") is baselines.methods.sprog
    with pytest.raises(baselines.UnknownBaselineError, match="available baselines: extrapolation"):
        baselines.get("optical_flow")


def test_persistence_is_an_exact_copy_of_the_last_frame(rain):
    past = rain(size=32, n_frames=3)
    past[-1, :4, :4] = np.nan
    forecast = baselines.get("persistence")(past, 5)
    assert forecast.dtype == past.dtype
    for lead in range(5):
        np.testing.assert_array_equal(forecast[lead].values, past[-1].values)


def test_lucas_kanade_recovers_the_translation(moving_case):
    past, _ = moving_case
    velocity = baselines.estimate_motion(past)
    assert velocity.dims == ("component", "y", "x")
    assert velocity.sel(component="x").median() == pytest.approx(2.0, abs=0.1)
    assert velocity.sel(component="y").median() == pytest.approx(1.0, abs=0.1)


def test_extrapolation_beats_persistence_at_every_lead(moving_case):
    past, future = moving_case
    extrapolated = baselines.get("extrapolation")(past, 6)
    persisted = baselines.get("persistence")(past, 6)
    scored = np.isfinite(extrapolated.values)  # advected-in pixels are NaN, score where both exist
    mae_extrapolation = np.abs(extrapolated - future.values).where(scored).mean(["y", "x"])
    mae_persistence = np.abs(persisted - future.values).where(scored).mean(["y", "x"])
    assert (mae_extrapolation < 0.5 * mae_persistence).all()


@pytest.mark.parametrize("name", ["extrapolation", "sprog", "steps"])
def test_advected_in_pixels_follow_the_motion(moving_case, name):
    past, _ = moving_case
    last = run(name, past, 6).isel(lead_time=-1).values  # (member,) y, x
    missing = np.isnan(last)
    # rain enters from the top-left: 6 steps of (2, 1) px leave 12 columns and 6 rows unknown
    assert missing[..., :, :10].all() and missing[..., :5, :].all()
    # STEPS members follow perturbed motion: theirs bring in more from outside the grid
    known = np.s_[8:, 14:] if name != "steps" else np.s_[20:70, 30:70]
    assert not missing[..., known[0], known[1]].any()
    filled = run(name, past, 6, advected_in="zero")
    assert np.isfinite(filled.values).all()
    filled_last = filled.isel(lead_time=-1).values
    assert (filled_last[missing] == 0).all()
    np.testing.assert_array_equal(filled_last[~missing], last[~missing])


def test_sprog_is_smoother_than_its_input(rain):
    # small scales decorrelate from frame to frame, large ones persist: S-PROG damps the former
    sequence = rain(size=96, n_frames=4, small_scale_noise=0.8)
    smooth = baselines.get("sprog")(sequence, 6).values
    extrapolated = baselines.get("extrapolation")(sequence, 6).values
    inside = np.s_[16:, 16:]  # known at every lead
    observed = high_frequency_power(sequence[-1].values[inside])
    sprog_power = np.array([high_frequency_power(field[inside]) for field in smooth])
    assert np.all(sprog_power < 0.7 * observed)
    assert sprog_power[-1] < 0.5 * sprog_power[0]
    assert sprog_power[-1] < 0.5 * high_frequency_power(extrapolated[-1][inside])


def test_steps_spread_is_positive_grows_and_is_reproducible(moving_case):
    past, _ = moving_case
    ensemble = run("steps", past, 6)
    assert ensemble.sizes["member"] == SMALL_STEPS["n_ens_members"]
    values = ensemble.values
    known = np.isfinite(values).all(axis=(0, 1))
    spread = values[:, :, known].std(axis=0).mean(axis=-1)
    assert spread[0] > 0
    assert np.all(np.diff(spread) > 0)
    np.testing.assert_array_equal(run("steps", past, 6).values, values)
    assert not np.array_equal(run("steps", past, 6, seed=8).values, values, equal_nan=True)


def test_steps_without_seed_records_the_seed_it_drew(moving_case):
    past, _ = moving_case
    first = baselines.get("steps")(past, 2, **SMALL_STEPS)
    again = baselines.get("steps")(past, 2, **SMALL_STEPS, seed=settings_of(first)["seed"])
    np.testing.assert_array_equal(first.values, again.values)


@pytest.mark.parametrize("name", ["persistence", "extrapolation", "sprog", "steps"])
def test_forecast_coordinates_and_attributes(moving_case, name):
    past, _ = moving_case
    forecast = run(name, past, 4)
    expected_dims = ("lead_time", "y", "x") if name != "steps" else ("member", "lead_time", "y", "x")
    assert forecast.dims == expected_dims
    assert forecast.name == "precip" and forecast.attrs["units"] == "mm h-1"
    assert forecast.attrs["baseline"] == name
    issue = past["time"].values[-1]
    assert forecast["issue_time"].values == issue
    leads = pd.to_timedelta(forecast["lead_time"].values)
    assert list(leads) == [pd.Timedelta(minutes=5 * k) for k in range(1, 5)]
    np.testing.assert_array_equal(forecast["valid_time"].values, issue + forecast["lead_time"].values)
    for coord in ("x", "y", "lat", "lon", "spatial_ref"):
        assert forecast[coord].variable.identical(past[coord].variable)
    assert "time" not in forecast.coords


def test_time_dependent_coordinates_of_the_input_are_not_carried(rain):
    past = rain(size=32, n_frames=3)
    past = past.assign_coords(source=("time", ["a.h5", "b.h5", "c.h5"]))
    forecast = baselines.get("persistence")(past, 2)
    assert "source" not in forecast.coords and "spatial_ref" in forecast.coords


def test_settings_are_passed_to_pysteps_and_recorded(moving_case):
    past, _ = moving_case
    one = baselines.get("sprog")(past, 3, n_cascade_levels=4, num_workers=1)
    two = baselines.get("sprog")(past, 3, n_cascade_levels=4, num_workers=2)
    np.testing.assert_allclose(one.values, two.values)
    settings = settings_of(two)
    assert settings["n_cascade_levels"] == 4 and settings["num_workers"] == 2
    assert settings["motion_method"] == "LK" and settings["motion_transform"] == "dBR"
    assert not np.allclose(one.values, baselines.get("sprog")(past, 3).values, equal_nan=True)
    steps = run("steps", past, 2)
    assert settings_of(steps)["kmperpixel"] == pytest.approx(1.0)
    assert settings_of(steps)["timestep"] == 5.0


@pytest.mark.parametrize("name", ["persistence", "extrapolation", "sprog", "steps"])
def test_no_coverage_stays_nan_and_rain_is_kept_inside(rain, name):
    sequence = rain(size=64, n_frames=4)
    rows, cols = np.mgrid[:64, :64]
    outside = np.hypot(rows - 32, cols - 32) > 28
    sequence = sequence.where(xr.DataArray(~outside, dims=("y", "x")))
    forecast = run(name, sequence, 3)
    assert np.isnan(forecast.values[..., outside]).all()
    centre = forecast.values[..., 24:40, 24:40]
    assert np.isfinite(centre).all() and (centre >= 0).all()
    assert centre.max() > 1.0


@pytest.mark.parametrize("name", ["persistence", "extrapolation", "sprog", "steps"])
def test_dry_input_gives_a_dry_forecast(rain, name):
    dry = rain(size=32, n_frames=3) * 0
    forecast = run(name, dry, 2)
    assert (forecast.values == 0).all()


def _few_wet_pixels(sequence):
    sparse = sequence * 0
    sparse[:, 20, 20:23] = 2.0
    return sparse


def _frozen(sequence):
    return sequence.copy(data=np.repeat(sequence.values[-1:], sequence.sizes["time"], axis=0))


@pytest.mark.parametrize("name", ["sprog", "steps"])
@pytest.mark.parametrize("degrade", [_few_wet_pixels, _frozen], ids=["few_wet_pixels", "frozen"])
def test_degenerate_input_extrapolates_the_last_frame_and_says_so(rain, name, degrade):
    sequence = rain(size=48, n_frames=4)
    assert "degenerate_fallback" not in settings_of(run(name, sequence, 3))
    degenerate = degrade(sequence)
    with pytest.warns(baselines.DegenerateInputWarning, match=name):
        forecast = run(name, degenerate, 3)
    expected = run("extrapolation", degenerate, 3).values
    np.testing.assert_array_equal(forecast.values, np.broadcast_to(expected, forecast.shape))
    assert settings_of(forecast)["degenerate_fallback"]


def test_pysteps_progress_text_is_silenced_and_stdout_restored(moving_case, capsys):
    past, _ = moving_case
    stdout = sys.stdout
    with ThreadPoolExecutor(2) as pool:
        forecasts = list(pool.map(lambda name: run(name, past, 2), ["sprog", "steps", "sprog"]))
    assert sys.stdout is stdout
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(forecasts[0].values, forecasts[2].values)
