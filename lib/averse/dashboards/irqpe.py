"""Infrared-retrieval dashboard: the reference, the U-Net, the generative ensembles, two-axis scores.

Reads the store of ``notebooks/22_irqpe_generative.ipynb`` (see
:mod:`averse.dashboards.results`). For a chosen case the maps show the
reference rain, the deterministic retrieval of a chosen model, one member of a
chosen ensemble (browse them with the slider or the player), the ensemble
mean, its spread (standard deviation over members) and the probability that
the rain exceeds the chosen threshold (fraction of members). The scores put
each model on two axes: a pointwise or spatial score (x) against a
statistical one (y) — a smooth retrieval scores well on the first and badly
on the second (it loses the extremes), an ensemble member the other way round.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr

from averse.dashboards._app import Dashboard, Frames, MapSpec, utc_label
from averse.dashboards.charts import colours, scatter_chart
from averse.dashboards.mapview import MapGrid

__all__ = ["IrqpeDashboard", "SPATIAL_SCORES", "STATISTICAL_SCORES"]

SPATIAL_SCORES = ("csi", "pod", "far", "hss", "ets", "frequency_bias", "fss", "mae", "rmse", "me", "corr")
STATISTICAL_SCORES = ("p99", "p999", "wet_fraction", "wasserstein", "crps")


class IrqpeDashboard(Dashboard):
    """State and views of the IR-retrieval dashboard.

    Parameters
    ----------
    results : xr.Dataset
        The IR-retrieval store (:func:`averse.dashboards.results.open_results`).
    **params
        Initial parameter values.
    """

    kind = "irqpe"
    title = "Rain from infrared: deterministic and generative retrievals"
    about = ("Rain rate in mm/h at the end of the retrieved interval (UTC). Grey: no reference. "
             "Spread: standard deviation over members; probability: fraction of members above the threshold.")

    case = param.Selector(doc="Case (UTC)")
    deterministic_model = param.Selector(doc="Deterministic retrieval shown")
    ensemble_model = param.Selector(doc="Generative ensemble shown")
    member = param.Integer(default=0, bounds=(0, 0), doc="Ensemble member shown")
    threshold = param.Selector(doc="Threshold (mm/h) of the exceedance probability and of the scores")
    scale = param.Selector(doc="FSS neighbourhood size (km)")
    x_score = param.Selector(default="csi", objects=list(SPATIAL_SCORES), doc="Pointwise/spatial score (x axis)")
    y_score = param.Selector(default="wasserstein", objects=list(STATISTICAL_SCORES), doc="Statistical score (y axis)")

    def __init__(self, results: xr.Dataset, **params):
        super().__init__()
        self.results = results
        self.grid = MapGrid(results)
        self._reference_frames = Frames(results["reference"], ("case", "y", "x"))
        self._deterministic_frames = Frames(results["deterministic"], ("case", "model", "y", "x"))
        self._member_frames = Frames(results["members"], ("case", "model", "member", "y", "x"))
        kinds = np.asarray(results["model_kind"]).astype(str)
        self.models = [str(m) for m in results["model"].values]
        self.colour = colours(self.models)
        self.param.case.objects = {utc_label(t): i for i, t in enumerate(results["case"].values)}
        self.param.deterministic_model.objects = [m for m, k in zip(self.models, kinds) if k == "deterministic"]
        self.param.ensemble_model.objects = [m for m, k in zip(self.models, kinds) if k == "ensemble"]
        self.param.member.bounds = (0, results.sizes["member"] - 1)
        self.param.threshold.objects = [float(t) for t in results["threshold"].values]
        self.param.scale.objects = [float(s) for s in results["scale"].values]
        self.case = 0
        self.deterministic_model = next(iter(self.param.deterministic_model.objects), None)
        self.ensemble_model = next(iter(self.param.ensemble_model.objects), None)
        thresholds = self.param.threshold.objects
        self.threshold = 1.0 if 1.0 in thresholds else thresholds[0]
        self.scale = self.param.scale.objects[len(self.param.scale.objects) // 2]
        self.param.update(**params)

    # -- fields -------------------------------------------------------------------------------
    def _members(self, case: int, ensemble_model: str) -> np.ndarray:
        return self._member_frames[case, self.models.index(ensemble_model)]

    def _case_label(self, case: int) -> str:
        return utc_label(self.results["case"].values[case])

    def reference_frame(self, case: int):
        """``(values, title)`` of the reference."""
        return self._reference_frames[case], f"reference {self._case_label(case)}"

    def deterministic_frame(self, case: int, deterministic_model: str):
        """``(values, title)`` of the deterministic retrieval."""
        return (self._deterministic_frames[case, self.models.index(deterministic_model)],
                f"{deterministic_model} (deterministic)")

    def member_frame(self, case: int, ensemble_model: str, member: int):
        """``(values, title)`` of one ensemble member."""
        return self._members(case, ensemble_model)[member], f"{ensemble_model} member {member}"

    def mean_frame(self, case: int, ensemble_model: str):
        """``(values, title)`` of the ensemble mean."""
        return self._members(case, ensemble_model).mean(axis=0), f"{ensemble_model} ensemble mean"

    def spread_frame(self, case: int, ensemble_model: str):
        """``(values, title)`` of the ensemble spread (standard deviation over members)."""
        return self._members(case, ensemble_model).std(axis=0, ddof=1), f"{ensemble_model} spread"

    def probability_frame(self, case: int, ensemble_model: str, threshold: float):
        """``(values, title)`` of P(rain > threshold), the fraction of members above it."""
        members = self._members(case, ensemble_model)
        probability = np.where(np.isnan(members).all(axis=0), np.nan, (members > threshold).mean(axis=0))
        return probability, f"P(rain > {threshold:g} mm/h)"

    def map_specs(self) -> list:
        """The six maps: reference, deterministic, member; ensemble mean, spread, probability."""
        ensemble = ("case", "ensemble_model")
        return [
            MapSpec(self.reference_frame, ("case",), "rain"),
            MapSpec(self.deterministic_frame, ("case", "deterministic_model"), "rain"),
            MapSpec(self.member_frame, (*ensemble, "member"), "rain", True),
            MapSpec(self.mean_frame, ensemble, "rain"),
            MapSpec(self.spread_frame, ensemble, "spread", True),
            MapSpec(self.probability_frame, (*ensemble, "threshold"), "probability", True),
        ]

    # -- scores -------------------------------------------------------------------------------
    def _values(self, score: str) -> xr.DataArray:
        da = self.results[score]
        if "threshold" in da.dims:
            da = da.sel(threshold=self.threshold)
        if "scale" in da.dims:
            da = da.sel(scale=self.scale)
        return da

    def _axis_label(self, score: str) -> str:
        if score == "fss":
            return f"fss (≥ {self.threshold:g} mm/h, {self.scale:g} km)"
        return f"{score} (> {self.threshold:g} mm/h)" if "threshold" in self.results[score].dims else score

    @param.depends("x_score", "y_score", "threshold", "scale")
    def two_axis(self):
        """Each model on (x_score, y_score); the reference's own value of y dashed when it has one."""
        x, y = self._values(self.x_score), self._values(self.y_score)
        points = {m: (x.sel({"model": m}).item(), y.sel({"model": m}).item()) for m in self.models}
        reference = f"reference_{self.y_score}"
        y_reference = float(self.results[reference]) if reference in self.results else None
        return scatter_chart(points, self._axis_label(self.x_score), self._axis_label(self.y_score),
                             "models on two axes", self.colour, y_reference)

    @param.depends("threshold", "scale")
    def table(self) -> pd.DataFrame:
        """Every score (rows) of every model (columns) at the chosen threshold and scale."""
        rows = {self._axis_label(s): self._values(s).to_series() for s in (*SPATIAL_SCORES, *STATISTICAL_SCORES)}
        frame = pd.DataFrame(rows).T.round(3)
        frame.columns = [f"{m} ({k})" for m, k in zip(frame.columns, np.asarray(self.results["model_kind"]).astype(str))]
        return frame

    # -- views --------------------------------------------------------------------------------
    def controls(self) -> list:
        """The widgets, and a player browsing the members."""
        widgets = pn.Param(self, parameters=["case", "deterministic_model", "ensemble_model", "member", "threshold",
                                             "scale", "x_score", "y_score"],
                           widgets={"member": pn.widgets.IntSlider}, show_name=False, width=300)
        player = pn.widgets.Player(label="browse members", start=0, end=self.param.member.bounds[1], value=self.member,
                                   interval=900, loop_policy="loop", show_loop_controls=False, width=280)
        player.link(self, value="member", bidirectional=True)
        return [widgets, pn.pane.Markdown("**Browse the members**"), player]

    def panel(self) -> pn.Column:
        """The live app."""
        maps = self.live_maps(self.grid, self.map_specs(), ncols=3)
        scores = pn.Row(pn.panel(self.two_axis), pn.Column("### All scores", pn.pane.DataFrame(self.table)))
        return self.page(self.controls(), pn.pane.Bokeh(maps), scores)

    def snapshot(self) -> pn.Column:
        """The chosen case with every member held in the page (a slider browses them), and the scores."""
        members = range(self.param.member.bounds[1] + 1)
        maps = self.animated_maps(self.grid, self.map_specs(), 3, "member", members, "ensemble member")
        info = (f"Case {self._case_label(self.case)}; {self.deterministic_model} and {self.ensemble_model}; "
                f"threshold {self.threshold:g} mm/h.")
        return pn.Column(pn.pane.Markdown(f"# {self.title}\n\n{self.about}\n\n{info}"), pn.pane.Bokeh(maps),
                         pn.Row(pn.pane.Bokeh(self.two_axis()), pn.pane.DataFrame(self.table())))
