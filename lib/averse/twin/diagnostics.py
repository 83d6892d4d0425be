"""Diagnostics that compare rain fields, synthetic or real, the way radar people do.

Each function takes plain arrays (``(time, y, x)`` or ``(y, x)``, mm/h, NaN
for missing) and the cell size, so the same call serves the twin world and a
real composite (OPERA, MeteoNet, NWC SAF CRR):

- :func:`rapsd` / :func:`spectral_slope`: radially averaged power spectrum
  (pysteps) and its log-log slope over a band of wavelengths;
- :func:`wet_fraction`, :func:`wet_quantiles`: intermittency and the
  conditional intensity distribution;
- :func:`lagrangian_correlation`: correlation, at a lag, of a band of scales
  between a field advected forward by a motion field and the later field —
  how long each scale lives;
- :func:`lucas_kanade_motion`, :func:`motion_versus_truth`: the pysteps
  Lucas-Kanade motion of a sequence, and how close it is to a known motion;
- :func:`cell_size_km`, :func:`wettest_window`, :func:`summarize`: put fields
  of different sources on the same footing and gather the numbers above.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.fft as sfft
import xarray as xr

__all__ = [
    "to_dbr",
    "rapsd",
    "mean_rapsd",
    "spectral_slope",
    "wet_fraction",
    "wet_quantiles",
    "bandpass",
    "lagrangian_correlation",
    "lucas_kanade_motion",
    "motion_versus_truth",
    "cell_size_km",
    "wettest_window",
    "summarize",
]

WET = 0.1  # mm/h


def to_dbr(precip: np.ndarray, threshold: float = WET) -> np.ndarray:
    """Rain in dBR (``10·log10 R``), dry and sub-threshold cells set to ``10·log10(threshold) - 5``."""
    precip = np.asarray(precip, dtype="float64")
    floor = 10 * np.log10(threshold) - 5.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(precip >= threshold, 10 * np.log10(np.maximum(precip, threshold)), floor)


def rapsd(field: np.ndarray, dx_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectral density of one finite 2-D field (pysteps).

    Parameters
    ----------
    field : ndarray (y, x)
        Finite values.
    dx_km : float
        Cell size (km).

    Returns
    -------
    wavelength_km, power : ndarray
        Wavelengths (km, decreasing) and the mean power at each.
    """
    from pysteps.utils.spectral import rapsd as pysteps_rapsd

    power, frequency = pysteps_rapsd(np.asarray(field, dtype="float64"), fft_method=np.fft, return_freq=True, d=dx_km)
    keep = frequency > 0
    return 1.0 / frequency[keep], power[keep]


def mean_rapsd(
    fields: np.ndarray, dx_km: float, transform: str = "rate", max_frames: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Mean RAPSD of some frames (at most ``max_frames``, evenly spaced), of the rate itself or of dBR.

    Parameters
    ----------
    fields : ndarray (time, y, x) or (y, x)
        Rain rates (mm/h), finite.
    dx_km : float
        Cell size (km).
    transform : {"rate", "dbr"}
        Spectrum of the rate or of dBR (:func:`to_dbr`).
    max_frames : int
        Frames used at most.

    Returns
    -------
    wavelength_km, power : ndarray
    """
    fields = np.asarray(fields)
    if fields.ndim == 2:
        fields = fields[None]
    if len(fields) > max_frames:
        fields = fields[np.linspace(0, len(fields) - 1, max_frames).astype(int)]
    spectra = []
    for frame in fields:
        values = to_dbr(frame) if transform == "dbr" else np.asarray(frame, dtype="float64")
        wavelength, power = rapsd(values - values.mean(), dx_km)
        spectra.append(power)
    return wavelength, np.mean(spectra, axis=0)


def spectral_slope(
    fields: np.ndarray,
    dx_km: float,
    scales_km: tuple[float, float] = (4.0, 64.0),
    transform: str = "rate",
) -> float:
    """Log-log slope of the mean RAPSD of some frames over a band of wavelengths.

    Parameters
    ----------
    fields : ndarray (time, y, x) or (y, x)
        Rain rates (mm/h), finite.
    dx_km : float
        Cell size (km).
    scales_km : (float, float)
        Smallest and largest wavelength of the fit (km).
    transform : {"rate", "dbr"}
        Fit the spectrum of the rate itself or of dBR (:func:`to_dbr`).

    Returns
    -------
    float
        The slope β of ``P(k) ∝ k^β`` (negative for rain fields).
    """
    wavelength, power = mean_rapsd(fields, dx_km, transform)
    band = (wavelength >= scales_km[0]) & (wavelength <= scales_km[1])
    return float(np.polyfit(np.log(1.0 / wavelength[band]), np.log(power[band]), 1)[0])


def wet_fraction(precip: np.ndarray, threshold: float = WET) -> np.ndarray:
    """Fraction of valid cells above ``threshold`` in each frame (NaN cells ignored)."""
    precip = np.asarray(precip)
    if precip.ndim == 2:
        precip = precip[None]
    valid = np.isfinite(precip)
    wet = np.where(valid, precip, 0) >= threshold
    return wet.sum(axis=(1, 2)) / np.maximum(valid.sum(axis=(1, 2)), 1)


def wet_quantiles(precip: np.ndarray, quantiles=(0.5, 0.9, 0.99), threshold: float = WET) -> np.ndarray:
    """Quantiles of the rate over wet cells (``>= threshold``) of all frames."""
    precip = np.asarray(precip)
    wet = precip[np.isfinite(precip) & (precip >= threshold)]
    if wet.size == 0:
        return np.full(len(quantiles), np.nan)
    return np.quantile(wet, quantiles)


def bandpass(field: np.ndarray, dx_km: float, scales_km: tuple[float, float]) -> np.ndarray:
    """Keep the wavelengths between ``scales_km[0]`` and ``scales_km[1]`` (km) of a 2-D field (sharp FFT filter)."""
    ny, nx = field.shape
    ky = sfft.fftfreq(ny, d=dx_km)[:, None]
    kx = sfft.rfftfreq(nx, d=dx_km)[None, :]
    k = np.hypot(ky, kx)
    keep = (k >= 1.0 / scales_km[1]) & (k <= 1.0 / scales_km[0])
    return sfft.irfft2(sfft.rfft2(field) * keep, s=field.shape)


def lagrangian_correlation(
    earlier: np.ndarray,
    later: np.ndarray,
    velocity: np.ndarray,
    lag_steps: int,
    dx_km: float,
    scales_km: tuple[float, float],
) -> float:
    """Correlation of a band of scales between an advected field and the field ``lag_steps`` later.

    Parameters
    ----------
    earlier, later : ndarray (y, x)
        Rain rates at ``t`` and ``t + lag``.
    velocity : ndarray (2, y, x)
        Motion (x, y components) in cells per time step, as pysteps wants it.
    lag_steps : int
        Lag in time steps.
    dx_km : float
        Cell size (km).
    scales_km : (float, float)
        Band of wavelengths (km).

    Returns
    -------
    float
        Pearson correlation over the cells the advection keeps inside the domain.
    """
    from pysteps.extrapolation.semilagrangian import extrapolate

    advected = extrapolate(
        np.asarray(earlier, dtype="float64"),
        np.asarray(velocity, dtype="float64"),
        [lag_steps],
        allow_nonfinite_values=True,
    )[0]
    inside = np.isfinite(advected)
    advected = np.where(inside, advected, 0.0)
    a = bandpass(advected, dx_km, scales_km)[inside]
    b = bandpass(np.asarray(later, dtype="float64"), dx_km, scales_km)[inside]
    return float(np.corrcoef(a, b)[0, 1])


def lucas_kanade_motion(frames: np.ndarray) -> np.ndarray:
    """pysteps Lucas-Kanade motion field of a sequence (cells per step, x then y components)."""
    from pysteps import motion

    frames = np.nan_to_num(np.asarray(frames, dtype="float64"), nan=0.0)
    return motion.get_method("LK")(to_dbr(frames), verbose=False)


def motion_versus_truth(
    observed: np.ndarray,
    precip: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    cell_km: float,
    step_s: float,
    frames,
) -> pd.DataFrame:
    """Lucas-Kanade motion of observed frames against the true motion, over the wet cells.

    Parameters
    ----------
    observed : ndarray (time, y, x)
        Observed rain (mm/h, NaN allowed), e.g. the twin's radar.
    precip, u, v : ndarray (time, y, x)
        True rain (mm/h) and true motion (m/s, eastward and northward along rows).
    cell_km : float
        Cell size (km).
    step_s : float
        Time step (s).
    frames : iterable of int
        Frames ``t`` where the motion from ``t - 1`` to ``t`` is estimated.

    Returns
    -------
    pandas.DataFrame
        Per frame: Lucas-Kanade and true mean motion (cells per step) and the error.
    """
    to_cells = step_s / (cell_km * 1000.0)
    rows = []
    for t in frames:
        motion = lucas_kanade_motion(observed[t - 1 : t + 1])
        wet = precip[t] >= WET
        rows.append(
            {
                "frame": int(t),
                "lk_u": float(motion[0][wet].mean()),
                "lk_v": float(motion[1][wet].mean()),
                "true_u": float(u[t][wet].mean() * to_cells),
                "true_v": float(v[t][wet].mean() * to_cells),
            }
        )
    table = pd.DataFrame(rows).set_index("frame")
    table["error"] = np.hypot(table.lk_u - table.true_u, table.lk_v - table.true_v)
    return table


def cell_size_km(ds: xr.Dataset | xr.DataArray) -> float:
    """Cell size (km) of a grid following the data model (projected metres or lat/lon degrees).

    For a lat/lon grid the cell is not square; the geometric mean of its sides
    at the mean latitude is returned.
    """
    dx = abs(float(ds["x"][1] - ds["x"][0]))
    dy = abs(float(ds["y"][1] - ds["y"][0]))
    if ds["x"].attrs.get("units", "m") in ("m", "metre", "meter"):
        return float(np.sqrt(dx * dy)) / 1000.0
    latitude = np.deg2rad(float(ds["y"].mean()))
    return float(np.sqrt(dx * np.cos(latitude) * dy)) * 111.32


def wettest_window(precip: np.ndarray, size: int, stride: int | None = None) -> tuple[slice, slice]:
    """The ``size`` × ``size`` window, valid in every frame, with the most wet cells over time.

    Parameters
    ----------
    precip : ndarray (time, y, x)
        Rain rates, NaN outside coverage.
    size : int
        Window side (cells); clipped to the field.
    stride : int, optional
        Search step (cells); default ``size // 4``.

    Returns
    -------
    rows, cols : slice
        The window (the top-left one when no window is valid everywhere).
    """
    precip = np.asarray(precip)
    ny, nx = precip.shape[1:]
    size = min(size, ny, nx)
    stride = stride or max(1, size // 4)
    valid = np.isfinite(precip).all(axis=0)
    wet = (np.nan_to_num(precip) >= WET).mean(axis=0)
    best, where = -1.0, (0, 0)
    for i in range(0, ny - size + 1, stride):
        for j in range(0, nx - size + 1, stride):
            if valid[i : i + size, j : j + size].all():
                score = wet[i : i + size, j : j + size].mean()
                if score > best:
                    best, where = score, (i, j)
    return slice(where[0], where[0] + size), slice(where[1], where[1] + size)


def summarize(precip: np.ndarray, dx_km: float, times=None, scales_km: tuple[float, float] = (4.0, 64.0)) -> dict:
    """The diagnostics of one rain sequence, as a row of a comparison table.

    Parameters
    ----------
    precip : ndarray (time, y, x)
        Rain rates (mm/h), finite (cut a window with :func:`wettest_window` first).
    dx_km : float
        Cell size (km).
    times : array of datetime64, optional
        Frame times; when given, Lucas-Kanade runs on pairs of consecutive frames
        one nominal step apart and the mean speed of the wet cells is reported.
    scales_km : (float, float)
        Band of wavelengths of the spectral slopes.

    Returns
    -------
    dict
        ``frames``, ``cell_km``, ``wet_fraction`` (mean), ``median``, ``p99``,
        ``p99/median``, ``slope_rate``, ``slope_dbr`` (over frames more than 5 %
        wet), ``lk_speed_kmh``.
    """
    precip = np.asarray(precip, dtype="float64")
    wet = wet_fraction(precip)
    rainy = precip[wet > 0.05]
    median, p99 = wet_quantiles(precip, (0.5, 0.99))
    row = {
        "frames": int(precip.shape[0]),
        "cell_km": round(float(dx_km), 2),
        "wet_fraction": float(wet.mean()),
        "median": float(median),
        "p99": float(p99),
        "p99/median": float(p99 / median) if median > 0 else np.nan,
        "slope_rate": spectral_slope(rainy, dx_km, scales_km, "rate") if len(rainy) else np.nan,
        "slope_dbr": spectral_slope(rainy, dx_km, scales_km, "dbr") if len(rainy) else np.nan,
        "lk_speed_kmh": np.nan,
    }
    if times is not None and len(times) > 1:
        times = pd.to_datetime(np.asarray(times))
        step = pd.Series(times).diff().mode().iloc[0]
        speeds = []
        for t in np.flatnonzero((times[1:] - times[:-1]) == step)[:6]:
            if wet[t + 1] > 0.01:
                motion = lucas_kanade_motion(precip[t : t + 2])
                mask = precip[t + 1] >= WET
                speeds.append(np.hypot(motion[0][mask], motion[1][mask]).mean() * dx_km / (step.total_seconds() / 3600))
        row["lk_speed_kmh"] = float(np.mean(speeds)) if speeds else np.nan
    return row
