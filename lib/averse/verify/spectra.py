"""Radially averaged power spectral density (RAPSD) of many fields at once.

The definition is pysteps' ``utils.spectral.rapsd(field, fft_method=np.fft)``:
the power ``|FFT|^2 / (ny * nx)`` of the shifted 2-D transform is averaged over
rings of integer radius ``r = round(sqrt(kx^2 + ky^2))`` (in index units,
``r = 0 .. l//2 - 1`` for an even ``l = max(ny, nx)``, ``0 .. l//2`` for an
odd one). The wavenumber of ring ``r`` is ``r / (l * dx)`` cycles per km.
Comparing the RAPSD of a forecast with that of the observation shows the loss
of small-scale power (blurring) with lead time.

A field with NaN has no spectrum: its RAPSD is NaN unless ``fill_value``
replaces the NaN first (0, "no rain", is the usual choice outside radar
coverage).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, frames_of, grid_spacing_km, present, units_of

__all__ = ["radial_bins", "rapsd"]


@lru_cache(maxsize=16)
def radial_bins(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring layout of pysteps' RAPSD for an ``ny x nx`` field.

    Returns
    -------
    order : ndarray
        Flat indices (of the shifted spectrum) of the pixels inside the rings,
        sorted by ring.
    starts : ndarray
        Position in ``order`` where each ring starts.
    counts : ndarray
        Pixels per ring.
    """
    yc = np.arange(-(ny // 2), ny - ny // 2)[:, None]
    xc = np.arange(-(nx // 2), nx - nx // 2)[None, :]
    radius = np.sqrt(xc * xc + yc * yc).round().astype(np.int64).ravel()
    longest = max(ny, nx)
    n_rings = longest // 2 + 1 if longest % 2 else longest // 2
    inside = np.flatnonzero(radius < n_rings)
    order = inside[np.argsort(radius[inside], kind="stable")]
    counts = np.bincount(radius[inside], minlength=n_rings)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts, counts


def _rapsd_kernel(field: np.ndarray, fill_value: float | None) -> np.ndarray:
    """RAPSD of every frame, shape ``lead + (rings,)``."""
    lead, frames = frames_of(np.asarray(field, dtype="float64"), 2)
    _, ny, nx = frames.shape
    if fill_value is not None:
        frames = np.where(np.isnan(frames), fill_value, frames)
    order, starts, counts = radial_bins(ny, nx)
    spectrum = np.fft.fftshift(np.fft.fft2(frames), axes=(-2, -1))
    power = (spectrum.real**2 + spectrum.imag**2).reshape(frames.shape[0], -1) / (ny * nx)
    rings = np.add.reduceat(power[:, order], starts, axis=1) / counts
    return rings.reshape(lead + (len(counts),))


def rapsd(
    field: xr.DataArray,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = (),
    grid_spacing: float | None = None,
    fill_value: float | None = None,
) -> xr.DataArray:
    """Radially averaged power spectral density of each field.

    Parameters
    ----------
    field : xr.DataArray
        Fields with two spatial dims (any other dims are kept).
    dims : (str, str)
        Spatial dims (row, column); the column dim carries the x coordinate.
    aggregate_dims : sequence of str
        Case dims averaged over (mean spectrum); absent ones are ignored.
    grid_spacing : float, optional
        Grid spacing in km; read from the x coordinate when not given.
    fill_value : float, optional
        Value replacing NaN before the transform; without it a field holding
        NaN gives NaN.

    Returns
    -------
    xr.DataArray
        ``rapsd`` by ``wavenumber`` (cycles per km), with a ``wavelength``
        coordinate (km; infinite for the mean). Units: square of the field's
        units (mean power per Fourier coefficient, pysteps' normalisation).
    """
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"RAPSD needs exactly two spatial dims, got {dims}")
    ny, nx = field.sizes[dims[0]], field.sizes[dims[1]]
    n_rings = len(radial_bins(ny, nx)[2])
    spacing = grid_spacing if grid_spacing is not None else grid_spacing_km(field, x_dim=dims[1], y_dim=dims[0])
    result = apply_kernel(
        _rapsd_kernel,
        field,
        core_dims=dims,
        new_dims={"wavenumber": n_rings},
        dtype=np.float64,
        kwargs={"fill_value": fill_value},
    )
    aggregate = present(aggregate_dims, field)
    if aggregate:
        result = result.mean(aggregate)
    wavenumber = np.arange(n_rings) / (max(ny, nx) * spacing)
    with np.errstate(divide="ignore"):
        wavelength = 1.0 / wavenumber
    result = result.assign_coords(wavenumber=wavenumber, wavelength=("wavenumber", wavelength))
    result["wavenumber"].attrs.update(long_name="wavenumber", units="km-1")
    result["wavelength"].attrs.update(long_name="wavelength", units="km")
    units = units_of(field)
    return result.rename("rapsd").assign_attrs(long_name="radially averaged power spectral density", units=f"({units})2")
