"""Nowcasting dashboard: observed radar beside every model and baseline, skill by lead time.

Reads the store of ``notebooks/11_nowcast_evaluate.ipynb`` (see
:mod:`averse.dashboards.results`). One chooses an event, an issue time and a
lead time (or plays the lead times as an animation); the maps show the
observed rain of the interval ending at issue time + lead time, each method's
forecast for it, and each forecast minus the observation. Below, the scores
pooled over all cases: one curve per method against lead time (a line marks
the chosen lead time) for each chosen threshold, and the score table at the
chosen lead time.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr

from averse.dashboards._app import Dashboard, Frames, MapSpec, utc_label
from averse.dashboards.charts import colours, grid_box, line_chart
from averse.dashboards.mapview import MapGrid

__all__ = ["NowcastDashboard", "CATEGORICAL_SCORES", "CONTINUOUS_SCORES"]

CATEGORICAL_SCORES = ("csi", "pod", "far", "hss", "ets", "frequency_bias")
CONTINUOUS_SCORES = ("mae", "rmse", "me", "corr")


def _minutes(lead_times) -> list[int]:
    return [int(pd.Timedelta(t).total_seconds() // 60) for t in np.atleast_1d(lead_times)]


class NowcastDashboard(Dashboard):
    """State and views of the nowcasting dashboard.

    Parameters
    ----------
    results : xr.Dataset
        The nowcasting store (:func:`averse.dashboards.results.open_results`).
    **params
        Initial parameter values.
    """

    kind = "nowcast"
    title = "Nowcasting: forecasts against the observed radar"
    about = ("Rain rate in mm/h; each map is the mean over the interval ending at issue time + lead time (UTC). "
             "Grey: outside radar coverage. Scores pool all cases of the store.")

    event = param.Selector(doc="Weather event")
    start = param.Selector(doc="Issue time (UTC): end of the last observed interval given to the methods")
    lead_time = param.Selector(label="Lead time (min)", doc="Lead time (minutes)")
    score = param.Selector(default="csi", objects=[*CATEGORICAL_SCORES, "fss", *CONTINUOUS_SCORES],
                           doc="Score of the curves")
    thresholds = param.ListSelector(default=[], doc="Thresholds (mm/h) of the curves and the table")
    scale = param.Selector(doc="FSS neighbourhood size (km)")
    methods = param.ListSelector(default=[], doc="Methods in the curves and the table")

    def __init__(self, results: xr.Dataset, **params):
        super().__init__()
        self.results = results
        self.grid = MapGrid(results)
        self._observed_frames = Frames(results["observed"], ("case", "lead_time", "y", "x"))
        self._forecast_frames = Frames(results["forecast"], ("case", "method", "lead_time", "y", "x"))
        self._markers: list = []  # lead-time marker of each chart shown
        self.method_names = [str(m) for m in results["method"].values]
        self.method_kinds = dict(zip(self.method_names, np.asarray(results["method_kind"]).astype(str)))
        self.colour = colours(self.method_names)
        self._scores = self._all_scores()
        self.leads = _minutes(results["lead_time"].values)
        self.cases = pd.DatetimeIndex(results["case"].values)
        self.events = np.asarray(results["event"]).astype(str)
        thresholds = [float(t) for t in results["threshold"].values]
        self.param.event.objects = list(dict.fromkeys(self.events))
        self.param.lead_time.objects = self.leads
        self.param.thresholds.objects = thresholds
        self.param.scale.objects = [float(s) for s in results["scale"].values]
        self.param.methods.objects = self.method_names
        self.event = self.param.event.objects[0]  # sets the issue times (_update_starts)
        self.lead_time = self.leads[min(5, len(self.leads) - 1)]
        self.thresholds = [t for t in thresholds if t in (1.0, 5.0)] or thresholds[:2]
        self.scale = self.param.scale.objects[len(self.param.scale.objects) // 2]
        self.methods = self.method_names
        self.param.update(**params)

    @param.depends("event", watch=True)
    def _update_starts(self):
        """Issue times of the chosen event, labelled in UTC; the value is the case index."""
        starts = {utc_label(self.cases[i]): i for i in np.flatnonzero(self.events == self.event)}
        self.param.start.objects = starts
        if self.start not in starts.values():
            self.start = next(iter(starts.values()))

    # -- fields -------------------------------------------------------------------------------
    def _valid_label(self, start, lead_time) -> str:
        return f"{utc_label(self.cases[start] + pd.Timedelta(minutes=lead_time))} (+{lead_time} min)"

    def _observed(self, start: int, lead_time: int) -> np.ndarray:
        return self._observed_frames[start, self.leads.index(lead_time)]

    def _forecast(self, method: int, start: int, lead_time: int) -> np.ndarray:
        return self._forecast_frames[start, method, self.leads.index(lead_time)]

    def observed_frame(self, start: int, lead_time: int):
        """``(values, title)`` of the observed map."""
        return self._observed(start, lead_time), f"observed {self._valid_label(start, lead_time)}"

    def forecast_frame(self, method: int, start: int, lead_time: int):
        """``(values, title)`` of a method's forecast."""
        name = self.method_names[method]
        return self._forecast(method, start, lead_time), f"{name} ({self.method_kinds[name]}) +{lead_time} min"

    def difference_frame(self, method: int, start: int, lead_time: int):
        """``(values, title)`` of forecast minus observed (NaN outside coverage)."""
        values = self._forecast(method, start, lead_time) - self._observed(start, lead_time)
        return values, f"{self.method_names[method]} − observed"

    def map_specs(self) -> list:
        """The maps in layout order: observed and each forecast; then each difference."""
        deps = ("start", "lead_time")
        n = len(self.method_names)
        top = [MapSpec(self.observed_frame, deps, "rain")]
        top += [MapSpec(partial(self.forecast_frame, i), deps, "rain", i == n - 1) for i in range(n)]
        bottom = [MapSpec(partial(self.difference_frame, i), deps, "difference", i == n - 1) for i in range(n)]
        return [*top, None, *bottom]

    # -- scores -------------------------------------------------------------------------------
    def _score(self, score: str, threshold: float | None = None) -> xr.DataArray:
        da = self.results[score].sel({"method": list(self.methods)})  # not sel(method=): a keyword of sel
        if "threshold" in da.dims:
            da = da.sel(threshold=threshold)
        if "scale" in da.dims:
            da = da.sel(scale=self.scale)
        return da.transpose("method", "lead_time")

    def _chart(self, threshold: float | None, marker: float | None):
        da = self._score(self.score, threshold)
        title = self.score + (f" (> {threshold:g} mm/h)" if threshold is not None else "")
        if self.score == "fss":
            title = f"fss (≥ {threshold:g} mm/h, {self.scale:g} km)"
        baselines = [m for m in self.methods if self.method_kinds[m] == "baseline"]
        return line_chart(self.leads, {m: da.sel({"method": m}).values for m in self.methods}, title,
                          "lead time [min]", self.score, self.colour, dashed=baselines, marker=marker)

    def _chart_thresholds(self) -> list:
        return [None] if self.score in CONTINUOUS_SCORES else sorted(self.thresholds)

    @param.depends("score", "thresholds", "scale", "methods")
    def curves(self):
        """Score against lead time, one curve per method (dashed: baselines), per chosen threshold."""
        if not self.methods or not self._chart_thresholds():
            return pn.pane.Markdown("Choose at least one method and one threshold.")
        charts = [self._chart(t, self.lead_time) for t in self._chart_thresholds()]
        self._markers = [span for _, span in charts]
        return grid_box([chart for chart, _ in charts], ncols=2)

    @param.depends("lead_time", watch=True)
    def _move_markers(self):
        for span in self._markers:
            span.location = self.lead_time

    def _all_scores(self) -> pd.DataFrame:
        """Every score by (method, lead_time, threshold, scale): built once, sliced by :meth:`table`."""
        categorical = [*CATEGORICAL_SCORES, "fss"]
        frame = self.results[categorical].to_dataframe()[categorical]
        continuous = self.results[list(CONTINUOUS_SCORES)].to_dataframe()[list(CONTINUOUS_SCORES)]
        frame = frame.join(continuous, on=["method", "lead_time"])
        return frame.reorder_levels(["lead_time", "scale", "method", "threshold"]).sort_index()

    @param.depends("lead_time", "thresholds", "scale", "methods")
    def table(self) -> pd.DataFrame:
        """Scores at the chosen lead time: one row per method and threshold."""
        lead = self.results["lead_time"].values[self.leads.index(self.lead_time)]
        at_lead = self._scores.loc[(lead, self.scale)]
        rows = pd.MultiIndex.from_product([list(self.methods), sorted(self.thresholds)], names=["method", "threshold"])
        return at_lead.reindex(rows).rename(columns={"fss": f"fss {self.scale:g} km"}).round(3)

    # -- views --------------------------------------------------------------------------------
    def controls(self) -> list:
        """The widgets: parameters and a player animating the lead times."""
        widgets = pn.Param(self, parameters=["event", "start", "lead_time", "score", "thresholds", "scale", "methods"],
                           widgets={"lead_time": pn.widgets.DiscreteSlider,
                                    "thresholds": pn.widgets.MultiChoice,
                                    "methods": pn.widgets.MultiChoice},
                           show_name=False, width=300)
        player = pn.widgets.Player(label="animate lead times", start=0, end=len(self.leads) - 1,
                                   value=self.leads.index(self.lead_time), interval=800, loop_policy="loop",
                                   show_loop_controls=False, width=280)
        player.param.watch(lambda event: setattr(self, "lead_time", self.leads[event.new]), "value")
        self.param.watch(lambda event: setattr(player, "value", self.leads.index(event.new)), "lead_time")
        return [widgets, pn.pane.Markdown("**Animation over lead times**"), player]

    def panel(self) -> pn.Column:
        """The live app."""
        maps = self.live_maps(self.grid, self.map_specs(), ncols=len(self.method_names) + 1)
        return self.page(self.controls(), pn.pane.Bokeh(maps), pn.panel(self.curves),
                         pn.pane.Markdown("### Scores at the chosen lead time"), pn.pane.DataFrame(self.table))

    def snapshot(self) -> pn.Column:
        """The chosen case at every lead time (a slider swaps them in the page), the curves and the table."""
        maps = self.animated_maps(self.grid, self.map_specs(), len(self.method_names) + 1, "lead_time", self.leads,
                                  "lead time (step; the map titles give the minutes)")
        curves = grid_box([self._chart(t, None)[0] for t in self._chart_thresholds()], ncols=2)
        info = f"**{self.event}**, issued {utc_label(self.cases[self.start])}. Score table at +{self.lead_time} min."
        return pn.Column(pn.pane.Markdown(f"# {self.title}\n\n{self.about}\n\n{info}"),
                         pn.pane.Bokeh(maps),
                         pn.pane.Bokeh(curves), pn.pane.DataFrame(self.table()))
