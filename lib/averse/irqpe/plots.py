"""Figures of the IR-retrieval notebooks: learning curves, maps of retrievals and ensembles, spectra.

Maps are drawn with :func:`averse.maps.plot_field` on the data's own
projection; rain below ``RAIN_FLOOR`` (0.1 mm/h) is left transparent and the
colours are logarithmic from 0.1 to 50 mm/h. Every function returns its
matplotlib figure; saving it is the notebook's business.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import LogNorm

from averse.maps import plot_field

__all__ = ["RAIN_FLOOR", "plot_inputs", "plot_learning_curves", "plot_retrievals", "plot_ensemble", "plot_spectra",
           "plot_rank_histograms", "plot_intervals"]

RAIN_FLOOR = 0.1
_RAIN = {"cmap": "turbo", "norm": LogNorm(RAIN_FLOOR, 50.0)}


def _utc(value) -> str:
    return f"{np.datetime_as_string(np.asarray(value, dtype='datetime64[m]'))} UTC"


def _rain_map(field: xr.DataArray, ax, title: str):
    """One rain map; dry pixels transparent."""
    return plot_field(field.where(field >= RAIN_FLOOR), ax=ax, colorbar=False, title=title, **_RAIN)


def plot_inputs(ir: xr.DataArray, reference: xr.DataArray, case: int = 0, channel: int = 0):
    """The IR images of one case's stack (one channel, oldest first) and the reference rain.

    Parameters
    ----------
    ir : xr.DataArray
        ``(case, lag, channel, y, x)`` brightness temperatures in K
        (:meth:`averse.irqpe.IRRetrievalDataModule.ir_field`).
    reference : xr.DataArray
        ``(case, y, x)`` rain (mm/h).
    case, channel : int
        Positions of the case and of the channel shown.
    """
    stack = ir.isel(case=case, channel=channel)
    n = stack.sizes["lag"] + 1
    fig = plt.figure(figsize=(3.4 * n, 3.8))
    for i, lag in enumerate(stack["lag"].values):
        mesh = plot_field(stack.sel(lag=lag), ax=fig.add_subplot(1, n, i + 1), colorbar=False,
                          title=f"{stack['channel'].item()} t{lag:+.0f} min", cmap="gray_r", vmin=200.0, vmax=300.0)
    fig.colorbar(mesh, ax=fig.axes, shrink=0.7, label="K", location="left")
    rain = _rain_map(reference.isel(case=case), fig.add_subplot(1, n, n), "reference rain at t")
    fig.colorbar(rain, ax=rain.axes, shrink=0.7, label="mm/h")
    fig.suptitle(_utc(reference["case"].values[case]))
    return fig


def plot_learning_curves(metrics: pd.DataFrame, title: str = ""):
    """Training and validation losses per epoch (and the validation MAE when logged)."""
    losses = [c for c in ("train/loss_epoch", "val/loss") if c in metrics]
    panels = 2 if "val/mae" in metrics else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.2), squeeze=False)
    for column in losses:
        axes[0, 0].plot(metrics.index, metrics[column], marker=".", label=column)
    axes[0, 0].set(xlabel="epoch", ylabel="loss (transformed rain)", title=title or "learning curves")
    axes[0, 0].legend()
    if panels == 2:
        axes[0, 1].plot(metrics.index, metrics["val/mae"], marker=".", color="C2")
        axes[0, 1].set(xlabel="epoch", ylabel="mm/h", title="validation MAE")
    fig.tight_layout()
    return fig


def plot_retrievals(reference: xr.DataArray, fields: Mapping[str, xr.DataArray], case: int = 0):
    """The reference and each retrieval (first member of an ensemble) for one case."""
    panels = {"reference": reference.isel(case=case)}
    for name, field in fields.items():
        one = field.isel(case=case)
        panels[name if "member" not in one.dims else f"{name}\nmember 0"] = (
            one.isel(member=0) if "member" in one.dims else one)
    fig = plt.figure(figsize=(3.4 * len(panels), 3.8))
    for i, (title, field) in enumerate(panels.items()):
        mesh = _rain_map(field, fig.add_subplot(1, len(panels), i + 1), title)
    fig.colorbar(mesh, ax=fig.axes, shrink=0.8, label="rain rate [mm/h]")
    fig.suptitle(_utc(reference["case"].values[case]))
    return fig


def plot_ensemble(members: xr.DataArray, reference: xr.DataArray, case: int = 0, threshold: float = 1.0,
                  n_shown: int = 3, title: str = ""):
    """Members, ensemble mean, spread and exceedance probability of one case, beside the reference.

    Parameters
    ----------
    members : xr.DataArray
        ``(case, member, y, x)`` mm/h.
    reference : xr.DataArray
        ``(case, y, x)`` mm/h.
    case : int
        Position of the case.
    threshold : float
        Threshold (mm/h) of the exceedance probability.
    n_shown : int
        Members drawn.
    title : str
        Figure title (the model's name).
    """
    ensemble = members.isel(case=case)
    shown = min(n_shown, ensemble.sizes["member"])
    fig = plt.figure(figsize=(3.2 * (shown + 4), 3.8))
    n = shown + 4
    mesh = _rain_map(reference.isel(case=case), fig.add_subplot(1, n, 1), "reference")
    rain_axes = [mesh.axes]
    for m in range(shown):
        rain_axes.append(_rain_map(ensemble.isel(member=m), fig.add_subplot(1, n, m + 2), f"member {m}").axes)
    rain_axes.append(_rain_map(ensemble.mean("member"), fig.add_subplot(1, n, shown + 2), "ensemble mean").axes)
    spread = plot_field(ensemble.std("member"), ax=fig.add_subplot(1, n, shown + 3), colorbar=False,
                        title="spread (std)", cmap="magma", vmin=0.0)
    probability = plot_field((ensemble > threshold).mean("member"), ax=fig.add_subplot(1, n, shown + 4),
                             colorbar=False, title=f"P(rain > {threshold:g} mm/h)", cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(mesh, ax=rain_axes, shrink=0.5, label="rain rate [mm/h]", location="bottom")
    fig.colorbar(spread, ax=spread.axes, shrink=0.9, label="mm/h", location="bottom")
    fig.colorbar(probability, ax=probability.axes, shrink=0.9, label="probability", location="bottom")
    fig.suptitle(f"{title}  {_utc(reference['case'].values[case])}", y=1.04)
    return fig


def plot_spectra(spectra: xr.Dataset):
    """RAPSD of every model and of the reference against the wavelength (log-log)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    positive = spectra["wavenumber"] > 0
    wavelength = spectra["wavelength"].where(positive, drop=True)
    ax.loglog(wavelength, spectra["rapsd_reference"].where(positive, drop=True), "k-", lw=2, label="reference")
    for model in spectra["model"].values:
        ax.loglog(wavelength, spectra["rapsd"].sel(model=model).where(positive, drop=True), label=str(model))
    ax.invert_xaxis()
    ax.set(xlabel="wavelength [km]", ylabel="power [(mm/h)²]", title="radially averaged power spectra")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_rank_histograms(ensemble: xr.Dataset):
    """Rank histograms of the ensemble models (flat = reliable)."""
    histograms = ensemble["rank_histogram"].dropna("model", how="all")
    panels = max(1, histograms.sizes["model"])
    fig, axes = plt.subplots(1, panels, figsize=(3.5 * panels, 3), squeeze=False)
    for ax, model in zip(axes[0], histograms["model"].values):
        values = histograms.sel(model=model)
        ax.bar(values["rank"], values, color="C0")
        ax.axhline(1.0 / values.sizes["rank"], color="k", ls="--", lw=1)
        ax.set(title=str(model), xlabel="rank of the reference", ylabel="frequency")
    fig.tight_layout()
    return fig


def plot_intervals(table: pd.DataFrame, score: str = "csi"):
    """A score of every configuration with its bootstrap interval (:func:`averse.irqpe.configurations.bootstrap`)."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))
    rows = np.arange(len(table))
    errors = np.vstack([table[score] - table[f"{score}_low"], table[f"{score}_high"] - table[score]])
    ax.errorbar(table[score], rows, xerr=errors, fmt="o", capsize=3)
    ax.set_yticks(rows, table.index)
    ax.invert_yaxis()
    confidence = table.attrs.get("confidence", 0.9)
    ax.set(xlabel=f"{score.upper()} ({confidence:.0%} bootstrap interval over test cases)")
    fig.tight_layout()
    return fig
