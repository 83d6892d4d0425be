"""The typed configuration of a training run, and how ``device="auto"`` is resolved.

A :class:`TrainConfig` holds only plain values (so a notebook's ``parameters``
cell or a YAML file can fill it, and a checkpoint can store it): which model
(a name of :func:`averse.models.get` and its keyword arguments), which task
(default: the model's family), which data module and its arguments, and how to
train (epochs, learning rate, batch size, seed, device, precision, strategy,
output folder, resume).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["TrainConfig", "resolve_device", "resolve_precision"]


@dataclass
class TrainConfig:
    """Everything :func:`averse.train.fit` needs.

    Parameters
    ----------
    model : str
        Model name in :func:`averse.models.get`.
    model_kwargs : dict
        Constructor arguments of the model (widths, hidden sizes...).
    task : str, optional
        Task name (:func:`averse.train.available_tasks`); default the model's
        family (its ``task`` class attribute, else ``"regression"``).
    task_kwargs : dict
        Arguments of the task (``loss``, ``transform``, ``lead``, ``thresholds``...).
    data_module : str
        Data module name (:func:`averse.train.available_data_modules`).
    data : dict
        Arguments of the data module (``source``, ``n_in``, ``n_out``, ``crop``...);
        ``batch_size``, ``num_workers`` and ``seed`` are given by this config.
    epochs : int
        Maximum number of epochs.
    lr, weight_decay : float
        AdamW learning rate and weight decay.
    batch_size, num_workers : int
        Loader batch size and worker processes.
    seed : int
        Seed of everything (weights, crops, order).
    deterministic : bool or "warn"
        Ask torch for deterministic algorithms (some CUDA kernels have none: "warn").
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    devices : int, str or None
        Number of devices (``"auto"``: all) with ``device`` ``"auto"``/``"cuda"``; default 1.
    precision : str
        ``"auto"`` (bf16-mixed on GPUs that support it, 16-mixed on other GPUs,
        32 on CPU) or any Lightning precision (``"32"``, ``"16-mixed"``...).
    strategy : str
        Lightning strategy (``"auto"``, ``"ddp"``...).
    num_nodes : int
        Machines (DDP over nodes).
    out_dir : str
        Where checkpoints (``checkpoints/``), logs (``logs/``) and ``config.json`` go.
    resume : bool
        Continue from ``out_dir/checkpoints/last.ckpt`` when it exists.
    max_steps : int
        Stop after this many optimiser steps (-1: no limit).
    limit_train_batches, limit_val_batches : int or float, optional
        Batches (int) or share (float) of each epoch, for tiny runs.
    gradient_clip_val : float, optional
        Clip gradients to this norm.
    log_every_n_steps : int
        Step-level logging period.
    progress_bar : bool
        Show progress bars.
    monitor : str
        Metric of the "best" checkpoint (minimised).
    """

    model: str = "smaat_unet_multilead"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    data_module: str = "nowcast"
    data: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0
    deterministic: bool | str = False
    device: str = "auto"
    devices: int | str | None = None
    precision: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    out_dir: str = "runs/nowcast"
    resume: bool = True
    max_steps: int = -1
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    gradient_clip_val: float | None = None
    log_every_n_steps: int = 50
    progress_bar: bool = True
    monitor: str = "val/loss"

    def __post_init__(self):
        clash = {"batch_size", "num_workers", "seed"} & set(self.data)
        if clash:
            raise ValueError(f"give {sorted(clash)} as TrainConfig fields, not inside data")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a dict (notebook parameters, YAML); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """Plain-type copy: values that are not plain (an in-memory tree, a Region) become strings."""
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _plain(value):
    """``value`` with only dicts, lists, strings, numbers, booleans and None (what a checkpoint may hold)."""
    if isinstance(value, dict):  # not any Mapping: an xarray Dataset is one
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    name = getattr(value, "name", None)  # e.g. a Region: its name says enough
    return f"<{type(value).__name__} {name}>" if isinstance(name, str) else f"<{type(value).__name__}>"


def resolve_device(device: str = "auto", devices: int | str | None = None) -> tuple[str, int | str | list[int]]:
    """Lightning ``(accelerator, devices)`` for an averse device name.

    Parameters
    ----------
    device : str
        ``"auto"``: CUDA when available, else the CPU; ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` (GPU number N), ``"mps"``.
    devices : int, str or None
        How many devices (``"auto"``: all); default 1. Ignored for ``"cuda:N"``.

    Returns
    -------
    (str, int or str or list of int)

    Raises
    ------
    ValueError
        For an unknown device name, or CUDA asked on a machine without it.
    """
    name = device.strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, number = name.partition(":")
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked but CUDA is not available here; use device='auto' or 'cpu'")
    if number:
        return kind, [int(number)]
    return kind, 1 if devices is None else devices


def resolve_precision(precision: str, accelerator: str) -> str:
    """Lightning precision for ``"auto"``: bf16-mixed / 16-mixed on CUDA, 32-true elsewhere."""
    if str(precision) != "auto":
        return str(precision)
    if accelerator == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"
