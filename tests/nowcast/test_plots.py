"""Figures are drawn from the library's own outputs and saved without leftovers."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from averse.nowcast import plots, scoring  # noqa: E402
from _nowcast_toys import case_fields  # noqa: E402


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(2)
    observed = case_fields(rng.gamma(0.6, 2.0, size=(4, 3, 12, 12)))
    forecasts = {"net": observed * 0.8, "persistence": observed.roll(x=2)}
    return observed, forecasts, scoring.score_forecasts(forecasts, observed, fss_scales_km=(5.0,))


def test_skill_curves_and_case_maps(scored, tmp_path):
    observed, forecasts, scores = scored
    fig = plots.skill_curves(scores, [("csi", 1.0, None), ("mae", None, None), ("fss", 1.0, 5.0)], models=["net"],
                             path=tmp_path / "skill.png")
    assert [ax.get_title() for ax in fig.axes] == ["CSI > 1 mm/h", "MAE (mm/h)", "FSS >= 1 mm/h, 5 km"]
    assert len(fig.axes[0].lines) == 2
    fig = plots.case_maps(observed, forecasts, observed["case"].values[1], [5, 15, 99], path=tmp_path / "maps.png")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 3 * 2  # 3 rows x 2 available leads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.png", "skill.png"]


def test_batch_figures(scored, tmp_path):
    observed, forecasts, _ = scored
    stats = xr.concat([scoring.case_statistics(f, observed) for f in forecasts.values()],
                      dim=pd.Index(["radar", "dem"], name="configuration")).expand_dims(seed=[0])
    fig = plots.configuration_curves(scoring.pooled_scores(stats), [("csi", 1.0), ("mae", None)])
    assert len(fig.axes[0].lines) == 2
    table = pd.DataFrame({"difference": [0.1, -0.2], "low": [0.0, -0.3], "high": [0.2, -0.1]},
                         index=pd.MultiIndex.from_tuples([("dem", "CSI"), ("dem", "MAE")],
                                                         names=["configuration", "score"]))
    assert len(plots.difference_chart(table, tmp_path / "diff.png").axes) == 2
    metrics = pd.DataFrame({"train/loss_epoch": [0.3, 0.2], "val/loss": [0.25, 0.22], "val/mae": [0.5, 0.4]},
                           index=pd.Index([0, 1], name="epoch"))
    assert len(plots.learning_curves(metrics).axes[0].lines) == 2
