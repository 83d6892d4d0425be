"""Out-of-distribution tests of a nowcasting network, and fine-tuning on a little target data.

A network trained on one twin region (Île-de-France: flat, mostly stratiform,
C-band, 1 km) is tested on others (the Mediterranean box: steep orography,
intense convection; the X-band radar: 250 m pixels, short range, attenuation).
Then it is fine-tuned on the first hours of the target and compared with the
same network trained from scratch on those same hours, both tested on the
rest of the target period:

- :func:`split_target` — the little fine-tuning data and the later test period, apart by a gap;
- :data:`ALL_TEST` — the split that makes every window of a test period a test case;
- :class:`InitialWeights` — a Lightning callback starting a run from a checkpoint's weights;
- :func:`finetune_config` / :func:`finetune` — the fine-tuning (or from-scratch) run;
- :func:`transfer_table` — skill by domain and method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
import xarray as xr
from lightning.pytorch.callbacks import Callback

from averse.nowcast.cases import time_slice
from averse.nowcast.scoring import skill_table
from averse.train import FitResult, TrainConfig, build_data_module, fit

__all__ = ["ALL_TEST", "FINETUNE_SPLIT", "split_target", "InitialWeights", "finetune_config", "finetune",
           "transfer_table"]

#: Every window is a test case (a target period kept apart from any training).
ALL_TEST = {"block": "1D", "fractions": [0.0, 0.0, 1.0], "gap": "0min", "order": "chronological"}
#: Fine-tuning data: the first three quarters train, the last quarter validates (for the best checkpoint).
FINETUNE_SPLIT = {"block": "30min", "fractions": [0.75, 0.25, 0.0], "gap": "0min", "order": "chronological"}


def split_target(tree: xr.DataTree, hours: float, gap: str = "1h") -> tuple[xr.DataTree, xr.DataTree]:
    """The first ``hours`` of a target world (fine-tuning data) and what follows a ``gap`` (test period).

    Parameters
    ----------
    tree : xr.DataTree
        A twin-like world with a ``/radar`` group.
    hours : float
        Length of the fine-tuning period from the first radar frame.
    gap : str
        Time left out between the two (no test window starts right where training ended).

    Returns
    -------
    (xr.DataTree, xr.DataTree)

    Raises
    ------
    ValueError
        If the world is too short to hold both periods.
    """
    times = pd.DatetimeIndex(tree["radar"]["time"].values)
    end_little = times[0] + pd.Timedelta(hours=hours) - pd.Timedelta(1, "ns")
    start_rest = end_little + pd.Timedelta(gap) + pd.Timedelta(1, "ns")
    if start_rest >= times[-1]:
        raise ValueError(f"a world of {times[0]}..{times[-1]} cannot hold {hours} h of fine-tuning data, "
                         f"a {gap} gap and a test period; use more days")
    return time_slice(tree, None, end_little), time_slice(tree, start_rest, None)


class InitialWeights(Callback):
    """Load the network weights of a checkpoint before training (fine-tuning).

    The weights are loaded in ``setup``, before Lightning restores a resumed
    run, so a killed fine-tuning continues from its own ``last.ckpt``. The file
    is read with ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    checkpoint : path-like
        A checkpoint of :func:`averse.train.fit` of the same model and inputs.
    """

    def __init__(self, checkpoint: str | Path):
        self.checkpoint = Path(checkpoint)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        pl_module.load_state_dict(state, strict=True)


def finetune_config(source: TrainConfig, data: xr.DataTree | str, out_dir: str | Path, *, epochs: int,
                    lr: float | None = None, limit_train_batches: int | float | None = None,
                    split: Mapping | None = None, min_rain_fraction: float | None = None) -> TrainConfig:
    """The run training ``source``'s network (same model, inputs, transform) on other data.

    Parameters
    ----------
    source : TrainConfig
        The source run.
    data : xr.DataTree or str
        The fine-tuning data (a tree, or a catalog name).
    out_dir : path-like
        Folder of the new run.
    epochs : int
        Epochs over the fine-tuning data.
    lr : float, optional
        Learning rate (default: the source's).
    limit_train_batches : int or float, optional
        Batches per epoch.
    split : mapping, optional
        Split of the fine-tuning data (default :data:`FINETUNE_SPLIT`).
    min_rain_fraction : float, optional
        Rainy share of the target frames a window needs (default: the source's).
    """
    values = dict(source.data, source=data, source_kwargs={}, split=dict(split or FINETUNE_SPLIT))
    if min_rain_fraction is not None:
        values["min_rain_fraction"] = float(min_rain_fraction)
    return dataclasses.replace(source, data=values, out_dir=str(out_dir), epochs=int(epochs),
                               lr=float(lr if lr is not None else source.lr),
                               limit_train_batches=limit_train_batches)


def finetune(config: TrainConfig, initial_checkpoint: str | Path | None) -> FitResult:
    """Train ``config`` from ``initial_checkpoint``'s weights (fine-tuning), or from scratch when None.

    Raises
    ------
    ValueError
        If the data give no training or no validation window (too few or too dry hours).
    """
    module = build_data_module(config)
    module.setup()
    counts = {name: len(module.datasets[name]) for name in ("train", "val")}
    if not all(counts.values()):
        raise ValueError(f"the fine-tuning data give {counts['train']} training and {counts['val']} validation "
                         "windows: use more hours, a lower min_rain_fraction or shorter windows")
    callbacks = [InitialWeights(initial_checkpoint)] if initial_checkpoint is not None else []
    return fit(config, callbacks=callbacks)


def transfer_table(scores: Mapping[str, xr.Dataset], leads_minutes: Sequence[int],
                   thresholds: Sequence[float] = (1.0, 5.0), fss_scale: float | None = None) -> pd.DataFrame:
    """Skill of every method in every domain at a few lead times (rows ``(domain, method)``)."""
    return pd.concat({domain: skill_table(ds, leads_minutes, thresholds, fss_scale=fss_scale)
                      for domain, ds in scores.items()}, names=["domain", "method"])
