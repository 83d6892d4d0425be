"""Smooth random fields that drift and evolve, evaluable anywhere at any time.

The sensors need hidden "weather" that the truth does not carry — where the
shallow warm rain is, how deep the stratiform cloud is, where non-raining
cirrus floats, how moist the upper troposphere is — and every sensor must see
the *same* hidden weather (SEVIRI at 3 km every 15 min, a microwave imager at
1 km at its overpass time). A :class:`MovingTexture` is a sum of random plane
waves,

    f(x, y, t) = sqrt(2 / n) sum_k cos(k_k · (r - U t) + w_k t + phi_k),

with wavelengths spread around ``scale_m``, advected by the velocity ``U`` and
evolving with random frequencies ``w_k`` (period around ``period_s``). It has
zero mean and unit variance, is close to Gaussian (many modes), and is
evaluated with two small real matrix products (separable in x and y) on a grid
of at most ``scale_m / 12`` spacing, then linearly interpolated: a 1500 × 1500
field costs a few tens of milliseconds.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["MovingTexture", "coverage_threshold", "smooth_step"]

_MAX_POINTS = 512


class MovingTexture:
    """A drifting, evolving, unit-variance random field.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random modes (seed it for reproducibility).
    scale_m : float
        Typical size of the structures (m): wavelengths are drawn log-uniformly
        between ``scale_m / 2`` and ``2 * scale_m``.
    velocity : tuple of float
        Drift (u, v) in m/s.
    period_s : float or None
        Typical evolution period (s); None for a frozen pattern.
    n_modes : int
        Number of plane waves.
    """

    def __init__(self, rng, scale_m: float, velocity=(0.0, 0.0), period_s: float | None = None, n_modes: int = 64):
        wavelength = scale_m * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n_modes))
        direction = rng.uniform(0.0, 2.0 * np.pi, n_modes)
        k = 2.0 * np.pi / wavelength
        self.kx = k * np.cos(direction)
        self.ky = k * np.sin(direction)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, n_modes)
        if period_s is None:
            self.omega = np.zeros(n_modes)
        else:
            self.omega = 2.0 * np.pi / period_s * rng.uniform(0.5, 1.5, n_modes) * rng.choice([-1.0, 1.0], n_modes)
        self.velocity = (float(velocity[0]), float(velocity[1]))
        self.norm = np.sqrt(2.0 / n_modes)
        self.spacing = scale_m / 12.0

    def __call__(self, x: np.ndarray, y: np.ndarray, t_seconds: float) -> np.ndarray:
        """Field on the grid ``(y, x)`` (1-D, evenly spaced coordinates in metres) at time ``t``.

        The modes are summed on a grid of ``scale_m / 12`` spacing at most (six
        points per shortest wavelength; at most 512 points per axis) and
        linearly interpolated to finer grids.

        Returns
        -------
        ndarray
            float32 ``(y.size, x.size)``.
        """
        x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
        coarse_x, coarse_y = self._coarse(x), self._coarse(y)
        u, v = self.velocity
        phase = np.mod(self.phase + (self.omega - self.kx * u - self.ky * v) * t_seconds, 2.0 * np.pi)
        # cos(a + b) = cos a cos b - sin a sin b: two real matrix products, separable in x and y.
        along_x = np.outer(coarse_x, self.kx) + phase  # (nx, modes)
        along_y = np.outer(coarse_y, self.ky)  # (ny, modes)
        field = (np.cos(along_y) @ np.cos(along_x).T - np.sin(along_y) @ np.sin(along_x).T).astype("float32")
        if coarse_y.size != y.size:
            field = _interpolate_rows(field, coarse_y, y)
        if coarse_x.size != x.size:
            field = _interpolate_rows(field.T, coarse_x, x).T
        return field * np.float32(self.norm)

    def _coarse(self, axis: np.ndarray) -> np.ndarray:
        """Evaluation points along one axis: the axis itself, or a coarser one spanning it.

        At most ``_MAX_POINTS`` points: on very large domains the finest
        structures are smoothed a little rather than paying for big products.
        """
        n = min(int(np.ceil(abs(axis[-1] - axis[0]) / self.spacing)) + 1, _MAX_POINTS)
        if axis.size <= n:
            return axis
        return np.linspace(axis[0], axis[-1], max(n, 2))


def _interpolate_rows(field: np.ndarray, coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 from ``coarse`` to ``fine`` positions (same span)."""
    position = (fine - coarse[0]) / (coarse[1] - coarse[0])
    lower = np.clip(np.floor(position).astype(int), 0, coarse.size - 2)
    weight = (position - lower).astype(field.dtype)[:, None]
    below = field[lower]
    return below + weight * (field[lower + 1] - below)


def coverage_threshold(fraction: float) -> float:
    """Threshold a unit-variance Gaussian field exceeds over ``fraction`` of the area."""
    return float(ndtri(1.0 - fraction))


def smooth_step(values: np.ndarray, threshold: float, width: float) -> np.ndarray:
    """0 well below ``threshold``, 1 well above, a Gaussian-CDF ramp of ``width`` between."""
    return ndtr((values - threshold) / width).astype("float32")
