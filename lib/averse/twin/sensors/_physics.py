"""Shared physics of the twin's satellite sensors.

- Planck radiance and its inverse (brightness temperature) at a wavelength,
  to mix semi-transparent cloud layers in radiance, not in temperature.
- A simple climatological atmosphere: surface skin temperature with a diurnal
  cycle over land (weak over sea) and altitude lapse, and the temperature at a
  cloud-top height (6.5 K/km up to the tropopause, colder overshooting tops).
- The viewing geometry of a geostationary imager: satellite zenith angle and
  the direction in which a cloud at height ``H`` appears displaced (parallax:
  away from the sub-satellite point, by ``H tan(zenith)``).

Temperatures are in K, heights in km above sea level, angles in radians.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "planck_radiance",
    "brightness_temperature",
    "mix_layers",
    "local_solar_hour",
    "surface_temperatures",
    "temperature_at_height",
    "geostationary_view",
    "EARTH_RADIUS_KM",
]

EARTH_RADIUS_KM = 6371.0
_H = 6.62607015e-34
_C = 2.99792458e8
_K = 1.380649e-23
_TROPOPAUSE_KM = 11.5
_LAPSE_K_PER_KM = 6.5
_OVERSHOOT_K_PER_KM = 7.0
_COLDEST_TOP_K = 190.0
_LAND_DIURNAL_K = 8.0  # half peak-to-peak of the land skin temperature
_SEA_DIURNAL_K = 0.4
_WARMEST_HOUR = 13.5  # local solar time of the skin-temperature maximum


def planck_radiance(temperature, wavelength_um: float) -> np.ndarray:
    """Spectral radiance B(T) (W m-2 sr-1 m-1) at ``wavelength_um`` micrometres."""
    lam = wavelength_um * 1e-6
    t = np.asarray(temperature, dtype="float64")
    return 2.0 * _H * _C**2 / lam**5 / np.expm1(_H * _C / (lam * _K * t))


def brightness_temperature(radiance, wavelength_um: float) -> np.ndarray:
    """Inverse of :func:`planck_radiance`: the temperature of a black body of that radiance."""
    lam = wavelength_um * 1e-6
    radiance = np.asarray(radiance, dtype="float64")
    return _H * _C / (lam * _K) / np.log1p(2.0 * _H * _C**2 / (lam**5 * radiance))


def mix_layers(top_temperature, emissivity, below_temperature, wavelength_um: float) -> np.ndarray:
    """Brightness temperature of a layer of ``emissivity`` over a black background.

    ``L = e B(T_top) + (1 - e) B(T_below)``, inverted to a temperature.
    """
    radiance = emissivity * planck_radiance(top_temperature, wavelength_um) + (1.0 - emissivity) * planck_radiance(
        below_temperature, wavelength_um
    )
    return brightness_temperature(radiance, wavelength_um)


def local_solar_hour(time, lon) -> np.ndarray:
    """Local mean solar hour (0..24) at longitude ``lon`` (degrees east) for UTC ``time``."""
    stamp = pd.Timestamp(time)
    utc_hour = stamp.hour + stamp.minute / 60.0 + stamp.second / 3600.0
    return np.mod(utc_hour + np.asarray(lon) / 15.0, 24.0)


def surface_temperatures(time, lat, lon, land_fraction, dem_m) -> tuple[np.ndarray, np.ndarray]:
    """Skin temperature of the surface and 2-m air temperature at sea level (K).

    A June-like climatology: a mean falling with latitude, a land skin
    temperature swinging ±8 K around it with the sun (maximum at 13:30 local
    time, ±0.4 K over sea), cooling with altitude at 6.5 K/km.

    Returns
    -------
    skin : ndarray
        Surface skin temperature at the ground (K).
    air_sea_level : ndarray
        Air temperature reduced to sea level (K), the base of the cloud-top lapse.
    """
    lat = np.asarray(lat, dtype="float64")
    mean = 303.0 - 0.25 * np.abs(lat)
    cycle = np.cos(2.0 * np.pi * (local_solar_hour(time, lon) - _WARMEST_HOUR) / 24.0)
    land_fraction = np.asarray(land_fraction, dtype="float64")
    amplitude = land_fraction * _LAND_DIURNAL_K + (1.0 - land_fraction) * _SEA_DIURNAL_K
    sea_offset = (1.0 - land_fraction) * 1.0
    skin = mean + sea_offset + amplitude * cycle - _LAPSE_K_PER_KM * np.asarray(dem_m) / 1000.0
    air_sea_level = mean + 0.5 * amplitude * cycle
    return skin, air_sea_level


def temperature_at_height(air_sea_level, height_km) -> np.ndarray:
    """Cloud-top temperature (K) at ``height_km`` above sea level.

    6.5 K/km up to an 11.5-km tropopause; overshooting tops above it cool a
    further 7 K/km (adiabatic ascent), never below 190 K.
    """
    height_km = np.asarray(height_km, dtype="float64")
    below = np.minimum(height_km, _TROPOPAUSE_KM)
    above = np.maximum(height_km - _TROPOPAUSE_KM, 0.0)
    t = np.asarray(air_sea_level) - _LAPSE_K_PER_KM * below - _OVERSHOOT_K_PER_KM * above
    return np.maximum(t, _COLDEST_TOP_K)


def geostationary_view(lat, lon, satellite_lon: float, satellite_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Satellite zenith angle and parallax direction seen from a geostationary imager.

    Parameters
    ----------
    lat, lon : array_like
        Ground points (degrees).
    satellite_lon : float
        Sub-satellite longitude (degrees east); the satellite is over the equator.
    satellite_height_m : float
        Height above the surface (m), 35 786 km for a geostationary orbit.

    Returns
    -------
    tan_zenith : ndarray
        Tangent of the satellite zenith angle: a cloud top at height ``H``
        appears ``H * tan_zenith`` away from its true position.
    azimuth_away : ndarray
        Direction of that shift (radians clockwise from north): away from the
        sub-satellite point (about north over Europe).
    """
    phi = np.deg2rad(np.asarray(lat, dtype="float64"))
    dlon = np.deg2rad(satellite_lon - np.asarray(lon, dtype="float64"))
    cos_gamma = np.cos(phi) * np.cos(dlon)
    sin_gamma = np.sqrt(np.clip(1.0 - cos_gamma**2, 0.0, None))
    ratio = EARTH_RADIUS_KM / (EARTH_RADIUS_KM + satellite_height_m / 1000.0)
    tan_zenith = sin_gamma / np.maximum(cos_gamma - ratio, 1e-3)
    # Bearing from the ground point towards the sub-satellite point, then reversed.
    bearing = np.arctan2(np.sin(dlon), -np.sin(phi) * np.cos(dlon))
    return tan_zenith, np.mod(bearing + np.pi, 2.0 * np.pi)
