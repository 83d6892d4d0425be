"""Auxiliary inputs of the nowcasting ablation: terrain, infrared, rain climatology.

All three are put on the radar grid and scaled to O(1) numbers here, so that a
sample is network-ready except for the rain fields themselves (left in mm/h for
the task's rain transform, see :mod:`averse.data`):

- **DEM** (``/static/dem``, metres): divided by a fixed ``scale`` (1000 m: the
  values are kilometres). A fixed physical scale, not the domain's mean and
  spread, keeps the meaning of the channel the same from one region to another.
  Missing heights (sea in some products) become 0.
- **Infrared** (``/seviri`` brightness temperatures, K, every 15 min on a
  coarser grid): each radar frame takes the latest image stamped at or before
  its own time, no older than ``max_age`` ("nearest previous": causal, no image
  from the future of the analysis time), regridded to the radar grid with the
  area-weighted regridder of :mod:`averse.grid` (from a coarser grid it copies
  each coarse cell onto the fine cells it contains; fine cells straddling two
  coarse cells get the area-weighted mean). Scaled as ``(T - loc) / scale``
  with loc 250 K and scale 25 K.
- **Statistics** of the training period, per pixel (:data:`STATISTICS`), summed
  over the frames of the training split only, never the validation or test frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from averse.grid import ConservativeRegridder, RegularGrid

__all__ = [
    "STATISTICS",
    "StatisticsAccumulator",
    "on_grid",
    "dem_channel",
    "ir_frame_index",
    "ir_channels_on_grid",
]

#: Per-pixel statistics of the training frames, by name: what each channel holds.
STATISTICS = {
    "mean_rate": "log1p of the mean rain rate over the valid frames (log1p of mm/h)",
    "wet_fraction": "share of the valid frames at or above the wet threshold (rain_threshold, 0.1 mm/h)",
    "wet_mean_rate": "log1p of the mean rate over the wet frames (log1p of mm/h)",
    "heavy_fraction": "share of the valid frames at or above the heavy threshold (5 mm/h)",
}


class StatisticsAccumulator:
    """Running per-pixel sums over rain frames, turned into :data:`STATISTICS`.

    Parameters
    ----------
    shape : (int, int)
        Frame shape ``(H, W)``.
    wet_threshold, heavy_threshold : float
        Rates (mm/h) at or above which a pixel is wet / heavy.
    """

    def __init__(self, shape: tuple[int, int], wet_threshold: float = 0.1, heavy_threshold: float = 5.0):
        self.wet_threshold = wet_threshold
        self.heavy_threshold = heavy_threshold
        self.frames = 0
        self._sums = {name: np.zeros(shape, dtype=np.float64)
                      for name in ("valid", "rate", "wet", "wet_rate", "heavy")}

    def add(self, rates: np.ndarray) -> None:
        """Add frames ``(n, H, W)`` of rain rates (mm/h, NaN missing)."""
        valid = np.isfinite(rates)
        values = np.where(valid, rates, 0.0)
        wet = values >= self.wet_threshold
        self.frames += rates.shape[0]
        self._sums["valid"] += valid.sum(axis=0)
        self._sums["rate"] += values.sum(axis=0)
        self._sums["wet"] += wet.sum(axis=0)
        self._sums["wet_rate"] += np.where(wet, values, 0.0).sum(axis=0)
        self._sums["heavy"] += (values >= self.heavy_threshold).sum(axis=0)

    def result(self, names) -> np.ndarray:
        """The statistics ``names`` as a ``(K, H, W)`` float32 array (0 where never observed).

        Raises
        ------
        ValueError
            For a name not in :data:`STATISTICS`.
        """
        unknown = [n for n in names if n not in STATISTICS]
        if unknown:
            raise ValueError(f"unknown statistics {unknown}; available: {', '.join(STATISTICS)}")
        sums = self._sums
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "mean_rate": np.log1p(sums["rate"] / sums["valid"]),
                "wet_fraction": sums["wet"] / sums["valid"],
                "wet_mean_rate": np.log1p(sums["wet_rate"] / sums["wet"]),
                "heavy_fraction": sums["heavy"] / sums["valid"],
            }
        shape = sums["valid"].shape
        stacked = np.stack([values[n] for n in names]) if names else np.zeros((0, *shape))
        return np.nan_to_num(stacked, nan=0.0).astype(np.float32)


def on_grid(da: xr.DataArray, target: xr.DataArray) -> xr.DataArray:
    """``da`` on the ``(y, x)`` grid of ``target``: unchanged if already there, else regridded.

    Regridding is area-weighted (:class:`averse.grid.ConservativeRegridder`);
    both objects must carry their grid (``x``, ``y``, ``spatial_ref``).
    """
    same = (
        da.sizes.get("y") == target.sizes["y"]
        and da.sizes.get("x") == target.sizes["x"]
        and np.allclose(da["y"].values, target["y"].values)
        and np.allclose(da["x"].values, target["x"].values)
    )
    if same:
        return da
    regridder = ConservativeRegridder(RegularGrid.from_dataset(da), RegularGrid.from_dataset(target))
    return regridder.regrid(da)


def dem_channel(dem: xr.DataArray, target: xr.DataArray, scale: float = 1000.0) -> np.ndarray:
    """The terrain height on the radar grid as a ``(1, H, W)`` float32 channel, ``dem / scale``."""
    values = on_grid(dem, target).transpose("y", "x").values / scale
    return np.nan_to_num(values, nan=0.0).astype(np.float32)[None]


def ir_frame_index(radar_times, ir_times, max_age="15min") -> np.ndarray:
    """For each radar frame, the index of the latest IR image at or before it (-1: none).

    Parameters
    ----------
    radar_times, ir_times : array_like of datetime64
        Increasing time stamps.
    max_age : str or Timedelta
        Oldest acceptable image relative to the radar frame.

    Returns
    -------
    ndarray of int64
    """
    radar = np.asarray(radar_times, dtype="datetime64[ns]")
    images = np.asarray(ir_times, dtype="datetime64[ns]")
    index = np.searchsorted(images, radar, side="right") - 1
    age = radar - images[np.maximum(index, 0)] if images.size else np.zeros(radar.size, "m8[ns]")
    index[(index < 0) | (age > pd.Timedelta(max_age).to_timedelta64())] = -1
    return index.astype(np.int64)


def ir_channels_on_grid(seviri: xr.Dataset, channels, target: xr.DataArray,
                        loc: float = 250.0, scale: float = 25.0) -> xr.DataArray:
    """Infrared channels on the radar grid, ``(time, channel, y, x)`` float32, scaled; lazy.

    Raises
    ------
    KeyError
        If a channel is not a variable of ``seviri``; the message lists those present.
    """
    missing = [c for c in channels if c not in seviri.data_vars]
    if missing:
        raise KeyError(f"infrared channels {missing} not in the imager data; present: {list(seviri.data_vars)}")
    regridded = [on_grid(seviri[c], target).transpose("time", "y", "x") for c in channels]
    stacked = xr.concat(regridded, dim=pd.Index(list(channels), name="channel"), coords="minimal",
                        compat="override", join="override")
    return ((stacked - loc) / scale).astype(np.float32).transpose("time", "channel", "y", "x")
