"""Fast window reads from a lazy (zarr / dask) frame sequence.

Slicing one window per sample out of a zarr store decompresses every chunk the
window touches, again and again: about 110 windows/s here, 50/s through xarray.
A :class:`FrameStore` instead reads the frames

- **whole, once** (``block_steps=None``): the array is loaded into memory at
  construction; data loader workers forked afterwards share its pages;
- **by blocks of time steps** otherwise: a block of ``block_steps`` steps (plus
  the ``overlap`` steps a window starting at its end reaches into) is read at
  once, kept in a small least-recently-used cache, and every window that starts
  in it is cut from memory. :class:`averse.data.dataset.BlockShuffleSampler`
  visits the blocks one after another so each block is read about once per
  epoch per loader process.

Which mode fits is decided by :func:`plan_block_steps` from a memory budget.

A store serves "steps" (the radar frames) from "frames" of its own array through
``frame_of_step``: the identity for the radar, and "the latest image at or before
this radar frame" for a 15-min imager aligned on 5-min radar frames (-1 where
there is none).
"""

from __future__ import annotations

from collections import OrderedDict

import dask
import dask.array
import numpy as np
import xarray as xr

from averse.data.auxiliary import StatisticsAccumulator
from averse.data.windows import FrameSummary

__all__ = ["FrameStore", "plan_block_steps", "summarise"]


def _load(data: xr.DataArray, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of ``data`` as a float32 numpy array."""
    from torch.utils.data import get_worker_info

    part = data.isel({data.dims[0]: slice(start, stop)}).astype(np.float32)
    if not isinstance(part.data, dask.array.Array):
        return np.ascontiguousarray(part.values)
    # Chunks written straight into their place (no final concatenation); in a
    # loader worker, in the calling thread (no thread pool per worker).
    out = np.empty(part.shape, dtype=np.float32)
    scheduler = "synchronous" if get_worker_info() is not None else "threads"
    dask.array.store(part.data, out, lock=False, scheduler=scheduler)
    return out


class FrameStore:
    """Frames of one variable, read whole or by time blocks, cut into windows.

    Parameters
    ----------
    data : xr.DataArray
        Lazy or in-memory frames; the first dimension is the frame axis and the
        last two are ``(y, x)`` (e.g. ``(time, y, x)`` or ``(time, channel, y, x)``).
    frame_of_step : ndarray of int, optional
        Frame index of every step (-1: none); default the identity.
    block_steps : int, optional
        None: load everything now. Otherwise the steps per block.
    overlap : int
        Extra steps read after each block (window length - 1).
    cache_blocks : int
        Blocks kept in memory per process.
    """

    def __init__(self, data: xr.DataArray, *, frame_of_step: np.ndarray | None = None,
                 block_steps: int | None = None, overlap: int = 0, cache_blocks: int = 2):
        self.data = data
        n_frames = data.shape[0]
        self.identity = frame_of_step is None
        self.frame_of_step = (np.arange(n_frames, dtype=np.int64) if frame_of_step is None
                              else np.asarray(frame_of_step, dtype=np.int64))
        self.block_steps = block_steps
        self.overlap = overlap
        self.cache_blocks = cache_blocks
        self._cache: OrderedDict[int, tuple[int, np.ndarray]] = OrderedDict()
        self._memory = _load(data, 0, n_frames) if block_steps is None else None

    @property
    def in_memory(self) -> bool:
        """True when every frame is held in memory."""
        return self._memory is not None

    @property
    def n_steps(self) -> int:
        """Number of steps served."""
        return self.frame_of_step.size

    def block_of(self, steps: np.ndarray) -> np.ndarray:
        """Block of each step (all 0 in memory mode)."""
        steps = np.asarray(steps)
        return np.zeros_like(steps) if self.block_steps is None else steps // self.block_steps

    def __getstate__(self):
        # Loader workers start with an empty cache (the in-memory array is kept).
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state

    def _block(self, block: int) -> tuple[int, np.ndarray]:
        """``(first frame, frames)`` of a block, from the cache or read now."""
        if block in self._cache:
            self._cache.move_to_end(block)
            return self._cache[block]
        first_step = block * self.block_steps
        stop_step = min(first_step + self.block_steps + self.overlap, self.n_steps)
        frames = self.frame_of_step[first_step:stop_step]
        frames = frames[frames >= 0]
        first, stop = (int(frames.min()), int(frames.max()) + 1) if frames.size else (0, 0)
        self._cache[block] = (first, _load(self.data, first, stop))
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return self._cache[block]

    def _array_for(self, step: int) -> tuple[int, np.ndarray]:
        """``(first frame, frames)`` holding the windows that start at ``step``."""
        if self._memory is not None:
            return 0, self._memory
        return self._block(step // self.block_steps)

    def view(self, start: int, n: int, rows: slice, cols: slice, *, skip: int = 0) -> np.ndarray:
        """Steps ``start + skip ... start + skip + n - 1`` cropped to ``rows``, ``cols``.

        ``start`` is the first step of the window: its block serves every step of
        the window (``skip`` moves to the window's later frames, e.g. the targets).
        A view of the frames for identity stores, a copy otherwise.
        """
        first, array = self._array_for(start)
        step = start + skip
        if self.identity:
            return array[step - first:step - first + n, ..., rows, cols]
        return array[self.frame_of_step[step:step + n] - first, ..., rows, cols]

    def window(self, start: int, n: int, rows: slice, cols: slice, *, skip: int = 0,
               out: np.ndarray | None = None) -> np.ndarray:
        """Like :meth:`view` but always a copy, written into ``out`` when given.

        Returns
        -------
        ndarray of float32
            Shape ``(n, ..., h, w)``.
        """
        first, array = self._array_for(start)
        step = start + skip
        if self.identity:
            frames = array[step - first:step - first + n, ..., rows, cols]
            if out is None:
                return frames.copy()
            out[...] = frames
            return out
        index = self.frame_of_step[step:step + n] - first
        if out is None:
            out = np.empty((n, *array.shape[1:-2], rows.stop - rows.start, cols.stop - cols.start), array.dtype)
        for k, frame in enumerate(index):  # a slice copy per step: far faster than np.take on a crop view
            out[k] = array[frame, ..., rows, cols]
        return out

    def iter_frames(self, frames_per_read: int):
        """Yield ``(first frame, frames)`` over the whole array, ``frames_per_read`` at a time."""
        n_frames = self.data.shape[0]
        for start in range(0, n_frames, frames_per_read):
            stop = min(start + frames_per_read, n_frames)
            if self._memory is not None:
                yield start, self._memory[start:stop]
            else:
                yield start, _load(self.data, start, stop)


def plan_block_steps(bytes_per_step: int, total_bytes: int, budget: int, window: int,
                     chunk: int | None = None) -> int | None:
    """Steps per block for a memory budget, or None when everything fits in it.

    Parameters
    ----------
    bytes_per_step : int
        Memory of one step of every store read together.
    total_bytes : int
        Memory of all of them.
    budget : int
        Bytes allowed per process.
    window : int
        Window length: a block holds at least four windows.
    chunk : int, optional
        Time chunk of the store: blocks are made a multiple of it when possible.

    Returns
    -------
    int or None
    """
    if total_bytes <= budget:
        return None
    steps = max(budget // (2 * max(bytes_per_step, 1)) - window, 4 * window)  # two cached blocks
    if chunk and steps >= chunk:
        steps -= steps % chunk
    return int(steps)


def summarise(store: FrameStore, rain_threshold: float, *, statistics: StatisticsAccumulator | None = None,
              include: np.ndarray | None = None, frames_per_read: int = 256) -> FrameSummary:
    """One pass over the frames of an identity store: per-frame fractions and coverage.

    Parameters
    ----------
    store : FrameStore
        Rain rates, ``(time, y, x)``.
    rain_threshold : float
        Rate (mm/h) at or above which a pixel is rainy.
    statistics : StatisticsAccumulator, optional
        Fed with the frames where ``include`` is True (the training frames).
    include : ndarray of bool, optional
        Frames given to ``statistics``.
    frames_per_read : int
        Frames read at once (bounds the memory of the pass).

    Returns
    -------
    FrameSummary
    """
    n_frames = store.data.shape[0]
    valid_fraction = np.zeros(n_frames)
    rain_fraction = np.zeros(n_frames)
    covered = np.zeros(store.data.shape[-2:], dtype=bool)
    for start, frames in store.iter_frames(frames_per_read):
        finite = np.isfinite(frames)
        n_valid = finite.sum(axis=(1, 2))
        stop = start + frames.shape[0]
        valid_fraction[start:stop] = n_valid / float(finite[0].size)
        with np.errstate(invalid="ignore"):
            rain_fraction[start:stop] = (frames >= rain_threshold).sum(axis=(1, 2)) / np.maximum(n_valid, 1)
        covered |= finite.any(axis=0)
        if statistics is not None and include is not None and include[start:stop].any():
            statistics.add(frames[include[start:stop]])
    return FrameSummary(valid_fraction, rain_fraction, covered)
