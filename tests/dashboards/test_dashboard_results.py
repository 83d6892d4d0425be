"""The results store contract: writers, loaders, checks and the "run notebook X" message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse import verify
from averse.dashboards import results as store
from averse.dashboards.imerg import minutes_since_overpass, stratified_scores
from averse.datamodel import attach_grid
from averse.errors import DataFormatError

NOTEBOOKS = {"nowcast": "notebooks/11_nowcast_evaluate.ipynb", "irqpe": "notebooks/22_irqpe_generative.ipynb",
             "imerg": "notebooks/33_imerg_validation.ipynb"}


@pytest.mark.parametrize("kind", list(NOTEBOOKS))
def test_missing_store_names_the_notebook_to_run(empty_results, kind):
    with pytest.raises(store.MissingResultsError, match=NOTEBOOKS[kind]) as error:
        store.open_results(kind, empty_results)
    assert isinstance(error.value, FileNotFoundError)
    assert str(store.results_path(kind, empty_results)) in str(error.value)


def test_nowcast_store_follows_the_contract(demo_results):
    ds = store.open_results("nowcast", demo_results)
    assert ds.attrs["averse_results"] == "nowcast" and ds.attrs["synthetic"] == "yes"
    assert ds["case"].dtype.kind == "M" and ds["lead_time"].dtype.kind == "m"
    assert list(ds["method_kind"].values) == ["model", "model", "baseline", "baseline"]
    assert ds["forecast"].attrs["units"] == "mm h-1" and "crs_wkt" in ds["spatial_ref"].attrs
    assert ds["observed"].encoding["chunks"] == (1, 1, ds.sizes["y"], ds.sizes["x"])  # one chunk per map
    assert np.isnan(ds["observed"].values).any()  # outside coverage stays NaN
    assert len(set(ds["event"].values)) == 2


def test_nowcast_scores_belong_to_their_method(demo_results):
    """Scores are stored under the method whose forecast produced them (no reordering on write)."""
    ds = store.open_results("nowcast", demo_results)
    method = "persistence"
    forecast = ds["forecast"].sel({"method": method})
    expected = verify.categorical(forecast, ds["observed"], [1.0], aggregate_dims=("case",))["csi"]
    np.testing.assert_allclose(ds["csi"].sel({"method": method, "threshold": 1.0}).values,
                               expected.sel(threshold=1.0).values)
    assert ds["csi"].sel({"method": "smaat_unet", "threshold": 1.0}).values[-1] > expected.values[-1, 0]


def test_irqpe_store_pads_the_other_kind_with_nan(demo_results):
    ds = store.open_results("irqpe", demo_results)
    kinds = dict(zip(ds["model"].values, ds["model_kind"].values))
    assert kinds == {"unet": "deterministic", "flow_matching": "ensemble", "ddim": "ensemble"}
    assert np.isnan(ds["members"].sel({"model": "unet"}).values).all()
    assert np.isnan(ds["deterministic"].sel({"model": "ddim"}).values).all()
    assert np.isfinite(ds["members"].sel({"model": "ddim"}).values).all()
    assert float(ds["p99"].sel({"model": "unet"})) < float(ds["reference_p99"])  # the smooth U-Net loses extremes


def _small_grid_dataset(values, dims, coords):
    ds = xr.Dataset({"p": (dims, np.asarray(values, "float32"))}, coords=coords)
    return attach_grid(ds, np.arange(3) * 1000.0, np.arange(2) * 1000.0, "EPSG:3035")["p"]


def _tiny_nowcast(tmp_path, units="mm h-1"):
    coords = {"case": pd.date_range("2024-01-01", periods=1), "lead_time": pd.to_timedelta([5], "min")}
    dims = ("case", "lead_time", "y", "x")
    observed = _small_grid_dataset(np.ones((1, 1, 2, 3)), dims, coords)
    forecast = _small_grid_dataset(np.full((1, 1, 2, 3), 2.0), dims, coords).assign_attrs(units=units)
    scores = verify.evaluate(forecast.expand_dims(method=["m"]), observed,
                             verify.VerificationConfig(thresholds=(1.0,), fss_scales_km=(1.0,), aggregate_dims=("case",),
                                                       scores=("categorical", "continuous", "fss")))
    return store.write_nowcast_results(tmp_path, observed, {"m": forecast}, {}, scores)


def test_writer_replaces_a_store_atomically(tmp_path):
    first = _tiny_nowcast(tmp_path)
    before = store.open_results("nowcast", tmp_path).attrs["created"]
    second = _tiny_nowcast(tmp_path)
    assert first == second
    assert store.open_results("nowcast", tmp_path).attrs["created"] != before
    leftovers = [p.name for p in first.parent.iterdir() if p.name != first.name]
    assert leftovers == []  # no temporary or old store left behind


def test_writer_refuses_rain_in_other_units(tmp_path):
    with pytest.raises(ValueError, match="mm h-1"):
        _tiny_nowcast(tmp_path, units="mm")
    assert not store.results_path("nowcast", tmp_path).exists()


def test_loader_refuses_a_store_breaking_the_contract(tmp_path):
    path = _tiny_nowcast(tmp_path)
    ds = xr.open_dataset(path, engine="zarr", consolidated=False, decode_timedelta=True).load()
    broken = tmp_path / "broken"
    target = store.results_path("nowcast", broken)
    target.parent.mkdir(parents=True)
    ds.drop_vars("fss").to_zarr(target, consolidated=False)
    with pytest.raises(DataFormatError, match="'fss' is missing") as error:
        store.open_results("nowcast", broken)
    assert str(target) in str(error.value)
    target.joinpath("zarr.json").write_text("not json")
    with pytest.raises(DataFormatError, match="not a readable zarr store"):
        store.open_results("nowcast", broken)


def test_imerg_writer_needs_the_quality_fields(tmp_path):
    coords = {"time": pd.date_range("2024-01-01T00:30", periods=1)}
    rain = _small_grid_dataset(np.ones((1, 2, 3)), ("time", "y", "x"), coords)
    with pytest.raises(ValueError, match="MWprecipSource"):
        store.write_imerg_results(tmp_path, rain.to_dataset(name="precipitation"), rain)


def test_minutes_since_overpass_carries_the_last_overpass_forward():
    times = pd.date_range("2024-01-01T00:30", periods=4, freq="30min")  # ends of the half hours
    source = np.array([0, 9, 0, 0], dtype="float32")[:, None, None]
    minute = np.array([np.nan, 10, np.nan, np.nan], dtype="float32")[:, None, None]
    ds = xr.Dataset({"MWprecipSource": (("time", "y", "x"), source), "MWobservationTime": (("time", "y", "x"), minute)},
                    coords={"time": times})
    age = minutes_since_overpass(ds).values[:, 0, 0]
    # overpass at 00:30 + 10 min = 00:40; ends of the half hours: 01:00, 01:30, 02:00
    np.testing.assert_array_equal(age, [np.nan, 20.0, 50.0, 80.0])


def test_stratified_scores_match_counts_by_hand():
    imerg = np.array([2.0, 0.0, 3.0, 0.0, 5.0, np.nan])
    radar = np.array([1.0, 2.0, 0.0, 0.0, 4.0, 1.0])
    strata = {"a": np.array([True, True, True, False, False, True]), "b": np.array([False, False, False, True, True, False])}
    table = stratified_scores(imerg, radar, strata, threshold=0.5)
    assert list(table.index) == ["all selected", "a", "b"]
    # stratum a (NaN pair dropped): hits 1, misses 1, false alarms 1
    assert table.loc["a", "pixels"] == 3
    assert table.loc["a", "pod"] == 0.5 and table.loc["a", "far"] == 0.5 and table.loc["a", "csi"] == pytest.approx(1 / 3, abs=1e-3)
    assert table.loc["a", "volume_bias"] == pytest.approx(5.0 / 3.0, abs=1e-3)
    assert table.loc["all selected", "pixels"] == 5 and table.loc["b", "pod"] == 1.0


def test_writer_takes_lazy_fields_chunked_otherwise(tmp_path):
    """Readers return dask arrays; the writer rechunks them to one chunk per map."""
    coords = {"time": pd.date_range("2024-01-01T00:30", periods=3, freq="30min")}
    rain = _small_grid_dataset(np.arange(18.0).reshape(3, 2, 3), ("time", "y", "x"), coords)
    imerg = xr.Dataset({"precipitation": rain, "MWprecipSource": rain * 0, "MWobservationTime": rain * np.nan,
                        "IRinfluence": rain * 0 + 50, "precipitationQualityIndex": rain * 0 + 0.5}).chunk({"x": 2})
    store.write_imerg_results(tmp_path, imerg, rain.chunk({"time": 2, "x": 1}))
    ds = store.open_results("imerg", tmp_path)
    np.testing.assert_array_equal(ds["radar"].values, rain.values)
    assert ds["imerg"].encoding["chunks"] == (1, 2, 3)


def test_imerg_observation_minutes_stay_numbers(demo_results):
    ds = store.open_results("imerg", demo_results)
    assert ds["MWobservationTime"].dtype.kind == "f"
    assert ds["MWobservationTime"].attrs["units"] == "minutes"
    assert float(ds["MWobservationTime"].max()) <= 30
