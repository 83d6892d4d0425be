"""Object-based verification: SAL (structure, amplitude, location) and centroid displacement.

SAL follows Wernli et al. (2008) as implemented by pysteps'
``salscores.sal``:

* objects of a field are its 4-connected regions with
  ``value >= f * q95``, where ``q95`` is the 0.95 quantile of the values above
  the field minimum and ``f = 1/15`` (``thr_factor=0.067`` in pysteps);
* A = (D(f) - D(o)) / (0.5 (D(f) + D(o))), D the domain mean;
* S = (V(f) - V(o)) / (0.5 (V(f) + V(o))), V the mean over objects of the
  scaled volume R_n / max_n weighted by the object rain R_n;
* L = L1 + L2: L1 = |x(f) - x(o)| / d, x the centre of mass of the field and
  d the domain diagonal (pixels); L2 = 2 |r(f) - r(o)| / d, r the
  rain-weighted mean distance of the object centres from x.

pysteps finds the objects with its thunderstorm tracker (``tstorm``), which
also drops objects smaller than 50 pixels and splits an object with several
well separated maxima; for compact single-peak objects of 50 pixels or more
(and ``min_size=50``) the two agree, which is what our tests check. Here
every connected region counts (``min_size=1``, Wernli's definition) unless
``min_size`` says otherwise.

:func:`sal` also returns the displacement of the centre of mass of the
forecast from that of the observation, in km along the x and y coordinates —
the "where is the rain" error of a nowcast.

All frames are labelled in one :func:`scipy.ndimage.label` call (a structure
that does not connect frames) and the object properties are per-label sums
(:func:`numpy.bincount`), so there is no loop over frames or objects.
NaN: pixels NaN in either field are set to NaN in both, then count as no rain.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import ndimage

from averse.verify._core import apply_kernel, frames_of, grid_spacing_km, pair_valid, row_nanquantile, split_statistics

__all__ = ["SAL_ATTRS", "sal"]

SAL_ATTRS = {
    "sal_structure": ("SAL structure component S (-2..2)", "1"),
    "sal_amplitude": ("SAL amplitude component A (-2..2)", "1"),
    "sal_location": ("SAL location component L = L1 + L2 (0..2)", "1"),
    "sal_location_centroid": ("SAL location L1: centre-of-mass distance / domain diagonal", "1"),
    "sal_location_spread": ("SAL location L2: difference of object spread / domain diagonal", "1"),
    "centroid_dx": ("x displacement of the forecast centre of mass (forecast minus observation)", "km"),
    "centroid_dy": ("y displacement of the forecast centre of mass (forecast minus observation)", "km"),
}
_KERNEL_OUTPUTS = ("S", "A", "L1", "L2", "drow", "dcol")

# 4-connectivity within a frame, no connection between frames
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = ndimage.generate_binary_structure(2, 1)


def _field_properties(field: np.ndarray, threshold_factor: float, quantile: float, min_size: int):
    """Per-frame centre of mass, scaled volume V and object spread r of ``(frames, ny, nx)`` fields."""
    n_frames, ny, nx = field.shape
    rain = np.nan_to_num(field)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        floor = np.nanmin(field, axis=(1, 2), keepdims=True)
    wet = np.where(field > floor, field, np.nan).reshape(n_frames, -1)
    threshold = threshold_factor * row_nanquantile(wet, quantile)
    labels, n_labels = ndimage.label(field >= threshold[:, None, None], structure=_STRUCTURE)
    rows = np.broadcast_to(np.arange(ny, dtype=float)[:, None], (ny, nx))
    cols = np.broadcast_to(np.arange(nx, dtype=float)[None, :], (ny, nx))
    frame = np.broadcast_to(np.arange(n_frames, dtype=float)[:, None, None], field.shape)

    total = rain.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.stack([(rain * rows).sum(axis=(1, 2)), (rain * cols).sum(axis=(1, 2))], -1) / total[:, None]

    flat = labels.ravel()
    size = np.bincount(flat, minlength=n_labels + 1)[1:]
    keep = size >= min_size
    mass = np.bincount(flat, weights=rain.ravel(), minlength=n_labels + 1)[1:][keep]
    peak = np.zeros(n_labels + 1)
    np.maximum.at(peak, flat, rain.ravel())  # per-label maximum in one pass (rain >= 0)
    peak = peak[1:][keep]
    owner = (np.bincount(flat, weights=frame.ravel(), minlength=n_labels + 1)[1:] / np.maximum(size, 1))[keep]
    owner = np.rint(owner).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        object_row = np.bincount(flat, weights=(rain * rows).ravel(), minlength=n_labels + 1)[1:][keep] / mass
        object_col = np.bincount(flat, weights=(rain * cols).ravel(), minlength=n_labels + 1)[1:][keep] / mass
        distance = np.hypot(object_row - centre[owner, 0], object_col - centre[owner, 1])
        object_mass = np.bincount(owner, weights=mass, minlength=n_frames)
        scaled = np.bincount(owner, weights=np.where(mass > 0, mass * mass / peak, 0.0), minlength=n_frames)
        volume = np.where(object_mass > 0, scaled / object_mass, 0.0)  # pysteps: 0 without objects
        spread = np.bincount(owner, weights=mass * distance, minlength=n_frames) / object_mass  # NaN without
    return centre, volume, spread


def _sal_kernel(forecast, observation, threshold_factor: float, quantile: float, min_size: int):
    """Per-frame S, A, L1, L2 and the centre-of-mass displacement (pixels), shape ``lead + (6,)``."""
    forecast, observation = np.broadcast_arrays(forecast, observation)
    lead, fcst = frames_of(forecast, 2)
    _, obs = frames_of(observation, 2)
    valid = ~(np.isnan(fcst) | np.isnan(obs))
    fcst = np.where(valid, fcst, np.nan)
    obs = np.where(valid, obs, np.nan)
    diagonal = np.hypot(*fcst.shape[1:])
    centre_f, volume_f, spread_f = _field_properties(fcst, threshold_factor, quantile, min_size)
    centre_o, volume_o, spread_o = _field_properties(obs, threshold_factor, quantile, min_size)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        mean_f = np.nanmean(fcst, axis=(1, 2))
        mean_o = np.nanmean(obs, axis=(1, 2))
        amplitude = (mean_f - mean_o) / (0.5 * (mean_f + mean_o))
        structure = (volume_f - volume_o) / (0.5 * (volume_f + volume_o))
    shift = centre_f - centre_o
    out = np.stack(
        [
            structure,
            amplitude,
            np.hypot(shift[:, 0], shift[:, 1]) / diagonal,
            2.0 * np.abs(spread_o - spread_f) / diagonal,
            shift[:, 0],
            shift[:, 1],
        ],
        axis=-1,
    )
    return out.reshape(lead + (len(_KERNEL_OUTPUTS),))


def _signed_spacing(field: xr.DataArray, dim: str, spacing_km: float) -> float:
    """Grid spacing with the sign of the coordinate direction (increasing index = increasing coordinate?)."""
    if dim in field.coords and field.sizes[dim] > 1:
        return spacing_km * float(np.sign(field[dim].values[1] - field[dim].values[0]))
    return spacing_km


def sal(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    dims: Sequence[str] = ("y", "x"),
    threshold_factor: float = 1.0 / 15.0,
    quantile: float = 0.95,
    min_size: int = 1,
    grid_spacing: float | None = None,
) -> xr.Dataset:
    """SAL components and centre-of-mass displacement, per case.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Rain fields on the same grid, broadcasting against each other.
    dims : (str, str)
        Spatial dims (row, column) = (y, x).
    threshold_factor, quantile : float
        Object threshold ``threshold_factor * quantile(values above the minimum)``.
    min_size : int
        Smallest object kept, in pixels (pysteps' tracker uses 50).
    grid_spacing : float, optional
        Grid spacing in km for the displacement; read from the x coordinate
        when not given.

    Returns
    -------
    xr.Dataset
        ``sal_structure``, ``sal_amplitude``, ``sal_location`` and its parts
        ``sal_location_centroid`` (L1) and ``sal_location_spread`` (L2),
        ``centroid_dx`` and ``centroid_dy`` (km), per case. S and L2 are
        NaN when neither field has an object, A when both are dry.
    """
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"SAL needs exactly two spatial dims, got {dims}")
    spacing = grid_spacing if grid_spacing is not None else grid_spacing_km(observation, x_dim=dims[1], y_dim=dims[0])
    paired_f, paired_o = pair_valid(forecast, observation)
    stacked = apply_kernel(
        _sal_kernel,
        paired_f,
        paired_o,
        core_dims=dims,
        new_dims={"statistic": len(_KERNEL_OUTPUTS)},
        dtype=np.float64,
        kwargs={"threshold_factor": threshold_factor, "quantile": quantile, "min_size": int(min_size)},
    )
    parts = split_statistics(stacked, _KERNEL_OUTPUTS)
    result = xr.Dataset(
        {
            "sal_structure": parts["S"],
            "sal_amplitude": parts["A"],
            "sal_location": parts["L1"] + parts["L2"],
            "sal_location_centroid": parts["L1"],
            "sal_location_spread": parts["L2"],
            "centroid_dx": parts["dcol"] * _signed_spacing(observation, dims[1], spacing),
            "centroid_dy": parts["drow"] * _signed_spacing(observation, dims[0], spacing),
        }
    )
    for name, (long_name, units) in SAL_ATTRS.items():
        result[name].attrs.update(long_name=long_name, units=units)
    return result
