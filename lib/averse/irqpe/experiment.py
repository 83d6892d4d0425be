"""Retrieve rain on whole fields and score it on two axes: where the rain is, and what it looks like.

- :func:`retrieve` runs a trained retrieval (a regressor of
  :mod:`averse.models.irqpe` or a generative model of
  :mod:`averse.models.generative`) over the whole fields of a split and
  returns a :class:`Retrieval`: the rain in mm/h as ``(case, y, x)`` or, for
  an ensemble, ``(case, member, y, x)``, with its sampling cost (network
  evaluations per member, seconds per member).
- :func:`evaluate` scores several retrievals against the reference with
  :mod:`averse.verify`, pooling cases and members (an ensemble is scored member
  by member, then pooled; its ensemble scores use all members):

  * **spatial axis** (is the rain in the right place?) — POD, FAR, CSI, HSS, ETS,
    frequency bias at ``thresholds`` (event ``value > threshold``), FSS at every
    threshold and neighbourhood scale, MAE / RMSE / bias / correlation, and the
    object view: the mean distance between the centres of mass of the
    retrieved and reference fields (``displacement_km``) and SAL's location;
  * **statistical axis** (does it look like rain?) — 99th and 99.9th percentiles
    of the rain over the valid pixels, the Wasserstein-1 distance to the
    reference distribution, the wet fraction, and the ratio of the RAPSD to the
    reference's at wavelengths up to ``small_scales_km`` (``rapsd_ratio_small``:
    below 1 the field is too smooth);
  * **ensembles** — CRPS (for a deterministic retrieval the CRPS is its MAE),
    rank histogram, spread, RMSE of the ensemble mean and spread–skill ratio.

  The spatial and statistical datasets follow the results-store contract of
  :func:`averse.dashboards.results.write_irqpe_results`.
- :meth:`Evaluation.table` is the two-axis table of notebooks 22 and 23.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import xarray as xr

from averse import verify
from averse.models.generative import as_generator
from averse.train.config import resolve_device

__all__ = ["Retrieval", "retrieve", "Evaluation", "evaluate", "DEFAULT_CONFIG", "network"]

#: Thresholds (mm/h) and FSS scales (km) for the ~3-km imager grid.
DEFAULT_CONFIG = verify.VerificationConfig(thresholds=(0.1, 1.0, 5.0, 10.0), fss_scales_km=(3.0, 9.0, 27.0, 81.0),
                                           quantiles=(0.99, 0.999))
_POOLED = ("case", "member")


@dataclass
class Retrieval:
    """Retrieved rain of one model over the cases of a split.

    Attributes
    ----------
    field : xr.DataArray
        mm/h, ``(case, y, x)`` (deterministic) or ``(case, member, y, x)`` (ensemble).
    nfe_per_member : int
        Network evaluations per member (1 for a regressor; the U-Net mean of a
        combination is one more evaluation per case, shared by all members).
    seconds_per_member : float
        Wall-clock seconds per case and member on the device used.
    device : str
        Where it ran.
    """

    field: xr.DataArray
    nfe_per_member: int
    seconds_per_member: float
    device: str

    @property
    def is_ensemble(self) -> bool:
        """Whether the field has a ``member`` dim."""
        return "member" in self.field.dims


def network(model) -> torch.nn.Module:
    """The retrieval network of a training task (its ``model``) or the network itself."""
    return getattr(model, "model", model)


def _device(device: str) -> torch.device:
    accelerator, devices = resolve_device(device)
    index = devices[0] if isinstance(devices, list) else None
    return torch.device(accelerator if index is None else f"{accelerator}:{index}")


@torch.no_grad()
def retrieve(model, datamodule, split: str = "test", *, n_members: int = 8, n_steps: int = 10,
             seed: int = 0, batch_size: int = 4, device: str = "auto", **sampler) -> Retrieval:
    """Retrieve the rain of every case of ``split`` on whole fields.

    Parameters
    ----------
    model : LightningModule or nn.Module
        A trained task (:func:`averse.train.fit` / :func:`averse.train.load_model`) or its network.
    datamodule : IRRetrievalDataModule
        The data: whole fields of its cases, read ``batch_size`` cases at a time.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    n_members, n_steps : int
        Ensemble size and integration steps of a generative model (ignored for a regressor).
    seed : int
        Seed of the ensemble's random draws (the same seed gives the same members).
    batch_size : int
        Cases per network call.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...; the network is moved there and put in evaluation mode.
    **sampler
        Sampler options of the generative model (``method="heun"``, ``eta=1.0``).

    Returns
    -------
    Retrieval
    """
    net = network(model)
    target = _device(device)
    net = net.to(target).eval()
    cases = datamodule.split_cases(split)
    generative = getattr(net, "task", None) == "generative"
    generator = as_generator(seed, target) if generative else None
    outputs, nfe = [], 1
    start = time.perf_counter()
    for first in range(0, cases.size, batch_size):
        batch = torch.from_numpy(datamodule.cases.inputs(cases[first:first + batch_size])).to(target)
        if generative:
            values = net.transform.inverse(net.sample(batch, n_members, n_steps, generator, **sampler))[:, :, 0]
            nfe = int(net.last_nfe)
        else:
            values = net.predict_rates(batch)[:, 0]
        outputs.append(values.clamp(min=0.0).float().cpu().numpy())
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    seconds = time.perf_counter() - start
    members = n_members if generative else 1
    field = datamodule.as_field(np.concatenate(outputs), split, member=generative)
    return Retrieval(field=field, nfe_per_member=nfe, seconds_per_member=seconds / (cases.size * members),
                     device=str(target))


@dataclass
class Evaluation:
    """Scores of several retrievals (``model`` dim), from :func:`evaluate`.

    Attributes
    ----------
    spatial : xr.Dataset
        ``pod far csi hss ets frequency_bias`` (model, threshold), ``fss``
        (model, threshold, scale), ``mae rmse me corr``, ``displacement_km``,
        ``sal_location`` (model).
    statistical : xr.Dataset
        ``p99 p999 wet_fraction wasserstein crps rapsd_ratio_small`` (model) and
        the scalars ``reference_p99 reference_p999 reference_wet_fraction``.
    ensemble : xr.Dataset
        ``rank_histogram`` (model, rank), ``ensemble_spread``,
        ``ensemble_mean_rmse``, ``spread_skill_ratio`` (model); NaN for
        deterministic models.
    spectra : xr.Dataset
        ``rapsd`` (model, wavenumber) and ``rapsd_reference`` (wavenumber).
    """

    spatial: xr.Dataset
    statistical: xr.Dataset
    ensemble: xr.Dataset
    spectra: xr.Dataset

    def table(self, threshold: float = 1.0, scale_km: float = 27.0,
              costs: Mapping[str, Retrieval] | None = None) -> pd.DataFrame:
        """The two-axis table, one row per model and one for the reference.

        Parameters
        ----------
        threshold : float
            Threshold (mm/h) of the categorical scores and the FSS.
        scale_km : float
            FSS neighbourhood size (km).
        costs : mapping of str to Retrieval, optional
            Adds the sampling cost (network evaluations and seconds per member).

        Returns
        -------
        pandas.DataFrame
            Columns grouped as spatial, statistical and ensemble scores
            (and cost); the ``reference`` row holds the reference's own statistics.
        """
        for coordinate, value in (("threshold", threshold), ("scale", scale_km)):
            if not np.isclose(self.spatial[coordinate].values, value).any():
                raise ValueError(f"no {coordinate} {value:g} in the scores; they have "
                                 f"{self.spatial[coordinate].values.tolist()}")
        at = {"threshold": threshold}
        spatial = self.spatial.sel(at)
        columns = {
            "POD": spatial["pod"], "FAR": spatial["far"], "CSI": spatial["csi"], "HSS": spatial["hss"],
            "FSS": self.spatial["fss"].sel(at).sel(scale=scale_km),
            "MAE": spatial["mae"], "displacement_km": spatial["displacement_km"],
            "p99": self.statistical["p99"], "p99.9": self.statistical["p999"],
            "wet_fraction": self.statistical["wet_fraction"], "wasserstein": self.statistical["wasserstein"],
            "rapsd_ratio_small": self.statistical["rapsd_ratio_small"], "CRPS": self.statistical["crps"],
            "spread_skill": self.ensemble["spread_skill_ratio"],
        }
        table = pd.DataFrame({name: values.to_series() for name, values in columns.items()})
        if costs:
            table["nfe_per_member"] = pd.Series({name: r.nfe_per_member for name, r in costs.items()})
            table["ms_per_member"] = pd.Series({name: 1e3 * r.seconds_per_member for name, r in costs.items()})
        reference = {"p99": "reference_p99", "p99.9": "reference_p999", "wet_fraction": "reference_wet_fraction"}
        table.loc["reference"] = {name: float(self.statistical[var]) for name, var in reference.items()}
        table.attrs = {"threshold_mm_h": threshold, "fss_scale_km": scale_km}
        return table


def _as_field(retrieval: Retrieval | xr.DataArray) -> xr.DataArray:
    return retrieval.field if isinstance(retrieval, Retrieval) else retrieval


class _Scores(NamedTuple):
    """Scores of one retrieval (no ``model`` dim yet)."""

    spatial: xr.Dataset
    statistical: xr.Dataset
    ensemble: xr.Dataset
    spectrum: xr.DataArray


def _score_one(field: xr.DataArray, reference: xr.DataArray, config: verify.VerificationConfig,
               small_scales_km: float) -> _Scores:
    """Spatial, statistical and ensemble scores and the mean spectrum of one retrieval."""
    pooled = replace(config, aggregate_dims=_POOLED, scores=("categorical", "continuous", "fss"))
    spatial = verify.evaluate(field, reference, pooled)
    objects = verify.sal(field, reference, min_size=config.sal_min_size)
    spatial["displacement_km"] = np.hypot(objects["centroid_dx"], objects["centroid_dy"]).mean()
    spatial["sal_location"] = objects["sal_location"].mean()

    paired = reference.broadcast_like(field)
    shape = verify.distribution(field, paired, aggregate_dims=_POOLED, probabilities=config.quantiles,
                                wet_threshold=config.wet_threshold)
    spectrum = verify.rapsd(field, aggregate_dims=_POOLED, fill_value=0.0)
    observed = verify.rapsd(reference, aggregate_dims=_POOLED, fill_value=0.0)
    small = (spectrum["wavelength"] <= small_scales_km) & (spectrum["wavenumber"] > 0)
    statistical = xr.Dataset({
        "p99": shape["quantile_forecast"].sel(probability=0.99, drop=True),
        "p999": shape["quantile_forecast"].sel(probability=0.999, drop=True),
        "wet_fraction": shape["wet_fraction_forecast"],
        "wasserstein": shape["wasserstein"],
        "rapsd_ratio_small": (spectrum / observed.where(observed > 0)).where(small).mean("wavenumber"),
    })
    if "member" in field.dims:
        members = dict(member_dim="member", aggregate_dims=("case",))
        statistical["crps"] = verify.crps(field, reference, **members)
        ensemble = xr.Dataset({"rank_histogram": verify.rank_histogram(field, reference, seed=config.seed, **members),
                               **verify.spread_skill(field, reference, **members).data_vars})
    else:
        statistical["crps"] = spatial["mae"]
        ensemble = xr.Dataset()
    return _Scores(spatial, statistical, ensemble, spectrum)


def evaluate(retrievals: Mapping[str, Retrieval | xr.DataArray], reference: xr.DataArray,
             config: verify.VerificationConfig | None = None, small_scales_km: float = 20.0) -> Evaluation:
    """Score retrievals against the reference on the two axes (see the module docstring).

    Parameters
    ----------
    retrievals : mapping of str to Retrieval or xr.DataArray
        By model name; fields ``(case, y, x)`` or ``(case, member, y, x)`` in mm/h.
    reference : xr.DataArray
        ``(case, y, x)`` reference rain on the same grid and cases.
    config : averse.verify.VerificationConfig, optional
        Thresholds, FSS scales, quantiles (must include 0.99 and 0.999), wet
        threshold; default :data:`DEFAULT_CONFIG`.
    small_scales_km : float
        Longest wavelength of the small-scale RAPSD ratio.

    Returns
    -------
    Evaluation
    """
    config = config or DEFAULT_CONFIG
    if not {0.99, 0.999} <= set(config.quantiles):
        raise ValueError(f"config.quantiles must include 0.99 and 0.999, got {config.quantiles}")
    parts = {name: _score_one(_as_field(r), reference, config, small_scales_km) for name, r in retrievals.items()}
    names = list(parts)

    def stacked(kind: str) -> xr.Dataset:
        return xr.concat([getattr(parts[n], kind).expand_dims(model=[n]) for n in names], dim="model",
                         join="outer", data_vars="all", coords="minimal", compat="override")

    ensembles = [n for n in names if parts[n].ensemble.data_vars]
    ensemble = (xr.concat([parts[n].ensemble.expand_dims(model=[n]) for n in ensembles], dim="model")
                if ensembles else xr.Dataset({"spread_skill_ratio": ("model", np.full(len(names), np.nan))},
                                             coords={"model": names}))
    ensemble = ensemble.reindex(model=names)
    q_reference = verify.quantiles(reference, (0.99, 0.999), aggregate_dims=("case",))
    statistical = stacked("statistical").assign(
        reference_p99=q_reference.sel(probability=0.99, drop=True),
        reference_p999=q_reference.sel(probability=0.999, drop=True),
        reference_wet_fraction=verify.wet_fraction(reference, config.wet_threshold, aggregate_dims=("case",)))
    spectrum = xr.concat([parts[n].spectrum for n in names], dim="model").assign_coords(model=names)
    spectra = xr.Dataset({"rapsd": spectrum,
                          "rapsd_reference": verify.rapsd(reference, aggregate_dims=("case",), fill_value=0.0)})
    return Evaluation(spatial=stacked("spatial").compute(), statistical=statistical.compute(),
                      ensemble=ensemble.compute(), spectra=spectra.compute())
