"""A continuous scale cascade: a Gaussian field whose every scale lives its own life.

STEPS (Seed 2003; Bowler et al. 2006; pysteps) splits a rain field into a
cascade of spatial scales and lets each level evolve, in the frame moving with
the rain, as an AR(2) process whose correlation time grows with the scale.
Here the cascade is continuous: each Fourier coefficient of the field is its
own AR(2) process, with a lifetime set by its wavelength ``L``,

    lifetime(L) = lifetime_ref · (L / ref_scale) ** lifetime_exponent

(clipped), so small convective cells grow and decay within minutes while large
stratiform systems persist for hours. The AR(2) coefficients reproduce, at lags
1 and 2, the once-differentiable correlation ``(1 + t/τ)·exp(-t/τ)`` whose
1/e time is the lifetime — smooth growth and decay rather than flicker.

Advection by the domain-mean wind is an exact phase shift of the state. The
state lives on a grid padded around the region, so what leaves the box
downstream is not what enters it upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from averse.twin.spectral import power_law_amplitude, rfft_wavenumbers, unit_variance_scale

__all__ = ["Cascade", "SpectralAR2", "STRATIFORM", "CONVECTIVE", "ar2_coefficients"]

_EFOLD = 2.1462  # (1 + a) exp(-a) = 1/e at a = 2.1462


@dataclass(frozen=True)
class Cascade:
    """Statistics of one Gaussian component of the rain.

    Attributes
    ----------
    slope : float
        Exponent β of its power spectrum, ``P(k) ∝ k^-β`` below the outer scale.
    outer_scale : float
        Scale (m) above which the spectrum flattens.
    lifetime_ref : float
        1/e correlation time (s), in the moving frame, of the scale ``ref_scale``.
    ref_scale : float
        Reference wavelength (m).
    lifetime_exponent : float
        Growth of the lifetime with the wavelength.
    lifetime_min, lifetime_max : float
        Bounds of the lifetime (s).
    anisotropy : float
        Elongation of the structures (1: isotropic).
    smallest_scale : float
        Shortest wavelength (m) the cascade carries; finer scales are left out
        (a smooth component needs no noise there, which saves time).
    """

    slope: float
    outer_scale: float
    lifetime_ref: float
    ref_scale: float
    lifetime_exponent: float
    lifetime_min: float
    lifetime_max: float
    anisotropy: float = 1.0
    smallest_scale: float = 0.0

    def lifetime(self, wavelength: np.ndarray) -> np.ndarray:
        """1/e correlation time (s) of each wavelength (m)."""
        life = self.lifetime_ref * (wavelength / self.ref_scale) ** self.lifetime_exponent
        return np.clip(life, self.lifetime_min, self.lifetime_max)


_MIN = 60.0
STRATIFORM = Cascade(
    slope=3.4,
    outer_scale=300e3,
    lifetime_ref=90 * _MIN,
    ref_scale=20e3,
    lifetime_exponent=0.8,
    lifetime_min=6 * _MIN,
    lifetime_max=10 * 60 * _MIN,
    anisotropy=1.6,
    smallest_scale=4e3,
)
CONVECTIVE = Cascade(
    slope=3.4,
    outer_scale=50e3,
    lifetime_ref=20 * _MIN,
    ref_scale=10e3,
    lifetime_exponent=0.8,
    lifetime_min=4 * _MIN,
    lifetime_max=3 * 60 * _MIN,
    anisotropy=1.2,
)


def ar2_coefficients(lifetime: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AR(2) coefficients of a unit-variance process with correlation ``(1 + t/τ)e^(-t/τ)``.

    Parameters
    ----------
    lifetime : ndarray
        1/e correlation time (s); ``τ = lifetime / 2.146``.
    dt : float
        Time step (s).

    Returns
    -------
    phi1, phi2, sigma, rho1 : ndarray
        ``x[n+1] = phi1 x[n] + phi2 x[n-1] + sigma ε`` (Yule-Walker), and the lag-1 correlation.
    """
    a = dt * _EFOLD / np.asarray(lifetime, dtype="float64")
    rho1 = (1 + a) * np.exp(-a)
    rho2 = (1 + 2 * a) * np.exp(-2 * a)
    denom = 1 - rho1**2
    phi1 = rho1 * (1 - rho2) / denom
    phi2 = (rho2 - rho1**2) / denom
    sigma = np.sqrt(np.maximum(1 - phi1 * rho1 - phi2 * rho2, 0.0))
    return phi1, phi2, sigma, rho1


class SpectralAR2:
    """One Gaussian component evolved scale by scale in Fourier space.

    Parameters
    ----------
    cascade : Cascade
        Its statistics.
    shape : (ny, nx)
        Padded grid of the state.
    dx : float
        Cell size (m).
    dt : float
        Time step (s).
    orientation : float
        Direction of elongation (radians).

    Notes
    -----
    The state is a pair of complex64 rfft2 arrays ``(current, previous)``, the
    previous one already advected to the current time, so that an AR(2) step
    in the moving frame is ``shift(phi1·current + phi2·previous) + noise``.
    """

    def __init__(self, cascade: Cascade, shape: tuple[int, int], dx: float, dt: float, orientation: float):
        ny, nx = shape
        self.shape = shape
        ky, kx = rfft_wavenumbers(ny, nx, dx)
        # keep only the wavenumbers the cascade resolves: |ky|, kx <= 1 / smallest_scale
        cutoff = 1.0 / max(cascade.smallest_scale, 2 * dx)
        self._rows = np.flatnonzero(np.abs(ky[:, 0]) <= cutoff * (1 + 1e-9))
        self._cols = int(np.count_nonzero(kx[0] <= cutoff * (1 + 1e-9)))
        self.ky, self.kx = ky[self._rows], kx[:, : self._cols]
        amplitude = power_law_amplitude(ky, kx, cascade.slope, cascade.outer_scale, cascade.anisotropy, orientation)
        # E|W|^2 = ny*nx for the rfft of unit white noise; the complex draw below has E|z|^2 = 2
        amplitude *= unit_variance_scale(amplitude, nx) * np.sqrt(ny * nx / 2.0)
        amplitude = amplitude[self._rows, : self._cols]
        wavelength = 1.0 / np.maximum(np.hypot(self.ky, self.kx), 1e-12)
        phi1, phi2, sigma, rho1 = ar2_coefficients(cascade.lifetime(wavelength), dt)
        self.amplitude = amplitude.astype("float32")
        self.phi1 = phi1.astype("float32")
        self.phi2 = phi2.astype("float32")
        self.innovation = (sigma * amplitude).astype("float32")
        self.rho1 = rho1.astype("float32")
        self.lag1_spread = (np.sqrt(1 - rho1**2) * amplitude).astype("float32")

    def _white(self, rng: np.random.Generator) -> np.ndarray:
        """Complex white noise in the rfft2 layout (unit variance per part)."""
        draw = rng.standard_normal((*self.amplitude.shape, 2), dtype=np.float32)
        return draw.view(np.complex64)[..., 0]

    def initial(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A state drawn from the stationary distribution (current and lag-1)."""
        current = self.amplitude * self._white(rng)
        previous = self.rho1 * current + self.lag1_spread * self._white(rng)
        return current, previous

    def step(
        self, state: tuple[np.ndarray, np.ndarray], shift: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance one time step, advecting by ``shift`` (metres along x, y).

        Returns
        -------
        tuple of ndarray
            The new state (current, previous-advected).
        """
        current, previous = state
        phase_y = np.exp(-2j * np.pi * self.ky[:, 0] * shift[1]).astype(np.complex64)[:, None]
        phase_x = np.exp(-2j * np.pi * self.kx[0] * shift[0]).astype(np.complex64)[None, :]
        advected = current * phase_y
        advected *= phase_x
        new = self.phi1 * current + self.phi2 * previous
        new *= phase_y
        new *= phase_x
        new += self.innovation * self._white(rng)
        return new, advected

    def field(self, state: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The Gaussian field (float32, unit variance on average) of a state on the padded grid.

        The variance left out by the truncation at ``smallest_scale`` is
        missing, so the variance is slightly below 1 for a truncated cascade.
        """
        full = np.zeros((self.shape[0], self.shape[1] // 2 + 1), dtype=np.complex64)
        full[self._rows, : self._cols] = state[0]
        return sfft.irfft2(full, s=self.shape)
