"""Training data of the infrared rain retrieval: IR image stacks and the rain at the newest image.

A *case* is one imager slot ``t`` (every 15 min for SEVIRI): the input is the
stack of ``n_times`` images at ``t − (n_times − 1)·step, ..., t − step, t``
(oldest first, ``channels`` of ``/seviri``, scaled as ``(T − 250 K) / 25 K``
like :mod:`averse.data.auxiliary`), the target the rain rate "at ``t``": the
mean over the ``target_interval`` ending at ``t`` (the averse convention,
:func:`averse.grid.aggregate_time`; the default 15 min is the repeat cycle of
the imager) of ``/<reference>/precip`` (``"radar"`` as observed, or the twin's
``"truth"``).

Two grids (``grid=``):

- ``"ir"`` — the rain is averaged conservatively onto the imager's ~3-km grid
  (:class:`averse.grid.ConservativeRegridder`; a cell covered by valid rain
  less than ``min_coverage`` is NaN);
- ``"radar"`` — the images are put on the rain's grid (each coarse cell
  copied onto the fine cells inside it, area-weighted at straddling cells).

Leakage: the time axis is cut into blocks dealt to train / val / test
(:class:`averse.data.TimeBlockSplit`, with gaps at the boundaries); a case
belongs to a split only when its target *and every image of its stack* do.
``required_times`` (≥ ``n_times``) keeps only cases with that much image
history, so that configurations with different ``n_times`` are scored on the
same cases. Stacks never bridge a missing image.

The selected slots are small (one rain field per 15 min on the coarse grid)
and are held in memory; training samples are random crops, drawn afresh at
each draw (seeded per loader worker); validation and test crops are fixed per
case. :meth:`IRRetrievalDataModule.full_frames` gives whole fields for
evaluation. Samples are dicts: ``ir`` ``(T, C, h, w)``, ``target`` ``(1, h, w)``
in mm/h (NaN unobserved; the model's rain transform is applied by the task,
:mod:`averse.train.retrieval`), ``case`` (index into the module's cases).

Registered as the data module ``"irqpe"`` of :mod:`averse.train`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.utils.data import DataLoader, Dataset, get_worker_info

from averse.data.auxiliary import ir_channels_on_grid
from averse.data.splits import EXCLUDED, SPLITS, TimeBlockSplit
from averse.data.windows import crop_corners
from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time, infer_step
from averse.train.registry import register_data_module

__all__ = ["RetrievalCases", "build_cases", "stack_indices", "RetrievalDataset", "IRRetrievalDataModule",
           "GRIDS", "REFERENCES", "IR_LOC", "IR_SCALE"]

GRIDS = ("ir", "radar")
REFERENCES = ("radar", "truth")
#: Scaling of the brightness temperatures, ``(T - IR_LOC) / IR_SCALE`` (as :mod:`averse.data.auxiliary`).
IR_LOC, IR_SCALE = 250.0, 25.0


@dataclass
class RetrievalCases:
    """Inputs and targets of every case of one source, aligned and in memory.

    Attributes
    ----------
    ir : ndarray
        ``(n_images, C, H, W)`` float32 scaled brightness temperatures (NaN kept).
    image_times : pandas.DatetimeIndex
        Time of each image (UTC).
    stacks : ndarray
        ``(n_cases, n_times)`` int64 image indices of each case, oldest first.
    target : ndarray
        ``(n_cases, H, W)`` float32 rain rates (mm/h), NaN unobserved.
    times : pandas.DatetimeIndex
        Time of each case: the newest image, the END of the target interval.
    labels : ndarray
        ``(n_cases,)`` split label (0 train, 1 val, 2 test).
    grid : xr.Dataset
        Empty dataset carrying the target grid (``x``, ``y``, ``lat``, ``lon``, ``spatial_ref``).
    channels : tuple of str
        Names of the ``C`` channels.
    target_attrs : dict
        Attributes of the target rain (units, ``cell_methods``...).
    """

    ir: np.ndarray
    image_times: pd.DatetimeIndex
    stacks: np.ndarray
    target: np.ndarray
    times: pd.DatetimeIndex
    labels: np.ndarray
    grid: xr.Dataset
    channels: tuple[str, ...]
    target_attrs: dict

    def split(self, name: str) -> np.ndarray:
        """Indices of the cases of split ``name`` (``"train"``, ``"val"``, ``"test"``)."""
        return np.flatnonzero(self.labels == SPLITS.index(name))

    def inputs(self, cases: np.ndarray) -> np.ndarray:
        """``(n, T, C, H, W)`` stacks of ``cases``."""
        return self.ir[self.stacks[cases]]


def stack_indices(image_times, n_times: int, step) -> np.ndarray:
    """For every image, the indices of the ``n_times`` images ending at it (``-1``: missing).

    Parameters
    ----------
    image_times : array_like of datetime64
        Increasing image times.
    n_times : int
        Images per stack.
    step : str or Timedelta
        Spacing of the stack's images.

    Returns
    -------
    ndarray of int64
        ``(n_images, n_times)``, oldest first; an image absent from
        ``image_times`` (a gap) is ``-1``, never a neighbour.
    """
    times = pd.DatetimeIndex(np.asarray(image_times))
    offsets = pd.Timedelta(step).to_timedelta64() * np.arange(n_times - 1, -1, -1)
    wanted = times.values[:, None] - offsets[None, :]
    return times.get_indexer(wanted.ravel()).reshape(wanted.shape).astype(np.int64)


def _group(tree: xr.DataTree, name: str) -> xr.Dataset:
    if not isinstance(tree, xr.DataTree) or name not in tree.children:
        found = sorted(tree.children) if isinstance(tree, xr.DataTree) else type(tree).__name__
        raise ValueError(f"the IR retrieval needs a DataTree with a /{name} group; found {found}")
    return tree[name].to_dataset()


def _target_rain(tree: xr.DataTree, reference: str, variable: str, interval) -> xr.DataArray:
    """The reference rain as means over ``interval`` ending at each stamp (lazy)."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    group = _group(tree, reference)
    if variable not in group.data_vars:
        raise ValueError(f"no variable {variable!r} in /{reference}; variables: {list(group.data_vars)}")
    rates = group[variable].transpose("time", "y", "x").astype(np.float32)
    step = infer_step(rates["time"].values)
    if interval is None or pd.Timedelta(interval) == step:
        return rates
    return aggregate_time(rates, interval, step=step, min_coverage=1.0)


def _rain_on_grid(rain: xr.DataArray, template: xr.DataArray, min_coverage: float) -> xr.DataArray:
    """``rain`` averaged conservatively onto the grid of ``template`` (unchanged on the same grid)."""
    if rain.sizes["y"] == template.sizes["y"] and rain.sizes["x"] == template.sizes["x"] and np.allclose(
            rain["x"].values, template["x"].values) and np.allclose(rain["y"].values, template["y"].values):
        return rain
    regridder = ConservativeRegridder(RegularGrid.from_dataset(rain), RegularGrid.from_dataset(template))
    return regridder.regrid(rain, min_coverage=min_coverage)


def build_cases(tree: xr.DataTree, *, channels: Sequence[str] = ("ir_108", "ir_120", "wv_062"),
                n_times: int = 1, required_times: int | None = None, time_step: str = "15min",
                reference: str = "radar", variable: str = "precip", grid: str = "ir",
                target_interval: str | None = "15min", min_coverage: float = 0.5,
                split: TimeBlockSplit | Mapping | None = None) -> RetrievalCases:
    """Align the IR stacks and the reference rain of a twin-like tree (see the module docstring).

    Returns
    -------
    RetrievalCases

    Raises
    ------
    ValueError
        For an unknown ``grid`` / ``reference``, a tree without ``/seviri`` or the
        reference group, ``required_times < n_times``, or no usable case.
    """
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    required = n_times if required_times is None else int(required_times)
    if n_times < 1 or required < n_times:
        raise ValueError(f"need 1 <= n_times <= required_times, got {n_times}, {required}")
    seviri = _group(tree, "seviri")
    rain = _target_rain(tree, reference, variable, target_interval)
    image_times = pd.DatetimeIndex(seviri["time"].values)
    present = image_times.isin(pd.DatetimeIndex(rain["time"].values))

    history = stack_indices(image_times, required, time_step)
    split = TimeBlockSplit.from_value(split)
    image_labels = split.labels(image_times)
    same_split = np.where(history >= 0, image_labels[np.maximum(history, 0)], EXCLUDED)
    usable = present & (history >= 0).all(axis=1) & (same_split == image_labels[:, None]).all(axis=1)
    usable &= image_labels != EXCLUDED
    newest = np.flatnonzero(usable)
    if newest.size == 0:
        raise ValueError(f"no case has {required} consecutive images ({time_step} apart) and a target in one split")

    template = seviri[channels[0]] if grid == "ir" else rain
    target = _rain_on_grid(rain.sel(time=image_times[newest]), template, min_coverage)
    target_values = target.transpose("time", "y", "x").values.astype(np.float32)
    observed = np.isfinite(target_values).any(axis=(1, 2))
    if not observed.any():
        raise ValueError(f"the {reference} rain is NaN everywhere at every usable case")
    newest, target_values = newest[observed], target_values[observed]

    ir = ir_channels_on_grid(seviri, list(channels), template, IR_LOC, IR_SCALE)  # (time, channel, y, x)
    used = history[newest][:, required - n_times:]
    keep = np.unique(used)
    ir_values = ir.isel(time=keep).values.astype(np.float32)
    stacks = np.searchsorted(keep, used)
    grid_dataset = RegularGrid.from_dataset(template).empty_dataset()
    return RetrievalCases(ir=ir_values, image_times=image_times[keep], stacks=stacks.astype(np.int64),
                          target=target_values, times=image_times[newest], labels=image_labels[newest],
                          grid=grid_dataset, channels=tuple(channels), target_attrs=dict(target.attrs))


class RetrievalDataset(Dataset):
    """Crops of the cases ``indices`` of :class:`RetrievalCases`.

    Parameters
    ----------
    cases : RetrievalCases
        The aligned data.
    indices : ndarray
        Cases served (``dataset[i]`` is case ``indices[i]``).
    crop : (int, int) or None
        Crop height and width in pixels of the target grid; None: whole fields.
    corners : ndarray
        Allowed crop corners (:func:`averse.data.windows.crop_corners`).
    random : bool
        Fresh random crops at every draw (training) or one fixed crop per case.
    seed : int
        Seed of the crops (mixed with the loader worker id, or the case index).
    min_rain_fraction, rain_threshold : float
        Up to ``crop_attempts`` crops are drawn until the share of target pixels
        at or above ``rain_threshold`` reaches ``min_rain_fraction``; otherwise the
        rainiest attempt is kept.
    crop_attempts : int
        Crops tried per sample.
    """

    def __init__(self, cases: RetrievalCases, indices: np.ndarray, crop: tuple[int, int] | None,
                 corners: np.ndarray, *, random: bool, seed: int = 0, min_rain_fraction: float = 0.0,
                 rain_threshold: float = 0.1, crop_attempts: int = 4):
        self.cases, self.indices = cases, np.asarray(indices, dtype=np.int64)
        self.crop, self.corners, self.random, self.seed = crop, corners, random, seed
        self.min_rain_fraction, self.rain_threshold = min_rain_fraction, rain_threshold
        self.crop_attempts = max(1, int(crop_attempts))
        self._rng: np.random.Generator | None = None

    def __len__(self) -> int:
        return self.indices.size

    def _generator(self, index: int) -> np.random.Generator:
        if not self.random:
            return np.random.default_rng([self.seed, int(index)])
        if self._rng is None:  # one stream per loader worker, created in the worker
            info = get_worker_info()
            self._rng = np.random.default_rng([self.seed, 0 if info is None else info.id + 1])
        return self._rng

    def _window(self, case: int, rng: np.random.Generator) -> tuple[slice, slice]:
        if self.crop is None:
            return slice(None), slice(None)
        height, width = self.crop
        columns = self.cases.target.shape[2] - width + 1
        best, best_share = None, -1.0
        for corner in rng.choice(self.corners, size=self.crop_attempts):
            y0, x0 = divmod(int(corner), columns)
            window = (slice(y0, y0 + height), slice(x0, x0 + width))
            rain = self.cases.target[case][window]
            with np.errstate(invalid="ignore"):
                share = float(np.mean(rain >= self.rain_threshold))
            if share > best_share:
                best, best_share = window, share
            if share >= self.min_rain_fraction:
                break
        return best

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        case = int(self.indices[index])
        rows, cols = self._window(case, self._generator(index))
        ir = self.cases.ir[self.cases.stacks[case]][..., rows, cols]
        target = self.cases.target[case][None, rows, cols]
        return {"ir": torch.from_numpy(np.ascontiguousarray(ir)),
                "target": torch.from_numpy(np.ascontiguousarray(target)),
                "case": torch.tensor(case)}


class IRRetrievalDataModule(L.LightningDataModule):
    """Train / val / test loaders of the IR rain retrieval (see the module docstring).

    Parameters
    ----------
    source : str or xr.DataTree
        A catalog name for :func:`averse.open_dataset` (``"twin"``) or an opened tree.
    source_kwargs : dict, optional
        Its overrides (``{"days": 2, "region": "med"}``).
    channels : sequence of str
        Imager channels per time (``/seviri`` variables).
    n_times, required_times, time_step
        Images per stack, history required of every case, spacing of the images.
    reference, variable : str
        Target rain ``/<reference>/<variable>`` (``"radar"`` or ``"truth"``).
    grid : {"ir", "radar"}
        Grid of the samples.
    target_interval : str or None
        Averaging interval of the target ending at the image time (None: the native frames).
    crop : int, (int, int) or None
        Crop side(s) in pixels of the sample grid; None for whole fields.
    min_rain_fraction, rain_threshold, crop_attempts
        Rain selection of the crops (:class:`RetrievalDataset`).
    min_coverage : float
        Coarse cells with less valid rain area are NaN; crops must have at least
        this share of pixels observed at some case.
    split : TimeBlockSplit or dict, optional
        Time-block split (default whole days, 70/15/15, 1 h gaps).
    batch_size, num_workers, seed
        Loader options and the seed of the crops and of the training order.
    """

    def __init__(self, source: str | xr.DataTree = "twin", *, source_kwargs: Mapping | None = None,
                 channels: Sequence[str] = ("ir_108", "ir_120", "wv_062"), n_times: int = 1,
                 required_times: int | None = None, time_step: str = "15min", reference: str = "radar",
                 variable: str = "precip", grid: str = "ir", target_interval: str | None = "15min",
                 crop: int | Sequence[int] | None = 32, min_rain_fraction: float = 0.0,
                 rain_threshold: float = 0.1, crop_attempts: int = 4, min_coverage: float = 0.5,
                 split: TimeBlockSplit | Mapping | None = None, batch_size: int = 8, num_workers: int = 0,
                 seed: int = 0):
        super().__init__()
        self.source, self.source_kwargs = source, dict(source_kwargs or {})
        self.channels, self.n_times = tuple(channels), int(n_times)
        self.n_channels = len(self.channels)
        self.options = {"n_times": self.n_times, "required_times": required_times, "time_step": time_step,
                        "reference": reference, "variable": variable, "grid": grid,
                        "target_interval": target_interval, "min_coverage": min_coverage}
        self.crop = None if crop is None else (tuple(int(c) for c in crop) if isinstance(crop, Sequence)
                                               else (int(crop), int(crop)))
        self.min_rain_fraction, self.rain_threshold = min_rain_fraction, rain_threshold
        self.crop_attempts, self.min_coverage = crop_attempts, min_coverage
        self.split = TimeBlockSplit.from_value(split)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.cases: RetrievalCases | None = None
        self.datasets: dict[str, RetrievalDataset] = {}

    def _open(self) -> xr.DataTree:
        if isinstance(self.source, xr.DataTree):
            return self.source
        from averse.catalog import open_dataset

        return open_dataset(self.source, **self.source_kwargs)

    def prepare_data(self) -> None:
        """Open the source once (generates a twin world that is not cached yet)."""
        if not isinstance(self.source, xr.DataTree):
            self._open()

    def setup(self, stage: str | None = None) -> None:
        """Build the cases and the three datasets (once)."""
        if self.cases is not None:
            return
        self.cases = build_cases(self._open(), channels=self.channels, split=self.split, **self.options)
        shape = self.cases.target.shape[1:]
        crop = None if self.crop is None else (min(self.crop[0], shape[0]), min(self.crop[1], shape[1]))
        self.crop = crop
        coverage = np.isfinite(self.cases.target).any(axis=0)
        corners = crop_corners(coverage, crop, self.min_coverage) if crop else np.zeros(1, np.int64)
        for name in SPLITS:
            self.datasets[name] = RetrievalDataset(
                self.cases, self.cases.split(name), crop, corners, random=name == "train", seed=self.seed,
                min_rain_fraction=self.min_rain_fraction, rain_threshold=self.rain_threshold,
                crop_attempts=self.crop_attempts)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.datasets.items()) or "not set up"
        return (f"IRRetrievalDataModule(channels={list(self.channels)}, n_times={self.n_times}, "
                f"grid={self.options['grid']!r}, cases: {counts})")

    __str__ = __repr__  # LightningDataModule's own __str__ would build the loaders

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        self.setup()
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(self.datasets[name], batch_size=self.batch_size, shuffle=shuffle, generator=generator,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        """Shuffled cases, fresh random crops at every draw."""
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        """Cases in time order, one fixed crop each."""
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        """Cases in time order, one fixed crop each."""
        return self._loader("test", False)

    def full_frames(self, split: str = "test") -> tuple[torch.Tensor, xr.DataArray]:
        """Whole-field inputs and reference of a split, for evaluation.

        Returns
        -------
        ir : torch.Tensor
            ``(n, T, C, H, W)`` scaled stacks.
        reference : xr.DataArray
            ``(case, y, x)`` target rain (mm/h) with the grid; ``case`` is the
            time of the newest image (UTC, END of the target interval).
        """
        cases = self.split_cases(split)
        return torch.from_numpy(self.cases.inputs(cases)), self.as_field(self.cases.target[cases], split)

    def split_cases(self, split: str = "test") -> np.ndarray:
        """Indices of the cases of ``split``; a ValueError when it has none."""
        self.setup()
        cases = self.cases.split(split)
        if cases.size == 0:
            raise ValueError(f"the {split!r} split has no case; adjust split= (block length, fractions)")
        return cases

    def ir_field(self, split: str = "test") -> xr.DataArray:
        """The input stacks of ``split`` in kelvin, ``(case, lag, channel, y, x)``; ``lag`` in minutes (0: newest)."""
        self.setup()
        cases = self.cases.split(split)
        step = pd.Timedelta(self.options["time_step"]) / pd.Timedelta("1min")
        lags = step * np.arange(-(self.n_times - 1), 1)
        field = xr.DataArray(self.cases.inputs(cases) * IR_SCALE + IR_LOC, dims=("case", "lag", "channel", "y", "x"),
                             coords={"case": self.cases.times[cases].values, "lag": lags,
                                     "channel": list(self.channels)},
                             name="brightness_temperature", attrs={"units": "K"})
        return field.assign_coords(self.cases.grid.coords)

    def as_field(self, values: np.ndarray, split: str = "test", member: bool = False) -> xr.DataArray:
        """Rain rates ``(case, [member,] y, x)`` of ``split`` as a DataArray on the sample grid."""
        self.setup()
        times = self.cases.times[self.cases.split(split)]
        dims = ("case", "member", "y", "x") if member else ("case", "y", "x")
        coords = {"case": times.values, **({"member": np.arange(values.shape[1])} if member else {})}
        field = xr.DataArray(np.asarray(values, dtype=np.float32), dims=dims, coords=coords, name="precip",
                             attrs={**self.cases.target_attrs, "units": "mm h-1"})
        return field.assign_coords(self.cases.grid.coords)


register_data_module("irqpe", IRRetrievalDataModule)
