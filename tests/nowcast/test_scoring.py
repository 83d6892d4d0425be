"""Pooled scores, per-case statistics and the paired bootstrap."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from averse.nowcast import scoring
from _nowcast_toys import case_fields as _cases


@pytest.fixture(scope="module")
def fields():
    rng = np.random.default_rng(1)
    observed = rng.gamma(0.6, 2.0, size=(12, 3, 16, 16))
    good = observed * rng.lognormal(0.0, 0.2, size=observed.shape)
    poor = np.roll(observed, 3, axis=-1) * rng.lognormal(0.0, 0.6, size=observed.shape)
    observed[:, :, :2, :2] = np.nan
    return _cases(observed), _cases(good), _cases(poor)


def test_case_statistics_pool_to_the_verify_scores(fields):
    observed, good, poor = fields
    scores = scoring.score_forecasts({"good": good, "poor": poor}, observed, thresholds=(1.0, 5.0),
                                     fss_scales_km=(3.0,))
    for name, forecast in (("good", good), ("poor", poor)):
        pooled = scoring.pooled_scores(scoring.case_statistics(forecast, observed, (1.0, 5.0)))
        np.testing.assert_allclose(pooled["csi"].values, scores["csi"].sel({"method": name}).values, rtol=1e-12)
        np.testing.assert_allclose(pooled["mae"].values, scores["mae"].sel({"method": name}).values, rtol=1e-5)
    assert scores["fss"].dims == ("method", "lead_time", "threshold", "scale")


def test_statistics_round_trip_through_netcdf(fields, tmp_path):
    observed, good, _ = fields
    stats = scoring.case_statistics(good, observed)
    path = scoring.write_case_statistics(stats, tmp_path / "run" / "case_statistics.nc")
    xr.testing.assert_identical(scoring.read_case_statistics(path), stats)
    assert [p.name for p in path.parent.iterdir()] == ["case_statistics.nc"]


def test_bootstrap_of_identical_runs_is_zero(fields):
    observed, good, _ = fields
    stats = scoring.case_statistics(good, observed)
    result = scoring.bootstrap_difference(stats, stats, "csi", 1.0, n_boot=100)
    assert float(abs(result["difference"]).max()) == 0.0
    assert float(abs(result["low"]).max()) == 0.0 and float(abs(result["high"]).max()) == 0.0
    assert int(result["n_cases"]) == 12


def test_bootstrap_interval_excludes_zero_for_a_clearly_better_forecast(fields):
    observed, good, poor = fields
    better = scoring.case_statistics(good, observed)
    worse = scoring.case_statistics(poor, observed)
    csi = scoring.bootstrap_difference(better, worse, "csi", 1.0, n_boot=300, average_leads=True)
    assert float(csi["low"]) > 0 and float(csi["low"]) <= float(csi["difference"]) <= float(csi["high"])
    mae = scoring.bootstrap_difference(better, worse, "mae", None, n_boot=300)
    assert mae["high"].dims == ("lead_time",) and bool((mae["high"] < 0).all())
    exact = scoring.pooled_scores(better)["csi"] - scoring.pooled_scores(worse)["csi"]
    np.testing.assert_allclose(float(csi["difference"]), float(exact.sel(threshold=1.0).mean()))


def test_bootstrap_averages_seeds_and_reports_their_spread(fields):
    observed, good, poor = fields
    seeds = xr.concat([scoring.case_statistics(f, observed) for f in (good, poor)], dim=pd.Index([0, 1], name="seed"))
    reference = xr.concat([scoring.case_statistics(poor, observed)] * 2, dim=pd.Index([0, 1], name="seed"))
    result = scoring.bootstrap_difference(seeds, reference, "mae", None, n_boot=50, average_leads=True)
    per_seed = (scoring.pooled_scores(seeds)["mae"] - scoring.pooled_scores(reference)["mae"]).mean("lead_time")
    np.testing.assert_allclose(float(result["difference"]), float(per_seed.mean()), rtol=1e-6)
    np.testing.assert_allclose(float(result["seed_std"]), float(per_seed.std()), rtol=1e-6)


def test_skill_table_and_head_to_head(fields):
    observed, good, poor = fields
    scores = scoring.score_forecasts({"good": good, "poor": poor}, observed, fss_scales_km=(5.0,))
    table = scoring.skill_table(scores, [5, 15, 60])
    assert list(table.index) == ["good", "poor"]
    assert table.columns.get_level_values("lead (min)").unique().tolist() == [5, 15]
    verdicts = scoring.head_to_head(scores, ["good"], ["poor", "absent"])
    assert verdicts.loc[("good", "poor", "CSI >1 mm/h"), "better_at_all_leads"]
    assert verdicts.loc[("good", "poor", "MAE"), "better_leads"] == 3
    assert not scoring.head_to_head(scores, ["poor"], ["good"])["better_at_all_leads"].any()
