"""Microwave radiative transfer of the twin: brightness temperatures over rain.

A one-layer model per channel, per 1-km cell, at the instrument's incidence:

    Tb = e Ts t + T_layer (1 - t) (1 + (1 - e) t) - scattering,   t = exp(-tau / cos θ)

- ``e`` the surface emissivity: the sea is radiometrically cold and strongly
  polarized (e_H ≈ 0.35–0.4 at 10–19 GHz, some wind roughness included), land
  warm and nearly unpolarized (≈ 0.9);
- ``tau`` the layer's absorption: water vapour (strong near 22 and 183 GHz,
  moister columns more) plus **liquid rain**, which grows with the rain rate
  and with frequency. Over the cold sea rain *warms* the low frequencies
  (emission) until they saturate; over land it hardly shows;
- **ice scattering**: ice and graupel aloft (:meth:`CloudWeather.ice_aloft`)
  scatter upwelling radiation away, depressing ``Tb`` by up to ``D(f)`` — tens
  of K at 37 GHz, 100+ K at 89–190 GHz over deep convection, little over
  stratiform rain, nothing over warm rain;
- the 183.31 GHz sounding channels see only the air around the peak of their
  weighting function (±1 GHz highest, coldest; moister columns lift it): the
  surface and the liquid rain vanish, the ice of deep convection still shows.

Values are coarse climatological choices, good for shapes and orders of
magnitude (19H over rain-free sea ~ 150–165 K, over land ~ 270 K), not for
radiance closure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from averse.twin.sensors.constellation import Channel

__all__ = ["ChannelOptics", "channel_optics", "brightness_temperatures"]

# Frequency (GHz) -> calm-sea emissivity at ~53° incidence (V, H).
_SEA_FREQ = np.array([10.65, 18.7, 23.8, 36.5, 89.0, 166.0, 190.0])
_SEA_V = np.array([0.60, 0.65, 0.67, 0.71, 0.82, 0.87, 0.89])
_SEA_H = np.array([0.33, 0.40, 0.42, 0.47, 0.60, 0.68, 0.72])
# Window channels: water-vapour (and non-raining cloud) optical depth (zenith, mean column), liquid optical
# depth per mm/h of rain, ice depression scale (K) and ice amount of half-saturation.
_WINDOW_FREQ = np.array([10.65, 18.7, 22.235, 23.8, 36.5, 89.0, 150.0, 166.0])
_WINDOW_VAPOUR = np.array([0.02, 0.08, 0.30, 0.25, 0.12, 0.30, 0.45, 0.50])
_WINDOW_LIQUID = np.array([0.012, 0.045, 0.06, 0.065, 0.14, 0.40, 0.50, 0.50])
_WINDOW_DEPRESSION = np.array([0.0, 8.0, 10.0, 10.0, 40.0, 130.0, 160.0, 160.0])
_WINDOW_HALF_ICE = np.array([40.0, 40.0, 40.0, 40.0, 20.0, 8.0, 5.0, 5.0])
# 183.31 GHz sounding channels by offset (GHz): cooling of the air at the weighting
# function's peak below the surface air (K), ice depression (K), ice half-saturation.
_SOUNDING = {1.0: (40.0, 60.0, 18.0), 3.0: (30.0, 90.0, 10.0), 7.0: (20.0, 120.0, 6.0)}
_LAND_EMISSIVITY = {"V": 0.95, "H": 0.91}
_RAIN_LAYER_COOLING = 8.0  # K below the surface air temperature
_WINDOW_LAYER_COOLING = 12.0
_COLDEST_TB = 60.0


@dataclass(frozen=True)
class ChannelOptics:
    """Parameters of the one-layer model for one channel (see the module notes).

    ``vapour_depth`` and ``liquid_per_mm_h`` are zenith optical depths (the
    vapour one for a mean column); ``layer_cooling`` is how much colder than
    the surface air the emitting layer is; a channel that does not
    ``sees_surface`` (183 GHz sounding) emits from its weighting function only.
    """

    sea_emissivity: float
    land_emissivity: float
    vapour_depth: float
    layer_cooling: float
    liquid_per_mm_h: float
    ice_depression: float
    ice_half_saturation: float
    sees_surface: bool


def _sounding_offset(channel: Channel) -> float | None:
    """Sideband offset (GHz) of a 183/190 GHz sounding channel, None for a window channel."""
    if channel.frequency_ghz > 185.0:  # 190.311 GHz behaves like 183.31±7
        return 7.0
    if abs(channel.frequency_ghz - 183.31) > 0.5:
        return None
    for token, offset in (("±1", 1.0), ("±3", 3.0), ("±6.6", 7.0), ("±7", 7.0)):
        if token in channel.label:
            return offset
    raise ValueError(f"channel {channel.label!r}: cannot tell its 183.31 GHz sideband")


def channel_optics(channel: Channel) -> ChannelOptics:
    """The model parameters of a channel, from its frequency, polarization and label."""
    pol = "H" if channel.polarization.endswith("H") else "V"
    log_f = np.log(channel.frequency_ghz)
    sea_v = np.interp(log_f, np.log(_SEA_FREQ), _SEA_V)
    sea_h = np.interp(log_f, np.log(_SEA_FREQ), _SEA_H)
    # Cross-track quasi-polarizations mix V and H: take the mean.
    sea = {"V": sea_v, "H": sea_h}[pol] if not channel.polarization.startswith("Q") else 0.5 * (sea_v + sea_h)
    offset = _sounding_offset(channel)
    if offset is not None:
        cooling, depression, half = _SOUNDING[offset]
        return ChannelOptics(float(sea), _LAND_EMISSIVITY[pol], 0.0, cooling, 0.0, depression, half, False)

    def interp(table):
        return float(np.interp(log_f, np.log(_WINDOW_FREQ), table))

    return ChannelOptics(
        float(sea),
        _LAND_EMISSIVITY[pol],
        interp(_WINDOW_VAPOUR),
        _WINDOW_LAYER_COOLING,
        interp(_WINDOW_LIQUID),
        interp(_WINDOW_DEPRESSION),
        interp(_WINDOW_HALF_ICE),
        True,
    )


def brightness_temperatures(
    channels, incidence_deg: float, *, rain, ice, vapour, skin, air, land
) -> np.ndarray:
    """Brightness temperatures of every channel over a scene.

    Parameters
    ----------
    channels : sequence of Channel
    incidence_deg : float
        Earth incidence angle of the view.
    rain : ndarray
        Rain rate (mm/h) of liquid precipitation.
    ice : ndarray
        Ice aloft (mm/h equivalent).
    vapour : ndarray
        Column water-vapour index 0..1.
    skin, air : ndarray
        Surface skin temperature and surface air temperature (K).
    land : ndarray
        Land fraction 0..1.

    Returns
    -------
    ndarray
        float32 ``(n_channels,) + rain.shape`` in K.
    """
    mu = np.cos(np.deg2rad(incidence_deg))
    out = np.empty((len(channels),) + np.shape(rain), dtype="float32")
    for index, channel in enumerate(channels):
        optics = channel_optics(channel)
        if optics.sees_surface:
            emissivity = land * optics.land_emissivity + (1.0 - land) * optics.sea_emissivity
            vapour_depth = optics.vapour_depth * (0.6 + 0.8 * vapour)
            liquid_depth = optics.liquid_per_mm_h * rain
            depth = vapour_depth + liquid_depth
            layer_temperature = air - (
                vapour_depth * optics.layer_cooling + liquid_depth * _RAIN_LAYER_COOLING
            ) / np.maximum(depth, 1e-6)
            t = np.exp(-depth / mu)
            emitted = emissivity * skin * t + layer_temperature * (1.0 - t) * (1.0 + (1.0 - emissivity) * t)
        else:
            # Opaque water-vapour line: emission from above the rain; moister columns
            # lift the weighting function into colder air.
            emitted = air - optics.layer_cooling * (0.8 + 0.4 * vapour)
        depression = optics.ice_depression * (1.0 - np.exp(-ice / optics.ice_half_saturation))
        out[index] = np.maximum(emitted - depression * emitted / 280.0, _COLDEST_TB)
    return out
