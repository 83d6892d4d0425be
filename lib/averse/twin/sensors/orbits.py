"""Overpasses of low-orbit satellites over a twin region, and their swath geometry.

**When** — a satellite crosses the region's latitude twice per orbit, once
ascending, once descending. On a sun-synchronous orbit each crossing happens at
a fixed local solar time on the ground track (the local time of the ascending
node shifted by the orbit geometry at that latitude); consecutive orbits cross
one orbital period later, one period's worth of Earth rotation (about 25°)
further west. The phase of that comb of ground tracks is drawn per satellite,
day and node (real orbits repeat it deterministically, which matters not here).
Tracks whose swath reaches the region are overpasses: a handful per day per
satellite at mid-latitudes. A precessing orbit (GPM, 65°) drifts through the
diurnal cycle (``Satellite.node_drift_h_per_day``).

**Where** — in the region's projection, near its centre, a ground track is a
straight line with the heading of the orbit at that latitude
(``sin ψ = cos i / cos φ``); the sub-satellite point moves along it at the
ground speed ``2πR/T``. Scan ``k`` is taken at along-track position ``s_k``:

- conical imagers look forward at a constant Earth incidence angle, so their
  footprints lie on an arc of radius ``r`` (spherical geometry from altitude and
  incidence) ahead of the sub-satellite point, at azimuths ±``α_max`` set by the
  swath width;
- cross-track sounders scan perpendicular to the track at scan angles ±``β_max``;
  footprints grow with the scan angle (slant range × beam width, stretched by
  ``1/cos`` of the incidence across the track).

Granules are cut to the scans that can see the region (a fixed number per
instrument and region, so that granules stack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from averse.twin.sensors._physics import EARTH_RADIUS_KM
from averse.twin.sensors.constellation import Instrument, Satellite

__all__ = ["Overpass", "overpasses", "SwathGeometry", "swath_geometry", "scans_over_region", "orbital_period_s"]

_MU_KM3_S2 = 398600.4418
_SIDEREAL_DAY_S = 86164.1
_KM_PER_DEG = 111.32


def orbital_period_s(altitude_km: float) -> float:
    """Period of a circular orbit at ``altitude_km``."""
    a = EARTH_RADIUS_KM + altitude_km
    return 2.0 * np.pi * np.sqrt(a**3 / _MU_KM3_S2)


@dataclass(frozen=True)
class Overpass:
    """One pass of a satellite near a region.

    Attributes
    ----------
    satellite : Satellite
    time : Timestamp
        UTC time at which the sub-satellite point is closest to the region centre.
    heading_deg : float
        Direction of the ground track, degrees clockwise from north.
    offset_km : float
        Cross-track distance from the ground track to the region centre
        (positive: the centre is to the right of the track).
    node : str
        ``"ascending"`` or ``"descending"``.
    """

    satellite: Satellite
    time: pd.Timestamp
    heading_deg: float
    offset_km: float
    node: str


def _half_swath_km(instrument: Instrument) -> float:
    if instrument.scan == "conical":
        return instrument.swath_km / 2.0
    return float(np.abs(_cross_track_ground(instrument, np.deg2rad(instrument.max_scan_deg))[0]))


def _node_geometry(inclination_deg: float, lat_deg: float, node: str) -> tuple[float, float]:
    """Heading (deg) and local-time shift (h) from the ascending node, at a latitude.

    The shift is the inertial longitude gained since the node (1 h per 15°);
    on the descending side it includes the half orbit (about 12 h).
    """
    inc, phi = np.deg2rad(inclination_deg), np.deg2rad(lat_deg)
    sin_u = np.clip(np.sin(phi) / np.sin(inc), -1.0, 1.0)
    u = np.arcsin(sin_u) if node == "ascending" else np.pi - np.arcsin(sin_u)
    # Inertial longitude reached from the node; local solar time moves with it (1 h per 15°).
    alpha = np.arctan2(np.cos(inc) * np.sin(u), np.cos(u))
    heading = np.rad2deg(np.arcsin(np.clip(np.cos(inc) / np.cos(phi), -1.0, 1.0)))
    if node == "descending":
        heading = 180.0 - heading
    return float(heading), float(np.rad2deg(alpha) / 15.0)


def overpasses(satellite: Satellite, instrument: Instrument, region, start, end, seed) -> list[Overpass]:
    """Overpasses of ``satellite`` whose swath reaches the region in ``[start, end]``.

    Parameters
    ----------
    satellite, instrument : Satellite, Instrument
    region : averse.twin.regions.Region
        The box (centre latitude/longitude, size).
    start, end : datetime-like
        UTC period.
    seed : sequence of int
        Seed of the phases of the ground-track comb; each day and node draws
        from its own stream, so a day's overpasses do not depend on the period.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    lat0, lon0 = region.center_lat, region.center_lon
    if abs(lat0) >= min(satellite.inclination_deg, 180.0 - satellite.inclination_deg):
        return []
    period_s = orbital_period_s(instrument.altitude_km)
    spacing_deg = 360.0 * period_s / _SIDEREAL_DAY_S
    ground_speed = 2.0 * np.pi * EARTH_RADIUS_KM / period_s
    half_box = 0.5 * np.hypot(region.nx, region.ny) * region.dx / 1000.0
    reach = _half_swath_km(instrument) + half_box
    passes = []
    for day in pd.date_range(start.normalize(), end.normalize(), freq="1D"):
        days_since = (day - pd.Timestamp("2021-01-01")).days
        for node in ("ascending", "descending"):
            heading, shift_h = _node_geometry(satellite.inclination_deg, lat0, node)
            node_hour = satellite.ascending_node_hour + satellite.node_drift_h_per_day * days_since
            local_hour = node_hour + shift_h
            rng = np.random.default_rng([*seed, days_since, int(node == "ascending")])
            phase = rng.uniform(0.0, spacing_deg)
            # Track longitudes at the region's latitude near the region, spaced by one period.
            n = np.arange(-3, 4)
            track_lon = lon0 + phase + n * spacing_deg - spacing_deg / 2.0
            east_km = (lon0 - track_lon) * _KM_PER_DEG * np.cos(np.deg2rad(lat0))
            psi = np.deg2rad(heading)
            offset = east_km * np.cos(psi)
            along = east_km * np.sin(psi)
            utc_hour = np.mod(local_hour - track_lon / 15.0, 24.0)
            times = day + pd.to_timedelta(utc_hour, unit="h") + pd.to_timedelta(along / ground_speed, unit="s")
            for t, o in zip(times, offset):
                if abs(o) <= reach and start <= t <= end:
                    passes.append(Overpass(satellite, pd.Timestamp(t).round("s"), heading, float(o), node))
    return sorted(passes, key=lambda p: p.time)


def _conical_radius_km(instrument: Instrument) -> float:
    """Ground distance from the sub-satellite point to the conical footprints."""
    incidence = np.deg2rad(instrument.incidence_deg)
    nadir = np.arcsin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + instrument.altitude_km) * np.sin(incidence))
    return float(EARTH_RADIUS_KM * (incidence - nadir))


def _cross_track_ground(instrument: Instrument, scan_angle: np.ndarray):
    """Signed ground distance, incidence angle and slant range of cross-track scan angles."""
    ratio = (EARTH_RADIUS_KM + instrument.altitude_km) / EARTH_RADIUS_KM
    incidence = np.arcsin(np.clip(ratio * np.sin(np.abs(scan_angle)), -1.0, 1.0))
    central = incidence - np.abs(scan_angle)
    a, b = EARTH_RADIUS_KM, EARTH_RADIUS_KM + instrument.altitude_km
    slant = np.sqrt(a * a + b * b - 2.0 * a * b * np.cos(central))
    return np.sign(scan_angle) * EARTH_RADIUS_KM * central, incidence, slant


@dataclass(frozen=True)
class SwathGeometry:
    """Footprint positions and sizes of one granule cut to a region.

    Attributes
    ----------
    x, y : ndarray
        ``(scan, pixel)`` footprint centres in the region's projection (m).
    time : ndarray
        ``(scan,)`` datetime64[ns] of each scan.
    footprint_scale : ndarray
        ``(pixel,)`` footprint size relative to the nominal (1 for conical scans,
        growing with the scan angle for cross-track ones).
    incidence_deg : ndarray
        ``(pixel,)`` Earth incidence angle.
    nadir_x, nadir_y : ndarray
        ``(scan,)`` sub-satellite point (m).
    """

    x: np.ndarray
    y: np.ndarray
    time: np.ndarray
    footprint_scale: np.ndarray
    incidence_deg: np.ndarray
    nadir_x: np.ndarray
    nadir_y: np.ndarray


def scans_over_region(instrument: Instrument, region, forward_km: float = 0.0) -> int:
    """Fixed number of scans of a granule cut to the region (covers every heading)."""
    diagonal = np.hypot(region.nx, region.ny) * region.dx / 1000.0
    return int(np.ceil((diagonal + forward_km) / instrument.scan_spacing_km)) + 3


def swath_geometry(instrument: Instrument, overpass: Overpass, region, *, n_scans: int | None = None,
                   across_km: np.ndarray | None = None) -> SwathGeometry:
    """Footprints of the scans of ``overpass`` that can see the region.

    Parameters
    ----------
    instrument : Instrument
    overpass : Overpass
    region : averse.twin.regions.Region
    n_scans : int, optional
        Scans in the cut (default :func:`scans_over_region`).
    across_km : ndarray, optional
        Cross-track positions (km, right positive) of nadir-looking beams
        instead of the instrument's own scan (used for the space radar).
    """
    period_s = orbital_period_s(instrument.altitude_km)
    ground_speed = 2.0 * np.pi * EARTH_RADIUS_KM / period_s
    psi = np.deg2rad(overpass.heading_deg)
    along = np.array([np.sin(psi), np.cos(psi)])  # (east, north)
    right = np.array([np.cos(psi), -np.sin(psi)])
    origin = -overpass.offset_km * right  # closest approach of the track to the centre (km)
    if across_km is not None:
        fwd = np.zeros_like(across_km, dtype="float64")
        side = np.asarray(across_km, dtype="float64")
        scale = np.ones(side.shape)
        incidence = np.zeros(side.shape)
    elif instrument.scan == "conical":
        radius = _conical_radius_km(instrument)
        alpha_max = np.arcsin(min(1.0, instrument.swath_km / (2.0 * radius)))
        azimuth = np.linspace(-alpha_max, alpha_max, instrument.n_pixels)
        fwd, side = radius * np.cos(azimuth), radius * np.sin(azimuth)
        scale = np.ones(azimuth.shape)
        incidence = np.full(azimuth.shape, instrument.incidence_deg)
    else:
        beta = np.deg2rad(np.linspace(-instrument.max_scan_deg, instrument.max_scan_deg, instrument.n_pixels))
        side, inc, slant = _cross_track_ground(instrument, beta)
        fwd = np.zeros_like(side)
        along_size = slant * np.deg2rad(instrument.beam_deg)
        scale = np.sqrt(along_size * along_size / np.cos(inc)) / (instrument.altitude_km * np.deg2rad(instrument.beam_deg))
        incidence = np.rad2deg(inc)
    mean_forward = float(np.mean(fwd))
    n_scans = n_scans or scans_over_region(instrument, region, float(np.ptp(fwd)))
    # Scans centred so that the footprints (ahead by `fwd`) pass over the region centre.
    s = (np.arange(n_scans) - (n_scans - 1) / 2.0) * instrument.scan_spacing_km - mean_forward
    nadir = origin[None, :] + s[:, None] * along[None, :]  # (scan, 2) km
    points = nadir[:, None, :] + fwd[None, :, None] * along + side[None, :, None] * right
    seconds = s / ground_speed
    time = (overpass.time + pd.to_timedelta(seconds, unit="s")).values.astype("datetime64[ns]")
    return SwathGeometry(
        x=points[..., 0] * 1000.0,
        y=points[..., 1] * 1000.0,
        time=time,
        footprint_scale=scale,
        incidence_deg=incidence,
        nadir_x=nadir[:, 0] * 1000.0,
        nadir_y=nadir[:, 1] * 1000.0,
    )
