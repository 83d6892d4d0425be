"""Figures of the nowcasting notebooks: learning curves, skill against lead time, case maps.

Every function returns its matplotlib figure and, given ``path``, saves it there
(PNG, written to a temporary name and renamed). Maps are drawn on the data's
own projection with coastlines by :func:`averse.maps.plot_field`; rain uses
one logarithmic colour scale (0.1–100 mm/h) everywhere so panels compare.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import LogNorm

from averse.nowcast.scoring import lead_minutes

__all__ = ["save", "learning_curves", "skill_curves", "case_maps", "configuration_curves", "difference_chart",
           "RAIN_STYLE"]

#: Colour scale of rain maps (mm/h): below 0.1 mm/h is left blank.
RAIN_STYLE = {"cmap": "turbo", "norm": LogNorm(0.1, 100.0)}

_SCORE_LABELS = {"csi": "CSI", "mae": "MAE (mm/h)", "fss": "FSS", "rmse": "RMSE (mm/h)", "hss": "HSS",
                 "ets": "ETS", "pod": "POD", "far": "FAR", "frequency_bias": "frequency bias", "corr": "correlation"}


def save(fig, path: str | os.PathLike | None, dpi: int = 90):
    """Save ``fig`` to ``path`` atomically (nothing when ``path`` is None); return ``fig``."""
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    os.replace(tmp, path)
    return fig


def learning_curves(metrics: pd.DataFrame, path=None):
    """Training and validation loss, and the validation scores, against the epoch.

    Parameters
    ----------
    metrics : pandas.DataFrame
        :func:`averse.train.read_metrics` output (one row per epoch).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for column, label in (("train/loss_epoch", "training loss"), ("val/loss", "validation loss")):
        if column in metrics:
            left.plot(metrics.index, metrics[column], marker="o", label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("loss (transformed space)")
    left.legend()
    for column in sorted(c for c in metrics.columns if c.startswith("val/") and c != "val/loss"):
        right.plot(metrics.index, metrics[column], marker="o", label=column.removeprefix("val/"))
    right.set_xlabel("epoch")
    right.set_ylabel("validation score (mm/h for MAE)")
    if right.lines:
        right.legend()
    fig.tight_layout()
    return save(fig, path)


def _select(scores: xr.Dataset, score: str, threshold: float | None, scale: float | None) -> xr.DataArray:
    values = scores[score]
    if threshold is not None:
        values = values.sel(threshold=threshold)
    if scale is not None:
        values = values.sel(scale=scale)
    return values


def skill_curves(scores: xr.Dataset, panels: Sequence[tuple[str, float | None, float | None]],
                 models: Sequence[str] = (), title: str | None = None, path=None):
    """One panel per score: every method against lead time (models solid, baselines dashed).

    Parameters
    ----------
    scores : xr.Dataset
        :func:`~averse.nowcast.scoring.score_forecasts` output.
    panels : sequence of (score, threshold, scale)
        E.g. ``[("csi", 1.0, None), ("csi", 5.0, None), ("mae", None, None), ("fss", 1.0, 20.0)]``.
    models : sequence of str
        Methods drawn solid (the networks).
    title : str, optional
        Figure title.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.4), squeeze=False)
    minutes = lead_minutes(scores["lead_time"].values)
    for ax, (score, threshold, scale) in zip(axes[0], panels):
        values = _select(scores, score, threshold, scale)
        for method in scores["method"].values:
            style = "-" if method in models else "--"
            ax.plot(minutes, values.sel({"method": method}).values, style, marker=".", label=str(method))
        label = _SCORE_LABELS.get(score, score)
        event = ">=" if score == "fss" else ">"  # verify's FSS event is value >= threshold
        detail = ", ".join(part for part in (f"{event} {threshold:g} mm/h" if threshold is not None else "",
                                             f"{scale:g} km" if scale is not None else "") if part)
        ax.set_title(f"{label} {detail}".strip())
        ax.set_xlabel("lead time (min)")
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def case_maps(observed: xr.DataArray, forecasts: Mapping[str, xr.DataArray], case, leads_minutes: Sequence[int],
              resolution: str = "auto", path=None):
    """Observed rain and every forecast of one case at a few lead times (rows: observed, then methods).

    Parameters
    ----------
    observed : xr.DataArray
        ``(case, lead_time, y, x)`` observations with the data-model grid.
    forecasts : mapping of str to xr.DataArray
        Forecasts on the same cases and grid.
    case : datetime-like
        The issue time shown.
    leads_minutes : sequence of int
        Lead times shown (those not in the data are skipped).
    resolution : str
        Natural Earth scale of coastlines and borders.
    """
    from averse.maps import plot_field

    available = lead_minutes(observed["lead_time"].values)
    columns = [int(np.flatnonzero(available == m)[0]) for m in leads_minutes if m in available]
    rows = {"observed": observed, **forecasts}
    fig = plt.figure(figsize=(3.2 * len(columns), 3.0 * len(rows)))
    mesh = None
    case = np.datetime64(pd.Timestamp(case).to_datetime64(), "ns")
    for r, (name, field) in enumerate(rows.items()):
        for c, lead in enumerate(columns):
            frame = field.sel(case=case).isel(lead_time=lead)
            ax = fig.add_subplot(len(rows), len(columns), r * len(columns) + c + 1)
            mesh = plot_field(frame.where(frame >= 0.1), ax=ax, resolution=resolution, colorbar=False,
                              title=f"{name}\n+{available[lead]} min", **RAIN_STYLE)
            ax.title.set_fontsize("small")
    fig.suptitle(f"issued {pd.Timestamp(case):%Y-%m-%d %H:%M} UTC (end of the last observed interval)")
    if mesh is not None:
        fig.colorbar(mesh, ax=fig.axes, shrink=0.6, label="rain rate (mm/h)")
    return save(fig, path)


def configuration_curves(pooled: xr.Dataset, panels: Sequence[tuple[str, float | None]], path=None):
    """Pooled scores of every input configuration against lead time (mean over seeds, band: min–max).

    Parameters
    ----------
    pooled : xr.Dataset
        :func:`~averse.nowcast.scoring.pooled_scores` of the collected batch:
        ``csi`` (configuration, seed, lead_time, threshold), ``mae`` (configuration, seed, lead_time).
    panels : sequence of (score, threshold)
        E.g. ``[("csi", 1.0), ("csi", 5.0), ("mae", None)]``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.4), squeeze=False)
    minutes = lead_minutes(pooled["lead_time"].values)
    for ax, (score, threshold) in zip(axes[0], panels):
        values = _select(pooled, score, threshold, None)
        for name in pooled["configuration"].values:
            runs = values.sel(configuration=name)
            runs = runs if "seed" in runs.dims else runs.expand_dims(seed=[0])
            line, = ax.plot(minutes, runs.mean("seed").values, marker=".", label=str(name))
            ax.fill_between(minutes, runs.min("seed").values, runs.max("seed").values, color=line.get_color(),
                            alpha=0.15, linewidth=0)
        ax.set_title(_SCORE_LABELS.get(score, score) + (f" > {threshold:g} mm/h" if threshold is not None else ""))
        ax.set_xlabel("lead time (min)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return save(fig, path)


def difference_chart(table: pd.DataFrame, path=None):
    """Mean difference to the reference configuration with its 95 % interval, one panel per score.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`averse.nowcast.ablation.ablation_table` output.
    """
    scores = list(dict.fromkeys(table.index.get_level_values("score")))
    fig, axes = plt.subplots(1, len(scores), figsize=(4.2 * len(scores), 0.5 + 0.45 * len(table) / len(scores) + 1.5),
                             squeeze=False)
    for ax, score in zip(axes[0], scores):
        rows = table.xs(score, level="score")
        y = np.arange(len(rows))
        errors = np.vstack([rows["difference"] - rows["low"], rows["high"] - rows["difference"]])
        ax.errorbar(rows["difference"], y, xerr=np.clip(errors, 0, None), fmt="o", capsize=3)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_yticks(y, rows.index)
        ax.set_title(f"{score}: difference to radar only")
    fig.tight_layout()
    return save(fig, path)
