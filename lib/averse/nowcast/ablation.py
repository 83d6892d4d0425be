"""The auxiliary-input ablation: one training run per input configuration and seed, then paired scores.

Each run is notebook ``10_nowcast_train`` with other parameters — executed as a
papermill batch through :func:`averse.cli.notebooks.execute_notebook`
(``runner="papermill"``: the same path as ``averse run-notebooks``, one
executed notebook per run to read afterwards), or the same two library calls
in this process (``runner="in_process"``: :func:`averse.train.fit` then
:func:`averse.nowcast.experiment.score_run`, for quick checks). Either way
every run leaves ``case_statistics.nc`` in its folder: per-case sums on the
same test cases (chosen by the radar alone, see
:func:`averse.nowcast.cases.split_issue_times`), so configurations are compared
case by case (:func:`ablation_table`).

Runs already finished (their statistics file exists) are not run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from averse.nowcast.experiment import STATISTICS_FILE, score_run, train_config, trained_task
from averse.nowcast.scoring import HIGHER_IS_BETTER, bootstrap_difference, lead_minutes, read_case_statistics

__all__ = ["CONFIGURATIONS", "EVALUATION_PARAMETERS", "BatchRun", "run_batch", "collect", "ablation_table"]

#: The input configurations of the ablation: notebook-10 parameters on top of radar only.
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "radar": {},
    "dem": {"dem": True},
    "ir": {"ir_channels": ["ir_108"]},
    "stats": {"stats": ["mean_rate", "wet_fraction"]},
    "all": {"dem": True, "ir_channels": ["ir_108"], "stats": ["mean_rate", "wet_fraction"]},
}

#: Notebook-10 parameters that choose the test cases rather than the training.
EVALUATION_PARAMETERS = ("n_cases", "eval_size", "case_min_rain", "case_separation", "thresholds")
#: Notebook-10 parameters that only draw figures.
_DISPLAY_PARAMETERS = ("n_example_cases",)


@dataclass
class BatchRun:
    """One run of the batch.

    Attributes
    ----------
    configuration : str
        Key of the configuration.
    seed : int
        Training seed.
    folder : Path
        The run's out_dir (checkpoints, logs, ``case_statistics.nc``).
    error : str or None
        Why it failed (None: it succeeded).
    seconds : float
        Wall time of this call (0 when reused).
    """

    configuration: str
    seed: int
    folder: Path
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and (self.folder / STATISTICS_FILE).is_file()


def _in_process(parameters: Mapping[str, Any], folder: Path) -> None:
    """Notebook 10's training and scoring calls, run here."""
    from averse.train import fit

    params = {k: v for k, v in parameters.items() if k not in _DISPLAY_PARAMETERS}
    evaluation = {k: params.pop(k) for k in EVALUATION_PARAMETERS if k in params}
    config = train_config(**{**params, "out_dir": str(folder)})
    task = trained_task(fit(config), device=config.device)
    score_run(task, config, folder, n_cases=evaluation.get("n_cases", 12), eval_size=evaluation.get("eval_size"),
              min_rain_fraction=evaluation.get("case_min_rain", 0.0),
              min_separation=evaluation.get("case_separation"),
              thresholds=evaluation.get("thresholds", (0.1, 1.0, 5.0)))


def run_batch(notebook: str | Path, out_dir: str | Path, parameters: Mapping[str, Any],
              configurations: Mapping[str, Mapping[str, Any]] | Sequence[str] = tuple(CONFIGURATIONS),
              seeds: Sequence[int] = (0,), runner: str = "papermill", preset: str = "small") -> list[BatchRun]:
    """Train and score every configuration with every seed.

    Parameters
    ----------
    notebook : path-like
        Notebook ``10_nowcast_train.ipynb`` (papermill runner).
    out_dir : path-like
        Batch folder; run ``<configuration>-seed<k>`` writes under it.
    parameters : mapping
        Notebook-10 parameters shared by every run (days, epochs, crop, n_cases...),
        on top of the notebook's defaults and ``preset`` (both runners).
    configurations : mapping or sequence of str
        Name → parameter overrides, or names of :data:`CONFIGURATIONS`.
    seeds : sequence of int
        Training seeds.
    runner : {"papermill", "in_process"}
        Execute the notebook per run, or call the library in this process.
    preset : str
        Preset of notebook 10 applied to every run (``"small"``: its defaults).

    Returns
    -------
    list of BatchRun
        In the order configuration-major; failures are kept with their error.
    """
    import time

    from averse.cli.notebooks import execute_notebook, notebook_parameters, preset_parameters

    if runner not in ("papermill", "in_process"):
        raise ValueError(f"runner must be 'papermill' or 'in_process', got {runner!r}")
    if not isinstance(configurations, Mapping):
        configurations = {name: CONFIGURATIONS[name] for name in configurations}
    # In process, start from what papermill would give the notebook: its defaults and the preset.
    shared = (dict(parameters) if runner == "papermill" else
              {**notebook_parameters(notebook), **preset_parameters(notebook, preset), **parameters})
    runs = []
    for name, overrides in configurations.items():
        for seed in seeds:
            run_parameters = {**shared, **overrides, "seed": int(seed)}
            batch_folder = Path(out_dir) / f"{name}-seed{seed}"
            # execute_notebook points out_dir at <folder>/<notebook stem>.
            folder = batch_folder / Path(notebook).stem if runner == "papermill" else batch_folder
            run = BatchRun(name, int(seed), folder)
            runs.append(run)
            if run.ok:
                continue
            start = time.perf_counter()
            if runner == "papermill":
                run.error = execute_notebook(notebook, batch_folder, run_parameters, preset=preset).error
            else:
                try:
                    _in_process(run_parameters, folder)
                except Exception as exc:  # one failed configuration must not stop the batch
                    run.error = f"{type(exc).__name__}: {exc}"
            run.seconds = time.perf_counter() - start
    return runs


def collect(runs: Sequence[BatchRun]) -> xr.Dataset:
    """Per-case statistics of the successful runs, ``(configuration, seed, case, lead_time, threshold)``.

    Only the cases every run scored are kept (``attrs["dropped_cases"]`` counts the others).
    """
    done = [run for run in runs if run.ok]
    if not done:
        raise ValueError("no run of the batch finished; see their errors")
    by_configuration: dict[str, list[xr.Dataset]] = {}
    for run in done:
        stats = read_case_statistics(run.folder / STATISTICS_FILE).expand_dims(seed=[run.seed])
        by_configuration.setdefault(run.configuration, []).append(stats)
    per_configuration = [xr.concat(parts, dim="seed", join="inner") for parts in by_configuration.values()]
    all_cases = set().union(*(set(p["case"].values.tolist()) for p in per_configuration))
    combined = xr.concat(per_configuration, dim=pd.Index(list(by_configuration), name="configuration"),
                         join="inner")
    combined.attrs["dropped_cases"] = len(all_cases) - combined.sizes["case"]
    return combined


def _verdict(score: str, low: float, high: float, n_cases: int, min_cases: int) -> str:
    """Read a 95 % interval of (configuration - reference) for a score."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undefined"
    if n_cases < min_cases:
        return "too few cases"
    sign = 1.0 if score in HIGHER_IS_BETTER else -1.0  # improvement is a positive signed difference
    worst, best = sorted((sign * low, sign * high))
    if worst > 0:
        return "helps"
    if best < 0:
        return "hurts"
    return "no clear effect"


def ablation_table(collected: xr.Dataset, reference: str = "radar",
                   scores: Sequence[tuple[str, float | None]] = (("csi", 1.0), ("csi", 5.0), ("mae", None)),
                   n_boot: int = 1000, seed: int = 0, min_cases: int = 8) -> pd.DataFrame:
    """Does each auxiliary input help? Mean score difference to the reference with a 95 % interval.

    For every configuration other than ``reference`` and every score, the
    difference (configuration minus reference) of the pooled score is averaged
    over seeds and over lead times; the interval is the paired case bootstrap
    of :func:`~averse.nowcast.scoring.bootstrap_difference` applied to that
    lead-averaged difference. The verdict reads the interval: "helps" when it
    excludes zero on the better side (higher CSI, lower MAE), "hurts" on the
    other side, "no clear effect" when it contains zero; "too few cases" below
    ``min_cases`` test cases (a bootstrap over a handful of cases says nothing),
    "undefined" when the score is (no rain above the threshold).

    Returns
    -------
    pandas.DataFrame
        Rows ``(configuration, score)``; columns ``difference``, ``low``,
        ``high``, ``seed_std``, ``verdict``, ``cases``, ``seeds``.
    """
    if reference not in collected["configuration"].values:
        raise ValueError(f"reference configuration {reference!r} is not in the batch")
    base = collected.sel(configuration=reference, drop=True)
    rows = {}
    for name in collected["configuration"].values:
        if name == reference:
            continue
        stats = collected.sel(configuration=name, drop=True)
        for score, threshold in scores:
            result = bootstrap_difference(stats, base, score, threshold, n_boot=n_boot, seed=seed,
                                          average_leads=True)
            low, high = float(result["low"]), float(result["high"])
            label = f"{score.upper()} >{threshold:g} mm/h" if threshold is not None else f"{score.upper()} mm/h"
            rows[(str(name), label)] = {
                "difference": float(result["difference"]), "low": low, "high": high,
                "seed_std": float(result["seed_std"]),
                "verdict": _verdict(score, low, high, int(result["n_cases"]), min_cases),
                "cases": int(result["n_cases"]), "seeds": int(collected.sizes.get("seed", 1)),
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["configuration", "score"]
    leads = lead_minutes(collected["lead_time"].values)
    table.attrs["leads"] = f"averaged over leads {leads.min()}–{leads.max()} min"
    return table
