"""One training entry point for every model of averse.

>>> from averse.train import TrainConfig, fit, load_model
>>> cfg = TrainConfig(model="smaat_unet_multilead", data={"source": "twin", "n_in": 6, "n_out": 12},
...                   epochs=5, batch_size=8, out_dir="runs/smaat")
>>> result = fit(cfg)                 # run it again after a kill: it resumes from last.ckpt
>>> task = load_model(result.best_checkpoint)

- :mod:`~averse.train.config` — :class:`TrainConfig`, ``device="auto"`` and precision;
- :mod:`~averse.train.registry` — tasks and data modules by name (new tracks
  register their own: a generative task, an IR-retrieval data module);
- :mod:`~averse.train.regression` — :class:`RegressionTask`, the nowcasting regressor;
- :mod:`~averse.train.retrieval` — :class:`RetrievalTask`, the IR rain retrievals
  (regressors and generative models; written by the IR-retrieval track);
- :mod:`~averse.train.losses` — masked and balanced losses by name;
- :mod:`~averse.train.fit` — :func:`fit`, :func:`load_model`, :func:`read_metrics`.
"""

from averse.data import NowcastDataModule
from averse.train.config import TrainConfig, resolve_device, resolve_precision
from averse.train.fit import FitResult, build_data_module, fit, load_model, read_metrics
from averse.train.losses import LOSSES, get_loss
from averse.train.registry import (
    available_data_modules,
    available_tasks,
    get_data_module,
    get_task,
    register_data_module,
    register_task,
    task_for_model,
)
from averse.train.regression import RegressionTask
from averse.train.retrieval import RetrievalTask  # registers the "irqpe" and "generative" tasks

register_data_module("nowcast", NowcastDataModule)

__all__ = [
    "TrainConfig",
    "FitResult",
    "fit",
    "load_model",
    "read_metrics",
    "build_data_module",
    "resolve_device",
    "resolve_precision",
    "RegressionTask",
    "RetrievalTask",
    "LOSSES",
    "get_loss",
    "register_task",
    "get_task",
    "available_tasks",
    "task_for_model",
    "register_data_module",
    "get_data_module",
    "available_data_modules",
]
