"""Swaths of low-orbit sensors over the twin's 1-km truth.

- :class:`Scene`: the 1-km state at an overpass time — rain, its convective
  part, the hidden clouds shared by all sensors (warm rain, ice aloft, water
  vapour) and the surface temperatures;
- :class:`FootprintSampler`: Gaussian antenna-pattern averages of 1-km fields
  at footprint centres (fixed or varying footprint sizes);
- :func:`iter_scenes`: the scenes of selected truth frames, read a few frames
  at a time so memory stays bounded on large domains;
- :func:`granule_dataset`: granules of one instrument stacked along ``granule``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
import xarray as xr
from scipy import ndimage

from averse.datamodel import precip_attrs
from averse.grid import RegularGrid
from averse.twin.sensors._clouds import CloudWeather
from averse.twin.sensors._physics import surface_temperatures
from averse.twin.sensors.constellation import Instrument

__all__ = ["Scene", "FootprintSampler", "iter_scenes", "static_fields", "granule_dataset"]

_FOOTPRINT_LEVELS = 6  # smoothing levels spanning the footprint sizes of a cross-track scan
_FRAMES_PER_READ = 8


@dataclass
class Scene:
    """The 1-km state of the twin at an overpass time.

    Attributes
    ----------
    time : Timestamp
    rain, convective_rain, warm, ice, vapour, skin, air, land : ndarray
        ``(ny, nx)`` fields: rain and its convective part (mm/h), warm-rain share,
        ice aloft (mm/h eq.), water-vapour index, skin and air temperatures (K),
        land fraction.
    """

    time: pd.Timestamp
    rain: np.ndarray
    convective_rain: np.ndarray
    warm: np.ndarray
    ice: np.ndarray
    vapour: np.ndarray
    skin: np.ndarray
    air: np.ndarray
    land: np.ndarray

    @classmethod
    def build(cls, time, precip, convective_share, grid: RegularGrid, static: dict, weather: CloudWeather) -> "Scene":
        """Scene from one truth frame (``precip`` mm/h and its convective share)."""
        rain = np.nan_to_num(np.asarray(precip, dtype="float32"))
        convective = rain * np.clip(np.nan_to_num(convective_share), 0.0, 1.0)
        _, warm = weather.rain_cloud(grid.x, grid.y, time, rain, convective)
        skin, air = surface_temperatures(time, static["lat"], static["lon"], static["land"], static["dem"])
        return cls(
            time=pd.Timestamp(time),
            rain=rain,
            convective_rain=convective,
            warm=warm,
            ice=weather.ice_aloft(rain, convective, warm),
            vapour=weather.water_vapour(grid.x, grid.y, time),
            skin=skin.astype("float32"),
            air=air.astype("float32"),
            land=static["land"],
        )


class FootprintSampler:
    """Gaussian antenna-pattern averages of 1-km fields at footprint centres.

    Parameters
    ----------
    grid : RegularGrid
        The 1-km grid of the fields.
    x, y : ndarray
        Footprint centres (m), any shape.
    """

    def __init__(self, grid: RegularGrid, x: np.ndarray, y: np.ndarray):
        self.grid = grid
        self.rows = (np.asarray(y) - grid.y[0]) / grid.dy
        self.cols = (np.asarray(x) - grid.x[0]) / grid.dx
        ny, nx = grid.shape
        self.inside = (self.rows >= -0.5) & (self.rows <= ny - 0.5) & (self.cols >= -0.5) & (self.cols <= nx - 0.5)

    def _smoothed_samples(self, field: np.ndarray, fwhm_km: float, coords: np.ndarray) -> np.ndarray:
        """Gaussian average of ``field`` (FWHM ``fwhm_km``) interpolated at ``coords`` (rows, cols).

        Wide footprints are smoothed on a block-averaged grid (at least two
        coarse cells per standard deviation; the block average's own variance is
        taken out of the Gaussian), so the cost does not grow with the footprint.
        """
        sigma = fwhm_km * 1000.0 / 2.3548 / abs(self.grid.dx)
        factor = max(1, int(sigma // 2))
        if factor > 1:
            ny, nx = field.shape
            padded = np.pad(field, ((0, -ny % factor), (0, -nx % factor)), mode="edge")
            field = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).mean(axis=(1, 3))
            sigma = np.sqrt(max(sigma**2 - (factor**2 - 1) / 12.0, 0.25)) / factor
            coords = (coords + 0.5) / factor - 0.5
        smoothed = ndimage.gaussian_filter(field, sigma, mode="nearest", truncate=3.0)
        return ndimage.map_coordinates(smoothed, coords, order=1, mode="nearest")

    def sample(self, field: np.ndarray, fwhm_km) -> np.ndarray:
        """Footprint averages (NaN outside the grid).

        Parameters
        ----------
        field : ndarray
            ``(ny, nx)`` values on the grid.
        fwhm_km : float or ndarray
            Footprint size; an array broadcastable to the footprints for
            footprints that vary (interpolated between a few smoothing levels).
        """
        out = np.full(self.rows.shape, np.nan, dtype="float32")
        if not self.inside.any():
            return out
        coords = np.stack([self.rows[self.inside], self.cols[self.inside]])
        fwhm = np.broadcast_to(np.asarray(fwhm_km, dtype="float64"), self.rows.shape)[self.inside]
        low, high = float(fwhm.min()), float(fwhm.max())
        if high - low < 1e-6 * high:
            out[self.inside] = self._smoothed_samples(field, low, coords)
            return out
        levels = np.linspace(low, high, _FOOTPRINT_LEVELS)
        samples = np.stack([self._smoothed_samples(field, level, coords) for level in levels])
        position = np.interp(fwhm, levels, np.arange(levels.size))
        below = np.clip(np.floor(position).astype(int), 0, levels.size - 2)
        weight = position - below
        picked = np.take_along_axis(samples, below[None], 0)[0] * (1 - weight)
        picked += np.take_along_axis(samples, below[None] + 1, 0)[0] * weight
        out[self.inside] = picked
        return out


def static_fields(static: xr.Dataset, grid: RegularGrid) -> dict:
    """Land fraction, terrain height and lat/lon of the truth grid as numpy arrays."""
    lon, lat = grid.lonlat()
    return {
        "land": static["land_sea"].values.astype("float32"),
        "dem": static["dem"].values.astype("float32"),
        "lat": lat,
        "lon": lon,
    }


def iter_scenes(truth: xr.Dataset, frames, grid: RegularGrid, static: dict, weather: CloudWeather) -> Iterator[tuple[int, Scene]]:
    """``(frame, Scene)`` for the given truth frame indices, in order, read a few at a time."""
    frames = sorted(frames)
    times = pd.DatetimeIndex(truth["time"].values)
    for first in range(0, len(frames), _FRAMES_PER_READ):
        batch = frames[first:first + _FRAMES_PER_READ]
        block = truth[["precip", "convective"]].isel(time=batch).compute()
        for i, frame in enumerate(batch):
            yield frame, Scene.build(
                times[frame], block["precip"].values[i], block["convective"].values[i], grid, static, weather
            )


def granule_dataset(instrument: Instrument, region, records: list[dict], *, title: str, precip_comment: str) -> xr.Dataset:
    """Stack the granules of one instrument along ``granule``.

    Parameters
    ----------
    instrument : Instrument
        The instrument (no channels: no ``tb``, as for a radar).
    region : averse.twin.regions.Region
    records : list of dict
        Per granule, in time order: ``geometry`` (SwathGeometry), ``overpass``,
        ``precip`` (scan, pixel) and, with channels, ``tb`` (scan, pixel, channel).
    title, precip_comment : str
        Dataset title and comment of the ``precip`` variable.
    """
    n_scan = records[0]["geometry"].x.shape[0] if records else 0
    dims = ("granule", "scan", "pixel")
    shape = (len(records), n_scan, instrument.n_pixels)

    def stack(values, dtype="float64"):
        return np.stack(values) if records else np.empty(shape, dtype)

    geometries = [r["geometry"] for r in records]
    x = stack([g.x for g in geometries])
    y = stack([g.y for g in geometries])
    lon, lat = pyproj.Transformer.from_crs(region.crs, "EPSG:4326", always_xy=True).transform(x, y)
    precip = stack([r["precip"] for r in records], dtype="float32")
    time = np.stack([g.time for g in geometries]) if records else np.empty(shape[:2], "datetime64[ns]")
    data = {
        "precip": (dims, precip, precip_attrs(
            None, "rate", long_name=f"{instrument.name} surface precipitation", comment=precip_comment)),
    }
    coords = {
        "time": (("granule", "scan"), time,
                 {"long_name": "scan time (UTC)", "standard_name": "time"}),
        "x": (dims, x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        "y": (dims, y, {"standard_name": "projection_y_coordinate", "units": "m"}),
        "lat": (dims, lat, {"standard_name": "latitude", "units": "degrees_north"}),
        "lon": (dims, lon, {"standard_name": "longitude", "units": "degrees_east"}),
        "satellite": ("granule", np.array([r["overpass"].satellite.name for r in records], dtype=object)),
        "node": ("granule", np.array([r["overpass"].node for r in records], dtype=object)),
        "overpass_time": ("granule", np.array([r["overpass"].time.to_datetime64() for r in records], "datetime64[ns]"),
                          {"long_name": "time of closest approach to the region centre (UTC)"}),
        "heading_deg": ("granule", np.array([r["overpass"].heading_deg for r in records]),
                        {"long_name": "ground-track heading, clockwise from north", "units": "degree"}),
    }
    if instrument.channels:
        tb = np.stack([r["tb"] for r in records]) if records else np.empty(shape + (len(instrument.channels),), "float32")
        data["tb"] = (dims + ("channel",), tb, {
            "long_name": "brightness temperature", "units": "K",
            "standard_name": "brightness_temperature", "cell_methods": "time: point",
        })
        coords.update({
            "channel": ("channel", np.array([c.label for c in instrument.channels], dtype=object)),
            "frequency_ghz": ("channel", np.array([c.frequency_ghz for c in instrument.channels]), {"units": "GHz"}),
            "polarization": ("channel", np.array([c.polarization for c in instrument.channels], dtype=object)),
            "footprint_km": ("channel", np.array([c.footprint_km for c in instrument.channels]),
                             {"long_name": "3-dB footprint (geometric mean) at nadir or on the cone", "units": "km"}),
        })
    if records:
        coords["incidence_deg"] = ("pixel", records[0]["geometry"].incidence_deg, {"units": "degree"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({
        "title": title,
        "sensor": instrument.name,
        "scan_kind": instrument.scan,
        "imerg_sensor_code": int(instrument.imerg_code),
        "swath_width_km": float(instrument.swath_km or 2.0 * _max_cross_distance(records)),
        "pixels_per_scan": int(instrument.n_pixels),
        "scan_spacing_km": float(instrument.scan_spacing_km),
        "retrieval_resolution_km": float(instrument.retrieval.resolution_km or instrument.channels[0].footprint_km),
        "crs": region.crs,
        "granule_convention": "whole scans cut to the region; footprints outside the twin domain are NaN",
    })
    return ds


def _max_cross_distance(records) -> float:
    """Largest distance (km) of a footprint from the ground track (0 without granules)."""
    if not records:
        return 0.0
    g = records[0]["geometry"]
    return float(np.hypot(g.x - g.nadir_x[:, None], g.y - g.nadir_y[:, None]).max() / 1000.0)
