"""The four baselines: Eulerian persistence, extrapolation, S-PROG and STEPS.

Every method has the signature ``forecast(past, n_leads, **settings)``:
``past`` is a ``(time, y, x)`` DataArray of rain in mm/h (averse data model),
the result a ``(lead_time, y, x)`` DataArray (``(member, lead_time, y, x)`` for
STEPS) built by :func:`averse.baselines.frames.forecast_array`.

Units and transforms
    Motion is estimated on dBR (see :mod:`averse.baselines.motion`).
    Extrapolation advects the last field in mm/h (bilinear interpolation of
    the rate, which keeps the areal mean better than interpolating its log).
    S-PROG and STEPS run in dBR (threshold 0.1 mm/h, -15 dBR below it) and the
    result is transformed back to mm/h (rates below 0.1 mm/h become 0).

Coverage (NaN)
    Pixels that are NaN in an input frame whose values enter the forecast
    (the last frame for extrapolation, the last ``ar_order + 1`` for S-PROG and
    STEPS) are filled with the zero value for the computation and are NaN in
    every lead. Pixels inside that domain whose backward trajectory starts
    outside it or outside the grid ("advected in") are NaN by default
    (``advected_in="nan"``): nothing was observed upstream, and a 0 there
    would score as a confident "no rain" forecast, flattering the baseline
    in dry weather and penalising it unfairly in rain. Scores should then be
    computed on pixels that every compared forecast covers. ``advected_in="zero"``
    fills them with 0 mm/h instead, for scores that need a complete field.
    Persistence copies the last frame, NaN included. The filled pixels count
    as "no rain" in pysteps' statistics (wet-area ratio, CDF matching), as
    they do when pysteps fills NaN itself.

Degenerate input
    S-PROG and STEPS estimate per-level autocorrelations and a rain
    distribution from the input frames. With almost no rain (fewer than
    :data:`MIN_WET_PIXELS` pixels at or above 0.1 mm/h in one of the frames)
    or frames that do not change at all, those estimates do not exist and
    pysteps fails (singular AR system, non-finite values, empty CDF). Both
    methods then return the extrapolation of the last frame, which is what
    their AR model reduces to when every level is perfectly correlated (every
    STEPS member alike), warn with :class:`DegenerateInputWarning` and record
    the reason in the ``degenerate_fallback`` entry of ``baseline_settings``.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

import numpy as np
import xarray as xr

from averse.baselines._pysteps import (
    RAIN_THRESHOLD,
    ZERO_DB,
    coverage_masks,
    extrapolation as pysteps_extrapolation,
    from_db,
    nowcasts,
    quiet,
    to_db,
)
from averse.baselines._registry import register
from averse.baselines.frames import BaselineInputError, PastFields, forecast_array, read_past
from averse.baselines.motion import DEFAULT_MOTION_METHOD, motion_field

__all__ = ["persistence", "extrapolation", "sprog", "steps", "DegenerateInputWarning", "MIN_WET_PIXELS"]

#: Fewer pixels at or above the rain threshold in an input frame: S-PROG and STEPS extrapolate instead.
MIN_WET_PIXELS = 10


class DegenerateInputWarning(UserWarning):
    """S-PROG or STEPS could not be estimated from the input and extrapolated the last frame instead."""

_ADVECTED_IN = {"nan": np.nan, "zero": 0.0}
_DB_THRESHOLD = 10.0 * np.log10(RAIN_THRESHOLD)
_PYSTEPS_VERSION = version("pysteps")


@register("persistence")
def persistence(past: xr.DataArray, n_leads: int) -> xr.DataArray:
    """Eulerian persistence: every lead is a copy of the last frame.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain in mm/h, at least two frames (for the time step).
    n_leads : int
        Number of lead times.

    Returns
    -------
    xr.DataArray
        ``(lead_time, y, x)``, NaN where the last frame is NaN.
    """
    n_leads = _checked_leads(n_leads)
    fields = read_past(past, min_frames=2, method="persistence")
    values = np.repeat(fields.values[-1][np.newaxis], n_leads, axis=0)
    return forecast_array(values, fields, "persistence", {})


@register("extrapolation")
def extrapolation(
    past: xr.DataArray,
    n_leads: int,
    *,
    motion_method: str = DEFAULT_MOTION_METHOD,
    motion_frames: int = 3,
    motion_kwargs: dict | None = None,
    extrap_kwargs: dict | None = None,
    advected_in: str = "nan",
) -> xr.DataArray:
    """Lagrangian persistence: the last frame advected along the motion field.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain in mm/h, at least ``motion_frames`` frames.
    n_leads : int
        Number of lead times.
    motion_method : str
        pysteps motion method (Lucas-Kanade ``"LK"`` by default).
    motion_frames : int
        Number of last frames the motion is estimated from (at least 2).
    motion_kwargs : dict, optional
        Passed to the pysteps motion method.
    extrap_kwargs : dict, optional
        Passed to pysteps' semi-Lagrangian scheme (``interp_order``, ``n_iter``).
    advected_in : {"nan", "zero"}
        What pixels advected from outside the observed domain hold (module docs).

    Returns
    -------
    xr.DataArray
        ``(lead_time, y, x)`` rain in mm/h.
    """
    n_leads = _checked_leads(n_leads)
    fields, velocity = _fields_and_motion(
        past, "extrapolation", motion_frames, motion_method, motion_kwargs, advected_in
    )
    values = _advect_last(fields, velocity, n_leads, advected_in, extrap_kwargs)
    settings = _common_settings(motion_method, motion_frames, motion_kwargs, advected_in)
    settings.update(advected_field="mm/h", extrap_kwargs=extrap_kwargs or {})
    return forecast_array(values, fields, "extrapolation", settings)


@register("sprog")
def sprog(
    past: xr.DataArray,
    n_leads: int,
    *,
    n_cascade_levels: int = 6,
    ar_order: int = 2,
    num_workers: int = 1,
    motion_method: str = DEFAULT_MOTION_METHOD,
    motion_frames: int = 3,
    motion_kwargs: dict | None = None,
    advected_in: str = "nan",
    **pysteps_kwargs,
) -> xr.DataArray:
    """S-PROG (Seed 2003): extrapolation with scale-dependent AR smoothing.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain in mm/h, at least ``max(ar_order + 1, motion_frames)`` frames.
    n_leads : int
        Number of lead times.
    n_cascade_levels : int
        Levels of the FFT cascade decomposition.
    ar_order : int
        Order of the autoregressive model of each level.
    num_workers : int
        Workers pysteps may use (dask, pyFFTW).
    motion_method, motion_frames, motion_kwargs, advected_in
        As in :func:`extrapolation`.
    **pysteps_kwargs
        More arguments of ``pysteps.nowcasts.sprog.forecast``
        (``probmatching_method``, ``bandpass_filter_method``, ``domain``...).

    Returns
    -------
    xr.DataArray
        ``(lead_time, y, x)`` rain in mm/h.
    """
    n_leads = _checked_leads(n_leads)
    fields, velocity = _fields_and_motion(
        past, "sprog", motion_frames, motion_method, motion_kwargs, advected_in, min_frames=ar_order + 1
    )
    cascade = dict(
        n_cascade_levels=n_cascade_levels, ar_order=ar_order, num_workers=num_workers, **pysteps_kwargs
    )
    values, fallback = _cascade_forecast("sprog", fields, velocity, n_leads, advected_in, cascade)
    settings = _common_settings(motion_method, motion_frames, motion_kwargs, advected_in)
    settings.update(cascade, **fallback)
    return forecast_array(values, fields, "sprog", settings)


@register("steps")
def steps(
    past: xr.DataArray,
    n_leads: int,
    *,
    n_ens_members: int = 20,
    n_cascade_levels: int = 6,
    seed: int | None = None,
    kmperpixel: float | None = None,
    ar_order: int = 2,
    num_workers: int = 1,
    motion_method: str = DEFAULT_MOTION_METHOD,
    motion_frames: int = 3,
    motion_kwargs: dict | None = None,
    advected_in: str = "nan",
    **pysteps_kwargs,
) -> xr.DataArray:
    """STEPS ensemble (Bowler et al. 2006): S-PROG plus cascade and motion noise.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain in mm/h, at least ``max(ar_order + 1, motion_frames)`` frames.
    n_leads : int
        Number of lead times.
    n_ens_members : int
        Ensemble size.
    n_cascade_levels : int
        Levels of the FFT cascade decomposition.
    seed : int, optional
        Seed of the random generators; when None one is drawn and recorded in
        the ``baseline_settings`` attribute so that the run can be repeated.
    kmperpixel : float, optional
        Pixel size in km; taken from the ``x``/``y`` coordinates when None.
    ar_order, num_workers, motion_method, motion_frames, motion_kwargs, advected_in
        As in :func:`sprog`.
    **pysteps_kwargs
        More arguments of ``pysteps.nowcasts.steps.forecast`` (``noise_method``,
        ``vel_pert_method``, ``mask_method``, ``probmatching_method``...).

    Returns
    -------
    xr.DataArray
        ``(member, lead_time, y, x)`` rain in mm/h. With velocity perturbations
        each member has its own trajectories; pixels its trajectories bring in
        from outside the grid are treated like the other advected-in pixels.
    """
    n_leads = _checked_leads(n_leads)
    fields, velocity = _fields_and_motion(
        past, "steps", motion_frames, motion_method, motion_kwargs, advected_in, min_frames=ar_order + 1
    )
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    cascade = dict(
        n_ens_members=n_ens_members,
        n_cascade_levels=n_cascade_levels,
        seed=seed,
        kmperpixel=fields.kmperpixel() if kmperpixel is None else float(kmperpixel),
        timestep=fields.timestep_minutes,
        ar_order=ar_order,
        num_workers=num_workers,
        **pysteps_kwargs,
    )
    values, fallback = _cascade_forecast("steps", fields, velocity, n_leads, advected_in, cascade)
    settings = _common_settings(motion_method, motion_frames, motion_kwargs, advected_in)
    settings.update(cascade, **fallback)
    return forecast_array(values, fields, "steps", settings, ensemble=True)


def _checked_leads(n_leads: int) -> int:
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)) or n_leads < 1:
        raise BaselineInputError(f"n_leads must be a positive integer, got {n_leads!r}")
    return int(n_leads)


def _fields_and_motion(
    past: xr.DataArray,
    method: str,
    motion_frames: int,
    motion_method: str,
    motion_kwargs: dict | None,
    advected_in: str,
    min_frames: int = 2,
) -> tuple[PastFields, np.ndarray]:
    """Checked inputs and the motion field of their last ``motion_frames`` frames."""
    if advected_in not in _ADVECTED_IN:
        raise BaselineInputError(
            f"{method}: advected_in must be one of {sorted(_ADVECTED_IN)}, got {advected_in!r}"
        )
    if motion_frames < 2:
        raise BaselineInputError(f"{method}: motion_frames must be at least 2, got {motion_frames}")
    fields = read_past(past, min_frames=max(min_frames, motion_frames), method=method)
    velocity = motion_field(fields.values[-motion_frames:], motion_method, **(motion_kwargs or {}))
    return fields, velocity


def _advect_last(
    fields: PastFields, velocity: np.ndarray, n_leads: int, advected_in: str, extrap_kwargs: dict | None = None
) -> np.ndarray:
    """The last frame (mm/h) advected semi-Lagrangian over ``n_leads`` steps, coverage masked."""
    last = fields.values[-1:]
    advect = pysteps_extrapolation.get_method("semilagrangian")
    with quiet():
        advected = advect(
            np.nan_to_num(last[0], nan=0.0), velocity, n_leads, outval=np.nan, **(extrap_kwargs or {})
        )
    return _mask_coverage(advected, last, velocity, advected_in)


def _too_dry(frames: np.ndarray) -> str | None:
    """Why the cascade statistics cannot be estimated from ``frames``, or None."""
    wet = (frames >= RAIN_THRESHOLD).sum(axis=(-2, -1))  # NaN counts as dry
    if wet.min() < MIN_WET_PIXELS:
        return (f"an input frame has {int(wet.min())} pixel(s) >= {RAIN_THRESHOLD} mm/h "
                f"(fewer than {MIN_WET_PIXELS})")
    return None


def _cascade_forecast(
    name: str, fields: PastFields, velocity: np.ndarray, n_leads: int, advected_in: str, cascade: dict
) -> tuple[np.ndarray, dict]:
    """Run a pysteps cascade nowcast in dBR on NaN-filled frames; mm/h out, coverage masked.

    Returns the values and ``{"degenerate_fallback": reason}`` when the input
    was degenerate and the last frame was extrapolated instead (module docs),
    else ``{}``.
    """
    frames = fields.values[-(cascade["ar_order"] + 1) :]
    reason = _too_dry(frames)
    if reason is None:
        try:
            with quiet():
                forecast_db = nowcasts.get_method(name)(
                    to_db(frames, fill_outside=True), velocity, n_leads, precip_thr=_DB_THRESHOLD, **cascade
                )
            return _mask_coverage(from_db(forecast_db), frames, velocity, advected_in), {}
        except ValueError as exc:  # numpy's LinAlgError is a ValueError
            if not isinstance(exc, np.linalg.LinAlgError) and "finite" not in str(exc):
                raise
            reason = f"the AR model of the cascade cannot be fitted ({type(exc).__name__}: {exc})"
    warnings.warn(f"{name}: {reason}; extrapolating the last frame instead", DegenerateInputWarning, stacklevel=3)
    values = _advect_last(fields, velocity, n_leads, advected_in)
    if name == "steps":
        values = np.repeat(values[np.newaxis], cascade["n_ens_members"], axis=0)
    return values, {"degenerate_fallback": reason}


def _mask_coverage(
    values: np.ndarray, frames: np.ndarray, velocity: np.ndarray, advected_in: str
) -> np.ndarray:
    """NaN outside the observed domain; advected-in pixels as ``advected_in`` says."""
    outside, advected = coverage_masks(frames, velocity, values.shape[-3])
    values = np.where(advected | ~np.isfinite(values), _ADVECTED_IN[advected_in], values)
    return np.where(outside, np.nan, values)


def _common_settings(
    motion_method: str, motion_frames: int, motion_kwargs: dict | None, advected_in: str
) -> dict:
    """Settings shared by the advection methods, for the ``baseline_settings`` attribute."""
    return {
        "motion_method": motion_method,
        "motion_frames": motion_frames,
        "motion_kwargs": motion_kwargs or {},
        "motion_transform": "dBR",
        "rain_threshold_mm_h": RAIN_THRESHOLD,
        "zero_value_dbr": ZERO_DB,
        "advected_in": advected_in,
        "pysteps_version": _PYSTEPS_VERSION,
    }
