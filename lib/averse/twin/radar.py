"""What a ground weather radar network sees of the true rain.

Each :class:`~averse.twin.regions.RadarSite` looks at the rain through its
lowest usable beam. The observation model, applied per site and time step:

- **Beam broadening**: the footprint widens with range (``range × beamwidth``),
  smoothing the field far from the radar.
- **Beam overshooting / vertical profile**: the beam rises with range (4/3
  earth radius) and samples reflectivity above the rain layer; reflectivity
  drops by a few dB per km above ``_PROFILE_BASE`` (5 dB/km for stratiform rain,
  1.5 dB/km for convective towers), so rain is underestimated more and more with
  range.
- **Beam blockage**: terrain angles along each radial (from the DEM) hide the
  lower part of the beam behind ridges; the blocked fraction of a Gaussian beam
  removes power (``10·log10(1 - PBB)`` dB).
- **Path-integrated attenuation**: rain attenuates the beam along each radial,
  ``k = a·R^b`` dB/km one way (ITU-R P.838 coefficients at 5.6 and 9.4 GHz),
  twice over the path: X-band echoes behind heavy cells fade or vanish.
- **Estimation noise**: a multiplicative log-normal error (Z-R, calibration),
  spatially correlated over ~8 km plus a pixel part.
- **Sensitivity**: echoes below the minimum detectable reflectivity, which
  grows as ``20·log10(range)``, are reported as 0 (no rain).

Reflectivity and rain are related by Marshall-Palmer ``Z = 200 R^1.6``. Pixels
beyond every site's range are NaN. ``quality`` (0..1) combines blockage, beam
height and attenuation; where sites overlap the best-quality one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import ndtr

from averse.twin.regions import RadarSite, Region

__all__ = ["SiteGeometry", "radar_geometry", "observe_radar", "RADAR_STREAM"]

RADAR_STREAM = 5

_EFFECTIVE_EARTH_RADIUS = 4.0 / 3.0 * 6_371_000.0
_ZR_A, _ZR_B = 200.0, 1.6
_PROFILE_BASE = 2000.0  # m above sea level: top of the layer where reflectivity is that of the surface rain
_PROFILE_SLOPE_STRATIFORM = 5.0  # dB/km above _PROFILE_BASE
_PROFILE_SLOPE_CONVECTIVE = 1.5
_MAX_PIA = 40.0  # dB; beyond, the signal is lost anyway
# one-way specific attenuation k = a R^b (dB/km), ITU-R P.838 interpolated to the band's frequency
_ATTENUATION = {"C": (0.00148, 1.276), "X": (0.0081, 1.290)}
# minimum detectable reflectivity at 1 km (dBZ); it grows as 20 log10(range)
_SENSITIVITY = {"C": -32.0, "X": -25.0}
_NOISE_CORRELATED = 0.25  # std of ln(R) error correlated over ~8 km
_NOISE_PIXEL = 0.15  # std of ln(R) error per pixel
_NOISE_SCALE = 8000.0
_SITING_RADIUS = 4000.0  # m; a site stands on the highest ground this close to its nominal position


@dataclass
class SiteGeometry:
    """Everything about one site that does not change with time.

    Attributes
    ----------
    site : RadarSite
        The radar.
    rows, cols : slice
        Window of the region grid that holds the site's coverage.
    inside : ndarray bool (h, w)
        Cells within range.
    range_m : ndarray float32 (h, w)
        Distance to the radar (m).
    profile_height : ndarray float32 (h, w)
        Height of the beam centre above ``_PROFILE_BASE`` (m, 0 below it).
    blockage : ndarray float32 (h, w)
        Fraction of the beam power hidden by terrain (0..1).
    blockage_loss : ndarray float32 (h, w)
        Power lost to blockage (dB, positive).
    static_quality : ndarray float32 (h, w)
        Quality before attenuation: unblocked fraction and beam height.
    sensitivity : ndarray float32 (h, w)
        Minimum detectable reflectivity (dBZ).
    smoothing : ndarray float32 (h, w)
        Weight (0..1) of the beam-broadened field.
    to_polar : tuple of ndarray
        Window cell coordinates (x, y) of each polar bin (azimuth, range).
    from_polar : tuple of ndarray
        Polar bin coordinates (range, azimuth) of each window cell.
    bin_km : float
        Range bin length (km).
    beam_sigma : float
        Standard deviation (cells) of the widest beam footprint, used to blur the field.
    """

    site: RadarSite
    rows: slice
    cols: slice
    inside: np.ndarray
    range_m: np.ndarray
    profile_height: np.ndarray
    blockage: np.ndarray
    blockage_loss: np.ndarray
    static_quality: np.ndarray
    sensitivity: np.ndarray
    smoothing: np.ndarray
    to_polar: tuple[np.ndarray, np.ndarray]
    from_polar: tuple[np.ndarray, np.ndarray]
    bin_km: float
    beam_sigma: float


def _window(region: Region, site: RadarSite) -> tuple[slice, slice]:
    """Rows and columns of the region grid within ``range_m`` of a site (clipped to the box)."""
    x, y = region.x, region.y
    cols = np.flatnonzero(np.abs(x - site.x) <= site.range_m + region.dx)
    rows = np.flatnonzero(np.abs(y - site.y) <= site.range_m + region.dx)
    if cols.size == 0 or rows.size == 0:
        raise ValueError(f"region {region.name!r}: radar {site.name!r} covers no cell of the box")
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _site_ground(local_dem: np.ndarray, distance: np.ndarray, dx: float) -> float:
    """Ground height of a site: radars stand on the highest ground within ``_SITING_RADIUS``."""
    near = distance <= max(_SITING_RADIUS, dx)
    return float(local_dem[near].max()) if near.any() else float(local_dem.flat[np.argmin(distance)])


def _site_geometry(region: Region, site: RadarSite, dem: np.ndarray) -> SiteGeometry:
    rows, cols = _window(region, site)
    dx = region.dx
    xx, yy = np.meshgrid(region.x[cols] - site.x, region.y[rows] - site.y)
    distance = np.hypot(xx, yy)
    inside = distance <= site.range_m
    azimuth = np.arctan2(xx, yy) % (2 * np.pi)  # clockwise from north

    # polar grid: one bin per cell along range, azimuth spacing ~2 cells at the maximum range
    n_range = int(np.ceil(site.range_m / dx)) + 1
    n_az = int(min(720, max(360, np.ceil(np.pi * site.range_m / dx))))
    ranges = (np.arange(n_range) + 0.5) * dx
    azimuths = (np.arange(n_az) + 0.5) * 2 * np.pi / n_az
    col0 = (site.x - region.x[cols][0]) / dx
    row0 = (site.y - region.y[rows][0]) / dx
    to_polar_x = (col0 + np.sin(azimuths)[:, None] * ranges[None, :] / dx).astype("float32")
    to_polar_y = (row0 + np.cos(azimuths)[:, None] * ranges[None, :] / dx).astype("float32")
    from_polar_r = (distance / dx - 0.5).astype("float32")
    from_polar_az = (azimuth / (2 * np.pi) * n_az - 0.5).astype("float32")

    # terrain under the radar and beam geometry
    local_dem = np.ascontiguousarray(dem[rows, cols], dtype="float32")
    antenna = _site_ground(local_dem, distance, dx) + site.tower_m
    elevation = np.deg2rad(site.elevation_deg)
    beam_sigma = np.deg2rad(site.beamwidth_deg) / 2.3548
    curvature = ranges**2 / (2 * _EFFECTIVE_EARTH_RADIUS)

    # blockage: highest terrain angle seen along each radial up to each bin
    terrain_polar = cv2.remap(local_dem, to_polar_x, to_polar_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    terrain_angle = np.arctan2(terrain_polar - antenna - curvature[None, :], ranges[None, :])
    horizon = np.maximum.accumulate(terrain_angle, axis=1)
    horizon[:, 1:] = horizon[:, :-1]
    horizon[:, 0] = -np.pi / 2
    blocked_polar = ndtr((horizon - elevation) / beam_sigma).astype("float32")
    blockage = _polar_to_window(blocked_polar, from_polar_r, from_polar_az)

    beam_height = antenna + distance * np.sin(elevation) + distance**2 / (2 * _EFFECTIVE_EARTH_RADIUS)
    profile_height = np.maximum(beam_height - _PROFILE_BASE, 0.0)
    blockage = np.where(inside, blockage, 1.0)
    footprint_sigma = distance * np.deg2rad(site.beamwidth_deg) / 2.3548 / dx  # cells
    return SiteGeometry(
        site=site,
        rows=rows,
        cols=cols,
        inside=inside,
        range_m=distance.astype("float32"),
        profile_height=profile_height.astype("float32"),
        blockage=blockage.astype("float32"),
        blockage_loss=(-10.0 * np.log10(np.maximum(1.0 - blockage, 1e-3))).astype("float32"),
        static_quality=((1.0 - blockage) / (1.0 + (profile_height / 3000.0) ** 2)).astype("float32"),
        sensitivity=(_SENSITIVITY[site.band] + 20 * np.log10(np.maximum(distance, dx) / 1000.0)).astype("float32"),
        smoothing=np.clip(footprint_sigma - 0.5, 0.0, 1.0).astype("float32"),
        to_polar=(to_polar_x, to_polar_y),
        from_polar=(from_polar_r, from_polar_az),
        bin_km=dx / 1000.0,
        beam_sigma=float(max(np.max(footprint_sigma[inside]), 0.5)) if inside.any() else 0.5,
    )


def _polar_to_window(polar: np.ndarray, from_r: np.ndarray, from_az: np.ndarray) -> np.ndarray:
    """Sample a polar (azimuth, range) array at the window cells (linear, wrapping in azimuth)."""
    padded = np.concatenate([polar[-1:], polar, polar[:1]], axis=0)  # wrap azimuth by one bin each side
    return cv2.remap(padded, from_r, from_az + 1.0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def radar_geometry(region: Region, dem: np.ndarray) -> list[SiteGeometry]:
    """Static geometry of every radar of a region (coverage, beam heights, blockage).

    Parameters
    ----------
    region : Region
        The box and its ``radars``.
    dem : ndarray (ny, nx)
        Terrain height (m).
    """
    return [_site_geometry(region, site, dem) for site in region.radars]


def _observe_site(geometry: SiteGeometry, rain: np.ndarray, convective: np.ndarray, rng: np.random.Generator):
    """Rain (mm/h) and quality seen by one site of a rain window at one time."""
    blurred = cv2.GaussianBlur(rain, (0, 0), geometry.beam_sigma)
    rain = rain + geometry.smoothing * (blurred - rain)

    # attenuation along the radials, from the true rain
    a, b = _ATTENUATION[geometry.site.band]
    rain_polar = cv2.remap(rain, *geometry.to_polar, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    specific = (2.0 * a * geometry.bin_km) * np.power(rain_polar, b)  # two-way dB per bin
    path = np.cumsum(specific, axis=1)
    path -= 0.5 * specific
    np.minimum(path, _MAX_PIA, out=path)
    pia = _polar_to_window(path, *geometry.from_polar)

    coarse_shape = tuple(max(2, int(np.ceil(n * geometry.bin_km * 1000 / _NOISE_SCALE))) for n in rain.shape)
    correlated = cv2.resize(
        rng.standard_normal(coarse_shape, dtype=np.float32), rain.shape[::-1], interpolation=cv2.INTER_LINEAR
    )

    observed = np.zeros(rain.shape, dtype="float32")
    wet = np.flatnonzero(rain > 0)
    if wet.size:
        take = lambda field: field.ravel().take(wet)  # noqa: E731 - values at the wet cells
        profile_slope = _PROFILE_SLOPE_STRATIFORM + (_PROFILE_SLOPE_CONVECTIVE - _PROFILE_SLOPE_STRATIFORM) * take(
            convective
        )
        loss_db = profile_slope * take(geometry.profile_height) / 1000.0 + take(geometry.blockage_loss) + take(pia)
        dbz = 10 * np.log10(_ZR_A) + 10 * _ZR_B * np.log10(take(rain)) - loss_db
        log_noise = _NOISE_CORRELATED * take(correlated) + _NOISE_PIXEL * rng.standard_normal(
            wet.size, dtype=np.float32
        )
        log_noise -= 0.5 * (_NOISE_CORRELATED**2 + _NOISE_PIXEL**2)
        seen = np.power(10.0, (dbz - 10 * np.log10(_ZR_A)) / (10 * _ZR_B)) * np.exp(log_noise)
        observed.ravel()[wet] = np.where(dbz >= take(geometry.sensitivity), np.round(seen, 2), 0.0)
    observed[~geometry.inside] = np.nan

    quality = geometry.static_quality / (1.0 + pia / 10.0)
    quality[~geometry.inside] = -1.0
    return observed, quality


def observe_radar(
    precip: np.ndarray,
    convective: np.ndarray,
    geometries: list[SiteGeometry],
    seed: int,
    first_step: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Radar composite of a block of true rain.

    Parameters
    ----------
    precip, convective : ndarray float32 (time, ny, nx)
        True rain (mm/h) and its convective share.
    geometries : list of SiteGeometry
        From :func:`radar_geometry`.
    seed : int
        Seed of the world.
    first_step : int
        Step index of ``precip[0]``; each step draws its noise from its own stream.

    Returns
    -------
    observed : ndarray float32 (time, ny, nx)
        Rain rate seen by the network (mm/h, 0.01 resolution), NaN outside coverage.
    quality : ndarray float32 (time, ny, nx)
        Quality index 0..1 of the kept site (0 outside coverage).

    Notes
    -----
    Sites are merged by keeping, cell by cell, the observation of the site
    with the best quality (a site marks cells beyond its range with -1).
    """
    observed = np.full(precip.shape, np.nan, dtype="float32")
    quality = np.full(precip.shape, -1.0, dtype="float32")
    for i in range(precip.shape[0]):
        for index, geometry in enumerate(geometries):
            rng = np.random.default_rng([seed, RADAR_STREAM, first_step + i, index])
            window = (i, geometry.rows, geometry.cols)
            seen, site_quality = _observe_site(
                geometry, np.ascontiguousarray(precip[window]), np.ascontiguousarray(convective[window]), rng
            )
            better = site_quality > quality[window]
            observed[window] = np.where(better, seen, observed[window])
            quality[window] = np.where(better, site_quality, quality[window])
    np.maximum(quality, 0.0, out=quality)
    return observed, quality
