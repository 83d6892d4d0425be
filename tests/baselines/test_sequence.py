"""Baselines over many issue times, and the observations that match them."""

import json

import numpy as np
import pandas as pd
import pytest

from averse import baselines


@pytest.fixture(scope="module")
def sequence(rain):
    return rain(size=48, n_frames=12).chunk({"time": 4})


def test_run_over_stacks_the_same_forecasts_as_single_calls(sequence):
    issue_times = sequence["time"].values[[3, 5, 8]]
    stacked = baselines.run_over(sequence, issue_times, n_in=3, n_leads=4, method="extrapolation")
    assert stacked.dims == ("issue_time", "lead_time", "y", "x")
    np.testing.assert_array_equal(stacked["issue_time"].values, issue_times)
    assert stacked["valid_time"].dims == ("issue_time", "lead_time")
    np.testing.assert_array_equal(
        stacked["valid_time"].values, issue_times[:, None] + stacked["lead_time"].values[None, :]
    )
    single = baselines.get("extrapolation")(sequence.isel(time=slice(3, 6)), 4)
    np.testing.assert_array_equal(stacked.isel(issue_time=1).values, single.values)
    assert stacked.attrs["baseline"] == "extrapolation"
    assert "lat" in stacked.coords and stacked["lat"].dims == ("y", "x")


def test_run_over_gives_each_case_its_own_reproducible_seed(sequence):
    issue_times = pd.DatetimeIndex(sequence["time"].values[[4, 6]]).tz_localize("UTC")  # aware times accepted
    kwargs = {"n_ens_members": 3, "n_cascade_levels": 4, "seed": 11}
    first = baselines.run_over(sequence, issue_times, n_in=3, n_leads=2, method="steps", **kwargs)
    again = baselines.run_over(sequence, issue_times, n_in=3, n_leads=2, method="steps", **kwargs)
    assert first.dims == ("issue_time", "member", "lead_time", "y", "x")
    np.testing.assert_array_equal(first.values, again.values)
    seeds = first["seed"].values
    assert seeds[0] != seeds[1]
    assert "spawned from 11" in json.loads(first.attrs["baseline_settings"])["seed"]
    alone = baselines.get("steps")(sequence.isel(time=slice(4, 7)), 2, **{**kwargs, "seed": int(seeds[1])})
    np.testing.assert_array_equal(first.isel(issue_time=1).values, alone.values)


def test_run_over_refuses_unknown_or_too_early_issue_times(sequence):
    times = sequence["time"].values
    with pytest.raises(baselines.BaselineInputError, match="not in the sequence"):
        baselines.run_over(sequence, [times[5] + np.timedelta64(1, "m")], 3, 2, "persistence")
    with pytest.raises(baselines.NotEnoughFramesError, match="starts too late"):
        baselines.run_over(sequence, [times[1]], 3, 2, "persistence")
    with pytest.raises(baselines.BaselineInputError, match="takes no seed"):
        baselines.run_over(sequence, [times[5]], 3, 2, "persistence", seed=1)
    with pytest.raises(baselines.UnknownBaselineError):
        baselines.run_over(sequence, [times[5]], 3, 2, "pysteps")


def test_observations_line_up_with_the_forecasts(sequence):
    times = sequence["time"].values
    issue_times = times[[3, 9]]
    observed = baselines.observed_at_leads(sequence, issue_times, n_leads=4)
    forecast = baselines.run_over(sequence, issue_times, 3, 4, "persistence")
    assert observed.dims == forecast.dims
    np.testing.assert_array_equal(observed["valid_time"].values, forecast["valid_time"].values)
    np.testing.assert_array_equal(observed.isel(issue_time=0).values, sequence.isel(time=slice(4, 8)).values)
    # issued at the 10th of 12 frames: the last two valid times are beyond the sequence
    assert np.isfinite(observed.isel(issue_time=1, lead_time=slice(0, 2)).values).all()
    assert np.isnan(observed.isel(issue_time=1, lead_time=slice(2, None)).values).all()
    mae = abs(forecast - observed).mean(["y", "x"])
    assert mae.dims == ("issue_time", "lead_time")
