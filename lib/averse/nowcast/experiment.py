"""One nowcasting experiment: its training configuration, its trained model, its test cases.

The notebooks of the nowcasting track are chains of these calls::

    config = experiment.train_config(model="smaat_unet_multilead", n_in=6, n_out=12, dem=True,
                                     epochs=5, crop=64, out_dir="runs/10_nowcast_train")
    result = averse.train.fit(config)              # resumes from out_dir after a kill
    task = experiment.trained_task(result)         # the best checkpoint, reloaded
    cases = experiment.evaluation_cases(config, n_cases=12, eval_size=128)
    forecast = cases.forecast(task)                # (case, lead_time, y, x) mm/h
    sprog = cases.baseline("sprog")
    stats = experiment.score_run(task, config, out_dir, n_cases=12)   # per-case sums on disk

- :func:`train_config` — a :class:`~averse.train.TrainConfig` from the flat
  parameters of a notebook (model, inputs, transform, crop, epochs, split...).
- :func:`trained_task`, :func:`load_run` — the trained task from a fit result or a run folder.
- :class:`CaseSet` / :func:`evaluation_cases` — the evaluation domain (the central
  ``eval_size`` pixels of the training domain, or all of it), the issue times
  (the test split, spread over the test period) and the observations; forecasts
  of networks and baselines on them with identical coordinates.
- :func:`score_run` — test cases, forecast and per-case statistics of a run,
  written to ``out_dir/case_statistics.nc`` (what a batch of runs compares).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from averse import baselines
from averse.data import NowcastDataModule
from averse.nowcast.cases import centre_crop, radar_sequence, split_issue_times
from averse.nowcast.forecast import as_cases, last_frames, match_distribution, predict_windows, window_issue_times
from averse.nowcast.scoring import case_statistics, write_case_statistics
from averse.train import TrainConfig, load_model

__all__ = ["train_config", "trained_task", "load_run", "CaseSet", "evaluation_cases", "all_forecasts", "score_run",
           "STATISTICS_FILE"]

#: File of the per-case statistics of a run (under its out_dir).
STATISTICS_FILE = "case_statistics.nc"


def train_config(*, dataset: str | xr.DataTree = "twin", dataset_options: Mapping | None = None,
                 model: str = "smaat_unet_multilead", model_kwargs: Mapping | None = None,
                 n_in: int = 6, n_out: int = 12, dem: bool = False, ir_channels: Sequence[str] = (),
                 stats: Sequence[str] = (), transform: str | Mapping = "log", loss: str = "mse",
                 residual: bool = False, epochs: int = 5, crop: int | None = 64, batch_size: int = 8,
                 lr: float = 1e-3, seed: int = 0,
                 device: str = "auto", out_dir: str = "runs/nowcast", split: Mapping | None = None,
                 min_rain_fraction: float = 0.05, limit_train_batches: int | float | None = None,
                 limit_val_batches: int | float | None = None, num_workers: int = 0,
                 progress_bar: bool = False) -> TrainConfig:
    """The training run of one model and one input configuration.

    Parameters
    ----------
    dataset : str or xr.DataTree
        Catalog name (``"twin"``, ``"twin_med"``...) or a twin-like tree.
    dataset_options : mapping, optional
        Overrides for :func:`averse.open_dataset` (``{"days": 2}``).
    model, model_kwargs
        Registry name of the network and its constructor arguments.
    n_in, n_out : int
        Past frames given and lead times predicted.
    dem, ir_channels, stats
        Auxiliary inputs (:class:`~averse.models.InputConfig`).
    transform, loss : str
        Rain transform (``"log"``, ``"db"``...) and loss (``"mse"``, ``"bmse"``...).
    residual : bool
        The network predicts the change from the last observed frame
        (:class:`~averse.train.regression.RegressionTask`).
    epochs, crop, batch_size, lr, seed, device, out_dir
        Training settings (``device="auto"``: CUDA when present).
    split : mapping, optional
        :class:`~averse.data.TimeBlockSplit` parameters (block, fractions, gap, seed).
    min_rain_fraction : float
        Training windows need this mean rainy fraction in their targets.
    limit_train_batches, limit_val_batches : int or float, optional
        Batches per epoch (int) or share (float), for short runs.
    num_workers : int
        Loader processes.
    progress_bar : bool
        Lightning progress bars.
    """
    data = {"source": dataset, "source_kwargs": dict(dataset_options or {}), "n_in": int(n_in),
            "n_out": int(n_out), "crop": crop, "dem": bool(dem), "ir_channels": list(ir_channels),
            "stats": list(stats), "split": dict(split or {}), "min_rain_fraction": float(min_rain_fraction)}
    return TrainConfig(model=model, model_kwargs=dict(model_kwargs or {}),
                       task_kwargs={"transform": transform, "loss": loss, "residual": bool(residual)}, data=data,
                       epochs=int(epochs),
                       lr=float(lr), batch_size=int(batch_size), num_workers=int(num_workers), seed=int(seed),
                       device=device, out_dir=str(out_dir), limit_train_batches=limit_train_batches,
                       limit_val_batches=limit_val_batches, progress_bar=progress_bar, log_every_n_steps=1)


def _checkpoint_of(run_dir: Path) -> Path:
    """The best checkpoint of a run folder, else its last one."""
    folder = run_dir / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"))
    if best:
        return best[-1]
    if (folder / "last.ckpt").is_file():
        return folder / "last.ckpt"
    raise FileNotFoundError(f"{run_dir}: no checkpoint in {folder} (train the model first)")


def trained_task(result, device: str = "cpu"):
    """The task of a :class:`~averse.train.FitResult`, reloaded from its best checkpoint (eval mode).

    ``device`` as :func:`averse.train.load_model` takes it (``"auto"``: CUDA when present).
    """
    return load_model(result.best_checkpoint or result.last_checkpoint or _checkpoint_of(Path(result.out_dir)),
                      device=device)


def load_run(run_dir: str | Path, device: str = "cpu", **data_overrides) -> tuple[Any, TrainConfig]:
    """The trained task and the configuration of a finished run folder.

    Parameters
    ----------
    run_dir : path-like
        An ``out_dir`` of :func:`averse.train.fit` (``config.json`` and ``checkpoints/``).
    device : str
        Where to put the model.
    **data_overrides
        Replace entries of the stored ``data`` (e.g. ``source=tree`` when the run
        was trained on an in-memory tree, stored as its type name).
    """
    run_dir = Path(run_dir)
    values = json.loads((run_dir / "config.json").read_text())
    values["data"] = {**values.get("data", {}), **data_overrides}
    return load_model(_checkpoint_of(run_dir), device=device), TrainConfig.from_dict(values)


@dataclass
class CaseSet:
    """Issue times on an evaluation domain, with everything needed to forecast them.

    Attributes
    ----------
    datamodule : NowcastDataModule
        Windows over the whole evaluation domain (``crop=None``), with the
        auxiliary inputs of the training configuration.
    sequence : xr.DataArray
        ``(time, y, x)`` radar rain rates (mm/h) of the evaluation domain.
    issue_times : pandas.DatetimeIndex
        The cases (UTC analysis times).
    split : str
        The split the cases come from.
    """

    datamodule: NowcastDataModule
    sequence: xr.DataArray
    issue_times: pd.DatetimeIndex
    split: str = "test"

    @property
    def n_in(self) -> int:
        return self.datamodule.spec.n_in

    @property
    def n_leads(self) -> int:
        return self.datamodule.spec.n_out

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(self.datamodule.dt)

    @cached_property
    def observed(self) -> xr.DataArray:
        """``(case, lead_time, y, x)`` observed rain (mm/h), loaded once."""
        observed = baselines.observed_at_leads(self.sequence, self.issue_times, self.n_leads, self.step)
        return as_cases(observed).load()

    @property
    def last_observed(self) -> xr.DataArray:
        """``(case, y, x)`` the last input frame of every case (mm/h)."""
        return last_frames(self.sequence, self.issue_times)

    def forecast(self, task, batch_size: int = 4, probability_matching: bool = False) -> xr.DataArray:
        """Forecasts of a trained task (same inputs as the data module) at every case.

        With ``probability_matching``, every field gets the rain distribution of
        the case's last observed frame (:func:`~averse.nowcast.forecast.match_distribution`).
        """
        forecast = predict_windows(task, self.datamodule.datasets[self.split], self.issue_times,
                                   self.sequence.isel(time=0), self.step, batch_size)
        return match_distribution(forecast, self.last_observed) if probability_matching else forecast

    def baseline(self, method: str, **kwargs) -> xr.DataArray:
        """A baseline of :mod:`averse.baselines` at every case (ensembles: their mean)."""
        forecast = as_cases(baselines.run_over(self.sequence, self.issue_times, self.n_in, self.n_leads,
                                               method, **kwargs))
        if "member" in forecast.dims:
            forecast = forecast.mean("member", keep_attrs=True).assign_attrs(ensemble="mean of the members")
        return forecast.drop_vars(["seed"], errors="ignore").transpose("case", "lead_time", "y", "x")


def _open(source, options: Mapping):
    if isinstance(source, (xr.DataTree, xr.Dataset, xr.DataArray)):
        return source
    from averse.catalog import open_dataset

    return open_dataset(source, **dict(options))


def evaluation_cases(config: TrainConfig, n_cases: int = 12, eval_size: int | None = None, split: str = "test",
                     min_rain_fraction: float = 0.0, source=None, split_override: Mapping | None = None,
                     min_separation: str | pd.Timedelta | None = None) -> CaseSet:
    """The test cases of a training configuration.

    The data of ``config`` (or ``source``) is cropped to its central
    ``eval_size`` pixels; a data module over it with the same inputs, window
    length and split as the training serves whole frames. The cases are the
    windows of ``split`` whose target frames (on average) and every input frame
    have at least ``min_rain_fraction`` rainy pixels (at or above 0.1 mm/h),
    chosen by the radar alone, at least
    ``min_separation`` apart and spread evenly over the period; cases the
    configuration cannot serve (no infrared image recent enough) are dropped.

    Parameters
    ----------
    config : TrainConfig
        The training run (its ``data`` dict).
    n_cases : int
        How many issue times.
    eval_size : int, optional
        Side of the evaluation domain in pixels (None: the whole domain).
    split : {"test", "val", "train"}
        Where the cases come from.
    min_rain_fraction : float
        Rainy share of the target frames (mean) and of every input frame a case
        needs (0 keeps dry cases).
    source : str or tree, optional
        Evaluate on other data than the training data (another region).
    split_override : mapping, optional
        Split parameters replacing the training ones (e.g. everything test on another region).
    min_separation : str or Timedelta, optional
        Minimum time between two cases (see :func:`averse.nowcast.cases.spread`).

    Returns
    -------
    CaseSet

    Raises
    ------
    ValueError
        If no window of ``split`` qualifies.
    """
    data = dict(config.data)
    trained_on, options = data.pop("source", "twin"), data.pop("source_kwargs", {})
    tree = centre_crop(_open(trained_on, options) if source is None else _open(source, {}), eval_size)
    if split_override is not None:
        data["split"] = dict(split_override)
    data.update(crop=None, min_rain_fraction=min_rain_fraction)
    module = NowcastDataModule(tree, batch_size=config.batch_size, seed=config.seed, **data)
    module.setup()
    candidates = split_issue_times(module, split, n_cases, min_separation, min_input_rain=min_rain_fraction)
    issue = candidates[candidates.isin(window_issue_times(module.datasets[split]))]
    if len(issue) == 0:
        raise ValueError(f"no usable {split} window (rainy share >= {min_rain_fraction}) in the evaluation domain; "
                         "lower min_rain_fraction, or use more days or a larger eval_size")
    sequence = radar_sequence(tree, module.group, module.variable)
    return CaseSet(module, sequence, issue, split)


def all_forecasts(cases: CaseSet, models: Mapping[str, Any], baseline_names: Sequence[str] = (),
                  baseline_options: Mapping[str, Mapping] | None = None,
                  probability_matching: bool = False) -> dict[str, xr.DataArray]:
    """Forecasts of trained tasks and baselines on the same cases, by method name (models first).

    Parameters
    ----------
    cases : CaseSet
        The cases.
    models : mapping of str to task
        Trained tasks by the name to show.
    baseline_names : sequence of str
        Names of :func:`averse.baselines.get`.
    baseline_options : mapping, optional
        Keyword arguments per baseline name (``{"steps": {"n_ens_members": 10, "seed": 0}}``).
    probability_matching : bool
        Give the networks' fields the rain distribution of the last observed
        frame (:meth:`CaseSet.forecast`); S-PROG and STEPS do it themselves.
    """
    options = baseline_options or {}
    result = {name: cases.forecast(task, probability_matching=probability_matching)
              for name, task in models.items()}
    result.update({name: cases.baseline(name, **options.get(name, {})) for name in baseline_names})
    return result


def score_run(task, config: TrainConfig, out_dir: str | Path | None = None, *, n_cases: int = 12,
              eval_size: int | None = None, min_rain_fraction: float = 0.0, min_separation=None,
              thresholds: Sequence[float] = (0.1, 1.0, 5.0)) -> tuple[CaseSet, xr.DataArray, xr.Dataset]:
    """Forecast the test cases of a run and write their per-case statistics.

    Returns
    -------
    (CaseSet, xr.DataArray, xr.Dataset)
        The cases, the forecast ``(case, lead_time, y, x)`` and
        :func:`~averse.nowcast.scoring.case_statistics`, also written to
        ``out_dir/case_statistics.nc`` (``out_dir`` default: the run's).
    """
    cases = evaluation_cases(config, n_cases, eval_size, min_rain_fraction=min_rain_fraction,
                             min_separation=min_separation)
    forecast = cases.forecast(task)
    stats = case_statistics(forecast, cases.observed, thresholds)
    write_case_statistics(stats, Path(out_dir or config.out_dir) / STATISTICS_FILE)
    return cases, forecast, stats
