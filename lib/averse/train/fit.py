"""``fit(config)``: the one training entry point, and reloading what it wrote.

:func:`fit` builds the data module and the task named by a
:class:`~averse.train.TrainConfig`, then a Lightning ``Trainer`` with

- accelerator and devices from ``device`` (``"auto"``: CUDA if present, else
  CPU), precision ``"auto"`` (bf16/16 mixed on GPU, 32 on CPU), ``strategy`` and
  ``num_nodes`` passed through (DDP over GPUs and machines);
- ``seed_everything(seed, workers=True)`` and the ``deterministic`` flag;
- a :class:`~lightning.pytorch.callbacks.ModelCheckpoint` writing
  ``out_dir/checkpoints/last.ckpt`` every epoch and ``best-*.ckpt`` (lowest
  ``monitor``); Lightning writes checkpoints atomically (a temporary file moved
  into place), so a killed run never leaves a half-written ``last.ckpt``;
- **resume**: when ``resume`` is set and ``last.ckpt`` exists, training
  continues from it (epoch, global step, optimiser, sampler order), loaded
  with ``weights_only=True``;
- per-epoch metrics in ``out_dir/logs/version_N/metrics.csv`` (one version per
  call; :func:`read_metrics` joins them) and TensorBoard event files when
  tensorboard is installed.

:func:`load_model` reloads a task from a checkpoint with
``torch.load(..., weights_only=True)``: checkpoints hold only tensors and plain
values (hyperparameters, the config as a dict).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from averse.train.config import TrainConfig, resolve_device, resolve_precision
from averse.train.registry import get_data_module, get_task, task_for_model

__all__ = ["FitResult", "fit", "build_data_module", "load_model", "read_metrics"]

#: Key of the averse metadata (task name, config) in a checkpoint.
CHECKPOINT_KEY = "averse"


@dataclass
class FitResult:
    """What :func:`fit` produced.

    Attributes
    ----------
    task : LightningModule
        The trained task (its ``model`` is the network).
    trainer : lightning.Trainer
        The trainer, for ``trainer.test(...)`` or inspection.
    out_dir : Path
        The run folder.
    best_checkpoint, last_checkpoint : Path or None
        Lowest-``monitor`` and latest checkpoints.
    resumed_from : Path or None
        The checkpoint this call continued from.
    start_epoch, start_step : int
        Epoch and global step at which this call started training.
    metrics : pandas.DataFrame
        Per-epoch metrics of the whole run (:func:`read_metrics`).
    """

    task: L.LightningModule
    trainer: L.Trainer
    out_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    resumed_from: Path | None
    start_epoch: int
    start_step: int
    metrics: pd.DataFrame


class _TrainingStart(Callback):
    """Remembers the epoch and global step at which training (re)started (None: it did not)."""

    epoch = step = None

    def on_train_start(self, trainer, pl_module):
        self.epoch, self.step = trainer.current_epoch, trainer.global_step


class _Provenance(Callback):
    """Stores the task name and the config (plain types) in every checkpoint."""

    def __init__(self, task: str, config: dict):
        self.metadata = {"task": task, "config": config}

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[CHECKPOINT_KEY] = self.metadata


def _write_json(path: Path, values: dict) -> None:
    """Write ``values`` as JSON through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(values, file, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_data_module(config: TrainConfig) -> L.LightningDataModule:
    """The data module of ``config`` (its ``data`` plus batch size, workers and seed)."""
    builder = get_data_module(config.data_module)
    return builder(batch_size=config.batch_size, num_workers=config.num_workers, seed=config.seed, **config.data)


def _trainer(config: TrainConfig, out_dir: Path, callbacks: list[Callback]) -> L.Trainer:
    """The Lightning trainer of ``config``: device, precision, strategy, loggers, limits."""
    accelerator, devices = resolve_device(config.device, config.devices)
    loggers = [CSVLogger(out_dir, name="logs")]
    if importlib.util.find_spec("tensorboard") is not None:
        loggers.append(TensorBoardLogger(out_dir, name="tensorboard"))
    optional = {name: value for name, value in (("limit_train_batches", config.limit_train_batches),
                                                ("limit_val_batches", config.limit_val_batches))
                if value is not None}
    return L.Trainer(
        accelerator=accelerator, devices=devices, strategy=config.strategy, num_nodes=config.num_nodes,
        precision=resolve_precision(config.precision, accelerator), max_epochs=config.epochs,
        max_steps=config.max_steps, deterministic=config.deterministic, callbacks=callbacks, logger=loggers,
        default_root_dir=out_dir, enable_progress_bar=config.progress_bar,
        log_every_n_steps=config.log_every_n_steps, gradient_clip_val=config.gradient_clip_val, **optional,
    )


def fit(config: TrainConfig | dict[str, Any], *, callbacks: Sequence[Callback] = (), **overrides) -> FitResult:
    """Train the model of ``config``; continue a previous run in ``out_dir`` when ``resume``.

    Parameters
    ----------
    config : TrainConfig or dict
        The run (a dict is read with :meth:`TrainConfig.from_dict`).
    callbacks : sequence of lightning Callback
        Extra callbacks (early stopping, timers...), after averse's own.
    **overrides
        Fields replaced in ``config`` (``fit(cfg, epochs=2)``).

    Returns
    -------
    FitResult
    """
    config = TrainConfig.from_dict(config) if isinstance(config, dict) else config
    config = replace(config, **overrides) if overrides else config
    out_dir = Path(config.out_dir).expanduser()
    L.seed_everything(config.seed, workers=True, verbose=False)

    datamodule = build_data_module(config)
    datamodule.prepare_data()
    datamodule.setup("fit")
    task_name = config.task or task_for_model(config.model)
    task = get_task(task_name).from_config(config, datamodule)

    checkpoints = out_dir / "checkpoints"
    checkpoint = ModelCheckpoint(dirpath=checkpoints, filename="best-{epoch:03d}-{step}", monitor=config.monitor,
                                 mode="min", save_top_k=1, enable_version_counter=False)
    # Its own callback: Lightning's save_last refreshes last.ckpt only when the best one changes.
    every_epoch = ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None, save_top_k=1,
                                  every_n_epochs=1, enable_version_counter=False)
    start = _TrainingStart()
    trainer = _trainer(config, out_dir, [checkpoint, every_epoch, start, _Provenance(task_name, config.to_dict()),
                                         *callbacks])
    if trainer.is_global_zero:
        _write_json(out_dir / "config.json", config.to_dict())

    last = checkpoints / "last.ckpt"
    resumed_from = last if config.resume and last.is_file() else None
    # Resume without running code from the file (older Lightning versions lack the argument).
    safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    with warnings.catch_warnings():
        if resumed_from is not None:  # of course the folder holds checkpoints: we resume from one
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        trainer.fit(task, datamodule=datamodule, ckpt_path=resumed_from, **safe)
    nothing_left = start.epoch is None  # the checkpoint had already reached epochs / max_steps
    return FitResult(
        task=task, trainer=trainer, out_dir=out_dir,
        best_checkpoint=Path(checkpoint.best_model_path) if checkpoint.best_model_path else None,
        last_checkpoint=last if last.is_file() else None, resumed_from=resumed_from,
        start_epoch=trainer.current_epoch if nothing_left else start.epoch,
        start_step=trainer.global_step if nothing_left else start.step, metrics=read_metrics(out_dir),
    )


def read_metrics(out_dir: str | Path) -> pd.DataFrame:
    """Per-epoch metrics of a run, all its calls (CSV log versions) joined.

    Returns
    -------
    pandas.DataFrame
        One row per epoch (index ``epoch``), one column per metric; a later call's
        value wins for an epoch logged twice (a resumed epoch).
    """
    files = sorted(Path(out_dir, "logs").glob("version_*/metrics.csv"),
                   key=lambda p: int(p.parent.name.split("_")[-1]))
    frames = [pd.read_csv(f) for f in files if f.stat().st_size]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True).dropna(subset=["epoch"])
    rows["epoch"] = rows["epoch"].astype(int)
    return rows.groupby("epoch").last().drop(columns=["step"], errors="ignore")


def load_model(checkpoint_path: str | Path, device: str = "cpu") -> L.LightningModule:
    """Rebuild a trained task from a checkpoint, in eval mode.

    The file is read with ``torch.load(..., weights_only=True)``: no code in
    it is run. The task is rebuilt from its stored hyperparameters (its model by
    name), so tasks built around an nn.Module object cannot be reloaded this way.

    Parameters
    ----------
    checkpoint_path : str or Path
        A checkpoint written by :func:`fit`.
    device : str
        Where to put the model (``"cpu"``, ``"cuda"``, ``"auto"``...).

    Returns
    -------
    LightningModule
        E.g. a :class:`~averse.train.RegressionTask`; ``.model`` is the network,
        ``.predict_rates(batch)`` gives mm/h.
    """
    path = Path(checkpoint_path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    metadata = checkpoint.get(CHECKPOINT_KEY, {})
    hyper_parameters = checkpoint.get("hyper_parameters", {})
    if not metadata or hyper_parameters.get("model") is None:
        raise ValueError(f"{path}: not a checkpoint of averse.train.fit with a model given by name")
    task = get_task(metadata["task"])(**hyper_parameters)
    task.load_state_dict(checkpoint["state_dict"])
    accelerator, devices = resolve_device(device)
    target = f"{accelerator}:{devices[0]}" if isinstance(devices, list) else accelerator
    return task.to(target).eval()
