"""Network forecasts laid out like the baselines: same cases, leads, grid and values as persistence."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse import baselines
from averse.nowcast import experiment
from averse.nowcast.forecast import as_cases, match_distribution, predict_sequence, predict_windows, window_issue_times
from _nowcast_toys import SPLIT, PersistenceTask, rain_sequence


@pytest.fixture(scope="module")
def config(moving_world):
    return experiment.train_config(dataset=moving_world, n_in=3, n_out=4, crop=16, split=SPLIT, device="cpu",
                                   min_rain_fraction=0.0)


def test_windows_give_what_persistence_gives_on_the_same_cases(config, persistence_task):
    cases = experiment.evaluation_cases(config, n_cases=4, eval_size=21)
    assert cases.sequence.sizes["y"] == 21 and len(cases.issue_times) == 4
    network = cases.forecast(persistence_task)
    reference = cases.baseline("persistence")
    network, reference, observed = xr.align(network, reference, cases.observed, join="exact")
    assert network.dims == ("case", "lead_time", "y", "x")
    np.testing.assert_array_equal(network.values, reference.values)
    assert list(network["lead_time"].values) == list(pd.to_timedelta(["5min", "10min", "15min", "20min"]))
    assert not np.array_equal(network.values, observed.values)  # the rain moves


def test_sequence_path_equals_window_path(config, persistence_task):
    cases = experiment.evaluation_cases(config, n_cases=3, eval_size=21)
    from_windows = cases.forecast(persistence_task)
    from_sequence = predict_sequence(persistence_task, cases.sequence, cases.issue_times)
    xr.testing.assert_identical(from_windows.drop_vars("valid_time"), from_sequence.drop_vars("valid_time"))
    expected_valid = cases.issue_times.values[:, None] + from_windows["lead_time"].values[None, :]
    assert np.array_equal(from_sequence["valid_time"].values, expected_valid)


def test_unknown_issue_time_and_wrong_grid_are_errors(config, persistence_task):
    cases = experiment.evaluation_cases(config, n_cases=2, eval_size=21)
    dataset = cases.datamodule.datasets["test"]
    with pytest.raises(KeyError, match="no window"):
        predict_windows(persistence_task, dataset, [pd.Timestamp("1999-01-01")], cases.sequence, "5min")
    with pytest.raises(ValueError, match="crop=None"):
        predict_windows(persistence_task, dataset, cases.issue_times, cases.sequence.isel(x=slice(0, 5)), "5min")
    assert set(cases.issue_times) <= set(window_issue_times(dataset))


def test_sequence_path_refuses_auxiliary_inputs_and_missing_frames():
    sequence = rain_sequence(np.ones((8, 6, 6)))
    with pytest.raises(ValueError, match="auxiliary"):
        predict_sequence(PersistenceTask(dem=True), sequence, sequence["time"].values[[4]])
    with pytest.raises(ValueError, match="not in the sequence"):
        predict_sequence(PersistenceTask(), sequence.drop_isel(time=[3]), sequence["time"].values[[4]])


def test_as_cases_renames_the_issue_dim():
    sequence = rain_sequence(np.random.default_rng(0).random((6, 5, 5)))
    observed = baselines.observed_at_leads(sequence, sequence["time"].values[[3]], 2)
    assert as_cases(observed).dims[0] == "case"


def test_distribution_matching_keeps_ranks_and_takes_the_reference_values():
    rng = np.random.default_rng(3)
    smooth = rng.random((2, 3, 8, 8)) * 0.5  # a blurred forecast: everything below 1 mm/h
    smooth[0, :, 0, 0] = np.nan
    reference = np.where(rng.random((2, 8, 8)) < 0.3, rng.gamma(1.0, 4.0, (2, 8, 8)), 0.0)
    reference[1] = 0.0  # a dry case stays as it is
    forecast = xr.DataArray(smooth, dims=("case", "lead_time", "y", "x"))
    matched = match_distribution(forecast, xr.DataArray(reference, dims=("case", "y", "x"))).values
    for lead in range(3):
        field, valid = matched[0, lead], np.isfinite(smooth[0, lead])
        np.testing.assert_allclose(np.sort(field[valid]), np.sort(reference[0][valid]))
        by_forecast_rank = field[valid][np.argsort(smooth[0, lead][valid])]
        assert (np.diff(by_forecast_rank) >= 0).all()  # ranks kept
    assert np.isnan(matched[0, :, 0, 0]).all()
    np.testing.assert_array_equal(matched[1], smooth[1])


def test_cases_match_the_networks_to_their_last_observed_frame(config, persistence_task):
    cases = experiment.evaluation_cases(config, n_cases=3, eval_size=21)
    last = cases.last_observed
    assert list(last["case"].values) == list(cases.issue_times.values)
    plain = cases.forecast(persistence_task)
    np.testing.assert_array_equal(plain.isel(lead_time=0).values, last.values)  # persistence is the last frame
    matched = cases.forecast(persistence_task, probability_matching=True)
    np.testing.assert_allclose(matched.values, plain.values)  # its distribution is already the reference's
