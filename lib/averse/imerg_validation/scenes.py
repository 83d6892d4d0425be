"""Scenes: square patches of consecutive half hours cut from ``(time, y, x)`` rain fields.

A scene is ``seq_len`` half-hour maps of ``patch × patch`` cells at the same
place, each ``interval`` (30 min) after the previous one — what the
Topographic VAE of :mod:`averse.imerg_validation.latent` encodes. Scenes are
cut from the half-hour fields of the colocation (radar and IMERG on IMERG's
cells) or from the sliding half-hour means of the radar (one every 5 min,
for training). :class:`Scenes` keeps where every scene comes from (time
indices, row and column of its corner), so any other field on the same axes
(IMERG's quality flags, the strata of :mod:`~.validation`) can be cut the
same way with :meth:`Scenes.cut`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

__all__ = ["Scenes", "scene_index", "cut_scenes", "time_folds"]


@dataclass
class Scenes:
    """Patches of consecutive half hours and where they come from.

    Attributes
    ----------
    x : torch.Tensor
        ``(N, T, C, P, P)`` float32, mm/h, NaN where missing.
    time_index : ndarray of int
        ``(N, T)`` index of every step in ``times``.
    row, col : ndarray of int
        ``(N,)`` index of the scene's first row and column in the source grid.
    times : ndarray of datetime64
        Time axis of the source fields (END of each half hour, UTC).
    """

    x: torch.Tensor
    time_index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def patch(self) -> int:
        """Side of the scenes in cells."""
        return int(self.x.shape[-1])

    @property
    def time(self) -> np.ndarray:
        """``(N, T)`` END stamps of every step."""
        return np.asarray(self.times)[self.time_index]

    def cut(self, field: np.ndarray) -> np.ndarray:
        """Cut another ``(time, y, x)`` field on the same axes like the scenes: ``(N, T, P, P)``."""
        field = np.asarray(field)
        offsets = np.arange(self.patch)
        rows = (self.row[:, None] + offsets)[:, None, :, None]
        cols = (self.col[:, None] + offsets)[:, None, None, :]
        return field[self.time_index[:, :, None, None], rows, cols]

    def subset(self, index) -> "Scenes":
        """The scenes selected by ``index`` (boolean mask or integer indices)."""
        index = np.asarray(index)
        picked = torch.as_tensor(np.flatnonzero(index) if index.dtype == bool else index)
        return Scenes(self.x[picked], self.time_index[picked.numpy()], self.row[picked.numpy()],
                      self.col[picked.numpy()], self.times)


def scene_index(times, shape: tuple[int, int], patch: int, seq_len: int, interval="30min", space_stride: int = 4,
                time_stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the scenes are: every complete sequence of ``seq_len`` steps ``interval`` apart, at every corner.

    Parameters
    ----------
    times : array_like of datetime64
        Time axis of the fields (increasing; gaps allowed: sequences never span one).
    shape : (int, int)
        ``(ny, nx)`` of the fields.
    patch, seq_len : int
        Scene side (cells) and number of steps.
    interval : str or Timedelta
        Time between consecutive steps of a scene.
    space_stride, time_stride : int
        Spacing of the corners in cells, and of the first steps in time indices.

    Returns
    -------
    (time_index, row, col)
        ``(N, T)``, ``(N,)``, ``(N,)``.
    """
    index = pd.DatetimeIndex(np.asarray(times))
    if shape[0] < patch or shape[1] < patch:
        raise ValueError(f"fields of {shape} cells are smaller than a {patch}-cell scene")
    starts = index[::time_stride]
    steps = np.stack([index.get_indexer(starts + k * pd.Timedelta(interval)) for k in range(seq_len)], axis=1)
    steps = steps[(steps >= 0).all(axis=1)]
    rows = np.arange(0, shape[0] - patch + 1, space_stride)
    cols = np.arange(0, shape[1] - patch + 1, space_stride)
    corner_r, corner_c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    time_index = np.repeat(steps, corner_r.size, axis=0)
    return time_index, np.tile(corner_r, len(steps)), np.tile(corner_c, len(steps))


def cut_scenes(fields, times, patch: int = 16, seq_len: int = 4, interval="30min", space_stride: int = 4,
               time_stride: int = 1, max_missing: float = 0.25) -> Scenes:
    """Cut scenes from one or several aligned ``(time, y, x)`` fields (the channels).

    Parameters
    ----------
    fields : ndarray or sequence of ndarray
        ``(time, y, x)`` rain rates (mm/h), NaN where missing; several fields
        become channels of the same scenes.
    times : array_like of datetime64
        Their time axis.
    patch, seq_len, interval, space_stride, time_stride
        See :func:`scene_index`.
    max_missing : float
        Scenes with a larger fraction of NaN values (over all channels and
        steps) are dropped.

    Returns
    -------
    Scenes
    """
    fields = [np.asarray(f, dtype="float32") for f in ([fields] if isinstance(fields, np.ndarray) else fields)]
    shape = fields[0].shape
    if any(f.shape != shape for f in fields):
        raise ValueError(f"fields differ in shape: {[f.shape for f in fields]}")
    time_index, row, col = scene_index(times, shape[1:], patch, seq_len, interval, space_stride, time_stride)
    empty = Scenes(torch.zeros(0, seq_len, len(fields), patch, patch), time_index, row, col, np.asarray(times))
    if len(time_index) == 0:
        return empty
    stacked = np.stack([empty.cut(f) for f in fields], axis=2)  # (N, T, C, P, P)
    missing = np.isnan(stacked).reshape(len(stacked), -1).mean(axis=1)
    keep = missing <= max_missing
    return Scenes(torch.from_numpy(np.ascontiguousarray(stacked[keep])), time_index[keep], row[keep], col[keep],
                  np.asarray(times))


def time_folds(scenes: Scenes, n_folds: int, block: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-fitting folds over time blocks, with no half hour shared between training and evaluation.

    Half hour ``i`` of the source axis belongs to block ``i // block`` and to
    fold ``block % n_folds``. A scene is evaluated in the fold of its first
    step, and trained on in fold ``k`` only when none of its steps is in fold ``k``.

    Parameters
    ----------
    scenes : Scenes
    n_folds : int
        At least 2.
    block : int
        Half hours per block (at least the scene length, so a scene touches two blocks at most).

    Returns
    -------
    list of (train, evaluate)
        Boolean masks over the scenes, one pair per fold.
    """
    if n_folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    fold = (scenes.time_index // block) % n_folds
    return [((fold != k).all(axis=1), fold[:, 0] == k) for k in range(n_folds)]
