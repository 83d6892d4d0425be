"""The thin layer between averse's baselines and pysteps.

* :func:`quiet` silences the progress text pysteps prints on stdout (it has no
  switch for it) without breaking concurrent callers.
* :func:`to_db` / :func:`from_db`: the decibel transform pysteps recommends for
  motion estimation and cascade models (threshold 0.1 mm/h, zero value -15 dBR).
* :func:`coverage_masks`: where the forecast knows something. A pixel is
  *outside* when it is NaN in any input frame whose values enter the forecast;
  it is *advected in* at a lead when its backward trajectory along the motion
  field starts outside that domain or outside the grid.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading

import numpy as np

with contextlib.redirect_stdout(io.StringIO()):  # pysteps announces its config file on import
    from pysteps import extrapolation, motion, nowcasts
    from pysteps.utils.transformation import dB_transform

__all__ = [
    "RAIN_THRESHOLD",
    "ZERO_DB",
    "quiet",
    "to_db",
    "from_db",
    "coverage_masks",
    "extrapolation",
    "motion",
    "nowcasts",
]

RAIN_THRESHOLD = 0.1
"""Smallest rain rate (mm/h) told apart from no rain, pysteps' usual 0.1 mm/h."""
ZERO_DB = 10.0 * np.log10(RAIN_THRESHOLD) - 5.0
"""dBR value given to rain below :data:`RAIN_THRESHOLD` (pysteps' default, -15 dBR)."""

_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stdout = None


@contextlib.contextmanager
def quiet():
    """Discard what is printed on stdout while pysteps runs.

    Re-entrant and safe across threads: the first caller swaps ``sys.stdout``
    for a sink and the last one to leave puts the original back (whatever other
    threads print meanwhile is discarded too).
    """
    global _quiet_depth, _saved_stdout
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_stdout, sys.stdout = sys.stdout, io.StringIO()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                sys.stdout, _saved_stdout = _saved_stdout, None


def to_db(rain: np.ndarray, fill_outside: bool = False) -> np.ndarray:
    """Rain rates (mm/h) to dBR, 10 log10(R); below 0.1 mm/h becomes -15 dBR.

    Parameters
    ----------
    rain : ndarray
        Rain rates; NaN outside coverage.
    fill_outside : bool
        Give NaN pixels the zero value (cascade models need finite fields);
        otherwise they stay NaN (optical flow then masks them).
    """
    db, _ = dB_transform(rain, threshold=RAIN_THRESHOLD, zerovalue=ZERO_DB)
    if fill_outside:
        db[~np.isfinite(db)] = ZERO_DB
    return db


def from_db(db: np.ndarray) -> np.ndarray:
    """dBR back to mm/h; values below the 0.1 mm/h threshold become 0, NaN stays NaN."""
    rain, _ = dB_transform(
        db,
        metadata={"transform": "dB"},
        threshold=10.0 * np.log10(RAIN_THRESHOLD),
        zerovalue=0.0,
        inverse=True,
    )
    return rain


def coverage_masks(
    frames: np.ndarray, velocity: np.ndarray, n_leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where a forecast made from ``frames`` with ``velocity`` has information.

    Parameters
    ----------
    frames : ndarray
        ``(time, y, x)`` input frames whose values enter the forecast; NaN
        outside coverage.
    velocity : ndarray
        ``(2, y, x)`` motion in pixels per time step (pysteps' convention).
    n_leads : int
        Number of lead times.

    Returns
    -------
    outside : ndarray of bool
        ``(y, x)``: NaN in at least one frame (no observation at issue time).
    advected_in : ndarray of bool
        ``(n_leads, y, x)``: inside the domain, but the backward trajectory to
        the issue time starts outside it or outside the grid, with the same
        semi-Lagrangian scheme (bilinear, so the edge is eroded by at most a pixel).
    """
    outside = np.any(~np.isfinite(frames), axis=0)
    indicator = np.where(outside, np.nan, 1.0)
    advect = extrapolation.get_method("semilagrangian")
    traced = advect(indicator, velocity, n_leads, outval=np.nan, allow_nonfinite_values=True)
    advected_in = ~np.isfinite(traced) & ~outside
    return outside, advected_in
