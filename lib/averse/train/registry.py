"""Tasks and data modules by name: how :func:`averse.train.fit` serves every track.

A *task* is a LightningModule class that knows how to train one family of
models (regression nowcasting now; generative and VAE tracks later). It is
registered under a name with :func:`register_task` and must provide

- ``from_config(config, datamodule)``: build the task for a
  :class:`~averse.train.TrainConfig` and a set-up data module;
- plain-type hyperparameters (``self.save_hyperparameters``) from which
  ``cls(**hyper_parameters)`` rebuilds it, so that :func:`averse.train.load_model`
  works with ``torch.load(..., weights_only=True)``.

A model class chooses its task with a ``task`` class attribute (default
``"regression"``). A *data module* builder takes the config's ``data`` dict plus
``batch_size``, ``num_workers`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L

__all__ = [
    "register_task",
    "get_task",
    "available_tasks",
    "task_for_model",
    "register_data_module",
    "get_data_module",
    "available_data_modules",
]

_TASKS: dict[str, type[L.LightningModule]] = {}
_DATA_MODULES: dict[str, Callable[..., L.LightningDataModule]] = {}


def _lookup(table: dict, name: str, what: str):
    key = name.strip().lower()
    if key not in table:
        raise ValueError(f"unknown {what} {name!r}; available: {', '.join(sorted(table)) or '(none)'}")
    return table[key]


def register_task(name: str):
    """Class decorator registering a task (a LightningModule class) under ``name``."""
    def decorator(cls):
        _TASKS[name.strip().lower()] = cls
        return cls

    return decorator


def get_task(name: str) -> type[L.LightningModule]:
    """The task class registered as ``name``."""
    return _lookup(_TASKS, name, "task")


def available_tasks() -> list[str]:
    """Sorted names of the registered tasks."""
    return sorted(_TASKS)


def task_for_model(model_name: str) -> str:
    """The task of a registered model: its class's ``task`` attribute, else ``"regression"``."""
    from averse.models._registry import _MODELS

    cls = _MODELS.find(model_name)
    return getattr(cls, "task", "regression")


def register_data_module(name: str, builder: Callable[..., L.LightningDataModule]) -> None:
    """Register a data module class or factory under ``name``."""
    _DATA_MODULES[name.strip().lower()] = builder


def get_data_module(name: str) -> Callable[..., L.LightningDataModule]:
    """The data module builder registered as ``name``."""
    return _lookup(_DATA_MODULES, name, "data module")


def available_data_modules() -> list[str]:
    """Sorted names of the registered data modules."""
    return sorted(_DATA_MODULES)
