"""Fourier-space building blocks of the twin world: wavenumbers and power laws.

Rain, terrain and cloud fields are all built the same way: white noise coloured
by an isotropic (or mildly anisotropic) power-law amplitude spectrum with a
flat plateau above an outer scale, ``|A(k)|² ∝ (k² + k0²)^(-β/2)``. With this
normalisation the radially averaged power spectrum of the field falls as
``k^-β`` at scales smaller than the outer scale ``1/k0``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

__all__ = ["rfft_wavenumbers", "power_law_amplitude", "gaussian_field", "unit_variance_scale"]


def rfft_wavenumbers(ny: int, nx: int, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Wavenumbers (cycles per metre) of a real 2-D FFT of an ``ny`` × ``nx`` grid.

    Returns
    -------
    ky, kx : ndarray
        Shapes ``(ny, 1)`` and ``(1, nx // 2 + 1)``, broadcastable to the rfft2 layout.
    """
    ky = sfft.fftfreq(ny, d=dx).astype("float64")[:, None]
    kx = sfft.rfftfreq(nx, d=dx).astype("float64")[None, :]
    return ky, kx


def power_law_amplitude(
    ky: np.ndarray,
    kx: np.ndarray,
    slope: float,
    outer_scale: float,
    anisotropy: float = 1.0,
    orientation: float = 0.0,
) -> np.ndarray:
    """Amplitude spectrum ``(k² + k0²)^(-slope/4)``, zero at ``k = 0``.

    Parameters
    ----------
    ky, kx : ndarray
        Wavenumbers (cycles per metre), broadcastable.
    slope : float
        Exponent β of the power spectrum ``P(k) ∝ k^-β`` at small scales.
    outer_scale : float
        Scale (m) above which the spectrum flattens, ``k0 = 1 / outer_scale``.
    anisotropy : float
        Ratio > 1 elongates structures along ``orientation``.
    orientation : float
        Direction of elongation (radians, counter-clockwise from +x).
    """
    c, s = np.cos(orientation), np.sin(orientation)
    k_along = kx * c + ky * s
    k_across = -kx * s + ky * c
    k2 = (k_along * anisotropy) ** 2 + (k_across / anisotropy) ** 2
    amplitude = (k2 + outer_scale**-2) ** (-slope / 4.0)
    amplitude = np.broadcast_to(amplitude, np.broadcast_shapes(ky.shape, kx.shape)).copy()
    amplitude[0, 0] = 0.0
    return amplitude


def unit_variance_scale(amplitude: np.ndarray, nx: int) -> float:
    """Factor that gives unit variance to ``irfft2(amplitude * W)``.

    ``W`` is the rfft2 of unit-variance white noise on an ``ny`` × ``nx``
    grid (complex coefficients with ``E|W|² = ny·nx``). Each rfft column except
    the first (and the Nyquist one for even ``nx``) stands for two columns of
    the full spectrum.
    """
    weights = np.full(amplitude.shape[1], 2.0)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    ny = amplitude.shape[0]
    variance = float(np.sum(amplitude.astype("float64") ** 2 * weights[None, :])) / (ny * nx)
    return 1.0 / np.sqrt(variance)


def gaussian_field(
    shape: tuple[int, int],
    dx: float,
    slope: float,
    outer_scale: float,
    rng: np.random.Generator,
    anisotropy: float = 1.0,
    orientation: float = 0.0,
) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field with a power-law spectrum.

    Parameters
    ----------
    shape : (ny, nx)
        Grid size.
    dx : float
        Cell size (m).
    slope, outer_scale, anisotropy, orientation
        See :func:`power_law_amplitude`.
    rng : numpy.random.Generator
        Source of the white noise.

    Returns
    -------
    ndarray
        float64 field of the given shape (periodic).
    """
    ny, nx = shape
    ky, kx = rfft_wavenumbers(ny, nx, dx)
    amplitude = power_law_amplitude(ky, kx, slope, outer_scale, anisotropy, orientation)
    noise = sfft.rfft2(rng.standard_normal(shape))
    field = sfft.irfft2(noise * amplitude, s=shape)
    field -= field.mean()
    return field / field.std()
