"""Rain from geostationary infrared: the data, training and evaluation glue of notebooks 20–23.

>>> from averse.irqpe import IRRetrievalDataModule
>>> from averse.train import TrainConfig, fit
>>> cfg = TrainConfig(model="irqpe_unet", data_module="irqpe",
...                   data={"source_kwargs": {"days": 2}, "n_times": 3, "channels": ["ir_108"]},
...                   epochs=5, out_dir="runs/irqpe")
>>> result = fit(cfg)

- :mod:`~averse.irqpe.data` — IR stacks at ``t, t − 15 min, ...`` and the rain at
  ``t`` on the imager or the radar grid, time-block splits, random crops; the
  data module ``"irqpe"`` of :mod:`averse.train`;
- :mod:`~averse.irqpe.experiment` — retrievals on whole fields (deterministic and
  ensembles, with their sampling cost) and the two-axis evaluation (spatial and
  statistical scores, ensemble scores);
- :mod:`~averse.irqpe.configurations` — grids of input configurations (times ×
  channels × network) trained and scored on the same cases, bootstrap intervals;
- :mod:`~averse.irqpe.plots` — the notebooks' figures.

Importing this package also registers the ``"irqpe"`` and ``"generative"``
training tasks (:mod:`averse.train.retrieval`).
"""

from averse.train import retrieval as _retrieval  # noqa: F401  (registers the "irqpe" / "generative" tasks)
from averse.irqpe.configurations import (
    ConfigurationRuns,
    InputConfiguration,
    bootstrap,
    case_statistics,
    configuration_grid,
    run_configurations,
)
from averse.irqpe.data import IRRetrievalDataModule, RetrievalCases, RetrievalDataset, build_cases, stack_indices
from averse.irqpe.experiment import DEFAULT_CONFIG, Evaluation, Retrieval, evaluate, network, retrieve

__all__ = [
    "IRRetrievalDataModule",
    "RetrievalCases",
    "RetrievalDataset",
    "build_cases",
    "stack_indices",
    "Retrieval",
    "retrieve",
    "Evaluation",
    "evaluate",
    "network",
    "DEFAULT_CONFIG",
    "InputConfiguration",
    "configuration_grid",
    "case_statistics",
    "bootstrap",
    "run_configurations",
    "ConfigurationRuns",
]
