"""The entry point: config, registry, dims, dask-backed inputs."""

import numpy as np
import pytest
import xarray as xr
from _verify_fields import THRESHOLDS, grid_array, pair

from averse import verify
from averse.verify._core import grid_spacing_km, row_nanquantile

DIMS = ("time", "lead_time", "y", "x")


@pytest.fixture
def fields(rng):
    obs, fcst = pair(rng, (4, 3, 32, 40))
    forecast = grid_array(fcst, DIMS).assign_coords(lead_time=[5, 10, 15])
    observation = grid_array(obs, DIMS).assign_coords(lead_time=[5, 10, 15])
    return forecast, observation


def test_evaluate_keeps_the_case_dims_and_documents_units(fields):
    forecast, observation = fields
    scores = verify.evaluate(forecast, observation)
    assert scores["csi"].dims == ("lead_time", "threshold")
    assert scores["fss"].dims == ("lead_time", "threshold", "scale")
    assert scores["rmse"].dims == ("lead_time",)
    assert scores["sal_structure"].dims == ("lead_time",)
    assert scores["rapsd_forecast"].dims == ("lead_time", "wavenumber")
    assert list(scores["lead_time"].values) == [5, 10, 15]
    assert list(scores["scale"].values) == [1.0, 5.0, 10.0, 20.0, 40.0]
    for name, variable in scores.data_vars.items():
        assert "units" in variable.attrs and "long_name" in variable.attrs, name
    assert "crps" not in scores  # no ensemble dim


def test_single_scores_by_name_equal_the_families(fields):
    forecast, observation = fields
    config = verify.VerificationConfig(thresholds=(1.0, 5.0))
    scores = verify.evaluate(forecast, observation, config)
    for name in ("csi", "hss", "rmse", "fss", "wasserstein"):
        xr.testing.assert_identical(verify.get_score(name)(forecast, observation, config), scores[name])
    assert "csi" in verify.available_scores()
    with pytest.raises(KeyError, match="unknown score"):
        verify.get_score("no_such_score")


def test_selected_scores_only(fields):
    forecast, observation = fields
    config = verify.VerificationConfig(scores=("csi", "pod", "fss"), fss_thresholds=(1.0,), fss_scales_km=(3.0,))
    scores = verify.evaluate(forecast, observation, config)
    assert set(scores.data_vars) == {"csi", "pod", "fss"}
    assert np.isnan(scores["fss"].sel(threshold=10.0)).all()  # union of the threshold sets
    assert np.isfinite(scores["fss"].sel(threshold=1.0)).all()


def test_per_case_scores(fields):
    forecast, observation = fields
    config = verify.VerificationConfig(aggregate_dims=(), scores=("categorical", "fss"))
    scores = verify.evaluate(forecast, observation, config)
    assert scores["csi"].dims == ("time", "lead_time", "threshold")
    single = verify.categorical(forecast.isel(time=2), observation.isel(time=2), THRESHOLDS, aggregate_dims=())
    xr.testing.assert_allclose(scores["csi"].isel(time=2, drop=True), single["csi"].drop_vars("time", errors="ignore"))


def test_dask_input_gives_the_numpy_result(fields):
    forecast, observation = fields
    config = verify.VerificationConfig()
    expected = verify.evaluate(forecast, observation, config)
    lazy = verify.evaluate(forecast.chunk(time=1, lead_time=2), observation.chunk(time=2, y=16), config)
    assert lazy["csi"].chunks is not None  # nothing computed yet
    xr.testing.assert_allclose(lazy.compute(), expected)


def test_ensemble_forecast_keeps_members_for_deterministic_scores(rng):
    obs, _ = pair(rng, (2, 24, 24))
    members = np.stack([pair(rng, (2, 24, 24))[1] for _ in range(3)], axis=1)
    forecast = grid_array(members, ("time", "member", "y", "x"))
    observation = grid_array(obs, ("time", "y", "x"))
    config = verify.VerificationConfig(scores=("categorical", "ensemble"))
    scores = verify.evaluate(forecast, observation, config)
    assert scores["csi"].dims == ("member", "threshold")
    assert scores["crps"].dims == ()
    assert scores["rank_histogram"].dims == ("rank",)
    with pytest.raises(ValueError, match="ensemble dim"):
        verify.evaluate(forecast.isel(member=0), observation, config)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown scores"):
        verify.VerificationConfig(scores=("csi", "bogus"))
    with pytest.raises(ValueError, match="two spatial dims"):
        verify.VerificationConfig(dims=("x",))
    assert verify.VerificationConfig(thresholds=[1, 2]).thresholds == (1, 2)


def test_grid_spacing_from_coordinates(rng):
    obs, _ = pair(rng, (8, 10), nan=False)
    field = grid_array(obs, ("y", "x"), spacing_m=2500.0)
    assert grid_spacing_km(field) == 2.5
    degrees = field.assign_coords(x=("x", np.arange(10) * 0.1, {"units": "degrees_east"}))
    with pytest.raises(ValueError, match="grid_spacing_km"):
        grid_spacing_km(degrees)
    irregular = field.assign_coords(x=("x", np.cumsum(np.arange(1, 11)) * 1000.0, {"units": "m"}))
    with pytest.raises(ValueError, match="regularly spaced"):
        grid_spacing_km(irregular)
    rectangular = field.assign_coords(y=("y", np.arange(8) * 5000.0, {"units": "m"}))
    with pytest.raises(ValueError, match="not square"):
        grid_spacing_km(rectangular)
    # an explicit spacing serves latitude/longitude grids
    scores = verify.evaluate(degrees, degrees, verify.VerificationConfig(scores=("fss",), grid_spacing_km=10.0, fss_scales_km=(30.0,)))
    assert scores["scale_pixels"].item() == 3


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_row_quantiles_equal_numpy(rng):
    samples = rng.gamma(0.3, 3.0, (6, 301))
    samples[samples < 0.2] = np.nan
    samples[2] = np.nan
    samples[3, 1:] = np.nan
    for probability in (0.0, 0.25, 0.95, 1.0):
        np.testing.assert_array_equal(row_nanquantile(samples, probability), np.nanquantile(samples, probability, axis=1))


def test_float32_fields_give_the_float64_scores(fields):
    forecast, observation = fields
    config = verify.VerificationConfig(scores=("continuous", "fss", "wasserstein"), thresholds=(0.5, 2.5))
    expected = verify.evaluate(forecast, observation, config)
    single = verify.evaluate(forecast.astype("float32"), observation.astype("float32"), config)
    xr.testing.assert_allclose(single, expected, rtol=1e-5)
