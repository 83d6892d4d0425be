"""Train / validation / test splits by blocks of time, with a gap between them.

Rain fields are strongly correlated from one 5-min frame to the next: a random
split of windows would put nearly identical samples on both sides and flatter
every score. The time axis is therefore cut into blocks (whole days by default)
and each block goes, whole, to one split. Frames closer than ``gap`` to the edge
of a block whose neighbour belongs to another split are left out of every split,
so that no window of one split ends right where a window of another begins.
A frame stamped ``t`` (the END of its interval, the averse convention) belongs to
the block ``(start, start + block]``: the frame stamped midnight closes the
previous day.

Blocks are aligned on ``origin`` (midnight UTC of the first frame by default),
so that the same frame always falls in the same block whatever the length of
the series, and they are dealt to the splits by a seeded permutation
(``order="random"``) or in time order (``order="chronological"``: train first,
test last). The assignment depends only on the time stamps, the parameters and
the seed: it is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SPLITS", "EXCLUDED", "TimeBlockSplit"]

#: Split names, in the order of :attr:`TimeBlockSplit.fractions`.
SPLITS = ("train", "val", "test")
#: Label of the frames that belong to no split (gaps at block edges).
EXCLUDED = -1


@dataclass(frozen=True)
class TimeBlockSplit:
    """How frames are dealt to train / val / test.

    Parameters
    ----------
    block : str or Timedelta
        Length of a block (``"1D"``: whole days; ``"6h"`` for short series).
    fractions : tuple of float
        Shares of the blocks for ``("train", "val", "test")``; normalised to sum 1.
        A zero share leaves that split empty.
    gap : str or Timedelta
        Frames closer than this to a boundary with a block of another split
        are excluded from every split.
    order : {"random", "chronological"}
        Seeded permutation of the blocks, or time order (train, then val, then test).
    seed : int
        Seed of the permutation.
    origin : str, Timestamp or None
        Where blocks start; default midnight (UTC) of the first frame.
    """

    block: str | pd.Timedelta = "1D"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    gap: str | pd.Timedelta = "1h"
    order: str = "random"
    seed: int = 0
    origin: str | pd.Timestamp | None = field(default=None)

    def __post_init__(self):
        object.__setattr__(self, "block", pd.Timedelta(self.block))
        object.__setattr__(self, "gap", pd.Timedelta(self.gap))
        fractions = tuple(float(f) for f in self.fractions)
        if len(fractions) != len(SPLITS) or min(fractions) < 0 or sum(fractions) <= 0:
            raise ValueError(f"fractions must be three non-negative shares, got {self.fractions}")
        object.__setattr__(self, "fractions", tuple(f / sum(fractions) for f in fractions))
        if self.block <= pd.Timedelta(0) or self.gap < pd.Timedelta(0):
            raise ValueError(f"block must be positive and gap non-negative, got {self.block}, {self.gap}")
        if self.order not in ("random", "chronological"):
            raise ValueError(f"order must be 'random' or 'chronological', got {self.order!r}")

    @classmethod
    def from_value(cls, value: TimeBlockSplit | Mapping | None) -> TimeBlockSplit:
        """A split from itself, a dict of its parameters (notebook / YAML) or None (defaults)."""
        if isinstance(value, cls):
            return value
        return cls(**dict(value or {}))

    def to_dict(self) -> dict:
        """Plain-type parameters (strings for times), the inverse of :meth:`from_value`."""
        return {
            "block": str(self.block),
            "fractions": list(self.fractions),
            "gap": str(self.gap),
            "order": self.order,
            "seed": int(self.seed),
            "origin": None if self.origin is None else str(pd.Timestamp(self.origin)),
        }

    def _block_split(self, n_blocks: int) -> np.ndarray:
        """Split index (0, 1, 2) of each of ``n_blocks`` consecutive blocks."""
        wanted = np.array(self.fractions) * n_blocks
        counts = np.floor(wanted).astype(int)
        # Largest remainders first, then make sure every split with a share gets a block.
        for i in np.argsort(-(wanted - counts), kind="stable")[: n_blocks - counts.sum()]:
            counts[i] += 1
        for i in np.flatnonzero((counts == 0) & (np.array(self.fractions) > 0)):
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] += 1
        labels = np.repeat(np.arange(len(SPLITS)), counts)
        if self.order == "random":
            labels = np.random.default_rng(self.seed).permutation(labels)
        return labels

    def labels(self, times) -> np.ndarray:
        """Split of every frame: 0 train, 1 val, 2 test, :data:`EXCLUDED` in a gap.

        Parameters
        ----------
        times : array_like of datetime64
            Frame time stamps (any order; gaps allowed).

        Returns
        -------
        ndarray of int8
            One label per frame.
        """
        index = pd.DatetimeIndex(np.asarray(times))
        if index.size == 0:
            return np.zeros(0, dtype=np.int8)
        origin = pd.Timestamp(self.origin) if self.origin is not None else index.min().normalize()
        # A frame stamped t (the END of its interval) lies in the block (start, start + block].
        offset = index - origin - pd.Timedelta(1, "ns")
        block = np.asarray(offset // self.block, dtype=np.int64)
        first = block.min()
        block_labels = self._block_split(int(block.max() - first) + 1)
        position = block - first
        labels = block_labels[position].astype(np.int8)

        since_start = offset - block * self.block + pd.Timedelta(1, "ns")
        last = block_labels.size - 1
        previous = np.where(position > 0, block_labels[np.maximum(position - 1, 0)], labels)
        following = np.where(position < last, block_labels[np.minimum(position + 1, last)], labels)
        near_start = (since_start <= self.gap) & (previous != labels)
        near_end = (self.block - since_start < self.gap) & (following != labels)
        labels[near_start | near_end] = EXCLUDED
        return labels
