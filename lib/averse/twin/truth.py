"""The true rain of the twin world, one time block after another.

Two Gaussian cascades (:mod:`averse.twin.cascade`) make the rain: a stratiform
one (steep spectrum, long lifetimes, elongated systems) and a convective one
(more small-scale power, lifetimes of minutes), the convective field clustered
inside the stratiform systems. Both are advected by the domain-mean wind and
deformed by the large-scale waves of :class:`~averse.twin.weather.WindModel`.

Rain occurs where a field exceeds a threshold set by the wanted wet fraction
(the *coverage*): slowly varying with the rainy spells of
:class:`~averse.twin.weather.RainRegime`, and for convection following the
diurnal cycle over land. Wet pixels are mapped to a log-normal intensity
(``Climate.*_median``), so the rate rises from 0 at the edge of a rain area to
its core and the wet-pixel distribution has a heavy tail; a soft ceiling
(``Climate.max_rain``) caps the most extreme values. Terrain acts through the
upslope wind ``w = u·∂z/∂x + v·∂z/∂y`` (m/s): forced ascent on windward slopes
makes rain more frequent and heavier (and triggers convection), descent on lee
slopes dries it. Each step's field stands for the mean rate over the time step
ending at its time.

:class:`TruthGenerator` carries its whole memory in a small picklable
:class:`TruthState`, so a long period is produced block by block with bounded
memory, and each step draws its noise from its own seeded stream: the same seed
gives the same world whatever the block size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import scipy.fft as sfft
from scipy.special import ndtr, ndtri

from averse.twin.cascade import CONVECTIVE, STRATIFORM, SpectralAR2
from averse.twin.regions import Region
from averse.twin.static import terrain_slopes
from averse.twin.weather import RainRegime, WindModel, diurnal_factor

__all__ = ["TruthGenerator", "TruthState", "TRUTH_STREAM", "TRUTH_VARIABLES"]

TRUTH_STREAM = 4
TRUTH_VARIABLES = ("precip", "u", "v", "convective")

_CONVECTIVE_CLUSTERING = 0.5  # weight of the stratiform field in the convective one
_OROGRAPHIC_FREQUENCY = 0.4  # threshold shift per unit of gain·w (more frequent windward rain)
_STRATIFORM_SPREAD = 0.85  # std of ln(rate) of wet stratiform pixels
_CONVECTIVE_SPREAD = 1.0  # std of ln(rate) of wet convective pixels
_MIN_RATE = 0.01  # mm/h; below it a pixel is dry


@dataclass
class TruthState:
    """Everything the generator remembers between steps.

    Attributes
    ----------
    step : int
        Index of the last generated step (0 is the start time, never output).
    stratiform, convective : tuple of ndarray
        Fourier states (current, previous) of the two cascades.
    """

    step: int
    stratiform: tuple[np.ndarray, np.ndarray]
    convective: tuple[np.ndarray, np.ndarray]


def _padding(n: int) -> int:
    """Cells added on each side of a dimension so that the periodic state does not wrap into the box."""
    return int(np.clip(round(0.125 * n), 16, 128))


class TruthGenerator:
    """Generator of the true rain over a region.

    Parameters
    ----------
    region : Region
        The box.
    seed : int
        Seed of the world.
    start : str or Timestamp
        UTC start time; step ``n`` is the interval ending at ``start + n·dt``.
    dem, land : ndarray (ny, nx)
        Terrain height (m) and land mask from :func:`averse.twin.static.terrain`.
    lon : ndarray (ny, nx)
        Longitudes of the cells (degrees east), for the local solar time.
    """

    def __init__(self, region: Region, seed: int, start, dem: np.ndarray, land: np.ndarray, lon: np.ndarray):
        self.region = region
        self.seed = int(seed)
        self.start = pd.Timestamp(start)
        self.dt = region.dt.total_seconds()
        self.climate = region.climate
        self.pad = (_padding(region.ny), _padding(region.nx))
        padded = (sfft.next_fast_len(region.ny + 2 * self.pad[0]), sfft.next_fast_len(region.nx + 2 * self.pad[1]))
        orientation = np.random.default_rng([seed, TRUTH_STREAM]).uniform(0, np.pi)
        self.stratiform = SpectralAR2(STRATIFORM, padded, region.dx, self.dt, orientation)
        self.convective = SpectralAR2(CONVECTIVE, padded, region.dx, self.dt, orientation)
        self.wind = WindModel(region, seed)
        self.regime = RainRegime(region, seed)
        self.slope_x, self.slope_y = terrain_slopes(dem, region.dx)
        self.land = land.astype(bool)
        self.lon = np.asarray(lon)[region.ny // 2, :]
        jj, ii = np.meshgrid(np.arange(region.nx, dtype="float32"), np.arange(region.ny, dtype="float32"))
        self._base_x = jj + self.pad[1]
        self._base_y = ii + self.pad[0]

    def time(self, step: int) -> pd.Timestamp:
        """UTC time at the end of step ``step``."""
        return self.start + step * self.region.dt

    def initial_state(self) -> TruthState:
        """The state at the start time, drawn from the stationary distribution."""
        rng = np.random.default_rng([self.seed, TRUTH_STREAM, 0])
        return TruthState(0, self.stratiform.initial(rng), self.convective.initial(rng))

    def run(self, state: TruthState, n_steps: int) -> tuple[TruthState, dict[str, np.ndarray]]:
        """Generate the next ``n_steps`` steps after ``state``.

        Returns
        -------
        state : TruthState
            The state after the last step (the input is not modified).
        fields : dict of ndarray
            ``precip`` (mm/h), ``u``, ``v`` (m/s), ``convective`` (0..1), each
            float32 ``(n_steps, ny, nx)``.
        """
        shape = (n_steps, self.region.ny, self.region.nx)
        out = {name: np.empty(shape, dtype="float32") for name in TRUTH_VARIABLES}
        stratiform, convective = state.stratiform, state.convective
        for i in range(n_steps):
            step = state.step + i + 1
            t0, t1 = (step - 1) * self.dt, step * self.dt
            shift = self.wind.mean_displacement(t1) - self.wind.mean_displacement(t0)
            rng = np.random.default_rng([self.seed, TRUTH_STREAM, step])
            stratiform = self.stratiform.step(stratiform, shift, rng)
            convective = self.convective.step(convective, shift, rng)
            fields = self._rain(step, self.stratiform.field(stratiform), self.convective.field(convective))
            for name in TRUTH_VARIABLES:
                out[name][i] = fields[name]
        return TruthState(state.step + n_steps, stratiform, convective), out

    def _rain(self, step: int, g_strat: np.ndarray, g_conv: np.ndarray) -> dict[str, np.ndarray]:
        """Rain of one step from the two Gaussian fields on the padded grid."""
        t = step * self.dt
        shift_x, shift_y, u, v = self.wind.fields(t)
        map_x = self._base_x - shift_x
        map_y = self._base_y - shift_y
        g_strat = cv2.remap(g_strat, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        g_conv = cv2.remap(g_conv, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        g_conv += _CONVECTIVE_CLUSTERING * g_strat
        g_conv *= np.float32(1.0 / np.hypot(1.0, _CONVECTIVE_CLUSTERING))

        climate = self.climate
        upslope = u * self.slope_x + v * self.slope_y
        windward = climate.orographic_gain * np.maximum(upslope, 0.0)
        leeward = climate.lee_drying * np.maximum(-upslope, 0.0)
        g_strat += _OROGRAPHIC_FREQUENCY * (windward - leeward)
        g_conv += _OROGRAPHIC_FREQUENCY * (windward - leeward)

        wetness = self.regime.wetness(t)
        threshold, log_cov = _coverage_threshold(np.float32(climate.stratiform_coverage * wetness))
        strat = _lognormal_rain(g_strat, threshold, log_cov, climate.stratiform_median, _STRATIFORM_SPREAD)
        strat *= (1.0 + windward) / (1.0 + leeward)
        over_land, over_sea = diurnal_factor(
            self.time(step), self.lon, climate.diurnal_amplitude, climate.diurnal_peak_hour
        )
        land_threshold, land_log_cov = _coverage_threshold(climate.convective_coverage * wetness * over_land)
        sea_threshold, sea_log_cov = _coverage_threshold(climate.convective_coverage * wetness * over_sea)
        threshold = np.where(self.land, land_threshold[None, :], sea_threshold[None, :])
        log_cov = np.where(self.land, land_log_cov[None, :], sea_log_cov[None, :])
        conv = _lognormal_rain(g_conv, threshold, log_cov, climate.convective_median, _CONVECTIVE_SPREAD)

        total = strat + conv
        share = np.divide(conv, total, out=np.zeros_like(total), where=total > 0)
        precip = _soft_ceiling(total, climate.max_rain)
        dry = precip < _MIN_RATE
        precip[dry] = 0.0
        share[dry] = 0.0
        return {"precip": precip, "u": u, "v": v, "convective": share}


class _Table:
    """A function tabulated on a uniform grid, evaluated by linear interpolation (clipped to the grid)."""

    def __init__(self, x0: float, x1: float, n: int, func):
        nodes = np.linspace(x0, x1, n)
        self.x0, self.scale, self.last = np.float32(x0), np.float32((n - 1) / (x1 - x0)), n - 2
        self.values = func(nodes).astype("float32")
        self.slopes = np.diff(self.values).astype("float32")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        pos = (x - self.x0) * self.scale
        np.clip(pos, 0, self.last + 1, out=pos)
        index = np.minimum(pos.astype(np.int32), self.last)
        return self.values[index] + (pos - index) * self.slopes[index]


# ln P(Z > g) for a standard normal Z, and y = -Φ⁻¹(exp(l)) (the normal score of a tail probability)
_LOG_TAIL = _Table(-4.0, 9.0, 4097, lambda g: np.log(ndtr(-g)))
_SCORE = _Table(np.log(1e-12), -1e-6, 8193, lambda logp: -ndtri(np.exp(logp)))


def _coverage_threshold(coverage) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian threshold ``t`` with ``P(Z > t) = coverage``, and ``ln(coverage)`` (float32).

    A coverage of 0 gives an infinite threshold: no rain.
    """
    coverage = np.clip(np.asarray(coverage, dtype="float64"), 0.0, 0.999)
    safe = np.maximum(coverage, 1e-30)
    threshold = np.where(coverage > 0, -ndtri(safe), np.inf)
    return threshold.astype("float32"), np.log(safe).astype("float32")


def _lognormal_rain(gauss: np.ndarray, threshold, log_cov, median: float, spread: float) -> np.ndarray:
    """Threshold a Gaussian field at the wanted coverage and map wet pixels to log-normal rates.

    A wet pixel (``gauss > t`` with ``P(Z > t) = coverage``) gets the rate whose
    rank among wet pixels equals the rank of its Gaussian value: with
    ``s = P(Z > gauss) / coverage`` in (0, 1), ``rate = median · exp(-spread · Φ⁻¹(s))``.
    The rate tends to 0 at the edge of a rain area and grows into its core.

    Parameters
    ----------
    gauss : ndarray, float32 (ny, nx)
    threshold, log_cov : float32 scalar or ndarray (ny, nx)
        From :func:`_coverage_threshold`, for the whole field or per pixel.
    median, spread : float
        Median (mm/h) and standard deviation of ln(rate) of wet pixels.
    """
    rain = np.zeros(gauss.shape, dtype="float32")
    wet = np.flatnonzero(gauss > threshold)
    if wet.size == 0:
        return rain
    if np.ndim(log_cov):
        log_cov = log_cov.ravel().take(wet)
    score = _SCORE(_LOG_TAIL(gauss.ravel().take(wet)) - log_cov)
    rain.ravel()[wet] = median * np.exp(spread * score)
    return rain


def _soft_ceiling(rate: np.ndarray, ceiling: float) -> np.ndarray:
    """Identity below half the ceiling, then a smooth approach to the ceiling."""
    knee = 0.5 * ceiling
    out = rate.copy()
    high = rate > knee
    out[high] = knee + (ceiling - knee) * np.tanh((rate[high] - knee) / (ceiling - knee))
    return out
