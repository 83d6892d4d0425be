"""Does temporal input help? A grid of input configurations, trained and scored on the same cases.

A configuration is a number of IR times × a set of channels × a network
(:class:`InputConfiguration`). :func:`run_configurations` trains each one with
:func:`averse.train.fit` (in this process, one run folder per configuration and
seed), retrieves the test split on whole fields (:func:`averse.irqpe.experiment.retrieve`)
and keeps per-case sums (:func:`case_statistics`). Every configuration is
evaluated on the same test cases: the data module keeps only cases with the
longest history of the grid (``required_times``).

Uncertainty (:func:`bootstrap`): the test cases are resampled with replacement
(the same draws for every configuration, so that differences are paired), the
sums are added over the drawn cases and the scores recomputed — pooled scores,
as :mod:`averse.verify` computes them. With several training seeds, each
configuration's sums are added over its seeds (the runs pooled like members)
and the spread of the per-seed scores is reported too. A configuration with
more times "helps" when the bootstrap interval of its improvement over the
same network and channels with one image lies entirely on the good side of 0.
The intervals hold the sampling of the test cases only: the randomness of
training (initial weights, crops, order) is not in them, and on short runs it
can move a score by more than the interval's width; train several seeds and
read the ``*_seed_std`` columns before trusting a verdict. Cases are resampled
one by one, so the interval also ignores the correlation of neighbouring slots:
it is too narrow when the test cases are few and consecutive.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from averse import verify
from averse.irqpe.experiment import DEFAULT_CONFIG, retrieve
from averse.train import TrainConfig, fit
from averse.verify.categorical import categorical_scores, contingency_table
from averse.verify.spatial import fss_from_statistics, fss_statistics, scales_to_pixels

__all__ = ["InputConfiguration", "configuration_grid", "case_statistics", "bootstrap", "run_configurations",
           "ConfigurationRuns"]

_ADDITIVE = ("absolute_error", "count")


@dataclass(frozen=True)
class InputConfiguration:
    """One input configuration: ``n_times`` IR times of ``channels`` into ``model``."""

    n_times: int
    channels: tuple[str, ...]
    model: str

    @property
    def name(self) -> str:
        """Label such as ``"irqpe_unet T=3 ir_108+wv_062"``."""
        return f"{self.model} T={self.n_times} {'+'.join(self.channels)}"

    @property
    def slug(self) -> str:
        """A folder name for the configuration."""
        return f"{self.model}-t{self.n_times}-{'-'.join(self.channels)}"


def configuration_grid(n_times: Sequence[int], channels: Sequence[Sequence[str]],
                       models: Sequence[str]) -> list[InputConfiguration]:
    """Every combination of ``models × channels × n_times`` (times vary fastest)."""
    return [InputConfiguration(int(t), tuple(c), m) for m, c, t in itertools.product(models, channels, n_times)]


def case_statistics(field: xr.DataArray, reference: xr.DataArray, thresholds: Sequence[float],
                    scales_km: Sequence[float]) -> xr.Dataset:
    """Per-case sums from which the pooled scores are recomputed (members added within a case).

    Returns
    -------
    xr.Dataset
        ``hits misses false_alarms correct_negatives`` (case, threshold; event
        ``> threshold``), ``fss_numerator fss_denominator`` (case, threshold,
        scale in km; event ``>= threshold``), ``absolute_error`` and ``count``
        of the valid pixels (case).
    """
    spacing_km = abs(float(reference["x"][1] - reference["x"][0])) / 1000.0
    pixels = scales_to_pixels(scales_km, spacing_km)
    table = contingency_table(field, reference, tuple(thresholds))
    fractions = fss_statistics(field, reference, tuple(thresholds), pixels).assign_coords(scale=list(scales_km))
    valid = np.isfinite(field) & np.isfinite(reference)
    sums = xr.Dataset({**table.data_vars, **fractions.data_vars,
                       "absolute_error": abs(field - reference).where(valid).sum(("y", "x")),
                       "count": valid.sum(("y", "x"))})
    return sums.sum("member") if "member" in sums.dims else sums


def _scores(sums: xr.Dataset, threshold: float, scale_km: float) -> xr.Dataset:
    """CSI, FSS and MAE of summed statistics."""
    at = {"threshold": threshold}
    table = categorical_scores(sums[["hits", "misses", "false_alarms", "correct_negatives"]].sel(at))
    fss = fss_from_statistics(sums[["fss_numerator", "fss_denominator"]].sel(at).sel(scale=scale_km))
    return xr.Dataset({"csi": table["csi"], "fss": fss, "mae": sums["absolute_error"] / sums["count"]})


def bootstrap(statistics: Mapping[str, xr.Dataset], *, threshold: float = 1.0, scale_km: float = 27.0,
              baselines: Mapping[str, str] | None = None, n_samples: int = 1000, confidence: float = 0.9,
              seed: int = 0) -> pd.DataFrame:
    """Pooled scores with bootstrap intervals, and paired differences to baselines.

    Parameters
    ----------
    statistics : mapping of str to xr.Dataset
        :func:`case_statistics` by configuration, optionally with a ``seed`` dim;
        all on the same cases.
    threshold, scale_km : float
        Threshold of CSI and FSS, FSS neighbourhood (km).
    baselines : mapping of str to str, optional
        Configuration → the configuration it is compared with.
    n_samples : int
        Bootstrap samples.
    confidence : float
        Central probability of the intervals.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``csi fss mae`` with ``_low`` / ``_high``
        bounds and, with seeds, ``_seed_std``; with a baseline,
        ``delta_<score>`` (configuration minus baseline, MAE sign flipped so
        positive is better) with bounds and ``helps`` (the CSI, FSS and MAE
        intervals of the improvement all above 0).
    """
    names = list(statistics)
    first = statistics[names[0]]
    for coordinate, value in (("threshold", threshold), ("scale", scale_km)):
        if not np.isclose(first[coordinate].values, value).any():
            found = first[coordinate].values.tolist()
            raise ValueError(f"no {coordinate} {value:g} in the statistics; they have {found}")
    cases = first["case"].values
    for name in names[1:]:
        if not np.array_equal(statistics[name]["case"].values, cases):
            raise ValueError(f"{name!r} is scored on other cases than {names[0]!r}; use the same required_times")
    rng = np.random.default_rng(seed)
    weights = xr.DataArray(rng.multinomial(cases.size, np.full(cases.size, 1.0 / cases.size), size=n_samples),
                           dims=("sample", "case"))
    alpha = (1.0 - confidence) / 2.0
    point, samples = {}, {}
    rows = {}
    for name, sums in statistics.items():
        pooled = sums.sum("seed") if "seed" in sums.dims else sums
        point[name] = _scores(pooled.sum("case"), threshold, scale_km)
        samples[name] = _scores(pooled.map(lambda v: xr.dot(weights, v, dim="case")), threshold, scale_km)
        row = {}
        for score in ("csi", "fss", "mae"):
            row[score] = float(point[name][score])
            low, high = samples[name][score].quantile([alpha, 1.0 - alpha], dim="sample").values
            row[f"{score}_low"], row[f"{score}_high"] = float(low), float(high)
            if "seed" in sums.dims and sums.sizes["seed"] > 1:
                row[f"{score}_seed_std"] = float(_scores(sums.sum("case"), threshold, scale_km)[score].std("seed"))
        rows[name] = row
    for name, baseline in (baselines or {}).items():
        improvements = []
        for score, sign in (("csi", 1.0), ("fss", 1.0), ("mae", -1.0)):
            delta = sign * (samples[name][score] - samples[baseline][score])
            low, high = delta.quantile([alpha, 1.0 - alpha], dim="sample").values
            rows[name][f"delta_{score}"] = sign * float(point[name][score] - point[baseline][score])
            rows[name][f"delta_{score}_low"], rows[name][f"delta_{score}_high"] = float(low), float(high)
            improvements.append(low > 0)
        rows[name]["baseline"] = baseline
        rows[name]["helps"] = bool(all(improvements))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "configuration"
    table.attrs = {"threshold_mm_h": threshold, "fss_scale_km": scale_km, "confidence": confidence,
                   "n_samples": n_samples, "n_cases": int(cases.size)}
    return table


@dataclass
class ConfigurationRuns:
    """What :func:`run_configurations` produced.

    Attributes
    ----------
    configurations : list of InputConfiguration
    statistics : dict of str to xr.Dataset
        :func:`case_statistics` by configuration name, with a ``seed`` dim.
    runs : pandas.DataFrame
        One row per (configuration, seed): run folder, final ``val/loss``, parameters.
    baselines : dict of str to str
        Each configuration with ``n_times > 1`` → the same network and channels with one time.
    """

    configurations: list[InputConfiguration]
    statistics: dict[str, xr.Dataset]
    runs: pd.DataFrame
    baselines: dict[str, str]

    def table(self, **options) -> pd.DataFrame:
        """:func:`bootstrap` of the runs, paired with :attr:`baselines`; ``options`` are passed on."""
        return bootstrap(self.statistics, baselines=self.baselines, **options)


def run_configurations(configurations: Sequence[InputConfiguration], base: TrainConfig, *,
                       seeds: Sequence[int] = (0,), config: verify.VerificationConfig | None = None,
                       split: str = "test") -> ConfigurationRuns:
    """Train and score every configuration (see the module docstring).

    Parameters
    ----------
    configurations : sequence of InputConfiguration
        The grid (:func:`configuration_grid`).
    base : TrainConfig
        Everything else (data module ``"irqpe"`` and its data, epochs, widths...);
        ``model``, ``data["n_times"]``, ``data["channels"]``, ``seed`` and
        ``out_dir`` (a sub-folder per configuration and seed) are set here.
    seeds : sequence of int
        Training seeds of every configuration.
    config : averse.verify.VerificationConfig, optional
        Thresholds and FSS scales of the statistics (default
        :data:`~averse.irqpe.experiment.DEFAULT_CONFIG`).
    split : str
        Split the scores are computed on.

    Returns
    -------
    ConfigurationRuns
    """
    config = config or DEFAULT_CONFIG
    history = max(c.n_times for c in configurations)
    statistics, rows = {}, []
    for configuration in configurations:
        per_seed = []
        for seed in seeds:
            data = {**base.data, "n_times": configuration.n_times, "channels": list(configuration.channels),
                    "required_times": history}
            run = replace(base, model=configuration.model, data=data, seed=int(seed),
                          out_dir=str(Path(base.out_dir) / configuration.slug / f"seed{seed}"))
            result = fit(run)
            retrieval = retrieve(result.task, result.trainer.datamodule, split, device=base.device)
            _, reference = result.trainer.datamodule.full_frames(split)
            per_seed.append(case_statistics(retrieval.field, reference, config.thresholds, config.fss_scales_km))
            final = result.metrics["val/loss"].dropna() if "val/loss" in result.metrics else pd.Series(dtype=float)
            rows.append({"configuration": configuration.name, "seed": seed, "out_dir": run.out_dir,
                         "val_loss": float(final.iloc[-1]) if len(final) else np.nan,
                         "parameters": sum(p.numel() for p in result.task.parameters())})
        statistics[configuration.name] = xr.concat(per_seed, dim="seed").assign_coords(seed=list(seeds))
    baselines = {}
    for configuration in configurations:
        single = replace(configuration, n_times=1)
        if configuration.n_times > 1 and single in configurations:
            baselines[configuration.name] = single.name
    return ConfigurationRuns(list(configurations), statistics, pd.DataFrame(rows), baselines)
