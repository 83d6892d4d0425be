"""The Lightning data module of nowcasting: from a catalog name (or a tree) to loaders.

``NowcastDataModule("twin", source_kwargs={"days": 2})`` opens the data lazily,
splits the time axis into blocks (:mod:`averse.data.splits`), makes one pass over
the radar frames (per-frame coverage and rain, per-pixel coverage, and the
statistics of the training frames), selects the usable windows
(:mod:`averse.data.windows`) and serves them through
:class:`~averse.data.dataset.WindowDataset` — from memory when the frames fit in
``memory_budget``, by blocks of time otherwise (:mod:`averse.data.frames`).

The radar variable is ``/<group>/<variable>`` of a DataTree (default
``/radar/precip``; ``group="truth"`` trains on the true field), or ``variable``
of a Dataset. The DEM comes from ``/static/dem`` and infrared channels from
``/seviri``, so auxiliary inputs need a tree laid out like the twin world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import lightning as L
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from averse.data.auxiliary import StatisticsAccumulator, dem_channel, ir_channels_on_grid, ir_frame_index
from averse.data.dataset import BlockShuffleSampler, WindowDataset
from averse.data.frames import FrameStore, plan_block_steps, summarise
from averse.data.splits import SPLITS, TimeBlockSplit
from averse.data.windows import WindowSpec, crop_corners, valid_starts
from averse.grid import infer_step
from averse.models.inputs import InputConfig

__all__ = ["NowcastDataModule"]

Source = str | xr.DataTree | xr.Dataset | xr.DataArray


def _parse_bytes(value: int | str) -> int:
    """``2 ** 30``, ``"1GiB"``, ``"512MB"``... as a number of bytes."""
    if isinstance(value, (int, float)):
        return int(value)
    text = value.strip().upper().replace(" ", "")
    units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text))


class NowcastDataModule(L.LightningDataModule):
    """Train / val / test loaders of nowcasting windows.

    Parameters
    ----------
    source : str, xr.DataTree, xr.Dataset or xr.DataArray
        A catalog name or path for :func:`averse.open_dataset` (``"twin"``), or data.
    source_kwargs : dict, optional
        Overrides for :func:`averse.open_dataset` (``{"days": 2, "region": "med"}``).
    group, variable : str
        Where the rain rates are in a tree (``/radar/precip``).
    n_in, n_out, crop, min_rain_fraction, rain_threshold, min_coverage
        Window shape and selection (:class:`~averse.data.windows.WindowSpec`).
    dem : bool
        Give the terrain height (``/static/dem``).
    ir_channels : sequence of str
        Infrared channels of ``/seviri`` given at each input frame (``("ir_108",)``).
    stats : sequence of str
        Training-period statistics (:data:`averse.data.auxiliary.STATISTICS`).
    split : TimeBlockSplit or dict, optional
        Block split of the time axis (default whole days, 70/15/15, 1 h gaps).
    dt : str, optional
        Expected time step; default the most common spacing of the time axis.
    batch_size, num_workers, persistent_workers, pin_memory
        :class:`torch.utils.data.DataLoader` options (``pin_memory`` None: when CUDA is there).
    memory_budget : int or str
        Bytes of frames one process may hold (``"2GiB"``): everything is loaded
        when it fits, else blocks of time are read (see :func:`plan_block_steps`).
    seed : int
        Seed of the crops and of the training order.
    ir_max_age : str
        Oldest infrared image accepted for a radar frame.
    crop_attempts : int
        Crops tried per sample to meet ``min_rain_fraction``.
    crops_per_window : int
        Training samples (random crops) drawn from every window per epoch.
    """

    def __init__(self, source: Source = "twin", *, source_kwargs: Mapping | None = None,
                 group: str = "radar", variable: str = "precip",
                 n_in: int = 6, n_out: int = 12, crop: int | Sequence[int] | None = 128,
                 min_rain_fraction: float = 0.0, rain_threshold: float = 0.1, min_coverage: float = 0.5,
                 dem: bool = False, ir_channels: Sequence[str] = (), stats: Sequence[str] = (),
                 split: TimeBlockSplit | Mapping | None = None, dt: str | None = None,
                 batch_size: int = 8, num_workers: int = 0, persistent_workers: bool = True,
                 pin_memory: bool | None = None, memory_budget: int | str = "2GiB", seed: int = 0,
                 ir_max_age: str = "15min", crop_attempts: int = 4, crops_per_window: int = 1):
        super().__init__()
        self.source = source
        self.source_kwargs = dict(source_kwargs or {})
        self.group, self.variable = group, variable
        self.spec = WindowSpec(n_in=n_in, n_out=n_out, crop=crop, min_rain_fraction=min_rain_fraction,
                               rain_threshold=rain_threshold, min_coverage=min_coverage)
        self.dem, self.ir_channels, self.stats = bool(dem), tuple(ir_channels), tuple(stats)
        self.split = TimeBlockSplit.from_value(split)
        self.dt = dt
        self.batch_size, self.num_workers = batch_size, num_workers
        self.persistent_workers = persistent_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.memory_budget = _parse_bytes(memory_budget)
        self.seed, self.ir_max_age, self.crop_attempts = seed, ir_max_age, crop_attempts
        self.crops_per_window = crops_per_window
        self.datasets: dict[str, WindowDataset] = {}

    @property
    def input_config(self) -> InputConfig:
        """The :class:`~averse.models.InputConfig` matching the samples."""
        return InputConfig(n_in=self.spec.n_in, n_out=self.spec.n_out, dem=self.dem,
                           ir_channels=self.ir_channels, stats=self.stats)

    # -- opening ---------------------------------------------------------------------
    def _open(self) -> xr.DataTree | xr.Dataset | xr.DataArray:
        if isinstance(self.source, (xr.DataTree, xr.Dataset, xr.DataArray)):
            return self.source
        from averse.catalog import open_dataset

        return open_dataset(self.source, **self.source_kwargs)

    def _group(self, data, name: str, purpose: str) -> xr.Dataset:
        if not isinstance(data, xr.DataTree):
            raise ValueError(f"{purpose} needs a DataTree source with a /{name} group, got a {type(data).__name__}")
        if name not in data.children:
            raise ValueError(f"{purpose}: the source has no /{name} group; groups: {sorted(data.children)}")
        return data[name].to_dataset()

    def _rates(self, data) -> xr.DataArray:
        if isinstance(data, xr.DataTree):
            data = self._group(data, self.group, "the rain rates")
        if isinstance(data, xr.Dataset):
            if self.variable not in data.data_vars:
                raise ValueError(f"no variable {self.variable!r} in the source; variables: {list(data.data_vars)}")
            data = data[self.variable]
        rates = data.transpose("time", "y", "x")
        times = pd.DatetimeIndex(rates["time"].values)
        if not times.is_monotonic_increasing or not times.is_unique:
            raise ValueError("the time coordinate of the rain rates must be strictly increasing")
        return rates.astype(np.float32)

    def prepare_data(self) -> None:
        """Open the source once on one process (generates a twin world that is not cached yet)."""
        if isinstance(self.source, str):
            self._open()

    # -- building --------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Open, scan and index the data (once; later calls do nothing)."""
        if self.datasets:
            return
        data = self._open()
        rates = self._rates(data)
        times = rates["time"].values
        self.times = times
        if self.dt is None:
            self.dt = infer_step(times)
        self.labels = self.split.labels(times)
        length = self.spec.length

        ir, ir_index = None, None
        if self.ir_channels:
            seviri = self._group(data, "seviri", "infrared inputs")
            ir = ir_channels_on_grid(seviri, self.ir_channels, rates)
            ir_index = ir_frame_index(times, seviri["time"].values, self.ir_max_age)
        step_bytes = int(np.prod(rates.shape[1:])) * 4 * (1 + len(self.ir_channels))
        total_bytes = rates.size * 4 + (ir.size * 4 if ir is not None else 0)
        time_chunk = rates.chunks[0][0] if rates.chunks else None
        self.block_steps = plan_block_steps(step_bytes, total_bytes, self.memory_budget, length, time_chunk)
        radar_store = FrameStore(rates, block_steps=self.block_steps, overlap=length - 1)
        ir_store = (FrameStore(ir, frame_of_step=ir_index, block_steps=self.block_steps, overlap=length - 1)
                    if ir is not None else None)

        accumulator = (StatisticsAccumulator(rates.shape[1:], wet_threshold=self.spec.rain_threshold)
                       if self.stats else None)
        self.summary = summarise(radar_store, self.spec.rain_threshold, statistics=accumulator,
                                 include=self.labels == SPLITS.index("train"))
        self.statistics = accumulator.result(self.stats) if accumulator else None
        dem = dem_channel(self._group(data, "static", "the DEM")["dem"], rates) if self.dem else None
        crop = self.spec.crop_shape(rates.shape[1:])
        corners = crop_corners(self.summary.coverage, crop, self.spec.min_coverage)
        available = ir_index >= 0 if ir_index is not None else None
        for number, name in enumerate(SPLITS):
            starts = valid_starts(times, self.dt, self.spec, self.summary, self.labels, number, available)
            self.datasets[name] = WindowDataset(
                radar_store, starts, self.spec, times, corners=corners, dem=dem, ir=ir_store,
                stats=self.statistics, seed=self.seed, crop_attempts=self.crop_attempts,
            )

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.datasets.items()) or "not set up"
        mode = "" if not self.datasets else (" in memory" if self.block_steps is None
                                             else f" by blocks of {self.block_steps} steps")
        source = repr(self.source) if isinstance(self.source, str) else f"<{type(self.source).__name__}>"
        return f"NowcastDataModule({source}, windows: {counts}{mode})"

    # -- loaders ---------------------------------------------------------------------
    def _loader(self, name: str, sampler=None) -> DataLoader:
        # Whole batches are cut by the dataset (a list of keys per fetch): no per-sample collation.
        self.setup()
        dataset = self.datasets[name]
        batches = BatchSampler(sampler or SequentialSampler(dataset), self.batch_size, drop_last=False)
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=batches,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled block by block (:class:`BlockShuffleSampler`), fresh crops each epoch."""
        self.setup()
        sampler = BlockShuffleSampler(self.datasets["train"].block_ids(), self.seed, self.crops_per_window)
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        """In time order, the same crops every epoch."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        """In time order, the same crops every time."""
        return self._loader("test")
