"""Retrievals on whole fields and the two-axis evaluation."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy import ndimage

from averse import models, verify
from averse.irqpe import IRRetrievalDataModule, Retrieval, evaluate, retrieve

from _irqpe_toys import rain_fields


@pytest.fixture(scope="module")
def datamodule(toy_tree):
    module = IRRetrievalDataModule(source=toy_tree, channels=["ir_108"], n_times=2, crop=None,
                                   split={"block": "1h", "gap": "15min", "seed": 3})
    module.setup()
    return module


def test_regressor_retrieval_is_deterministic_rain_on_the_grid(datamodule):
    torch.manual_seed(0)
    net = models.get("irqpe_unet", n_times=2, n_channels=1, widths=(4, 8))
    result = retrieve(net, datamodule, "test", device="cpu")
    _, reference = datamodule.full_frames("test")
    assert isinstance(result, Retrieval) and not result.is_ensemble
    assert result.field.dims == ("case", "y", "x") and result.field.shape == reference.shape
    assert (result.field["case"].values == reference["case"].values).all()
    assert result.nfe_per_member == 1 and result.seconds_per_member > 0
    assert float(result.field.min()) >= 0.0


@pytest.mark.parametrize("method, evaluations", [("euler", 3), ("heun", 6)])
def test_ensemble_members_cost_and_reproducibility(datamodule, method, evaluations):
    torch.manual_seed(0)
    net = models.get("flow_matching", n_times=2, n_channels=1, denoiser="pixel")
    first = retrieve(net, datamodule, "val", n_members=4, n_steps=3, seed=5, method=method, device="cpu")
    again = retrieve(net, datamodule, "val", n_members=4, n_steps=3, seed=5, method=method, device="cpu")
    other = retrieve(net, datamodule, "val", n_members=4, n_steps=3, seed=6, method=method, device="cpu")
    assert first.field.dims == ("case", "member", "y", "x") and first.field.sizes["member"] == 4
    assert first.nfe_per_member == evaluations
    xr.testing.assert_equal(first.field, again.field)
    assert not np.allclose(first.field, other.field)
    assert float(first.field.std("member").mean()) > 0


def test_a_perfect_retrieval_scores_perfectly_on_both_axes():
    reference = rain_fields()
    perfect = Retrieval(reference.copy(), 1, 0.01, "cpu")
    copies = reference.expand_dims(member=3).transpose("case", "member", "y", "x").copy()
    evaluation = evaluate({"perfect": perfect, "copies": copies}, reference)
    spatial, statistical = evaluation.spatial, evaluation.statistical
    assert spatial["csi"].sel(threshold=[0.1, 1.0, 5.0]).values == pytest.approx(1.0)
    assert spatial["fss"].sel(threshold=1.0).values == pytest.approx(1.0)
    assert spatial["mae"].values == pytest.approx(0.0)
    assert spatial["displacement_km"].values == pytest.approx(0.0)
    assert statistical["wasserstein"].values == pytest.approx(0.0)
    # pooling three copies only changes the interpolation between order statistics
    assert statistical["p999"].values == pytest.approx(float(statistical["reference_p999"]), rel=0.01)
    assert float(statistical["p999"].sel(model="perfect")) == pytest.approx(float(statistical["reference_p999"]))
    assert statistical["rapsd_ratio_small"].values == pytest.approx(1.0)
    assert statistical["crps"].values == pytest.approx(0.0)
    assert float(evaluation.ensemble["ensemble_spread"].sel(model="copies")) == pytest.approx(0.0)
    assert np.isnan(float(evaluation.ensemble["spread_skill_ratio"].sel(model="perfect")))


def test_a_smooth_retrieval_loses_extremes_and_small_scales_a_shifted_one_is_displaced():
    reference = rain_fields(seed=1)
    smooth = reference.copy(data=ndimage.gaussian_filter(reference.values, sigma=(0, 3, 3)))
    shifted = reference.copy(data=np.roll(reference.values, 4, axis=2))
    evaluation = evaluate({"smooth": smooth, "shifted": shifted}, reference)
    table = evaluation.table(threshold=1.0, scale_km=9.0)
    assert table.loc["smooth", "p99.9"] < table.loc["reference", "p99.9"]
    assert table.loc["smooth", "rapsd_ratio_small"] < 0.5
    assert table.loc["smooth", "CRPS"] == pytest.approx(table.loc["smooth", "MAE"])
    assert table.loc["shifted", "wasserstein"] < table.loc["smooth", "wasserstein"]
    assert table.loc["shifted", "displacement_km"] == pytest.approx(12.0, abs=3.0)
    csi = verify.categorical(smooth, reference, 1.0, aggregate_dims=("case",))["csi"]
    assert table.loc["smooth", "CSI"] == pytest.approx(float(csi.squeeze()))


def test_ensemble_scores_and_cost_columns():
    reference = rain_fields(seed=2)
    rng = np.random.default_rng(0)
    members = reference.expand_dims(member=5).transpose("case", "member", "y", "x")
    noisy = members * rng.lognormal(0, 0.5, (1, 5, 1, 1))
    ensemble = Retrieval(noisy.astype("float32"), 10, 0.02, "cpu")
    evaluation = evaluate({"ensemble": ensemble}, reference)
    expected = verify.crps(noisy, reference, aggregate_dims=("case",))
    assert float(evaluation.statistical["crps"].sel(model="ensemble")) == pytest.approx(float(expected))
    histogram = evaluation.ensemble["rank_histogram"].sel(model="ensemble")
    assert histogram.sizes["rank"] == 6 and float(histogram.sum()) == pytest.approx(1.0)
    table = evaluation.table(costs={"ensemble": ensemble})
    assert table.loc["ensemble", "nfe_per_member"] == 10
    assert table.loc["ensemble", "ms_per_member"] == pytest.approx(20.0)
    assert list(table.index) == ["ensemble", "reference"]


def test_evaluation_needs_the_two_extreme_quantiles():
    reference = rain_fields()
    with pytest.raises(ValueError, match="0.99 and 0.999"):
        evaluate({"r": reference}, reference, verify.VerificationConfig(quantiles=(0.5,)))
