"""The hidden cloud weather that every satellite sensor of the twin shares.

The truth holds the rain and its convective share, not the clouds. The clouds
are derived here, the same way for every sensor, so that an infrared imager
and a microwave radiometer disagree only through their physics:

- **rain-cloud top** — stratiform rain falls from nimbostratus with tops at
  4.5–8.5 km (a drifting "depth" texture), convective rain from towers of
  8–14 km growing with the convective rate (overshooting the 11.5-km
  tropopause in the strongest cells); in a drifting 30 % of the area light,
  non-convective rain is *warm*: shallow clouds topped at 2–3.5 km with no ice;
- **ice aloft** — convective rain carries graupel and ice, stratiform rain a
  little snow aloft, warm rain none: the driver of microwave ice scattering;
- **cirrus** — non-raining thin ice clouds at 9–11 km over ~15 % of the area,
  drifting with the upper-level wind (1.6 × the steering wind);
- **humidity** — upper-troposphere humidity (6.2 µm) and column water vapour
  (microwave), smooth drifting fields.

Fields come from :class:`~averse.twin.sensors._texture.MovingTexture`, evaluated
on any grid at any time, so SEVIRI at 3 km and a radiometer at 1 km see the same
cirrus over the same warm rain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from averse.twin.sensors._texture import MovingTexture, coverage_threshold, smooth_step

__all__ = ["CloudWeather", "CLOUD_STREAM", "RAIN_THRESHOLD"]

CLOUD_STREAM = 24
RAIN_THRESHOLD = 0.1  # mm/h: below it a pixel does not rain
_EPOCH = pd.Timestamp("2000-01-01")
_WARM_RAIN_AREA = 0.30
_CIRRUS_AREA = 0.15
_UPPER_WIND_FACTOR = 1.6
_HOUR = 3600.0


class CloudWeather:
    """Hidden clouds of a region, consistent across sensors.

    Parameters
    ----------
    region : averse.twin.regions.Region
        The box (its mean wind drives the textures).
    seed : int
        Seed of the world.
    """

    def __init__(self, region, seed: int):
        rng = np.random.default_rng([int(seed), CLOUD_STREAM])
        u, v = region.climate.mean_wind
        upper = (_UPPER_WIND_FACTOR * u, _UPPER_WIND_FACTOR * v)
        self.upper_wind = upper
        self._warm = MovingTexture(rng, 35e3, (u, v), 6 * _HOUR)
        self._depth = MovingTexture(rng, 60e3, (u, v), 8 * _HOUR)
        self._cirrus = MovingTexture(rng, 90e3, upper, 12 * _HOUR)
        self._cirrus_detail = MovingTexture(rng, 20e3, upper, 3 * _HOUR)
        self._humidity = MovingTexture(rng, 150e3, upper, 18 * _HOUR)
        self._vapour = MovingTexture(rng, 120e3, (u, v), 12 * _HOUR)

    @staticmethod
    def seconds(time) -> float:
        """Seconds since the textures' fixed epoch (independent of the world's start)."""
        return (pd.Timestamp(time) - _EPOCH).total_seconds()

    def rain_cloud(self, x, y, time, rain, convective_rain) -> tuple[np.ndarray, np.ndarray]:
        """Top height of the cloud that makes the rain, and its warm-rain share.

        Parameters
        ----------
        x, y : ndarray
            1-D grid coordinates (m) of the fields.
        time : datetime-like
            Time of the fields.
        rain, convective_rain : ndarray
            Rain rate and its convective part (mm/h), shape ``(y.size, x.size)``.

        Returns
        -------
        height_km : ndarray
            Cloud-top height above sea level (km); 0 where it does not rain.
        warm : ndarray
            0..1, share of shallow warm rain (no ice, warm top).
        """
        t = self.seconds(time)
        rain = np.asarray(rain, dtype="float32")
        convective = np.clip(np.asarray(convective_rain, dtype="float32"), 0.0, rain)
        stratiform = rain - convective
        share = np.where(rain > 0, convective / np.maximum(rain, 1e-6), 0.0)
        depth = ndtr(self._depth(x, y, t))
        warm = smooth_step(self._warm(x, y, t), coverage_threshold(_WARM_RAIN_AREA), 0.15)
        warm = warm * np.clip(1.0 - share / 0.3, 0.0, 1.0) * np.exp(-stratiform / 4.0)
        h_stratiform = 4.5 + 3.0 * depth + 0.8 * np.log1p(stratiform) / np.log(11.0)
        h_convective = 8.0 + 6.0 * (1.0 - np.exp(-convective / 5.0))
        h_cold = np.where(convective > 0.05, np.maximum(h_stratiform, h_convective), h_stratiform)
        height = warm * (2.0 + 1.5 * depth) + (1.0 - warm) * h_cold
        raining = rain >= RAIN_THRESHOLD
        return np.where(raining, height, 0.0).astype("float32"), np.where(raining, warm, 0.0).astype("float32")

    @staticmethod
    def ice_aloft(rain, convective_rain, warm) -> np.ndarray:
        """Ice and graupel above the rain (mm/h equivalent), the microwave scatterer."""
        convective = np.clip(convective_rain, 0.0, rain)
        return ((convective + 0.25 * (rain - convective)) * (1.0 - warm)).astype("float32")

    def cirrus(self, x, y, time) -> tuple[np.ndarray, np.ndarray]:
        """Visible optical depth and height (km) of non-raining cirrus."""
        t = self.seconds(time)
        cover = smooth_step(self._cirrus(x, y, t), coverage_threshold(_CIRRUS_AREA), 0.35)
        detail = ndtr(self._cirrus_detail(x, y, t))
        optical_depth = 2.5 * cover * (0.25 + 0.75 * detail)
        return optical_depth.astype("float32"), (9.0 + 2.0 * detail).astype("float32")

    def upper_humidity(self, x, y, time) -> np.ndarray:
        """Upper-troposphere relative humidity index, 0 (dry) .. 1 (moist)."""
        return ndtr(self._humidity(x, y, self.seconds(time))).astype("float32")

    def water_vapour(self, x, y, time) -> np.ndarray:
        """Column water-vapour index, 0 (dry) .. 1 (moist)."""
        return ndtr(self._vapour(x, y, self.seconds(time))).astype("float32")
