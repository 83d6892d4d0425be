"""Large-scale drivers of the twin weather: steering wind, rainy spells, diurnal cycle.

Each driver is a smooth, deterministic function of time drawn once from the
seed — a sum of random sinusoids, as in kinematic simulations of turbulence —
so any time can be evaluated without carrying state from the previous block.

Wind. The domain-mean steering wind ``U(t)`` wanders around the region's mean
wind over one to four days. On top of it a non-divergent displacement field
``D(x, t)`` made of a few large waves (300–1200 km) oscillating over hours
deforms the rain pattern. The rain seen at ``x`` is the pattern advected by
``U`` and then displaced by ``D``, so the velocity at which it moves is
``(I - ∇D)^-1 (U + ∂D/∂t)``; :meth:`WindModel.fields` returns exactly that
velocity, so the stored ``u``/``v`` are the true motion of the rain.

Rainy spells. A slow random signal (periods 30–120 h) sets the region's
"wetness" in 0..1; below a threshold chosen from ``Climate.dry_fraction`` the
region is dry.

Diurnal cycle. Convection over land peaks in the afternoon (local solar time,
``Climate.diurnal_peak_hour``) and nearly vanishes at night; over sea the cycle
is weak and peaks in the early morning.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from scipy.special import ndtri

from averse.twin.regions import Region

__all__ = ["WindModel", "RainRegime", "diurnal_factor", "WIND_STREAM", "REGIME_STREAM"]

WIND_STREAM = 2
REGIME_STREAM = 3

_HOUR = 3600.0
_COARSE_SPACING = 8000.0  # the wind is evaluated on an ~8 km grid, then interpolated
_N_WAVES = 4


def _log_uniform(rng: np.random.Generator, low: float, high: float, size) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


class WindModel:
    """Steering wind of a region: a wandering mean plus smooth large-scale waves.

    Parameters
    ----------
    region : Region
        The box; ``climate.mean_wind``, ``wind_variability`` and
        ``wind_perturbation`` set the wind.
    seed : int
        Seed of the world.
    """

    def __init__(self, region: Region, seed: int):
        rng = np.random.default_rng([seed, WIND_STREAM])
        climate = region.climate
        self.dx = region.dx
        self.mean = np.asarray(climate.mean_wind, dtype="float64")

        # domain-mean wind: 3 sinusoids per component, periods of one to four days
        self._mean_omega = 2 * np.pi / _log_uniform(rng, 18 * _HOUR, 96 * _HOUR, (2, 3))
        self._mean_phase = rng.uniform(0, 2 * np.pi, (2, 3))
        weights = rng.uniform(0.3, 1.0, (2, 3))
        self._mean_amp = weights * climate.wind_variability / np.sqrt((weights**2).sum(axis=1, keepdims=True) / 2)

        # perturbation waves: wavevector k (cycles/m), displacement along e ⟂ k (non-divergent)
        wavelength = _log_uniform(rng, 300e3, 1200e3, _N_WAVES)
        direction = rng.uniform(0, 2 * np.pi, _N_WAVES)
        self._k = np.stack([np.cos(direction), np.sin(direction)], axis=1) / wavelength[:, None]
        self._e = np.stack([-np.sin(direction), np.cos(direction)], axis=1)
        offset = rng.uniform(0, 2 * np.pi, _N_WAVES)
        self._wave_omega = 2 * np.pi / _log_uniform(rng, 8 * _HOUR, 36 * _HOUR, (_N_WAVES, 2))
        self._wave_phase = rng.uniform(0, 2 * np.pi, (_N_WAVES, 2))
        speed = rng.uniform(0.3, 1.0, (_N_WAVES, 2))
        self._wave_speed = speed * climate.wind_perturbation / np.sqrt((speed**2).sum() / 8)

        # coarse evaluation grid covering the box, and the maps that interpolate it to full resolution
        factor = max(1, int(round(_COARSE_SPACING / region.dx)))
        xc = region.x[0] + region.dx * factor * np.arange((region.nx - 1) // factor + 2)
        yc = region.y[0] + region.dx * factor * np.arange((region.ny - 1) // factor + 2)
        phase = (
            2 * np.pi * (self._k[:, 0, None, None] * xc[None, None, :] + self._k[:, 1, None, None] * yc[None, :, None])
        )
        phase += offset[:, None, None]
        self._cos = np.cos(phase)
        self._sin = np.sin(phase)
        map_x, map_y = np.meshgrid(np.arange(region.nx) / factor, np.arange(region.ny) / factor)
        self._map_x = map_x.astype("float32")
        self._map_y = map_y.astype("float32")

    def mean_wind(self, t: float) -> np.ndarray:
        """Domain-mean steering wind (u, v) in m/s at ``t`` seconds after the start."""
        return self.mean + (self._mean_amp * np.cos(self._mean_omega * t + self._mean_phase)).sum(axis=1)

    def mean_displacement(self, t: float) -> np.ndarray:
        """Distance (x, y) in metres travelled with the mean wind from 0 to ``t`` seconds."""
        waves = (
            self._mean_amp
            / self._mean_omega
            * (np.sin(self._mean_omega * t + self._mean_phase) - np.sin(self._mean_phase))
        )
        return self.mean * t + waves.sum(axis=1)

    def fields(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Deformation and velocity on the full grid at ``t`` seconds.

        Returns
        -------
        shift_x, shift_y : ndarray, float32 (ny, nx)
            Displacement ``D`` of the rain pattern, in grid cells.
        u, v : ndarray, float32 (ny, nx)
            Velocity of the rain pattern (m/s), eastward and northward.
        """
        arg = self._wave_omega * t + self._wave_phase
        amplitude = (self._wave_speed / self._wave_omega * np.sin(arg)).sum(axis=1)  # m, per wave
        rate = (self._wave_speed * np.cos(arg)).sum(axis=1)  # m/s, per wave
        disp = np.einsum("m,mc,myx->cyx", amplitude, self._e, self._cos)
        ddt = np.einsum("m,mc,myx->cyx", rate, self._e, self._cos)
        # Jacobian J[i, j] = dD_i / dx_j
        jac = np.einsum("m,mi,mj,myx->ijyx", -2 * np.pi * amplitude, self._e, self._k, self._sin)
        drift = self.mean_wind(t)[:, None, None] + ddt
        det = (1 - jac[0, 0]) * (1 - jac[1, 1]) - jac[0, 1] * jac[1, 0]
        u = ((1 - jac[1, 1]) * drift[0] + jac[0, 1] * drift[1]) / det
        v = (jac[1, 0] * drift[0] + (1 - jac[0, 0]) * drift[1]) / det
        coarse = np.stack([disp[0] / self.dx, disp[1] / self.dx, u, v], axis=-1).astype("float32")
        full = cv2.remap(coarse, self._map_x, self._map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return tuple(np.ascontiguousarray(full[..., i]) for i in range(4))


class RainRegime:
    """Slowly varying wetness of a region, 0 in dry spells, up to 1 in wet ones.

    Parameters
    ----------
    region : Region
        ``climate.dry_fraction`` sets how often the region is dry.
    seed : int
        Seed of the world.
    """

    def __init__(self, region: Region, seed: int):
        rng = np.random.default_rng([seed, REGIME_STREAM])
        self._omega = 2 * np.pi / _log_uniform(rng, 30 * _HOUR, 120 * _HOUR, 3)
        self._phase = rng.uniform(0, 2 * np.pi, 3)
        weights = rng.uniform(0.4, 1.0, 3)
        self._amp = weights / np.sqrt((weights**2).sum() / 2)
        self._dry_level = float(ndtri(np.clip(region.climate.dry_fraction, 1e-3, 0.999)))

    def wetness(self, t: float) -> float:
        """Wetness in 0..1 at ``t`` seconds after the start (0: dry spell)."""
        signal = float((self._amp * np.sin(self._omega * t + self._phase)).sum())
        ramp = np.clip((signal - self._dry_level) / 1.8, 0.0, 1.0)
        return float(ramp * ramp * (3 - 2 * ramp))


def diurnal_factor(
    time: pd.Timestamp, lon: np.ndarray, amplitude: float, peak_hour: float
) -> tuple[np.ndarray, np.ndarray]:
    """Relative strength of convection (mean 1 over a day) at a UTC time.

    Parameters
    ----------
    time : Timestamp
        UTC time.
    lon : ndarray (nx,)
        Longitude of each column (degrees east), for the local solar time.
    amplitude : float
        Relative amplitude over land (1: no convection at night).
    peak_hour : float
        Local solar hour of the maximum over land.

    Returns
    -------
    over_land, over_sea : ndarray (nx,)
        Factor of each column over land and over sea.
    """
    utc_hours = time.hour + time.minute / 60.0 + time.second / 3600.0
    solar = (utc_hours + lon / 15.0) % 24.0
    over_land = 1.0 + amplitude * np.cos(2 * np.pi * (solar - peak_hour) / 24.0)
    over_sea = 1.0 + 0.2 * amplitude * np.cos(2 * np.pi * (solar - 6.0) / 24.0)
    return over_land, over_sea
