"""Stratified IMERG scores: time since overpass, strata from the V07 variables, scores per stratum, verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse import verify
from averse.twin.sensors.constellation import INSTRUMENTS
from averse.twin.sensors.imerg import sensor_ranking
from averse.imerg_validation.validation import (
    Stratification,
    latent_distance_by_stratum,
    minutes_to_overpass,
    ordering_verdict,
    stratified_scores,
    stratify,
    stratum_fractions,
    validate,
)


def _imerg(source, minute, ir=None, quality=None, precipitation=None, reference=None) -> xr.Dataset:
    source = np.asarray(source, dtype="float32")
    shape = source.shape
    times = pd.date_range("2021-06-01T00:30", periods=shape[0], freq="30min")
    fill = lambda v, default: np.broadcast_to(np.asarray(default if v is None else v, "float32"), shape)  # noqa: E731
    data = {"MWprecipSource": source, "MWobservationTime": fill(minute, np.nan), "IRinfluence": fill(ir, 0.0),
            "precipitationQualityIndex": fill(quality, 0.5), "precipitation": fill(precipitation, 0.0),
            "radar": fill(reference, 0.0)}
    return xr.Dataset({k: (("time", "y", "x"), v) for k, v in data.items()}, coords={"time": times})


def test_minutes_to_overpass_last_and_nearest():
    # One pixel, 7 half hours; overpasses in half hour 1 (10 min after its start) and 5 (20 min after).
    source = np.zeros((7, 1, 1))
    minute = np.full((7, 1, 1), np.nan)
    source[1], minute[1] = 9, 10
    source[5], minute[5] = 7, 20
    ds = _imerg(source, minute)
    last = minutes_to_overpass(ds, "last")[:, 0, 0]
    # Ends at 30, 60, ..., 210 min; overpasses at 40 and 170 min.
    np.testing.assert_allclose(last, [np.nan, 20, 50, 80, 110, 10, 40])
    nearest = minutes_to_overpass(ds, "nearest")[:, 0, 0]
    # Until the next overpass from each START (0, 30, ...): 40, 10, 110, 80, 50, 20, -.
    np.testing.assert_allclose(nearest, [40, 10, 50, 80, 50, 10, 40])
    with pytest.raises(ValueError, match="direction"):
        minutes_to_overpass(ds, "forward")


def test_strata_from_the_v07_variables():
    source = np.array([9, 3, 7, 11, 0, 0, 99, np.nan], dtype="float32").reshape(1, 1, 8)
    ir = np.array([0, 0, 0, 0, 20, 80, 0, 0], dtype="float32").reshape(1, 1, 8)
    strata = stratify(_imerg(source, np.full(source.shape, 12.0), ir=ir))
    sensor, kind = strata["sensor"], strata["source"]
    assert [sensor.names[i] for i in sensor.labels.ravel()[:6]] == ["GMI", "AMSR2", "MHS", "ATMS", "none", "none"]
    assert sensor.names[sensor.labels.ravel()[6]] == "code 99" and sensor.labels.ravel()[7] == -1
    named = [kind.names[i] if i >= 0 else None for i in kind.labels.ravel()]
    assert named == ["conical imager", "conical imager", "cross-track sounder", "cross-track sounder", "morphed",
                     "IR-dominated", None, None]
    assert kind.expected == (("conical imager",), ("cross-track sounder", "infrared sounder", "morphed"),
                             ("IR-dominated",))
    assert strata["precipitationQualityIndex"].expected[0] == ("[0.8, 1]",)
    # Without a stated ranking, sensors are expected by kind; "none" and unknown codes are not ranked.
    assert sensor.expected == (("AMSR2", "GMI"), ("MHS", "ATMS"))
    ranked = stratify(_imerg(source, np.full(source.shape, 12.0), ir=ir), sensor_ranking=(9, 5, 3, 7, 11))
    assert ranked["sensor"].expected == (("GMI",), ("AMSR2",), ("MHS",), ("ATMS",))


def test_the_twin_ranks_its_sensors_by_retrieval_skill():
    ranking = sensor_ranking()
    assert ranking[0] == 9 and ranking[-1] == 7  # GMI first, the MHS sounder last
    skill = {INSTRUMENTS[name].imerg_code: INSTRUMENTS[name].retrieval.correlation for name in INSTRUMENTS}
    assert [skill[code] for code in ranking] == sorted((skill[code] for code in ranking), reverse=True)


def test_scores_per_stratum_are_those_of_its_pixels():
    rng = np.random.default_rng(1)
    reference = rng.gamma(0.4, 2.0, (4, 5, 6)).astype("float32")
    noisy = (reference * rng.lognormal(0, 0.8, reference.shape)).astype("float32")
    labels = np.zeros(reference.shape, dtype="int16")
    labels[:, :, 3:] = 1
    imerg = np.where(labels == 0, reference, noisy)
    imerg[0, 0, 0] = np.nan
    table = stratified_scores(imerg, reference, Stratification("test", labels, ("exact", "noisy")), threshold=0.5)
    assert table.loc["exact", "pixels"] == 4 * 5 * 3 - 1 and table.loc["all", "pixels"] == 4 * 5 * 6 - 1
    assert table.loc["exact", ["pod", "csi", "corr", "volume_bias"]].tolist() == pytest.approx([1, 1, 1, 1])
    assert table.loc["exact", "far"] == 0 and table.loc["exact", "rmse"] == pytest.approx(0, abs=1e-6)
    keep = labels == 1
    f, o = xr.DataArray(imerg[keep], dims="p"), xr.DataArray(reference[keep], dims="p")
    cat = verify.categorical(f, o, 0.5, dims=("p",), aggregate_dims=()).sel(threshold=0.5)
    assert table.loc["noisy", "csi"] == pytest.approx(float(cat["csi"]))
    assert table.loc["noisy", "corr"] == pytest.approx(np.corrcoef(imerg[keep], reference[keep])[0, 1])
    assert table.loc["noisy", "volume_bias"] == pytest.approx(imerg[keep].sum() / reference[keep].sum(), rel=1e-5)


def test_validate_scores_every_stratification_and_empty_strata_are_nan():
    source = np.zeros((3, 2, 2))
    source[1] = 5
    ds = _imerg(source, np.where(source > 0, 10.0, np.nan), precipitation=np.ones((3, 2, 2)),
                reference=np.ones((3, 2, 2)))
    tables = validate(ds, "radar", threshold=0.1)
    assert set(tables) == {"sensor", "source", "time since overpass", "IRinfluence", "precipitationQualityIndex"}
    source_table = tables["source"]
    assert source_table.loc["conical imager", "pixels"] == 4 and source_table.loc["morphed", "pixels"] == 8
    assert source_table.loc["IR-dominated", "pixels"] == 0 and np.isnan(source_table.loc["IR-dominated", "csi"])


def test_ordering_verdict():
    strata = Stratification("s", np.zeros((1, 1, 1), "int16"), ("a", "b", "c"), ("a", "b", "c"))
    table = pd.DataFrame({"pixels": [500, 500, 500], "corr": [0.9, 0.7, 0.5], "rmse": [1.0, 2.0, 1.5]},
                         index=["a", "b", "c"])
    good = ordering_verdict(table, strata, "corr")
    assert good["matches"] and good["observed"] == ["a", "b", "c"] and good["spearman"] == pytest.approx(1.0)
    bad = ordering_verdict(table, strata, "rmse")
    assert not bad["matches"] and bad["observed"] == ["a", "c", "b"] and bad["spearman"] == pytest.approx(0.5)
    table.loc["b", "pixels"] = 10
    few = ordering_verdict(table, strata, "corr", min_pixels=100)
    assert few["left_out"] == ["b"] and few["expected"] == ["a", "c"] and few["matches"]


def test_ordering_verdict_ranks_tiers_not_the_strata_inside_one():
    strata = Stratification("s", np.zeros((1, 1, 1), "int16"), ("a", "b", "c", "d"), (("a",), ("b", "c"), ("d",)))
    table = pd.DataFrame({"pixels": [500] * 4, "corr": [0.9, 0.5, 0.7, 0.3]}, index=["a", "b", "c", "d"])
    assert ordering_verdict(table, strata, "corr")["matches"]  # b below c: same tier
    table.loc["d", "corr"] = 0.6
    assert not ordering_verdict(table, strata, "corr")["matches"]  # d above b: different tiers


def test_latent_distance_inherited_by_the_pixels():
    labels = np.zeros((2, 1, 2, 2), dtype="int16")     # 2 scenes, 1 step, 2x2 pixels
    labels[0, 0, 0, :] = 1                              # scene 0: 2 pixels of stratum 1, 2 of stratum 0
    valid = np.ones(labels.shape, bool)
    valid[1, 0, 0, 0] = False                           # scene 1: 3 valid pixels of stratum 0
    counts = stratum_fractions(labels, valid, 2)
    np.testing.assert_array_equal(counts[:, 0], [[2, 2], [3, 0]])
    strata = Stratification("s", labels, ("zero", "one"))
    table = latent_distance_by_stratum(np.array([[1.0], [3.0]]), counts, strata, baseline=2.0)
    assert table.loc["zero", "latent_distance"] == pytest.approx((2 * 1 + 3 * 3) / 5)
    assert table.loc["one", "latent_distance"] == pytest.approx(1.0)
    assert table.loc["all", "pixels"] == 7 and table.loc["all", "relative_distance"] == pytest.approx((2 + 2 + 9) / 7 / 2)
