"""The torch dataset of nowcasting windows and the sampler that reads it block by block.

A sample is a dict of tensors (``h × w`` is the crop):

=================  ======================  ==============================================
key                shape, dtype            content
=================  ======================  ==============================================
``radar``          (n_in, h, w) float32    past rain rates, mm/h, oldest first; NaN missing
``target``         (n_out, h, w) float32   rates at leads 1..n_out, mm/h; NaN missing
``mask``           (n_out, h, w) bool      True where ``target`` is valid
``dem``            (1, h, w) float32       terrain height / 1000 m (if asked)
``ir``             (n_in, C, h, w) float32 scaled brightness temperatures (if asked)
``stats``          (K, h, w) float32       training-period statistics (if asked)
``analysis_time``  () int64                time of the newest input frame, ns since 1970 UTC
``corner``         (2,) int64              ``(row, column)`` of the crop in the full frame
``index``          () int64                window index in the dataset
=================  ======================  ==============================================

``target[k]`` is the frame exactly ``k + 1`` time steps after ``radar[-1]``.

Random crops are reproducible. A key is either an int (the window; its crop is
fixed by the seed and the index: validation and test see the same crops every
epoch) or a pair ``(window, draw)`` as yielded by :class:`BlockShuffleSampler`,
whose crop is fixed by the seed and the draw number (new crops every epoch, the
same for the same seed). Keys carry this state, so persistent loader workers need
no per-epoch message.

A list of keys gives the whole batch at once, each window copied once into its
place in the batch (``dataset[[k0, k1, ...]]``, what the data module's loaders
ask for with a :class:`~torch.utils.data.BatchSampler`): no second copy by a
collate function.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from averse.data.frames import FrameStore
from averse.data.windows import WindowSpec

__all__ = ["WindowDataset", "BlockShuffleSampler"]

_MASK64 = (1 << 64) - 1
_INTEGER_KEYS = ("analysis_time", "corner", "index")


def _mix(*values: int) -> int:
    """A 64-bit hash of integers (SplitMix64 steps): cheap, reproducible per-sample randomness."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = ((state ^ (int(value) & _MASK64)) + 0x9E3779B97F4A7C15) & _MASK64
        state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & _MASK64
        state ^= state >> 31
    return state


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; in a loader worker, in shared memory (as ``default_collate`` does),
    so that sending the batch to the main process does not copy it again."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    return torch.empty(0, dtype=dtype).set_(torch.UntypedStorage._new_shared(nbytes), 0, shape)


class WindowDataset(Dataset):
    """Windows of a frame sequence as network-ready samples (see the module docstring).

    Parameters
    ----------
    radar : FrameStore
        Rain rates (mm/h), ``(time, y, x)``.
    starts : ndarray of int
        First step of every window (:func:`averse.data.windows.valid_starts`).
    spec : WindowSpec
        Window shape and crop rules.
    times : ndarray of datetime64
        Time stamp of every step.
    corners : ndarray of int, optional
        Allowed crop corners (:func:`averse.data.windows.crop_corners`); default all.
    dem, stats : ndarray, optional
        Static channels ``(1, H, W)`` and ``(K, H, W)`` on the radar grid.
    ir : FrameStore, optional
        Infrared channels aligned on the radar steps, ``(time, C, y, x)``.
    seed : int
        Seed of the crops.
    crop_attempts : int
        With ``spec.min_rain_fraction > 0``, crops tried before keeping the rainiest.
    """

    def __init__(self, radar: FrameStore, starts: np.ndarray, spec: WindowSpec, times: np.ndarray, *,
                 corners: np.ndarray | None = None, dem: np.ndarray | None = None,
                 ir: FrameStore | None = None, stats: np.ndarray | None = None,
                 seed: int = 0, crop_attempts: int = 4):
        self.radar = radar
        self.starts = np.asarray(starts, dtype=np.int64)
        self.spec = spec
        self.times = np.asarray(times, dtype="datetime64[ns]").view(np.int64)
        frame_shape = tuple(radar.data.shape[-2:])
        self.crop = spec.crop_shape(frame_shape)
        self.corner_columns = frame_shape[1] - self.crop[1] + 1
        n_corners = (frame_shape[0] - self.crop[0] + 1) * self.corner_columns
        self.corners = np.arange(n_corners) if corners is None else np.asarray(corners, dtype=np.int64)
        self.dem, self.ir, self.stats = dem, ir, stats
        self.seed = int(seed)
        self.crop_attempts = max(int(crop_attempts), 1) if spec.min_rain_fraction > 0 else 1

    def __len__(self) -> int:
        return self.starts.size

    def block_ids(self) -> np.ndarray:
        """Read block of every window (what :class:`BlockShuffleSampler` groups by)."""
        return self.radar.block_of(self.starts)

    def _slices(self, draw: int) -> tuple[slice, slice]:
        """The crop at the allowed corner that the hash ``draw`` picks."""
        row, col = divmod(int(self.corners[draw % self.corners.size]), self.corner_columns)
        return slice(row, row + self.crop[0]), slice(col, col + self.crop[1])

    def _crop(self, start: int, token: tuple[int, int]) -> tuple[slice, slice]:
        """The crop of the window at ``start`` drawn from ``token`` (rainy enough if asked)."""
        if self.crop_attempts == 1:
            return self._slices(_mix(self.seed, *token, 0))
        best = None
        for attempt in range(self.crop_attempts):
            rows, cols = self._slices(_mix(self.seed, *token, attempt))
            target = self.radar.view(start, self.spec.n_out, rows, cols, skip=self.spec.n_in)
            rainy = np.count_nonzero(target >= self.spec.rain_threshold) / max(np.count_nonzero(np.isfinite(target)), 1)
            if best is None or rainy > best[0]:
                best = (rainy, rows, cols)
            if rainy >= self.spec.min_rain_fraction:
                break
        return best[1], best[2]

    def _batch(self, keys: list) -> dict[str, torch.Tensor]:
        """Samples of ``keys`` stacked along a first dimension, each cut once into its place."""
        n_in, n_out = self.spec.n_in, self.spec.n_out
        h, w = self.crop
        size = len(keys)
        shapes = {"radar": (n_in, h, w), "target": (n_out, h, w), "analysis_time": (), "corner": (2,), "index": ()}
        if self.dem is not None:
            shapes["dem"] = (*self.dem.shape[:-2], h, w)
        if self.ir is not None:
            shapes["ir"] = (n_in, *self.ir.data.shape[1:-2], h, w)
        if self.stats is not None:
            shapes["stats"] = (*self.stats.shape[:-2], h, w)
        tensors = {name: _empty((size, *shape), torch.int64 if name in _INTEGER_KEYS else torch.float32)
                   for name, shape in shapes.items()}
        out = {name: tensor.numpy() for name, tensor in tensors.items()}
        for i, key in enumerate(keys):
            # The crop comes from (seed, "fixed", index) or (seed, "drawn", draw number).
            index, token = (int(key[0]), (1, int(key[1]))) if isinstance(key, tuple) else (int(key), (0, int(key)))
            start = int(self.starts[index])
            rows, cols = self._crop(start, token)
            self.radar.window(start, n_in, rows, cols, out=out["radar"][i])
            self.radar.window(start, n_out, rows, cols, skip=n_in, out=out["target"][i])
            out["analysis_time"][i] = self.times[start + n_in - 1]
            out["corner"][i] = rows.start, cols.start
            out["index"][i] = index
            if self.dem is not None:
                out["dem"][i] = self.dem[..., rows, cols]
            if self.ir is not None:
                self.ir.window(start, n_in, rows, cols, out=out["ir"][i])
            if self.stats is not None:
                out["stats"][i] = self.stats[..., rows, cols]
        tensors["mask"] = _empty(tensors["target"].shape, torch.bool)
        np.isfinite(out["target"], out=tensors["mask"].numpy())
        return tensors

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        """One sample for a key, or a whole batch (stacked tensors) for a list of keys."""
        if isinstance(key, list):
            return self._batch(key)
        return {name: values[0] for name, values in self._batch([key]).items()}


class BlockShuffleSampler(Sampler):
    """Random order of the windows that finishes one read block before starting the next.

    Blocks are taken in a random order and the windows of each block in a random
    order; both depend on ``seed`` and the epoch (:meth:`set_epoch`, called by
    Lightning). Yields ``(window, draw)`` keys (see :class:`WindowDataset`).
    With one block (data in memory) this is a plain seeded shuffle.

    Parameters
    ----------
    block_ids : ndarray of int
        Block of every window (:meth:`WindowDataset.block_ids`).
    seed : int
        Base seed.
    crops_per_window : int
        Samples drawn from every window per epoch, each with its own random
        crop: more samples per block read when crops are much smaller than the
        frames (4 for 128² crops of 256² frames).
    """

    def __init__(self, block_ids: np.ndarray, seed: int = 0, crops_per_window: int = 1):
        if crops_per_window < 1:
            raise ValueError(f"crops_per_window must be >= 1, got {crops_per_window}")
        self.block_ids = np.asarray(block_ids)
        self.seed = int(seed)
        self.crops_per_window = int(crops_per_window)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.block_ids.size * self.crops_per_window

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = [rng.permutation(np.repeat(np.flatnonzero(self.block_ids == b), self.crops_per_window))
                 for b in rng.permutation(np.unique(self.block_ids))]
        first_draw = self.epoch * len(self)
        for position, window in enumerate(np.concatenate(order) if order else []):
            yield int(window), first_draw + position
