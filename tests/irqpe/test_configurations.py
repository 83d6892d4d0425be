"""Configuration grids, per-case statistics and bootstrap intervals."""

import numpy as np
import pytest
import xarray as xr

from averse import verify
from averse.irqpe import InputConfiguration, bootstrap, case_statistics, configuration_grid, run_configurations

from _irqpe_toys import rain_fields

THRESHOLDS, SCALES = (0.1, 1.0), (3.0, 9.0)


def test_configuration_grid_is_the_full_product():
    grid = configuration_grid([1, 3], [["ir_108"], ["ir_108", "wv_062"]], ["irqpe_unet", "irqpe_convlstm"])
    assert len(grid) == 8 and len(set(grid)) == 8
    assert grid[1] == InputConfiguration(3, ("ir_108",), "irqpe_unet")
    assert grid[1].name == "irqpe_unet T=3 ir_108" and grid[3].slug == "irqpe_unet-t3-ir_108-wv_062"


def test_case_statistics_reproduce_the_pooled_scores():
    reference = rain_fields(n_cases=6, seed=3)
    forecast = reference.copy(data=np.roll(reference.values, 2, axis=1))
    sums = case_statistics(forecast, reference, THRESHOLDS, SCALES)
    assert sums["hits"].dims == ("case", "threshold") and sums["fss_numerator"].sizes["scale"] == 2
    table = bootstrap({"f": sums}, threshold=1.0, scale_km=9.0, n_samples=50)
    csi = verify.categorical(forecast, reference, 1.0, aggregate_dims=("case",))["csi"]
    fss = verify.fss(forecast, reference, 1.0, 9.0, aggregate_dims=("case",))
    mae = verify.continuous(forecast, reference, aggregate_dims=("case",))["mae"]
    assert table.loc["f", "csi"] == pytest.approx(float(csi.squeeze()))
    assert table.loc["f", "fss"] == pytest.approx(float(fss.squeeze()))
    assert table.loc["f", "mae"] == pytest.approx(float(mae))
    assert table.loc["f", "csi_low"] <= table.loc["f", "csi"] <= table.loc["f", "csi_high"]
    members = case_statistics(forecast.expand_dims(member=2), reference, THRESHOLDS, SCALES)
    assert int(members["hits"].sum()) == 2 * int(sums["hits"].sum())


def test_paired_bootstrap_says_when_a_configuration_helps():
    reference = rain_fields(n_cases=8, seed=4)
    rng = np.random.default_rng(0)
    worse = reference.copy(data=np.roll(reference.values, 3, axis=2) * rng.lognormal(0, 0.3, reference.shape))
    statistics = {name: case_statistics(field, reference, THRESHOLDS, SCALES)
                  for name, field in {"one": worse, "three": reference, "same": worse}.items()}
    table = bootstrap(statistics, threshold=1.0, scale_km=9.0, baselines={"three": "one", "same": "one"},
                      n_samples=200)
    assert bool(table.loc["three", "helps"]) and table.loc["three", "delta_csi_low"] > 0
    assert table.loc["three", "delta_mae"] > 0  # sign flipped: positive is better
    assert not bool(table.loc["same", "helps"]) and table.loc["same", "delta_csi"] == 0.0
    assert table.attrs["n_cases"] == 8


def test_bootstrap_refuses_configurations_scored_on_other_cases():
    reference = rain_fields(n_cases=4)
    sums = case_statistics(reference, reference, THRESHOLDS, SCALES)
    with pytest.raises(ValueError, match="other cases"):
        bootstrap({"a": sums, "b": sums.isel(case=slice(1, None))}, scale_km=9.0)


def test_seed_spread_is_reported():
    reference = rain_fields(n_cases=4, seed=5)
    per_seed = [case_statistics(reference * factor, reference, THRESHOLDS, SCALES) for factor in (0.5, 2.0)]
    table = bootstrap({"a": xr.concat(per_seed, dim="seed")}, scale_km=9.0, n_samples=20)
    assert table.loc["a", "mae_seed_std"] > 0
    with pytest.raises(ValueError, match="no scale 27"):
        bootstrap({"a": per_seed[0]}, scale_km=27.0)


def test_run_configurations_trains_each_and_pairs_with_the_single_image(toy_tree, tmp_path):
    from averse.train import TrainConfig

    base = TrainConfig(model="irqpe_unet", model_kwargs={"widths": (4, 8)}, data_module="irqpe",
                       data={"source": toy_tree, "crop": 4, "split": {"block": "1h", "gap": "15min", "seed": 3}},
                       epochs=1, batch_size=4, limit_train_batches=1, limit_val_batches=1, device="cpu",
                       progress_bar=False, out_dir=str(tmp_path))
    grid = configuration_grid([1, 2], [["ir_108"]], ["irqpe_unet"])
    runs = run_configurations(grid, base, config=verify.VerificationConfig(thresholds=THRESHOLDS,
                                                                           fss_scales_km=SCALES))
    assert runs.baselines == {"irqpe_unet T=2 ir_108": "irqpe_unet T=1 ir_108"}
    assert len(runs.runs) == 2 and (tmp_path / "irqpe_unet-t2-ir_108" / "seed0" / "checkpoints").is_dir()
    one, two = runs.statistics.values()
    assert one["case"].equals(two["case"]) and one.sizes["seed"] == 1
    table = runs.table(threshold=1.0, scale_km=9.0, n_samples=20)
    assert table.loc["irqpe_unet T=2 ir_108", "baseline"] == "irqpe_unet T=1 ir_108"
