"""Which windows of a frame sequence are usable, and where crops may go.

A window is ``n_in`` past frames followed by ``n_out`` future frames taken at
consecutive time steps. It is usable when

- its time stamps are exactly consecutive at the expected step ``dt``: a gap in
  the archive (a missing hour, the seam between two monthly files) is never
  bridged, whatever the index distance;
- every frame is present (some finite pixel; NaN-only frames are missing data);
- all its frames belong to the same split (:mod:`averse.data.splits`);
- optionally, its target frames are rainy enough: the mean over the ``n_out``
  target frames of the fraction of valid pixels at or above ``rain_threshold``
  reaches ``min_rain_fraction`` (the selection of SmaAt-UNet's "NL-50" data set,
  there with the share of rainy pixels of the target).

Crops are placed where the radar sees: a crop corner is allowed when at least
``min_coverage`` of the crop's pixels are covered (finite in at least one frame).
Both selections are vectorised over the whole series (cumulative sums and a
summed-area table); no Python loop runs per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["WindowSpec", "FrameSummary", "contiguous_starts", "valid_starts", "crop_corners"]


@dataclass(frozen=True)
class WindowSpec:
    """Shape of a training window and the rules that select it.

    Parameters
    ----------
    n_in, n_out : int
        Past frames (the newest is the analysis time) and future frames (lead 1..n_out).
    crop : int, (int, int) or None
        Side(s) of the random crop in pixels; None for the full frame.
    min_rain_fraction : float
        Minimum mean rainy fraction of the target frames (0 keeps dry windows).
    rain_threshold : float
        Rain rate (mm/h) at or above which a pixel counts as rainy.
    min_coverage : float
        Minimum share of a crop's pixels that the radar covers.
    """

    n_in: int = 6
    n_out: int = 12
    crop: int | tuple[int, int] | None = 128
    min_rain_fraction: float = 0.0
    rain_threshold: float = 0.1
    min_coverage: float = 0.5

    def __post_init__(self):
        if self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"n_in and n_out must be >= 1, got {self.n_in}, {self.n_out}")
        if isinstance(self.crop, (list, tuple)):
            object.__setattr__(self, "crop", (int(self.crop[0]), int(self.crop[1])))
        elif self.crop is not None:
            object.__setattr__(self, "crop", (int(self.crop), int(self.crop)))
        if self.crop is not None and min(self.crop) < 1:
            raise ValueError(f"crop sides must be positive, got {self.crop}")
        if not 0 <= self.min_rain_fraction <= 1 or not 0 <= self.min_coverage <= 1:
            raise ValueError("min_rain_fraction and min_coverage must lie in [0, 1]")

    @property
    def length(self) -> int:
        """Frames in a window, ``n_in + n_out``."""
        return self.n_in + self.n_out

    def crop_shape(self, frame_shape: tuple[int, int]) -> tuple[int, int]:
        """The crop ``(h, w)`` for frames of ``frame_shape`` (the frame itself if no crop)."""
        shape = self.crop or tuple(frame_shape)
        if shape[0] > frame_shape[0] or shape[1] > frame_shape[1]:
            raise ValueError(f"crop {shape} is larger than the frames {tuple(frame_shape)}")
        return shape


@dataclass(frozen=True)
class FrameSummary:
    """What one pass over the frames learns (see :func:`averse.data.frames.summarise`).

    Attributes
    ----------
    valid_fraction : ndarray, (T,)
        Share of finite pixels of every frame (0 for a missing frame).
    rain_fraction : ndarray, (T,)
        Share of the finite pixels at or above the rain threshold.
    coverage : ndarray of bool, (H, W)
        Pixels finite in at least one frame.
    """

    valid_fraction: np.ndarray
    rain_fraction: np.ndarray
    coverage: np.ndarray


def _run_ends_ok(ok: np.ndarray, length: int) -> np.ndarray:
    """``out[i]`` is True when ``ok[i : i + length]`` is all True (for every possible ``i``)."""
    n = ok.size - length + 1
    if n <= 0:
        return np.zeros(0, dtype=bool)
    bad = np.concatenate([[0], np.cumsum(~ok)])
    return (bad[length:] - bad[:-length])[:n] == 0


def contiguous_starts(times, dt, length: int) -> np.ndarray:
    """Mask of the start indices whose next ``length`` frames are consecutive at ``dt``.

    Parameters
    ----------
    times : array_like of datetime64
        Increasing frame time stamps.
    dt : str or Timedelta
        The expected step.
    length : int
        Frames per window.

    Returns
    -------
    ndarray of bool, (max(T - length + 1, 0),)
    """
    stamps = np.asarray(times, dtype="datetime64[ns]")
    step_ok = np.diff(stamps) == pd.Timedelta(dt).to_timedelta64()
    return _run_ends_ok(step_ok, length - 1) if length > 1 else np.ones(stamps.size, dtype=bool)


def valid_starts(times, dt, spec: WindowSpec, summary: FrameSummary, labels: np.ndarray,
                 split: int, input_available: np.ndarray | None = None) -> np.ndarray:
    """Start indices of the usable windows of one split, in time order.

    Parameters
    ----------
    times : array_like of datetime64
        Frame time stamps.
    dt : str or Timedelta
        Expected time step.
    spec : WindowSpec
        Window length and selection rules.
    summary : FrameSummary
        Per-frame valid and rainy fractions.
    labels : ndarray of int
        Split label of every frame (:meth:`TimeBlockSplit.labels`).
    split : int
        The split wanted (0 train, 1 val, 2 test).
    input_available : ndarray of bool, optional
        Per frame, whether the auxiliary inputs of a past frame exist (e.g. an
        infrared image recent enough); required of the ``n_in`` input frames.

    Returns
    -------
    ndarray of int64
        Index of the first frame of every usable window.
    """
    length = spec.length
    ok = contiguous_starts(times, dt, length)
    ok &= _run_ends_ok(summary.valid_fraction > 0, length)
    ok &= _run_ends_ok(np.asarray(labels) == split, length)
    if input_available is not None:
        ok &= _run_ends_ok(np.asarray(input_available, dtype=bool), spec.n_in)[: ok.size]
    if spec.min_rain_fraction > 0 and ok.size:
        rain = np.concatenate([[0.0], np.cumsum(summary.rain_fraction, dtype=np.float64)])
        n = ok.size  # target frames of the window starting at i: i + n_in ... i + length - 1
        target_mean = (rain[length:length + n] - rain[spec.n_in:spec.n_in + n]) / spec.n_out
        ok &= target_mean >= spec.min_rain_fraction
    return np.flatnonzero(ok).astype(np.int64)


def crop_corners(coverage: np.ndarray, crop: tuple[int, int], min_coverage: float) -> np.ndarray:
    """Flat indices ``y0 * (W - w + 1) + x0`` of the allowed crop corners.

    Parameters
    ----------
    coverage : ndarray of bool, (H, W)
        Pixels the radar covers.
    crop : (int, int)
        Crop height and width.
    min_coverage : float
        Minimum covered share of the crop.

    Returns
    -------
    ndarray of int64
        Allowed corners (never empty: when no corner qualifies, the best covered one).
    """
    h, w = crop
    table = np.zeros((coverage.shape[0] + 1, coverage.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(coverage, axis=0), axis=1)
    covered = table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]
    share = covered.ravel() / float(h * w)
    allowed = np.flatnonzero(share >= min_coverage)
    return allowed if allowed.size else np.array([int(np.argmax(share))], dtype=np.int64)
