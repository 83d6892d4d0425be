"""Torch datasets and data modules of nowcasting windows, read fast from zarr.

>>> from averse.data import NowcastDataModule
>>> dm = NowcastDataModule("twin", source_kwargs={"days": 2}, n_in=6, n_out=12, crop=128,
...                        split={"block": "6h"}, dem=True, stats=("mean_rate",))
>>> dm.setup()
>>> batch = next(iter(dm.train_dataloader()))   # dict of tensors, see averse.data.dataset

Where things happen:

- :mod:`~averse.data.splits` — train / val / test by blocks of time with gaps;
- :mod:`~averse.data.windows` — which windows are usable (consecutive time steps,
  no missing frame, one split, rainy enough) and where crops may go;
- :mod:`~averse.data.frames` — reading frames whole or by time blocks, so that a
  window costs a memory copy, not a zarr read;
- :mod:`~averse.data.auxiliary` — DEM, infrared and training statistics on the radar grid;
- :mod:`~averse.data.dataset` — the samples and the block-wise shuffling sampler;
- :mod:`~averse.data.datamodule` — the Lightning data module tying them together.

Rain transform: samples hold rain rates in mm/h with NaN where the radar saw
nothing. The rain transform (:mod:`averse.models.transforms`) is applied by the
training task (:class:`averse.train.RegressionTask`) on the whole batch, on the
training device: once per batch instead of once per sample in a loader process,
and the same model checkpoint knows its transform. The task fills NaN inputs with
the transformed value of no rain and leaves NaN targets out of the loss
(``mask``). Auxiliary inputs (DEM, infrared, statistics) are scaled here.
"""

from averse.data.auxiliary import STATISTICS
from averse.data.datamodule import NowcastDataModule
from averse.data.dataset import BlockShuffleSampler, WindowDataset
from averse.data.frames import FrameStore
from averse.data.splits import SPLITS, TimeBlockSplit
from averse.data.windows import WindowSpec

__all__ = [
    "NowcastDataModule",
    "WindowDataset",
    "BlockShuffleSampler",
    "FrameStore",
    "TimeBlockSplit",
    "WindowSpec",
    "SPLITS",
    "STATISTICS",
]
