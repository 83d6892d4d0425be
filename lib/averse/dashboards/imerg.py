"""IMERG-validation dashboard: IMERG beside the aggregated radar, scores stratified under filters.

Reads the store of ``notebooks/33_imerg_validation.ipynb`` (see
:mod:`averse.dashboards.results`). For a chosen half hour the maps show IMERG,
the radar aggregated to its cells, IMERG minus radar on the pixels that pass
the filters, and the time since the microwave overpass each pixel's estimate
comes from. The filters (microwave source, time since overpass, quality index)
select pixels of the whole record; the table scores the selected pixels,
stratified by source, by time since overpass or by quality index, computed
live with :mod:`averse.verify` (a few milliseconds per change).

Time since overpass: IMERG gives ``MWobservationTime`` only for the half hour
holding an overpass (minutes after its start). The dashboard carries the last
overpass forward in time per pixel: the age of a half hour's estimate is the
time from that overpass to the END of the half hour (0-30 min when the
overpass fell inside it); NaN (unknown) before the first overpass of the
record. Unknown ages pass the filter only when its upper end is at the top of
the slider (which means "and older, or unknown").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr

from averse import verify
from averse.dashboards._app import Dashboard, MapSpec, utc_label
from averse.dashboards.mapview import MapGrid

__all__ = ["ImergDashboard", "SOURCE_NAMES", "minutes_since_overpass", "stratified_scores"]

#: IMERG V07 ``MWprecipSource`` codes (as decoded by gpm_api).
SOURCE_NAMES = {0: "none (IR, morphed)", 1: "TMI", 3: "AMSR", 4: "SSMI", 5: "SSMIS", 6: "AMSU-B", 7: "MHS", 9: "GMI",
                11: "ATMS"}
MAX_AGE_MINUTES = 360
AGE_EDGES = (0, 30, 90, 180, 360)
QUALITY_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
STRATA = ("MW source", "time since overpass", "quality index")


def minutes_since_overpass(results: xr.Dataset) -> xr.DataArray:
    """Minutes from the last microwave overpass to the end of each half hour, per pixel.

    Parameters
    ----------
    results : xr.Dataset
        The IMERG store: ``MWprecipSource``, ``MWobservationTime`` (minutes
        after the start of the half hour) and ``time`` (its end).

    Returns
    -------
    xr.DataArray
        ``(time, y, x)`` minutes; NaN before the first overpass of the record.
    """
    source = results["MWprecipSource"].transpose("time", "y", "x").values
    minute = results["MWobservationTime"].transpose("time", "y", "x").values
    end = (results["time"].values - results["time"].values[0]) / np.timedelta64(1, "m")
    overpass = np.where(source > 0, end[:, None, None] - 30.0 + np.nan_to_num(minute), -np.inf)
    last = np.maximum.accumulate(overpass, axis=0)
    age = np.where(np.isfinite(last), end[:, None, None] - last, np.nan)
    return xr.DataArray(age.astype("float32"), dims=("time", "y", "x"),
                        attrs={"long_name": "minutes from the last microwave overpass to the end of the half hour",
                               "units": "minutes"})


def _bins(values, edges, unit: str = "", closed_last: bool = False) -> dict:
    """``{"[lo, hi)": mask}`` of consecutive bins; the last one closed when ``closed_last``."""
    bins = {}
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = closed_last and i == len(edges) - 2
        below = values <= hi if last else values < hi
        bins[f"[{lo:g}, {hi:g}{']' if last else ')'}{unit}"] = (values >= lo) & below
    return bins


def _strata(stratify_by: str, source, age, quality) -> dict:
    """``{label: boolean mask}`` of the strata of the pixels."""
    if stratify_by == "MW source":
        return {SOURCE_NAMES.get(int(c), f"code {int(c)}"): source == c for c in np.unique(source[np.isfinite(source)])}
    if stratify_by == "time since overpass":
        strata = _bins(age, AGE_EDGES, " min")
        strata[f"≥ {AGE_EDGES[-1]:g} min or unknown"] = ~(age < AGE_EDGES[-1])
        return strata
    return _bins(quality, QUALITY_EDGES, closed_last=True)


def stratified_scores(imerg, radar, strata: dict, threshold: float) -> pd.DataFrame:
    """Scores of IMERG against radar on each stratum of pixels, all strata in one vectorised call.

    Parameters
    ----------
    imerg, radar : ndarray, shape (n,)
        Pixel values (mm/h), NaN where missing.
    strata : dict
        ``{label: boolean mask (n,)}``; an ``"all selected"`` row is added.
    threshold : float
        Rain/no-rain threshold (mm/h) of the categorical scores (event ``value > threshold``).

    Returns
    -------
    pandas.DataFrame
        One row per stratum: pixels, POD, FAR, CSI, frequency bias, volume
        bias (sum IMERG / sum radar), mean error (mm/h), correlation.
    """
    labels = ["all selected", *strata]
    masks = np.stack([np.ones(imerg.shape, bool), *strata.values()]) & np.isfinite(imerg) & np.isfinite(radar)
    f = xr.DataArray(np.where(masks, imerg, np.nan), dims=("stratum", "pixel"), coords={"stratum": labels})
    o = xr.DataArray(np.where(masks, radar, np.nan), dims=("stratum", "pixel"), coords={"stratum": labels})
    categorical = verify.categorical(f, o, threshold, dims=("pixel",), aggregate_dims=()).sel(threshold=threshold)
    continuous = verify.continuous(f, o, dims=("pixel",), aggregate_dims=())
    with np.errstate(invalid="ignore", divide="ignore"):
        volume = np.nansum(f.values, axis=1) / np.nansum(o.values, axis=1)
    table = pd.DataFrame({
        "pixels": masks.sum(axis=1), "pod": categorical["pod"].values, "far": categorical["far"].values,
        "csi": categorical["csi"].values, "frequency_bias": categorical["frequency_bias"].values,
        "volume_bias": volume, "me": continuous["me"].values, "corr": continuous["corr"].values,
    }, index=pd.Index(labels, name=f"stratum (event > {threshold:g} mm/h)"))
    return table.round(3)


class ImergDashboard(Dashboard):
    """State and views of the IMERG-validation dashboard.

    Parameters
    ----------
    results : xr.Dataset
        The IMERG store, with ``minutes_since_overpass`` added by :meth:`prepare`.
    **params
        Initial parameter values.
    """

    kind = "imerg"
    title = "IMERG against radar, by microwave source and age"
    about = ("Half-hour mean rain rate in mm/h on IMERG's 0.1° grid; times are the END of the half hour (UTC). "
             "Grey: no data. Filters select pixels of the whole record; the table scores them.")

    time = param.Selector(doc="Half hour (end, UTC)")
    sources = param.ListSelector(default=[], label="Microwave sources kept", doc="MWprecipSource values kept")
    age = param.Range(default=(0, MAX_AGE_MINUTES), bounds=(0, MAX_AGE_MINUTES), label="Minutes since overpass",
                      doc="Minutes since the overpass kept (the top also keeps older or unknown)")
    quality = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), label="Quality index",
                          doc="precipitationQualityIndex kept")
    threshold = param.Selector(default=0.5, objects=[0.1, 0.2, 0.5, 1.0, 2.0, 5.0], doc="Rain threshold (mm/h)")
    stratify_by = param.Selector(default=STRATA[0], objects=list(STRATA), doc="Rows of the score table")

    @staticmethod
    def prepare(results: xr.Dataset) -> xr.Dataset:
        """Add ``minutes_since_overpass`` (once per loaded store)."""
        return results.assign(minutes_since_overpass=minutes_since_overpass(results))

    def __init__(self, results: xr.Dataset, **params):
        super().__init__()
        self.results = results
        self.grid = MapGrid(results, frame_width=330)
        dims = ("time", "y", "x")
        self.fields = {name: results[name].transpose(*dims).values for name in
                       ("imerg", "radar", "MWprecipSource", "minutes_since_overpass", "precipitationQualityIndex")}
        codes = np.unique(self.fields["MWprecipSource"][np.isfinite(self.fields["MWprecipSource"])])
        self.param.sources.objects = {SOURCE_NAMES.get(int(c), f"code {int(c)}"): float(c) for c in codes}
        self.param.time.objects = {utc_label(t): i for i, t in enumerate(results["time"].values)}
        self.sources = list(self.param.sources.objects.values())
        wettest = np.nansum(self.fields["radar"], axis=(1, 2))
        self.time = int(np.argmax(wettest)) if np.isfinite(wettest).any() else 0
        self.param.update(**params)

    def _passes(self, time, sources, age, quality) -> np.ndarray:
        """Boolean mask of the pixels of ``time`` (an index or a slice) passing the filters."""
        minutes = self.fields["minutes_since_overpass"][time]
        in_age = (minutes >= age[0]) & (minutes <= age[1])
        if age[1] >= MAX_AGE_MINUTES:
            in_age |= ~(minutes < MAX_AGE_MINUTES)  # older or unknown
        index = self.fields["precipitationQualityIndex"][time]
        return (np.isin(self.fields["MWprecipSource"][time], sources) & in_age
                & (index >= quality[0]) & (index <= quality[1]))

    def selected(self) -> np.ndarray:
        """Boolean ``(time, y, x)`` mask of the pixels passing the current filters."""
        return self._passes(slice(None), self.sources, self.age, self.quality)

    # -- fields -------------------------------------------------------------------------------
    def _label(self, time: int) -> str:
        return utc_label(self.results["time"].values[time])

    def imerg_frame(self, time: int):
        """``(values, title)`` of IMERG."""
        return self.fields["imerg"][time], f"IMERG, half hour ending {self._label(time)}"

    def radar_frame(self, time: int):
        """``(values, title)`` of the aggregated radar."""
        return self.fields["radar"][time], "radar aggregated to 0.1°, 30 min"

    def difference_frame(self, time: int, sources, age, quality):
        """``(values, title)`` of IMERG minus radar on the selected pixels."""
        keep = self._passes(time, sources, age, quality)
        values = np.where(keep, self.fields["imerg"][time] - self.fields["radar"][time], np.nan)
        return values, "IMERG − radar (selected pixels)"

    def age_frame(self, time: int):
        """``(values, title)`` of the minutes since the overpass."""
        return self.fields["minutes_since_overpass"][time], "minutes since the MW overpass"

    def map_specs(self) -> list:
        """IMERG, radar; their difference on the selected pixels, the age of the estimate."""
        return [MapSpec(self.imerg_frame, ("time",), "rain"), MapSpec(self.radar_frame, ("time",), "rain", True),
                MapSpec(self.difference_frame, ("time", "sources", "age", "quality"), "difference", True),
                MapSpec(self.age_frame, ("time",), "minutes", True)]

    # -- scores -------------------------------------------------------------------------------
    @param.depends("sources", "age", "quality", "threshold", "stratify_by")
    def table(self) -> pd.DataFrame:
        """Scores of the selected pixels of the whole record, by stratum."""
        keep = self.selected()
        pixels = {name: values[keep] for name, values in self.fields.items()}
        strata = _strata(self.stratify_by, pixels["MWprecipSource"], pixels["minutes_since_overpass"],
                         pixels["precipitationQualityIndex"])
        return stratified_scores(pixels["imerg"], pixels["radar"], strata, self.threshold)

    # -- views --------------------------------------------------------------------------------
    def controls(self) -> list:
        """The widgets."""
        return [pn.Param(self, parameters=["time", "sources", "age", "quality", "threshold", "stratify_by"],
                         widgets={"sources": pn.widgets.MultiChoice, "age": pn.widgets.IntRangeSlider,
                                  "quality": {"type": pn.widgets.RangeSlider, "step": 0.05}},
                         show_name=False, width=300)]

    def panel(self) -> pn.Column:
        """The live app."""
        maps = self.live_maps(self.grid, self.map_specs(), ncols=2)
        return self.page(self.controls(), pn.pane.Bokeh(maps),
                         pn.pane.Markdown("### Scores of the selected pixels (whole record)"), pn.pane.DataFrame(self.table))

    def snapshot(self) -> pn.Column:
        """Every half hour held in the page (a slider swaps them) and the score table of the filters."""
        maps = self.animated_maps(self.grid, self.map_specs(), 2, "time", range(self.results.sizes["time"]),
                                  "half hour (step; the IMERG map title gives the time)")
        names = {v: k for k, v in self.param.sources.objects.items()}
        info = (f"Filters: sources {', '.join(names[s] for s in self.sources)}; {self.age[0]}-{self.age[1]} min "
                f"since overpass; quality {self.quality[0]:g}-{self.quality[1]:g}.")
        return pn.Column(pn.pane.Markdown(f"# {self.title}\n\n{self.about}\n\n{info}"),
                         pn.pane.Bokeh(maps), pn.pane.DataFrame(self.table()))
