"""Static fields of a twin region: terrain height and the land-sea mask.

The terrain is fractal hills (a power-law Gaussian field) plus the region's
ridges — Gaussian crests along segments whose height is modulated by a smooth
random field, so ridges have peaks and passes — with a gentle ramp up from the
coast. The sea (``Orography.sea``) lies beyond a wiggly coastline and has
height 0. The same seed always gives the same terrain.

:func:`terrain_slopes` turns the terrain into the smoothed slopes that the
truth generator combines with the wind into an upslope (forced) vertical
velocity, the driver of orographic rain.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from averse.datamodel import attach_grid
from averse.twin.regions import Region, Ridge
from averse.twin.spectral import gaussian_field

__all__ = ["terrain", "terrain_slopes", "build_static", "STATIC_STREAM"]

STATIC_STREAM = 1  # random stream of the static fields (see averse.twin.truth for the others)

_HILL_SLOPE = 3.0  # 2-D spectral exponent of the hills (fractal terrain)
_HILL_OUTER_SCALE = 40e3
_CREST_OUTER_SCALE = 25e3
_COAST_WIGGLE = 6e3  # standard deviation of the coastline around its mean position (m)
_COAST_RAMP = 15e3  # distance (m) over which land rises from the shore to full height


def _ridge_profile(xx: np.ndarray, yy: np.ndarray, ridge: Ridge) -> np.ndarray:
    """Gaussian cross-section around the crest segment, 1 on the crest."""
    ax, ay = ridge.x0, ridge.y0
    bx, by = ridge.x1 - ax, ridge.y1 - ay
    length2 = bx * bx + by * by
    t = np.clip(((xx - ax) * bx + (yy - ay) * by) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    distance2 = (xx - ax - t * bx) ** 2 + (yy - ay - t * by) ** 2
    return np.exp(-0.5 * distance2 / ridge.width_m**2)


def _land_mask(region: Region, xx: np.ndarray, yy: np.ndarray, wiggle: np.ndarray) -> np.ndarray:
    """True on land; the sea lies beyond a coastline wiggling around ``coast_m``."""
    sea_side = region.orography.sea
    coast = region.orography.coast_m
    land = np.ones(xx.shape, dtype=bool)
    if sea_side in ("south", "south-west"):
        land &= yy >= coast + wiggle[wiggle.shape[0] // 2, :][None, :]
    if sea_side in ("west", "south-west"):
        land &= xx >= coast + wiggle[:, wiggle.shape[1] // 2][:, None]
    if sea_side not in (None, "south", "west", "south-west"):
        raise ValueError(f"region {region.name!r}: unknown sea side {sea_side!r} (south, west, south-west or None)")
    return land


def terrain(region: Region, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Terrain height and land mask of a region.

    Parameters
    ----------
    region : Region
        The box; its ``orography`` says how to build the terrain.
    seed : int
        Seed of the world; the terrain depends only on it and the region.

    Returns
    -------
    dem : ndarray, float32 (ny, nx)
        Height above sea level (m), 0 over sea; row index increases northward.
    land : ndarray, bool (ny, nx)
        True on land.
    """
    rng = np.random.default_rng([seed, STATIC_STREAM])
    oro = region.orography
    shape = (region.ny, region.nx)
    xx, yy = np.meshgrid(region.x, region.y)

    hills = oro.hills_m * gaussian_field(shape, region.dx, _HILL_SLOPE, _HILL_OUTER_SCALE, rng)
    crest = gaussian_field(shape, region.dx, 4.0, _CREST_OUTER_SCALE, rng)
    wiggle = _COAST_WIGGLE * gaussian_field(shape, region.dx, 3.0, 80e3, rng)

    peaks_and_passes = np.clip(1.0 + 0.35 * crest, 0.35, 1.3)
    ridges = np.zeros(shape)
    for ridge in oro.ridges:
        ridges += ridge.height_m * _ridge_profile(xx, yy, ridge)
    dem = oro.base_m + hills + ridges * peaks_and_passes

    land = _land_mask(region, xx, yy, wiggle)
    if not land.all():
        shore_distance = ndimage.distance_transform_edt(land) * region.dx
        ramp = np.clip(shore_distance / _COAST_RAMP, 0.0, 1.0)
        dem = dem * (ramp * ramp * (3.0 - 2.0 * ramp))
    floor = 0.2 * oro.base_m + 1.0
    dem = np.where(land, np.maximum(dem, floor), 0.0)
    return dem.astype("float32"), land


def terrain_slopes(dem: np.ndarray, dx: float, smoothing_m: float = 3000.0) -> tuple[np.ndarray, np.ndarray]:
    """Slopes (m/m) of the terrain smoothed over ``smoothing_m``, along x and y.

    The smoothing stands for the depth of the lifted layer: the flow does not
    feel the terrain roughness below a few kilometres.

    Returns
    -------
    slope_x, slope_y : ndarray, float32
        ``∂z/∂x`` (eastward) and ``∂z/∂y`` (northward, along increasing rows).
    """
    smooth = ndimage.gaussian_filter(dem.astype("float64"), sigma=max(smoothing_m / dx, 0.5), mode="nearest")
    slope_y, slope_x = np.gradient(smooth, dx)
    return slope_x.astype("float32"), slope_y.astype("float32")


def build_static(region: Region, seed: int) -> xr.Dataset:
    """The ``/static`` group: ``dem`` and ``land_sea`` on the region's grid.

    Parameters
    ----------
    region : Region
        The box.
    seed : int
        Seed of the world.

    Returns
    -------
    xr.Dataset
        ``dem`` (m) and ``land_sea`` (1 land, 0 sea), with ``x``, ``y``,
        ``lat``, ``lon`` and ``spatial_ref`` (averse.datamodel).
    """
    dem, land = terrain(region, seed)
    ds = xr.Dataset(
        {
            "dem": (
                ("y", "x"),
                dem,
                {"standard_name": "surface_altitude", "long_name": "terrain height above sea level", "units": "m"},
            ),
            "land_sea": (
                ("y", "x"),
                land.astype("uint8"),
                {"long_name": "land-sea mask", "flag_values": [0, 1], "flag_meanings": "sea land"},
            ),
        },
        attrs={"region": region.name, "seed": int(seed), "y_axis": "y increases northward with the row index"},
    )
    return attach_grid(ds, region.x, region.y, region.crs)
