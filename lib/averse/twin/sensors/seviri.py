"""SEVIRI-like geostationary infrared imagery of the twin world.

Three channels every 15 minutes on a ~3-km grid in the region's projection:
``ir_108`` and ``ir_120`` (split window) and ``wv_062`` (water vapour), in K.
They come from the clouds above the rain (:mod:`._clouds`), so that retrieving
rain from IR is as ill-posed as in reality:

- the rain cloud's top: cold towers over convection (200–220 K), nimbostratus
  over stratiform rain (230–255 K), and *warm* shallow rain with tops at
  265–280 K that IR misses;
- anvils: ice blown off convective cores, wider than the cores (10-km spread),
  lingering for an hour after the rain (decaying 30 % per slot) and drifting
  with the upper wind — cold pixels without rain;
- a non-raining cloud shield around stratiform rain (8-km spread), cooler
  than the surface but warmer than the rain cloud;
- semi-transparent cirrus (optical depth up to 2.5 at 9–11 km) mixed with
  what lies below in *radiance*; ice absorbs more at 12 µm than at 10.8 µm
  (ratio 1.25), so the split-window difference ``ir_108 - ir_120`` is large
  (3–8 K) over thin cirrus and ~0 over thick cloud; clear sky shows 1–5 K of
  water-vapour absorption;
- clear sky: the surface skin temperature (diurnal over land, ~280–300 K);
  ``wv_062`` sees upper-tropospheric humidity (~235–249 K) and only high clouds;
- parallax: each column appears displaced away from the sub-satellite point
  (northward over Europe) by ``H tan(zenith)``, ``H`` its emission-weighted
  height, and the sides of opaque clouds are seen between their base and top
  (drawn at a quarter, half and three quarters of the top height); where
  displaced things meet, the coldest (highest) one is seen.

Images are instantaneous (``time: point``) and driven by the 15-min mean truth
ending at the slot time, conservatively averaged onto the 3-km grid. Work is
done in dask time blocks: the truth is never loaded whole.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time
from averse.twin.sensors._clouds import CloudWeather
from averse.twin.sensors._physics import (
    geostationary_view,
    mix_layers,
    surface_temperatures,
    temperature_at_height,
)

__all__ = ["simulate_seviri", "seviri_grid", "complete_intervals", "quarter_hour_truth", "SEVIRI_STREAM", "CHANNELS", "SLOT"]

SEVIRI_STREAM = 20
SPACING_M = 3000.0
SLOT = pd.Timedelta("15min")
CHANNELS = {
    "ir_108": (10.8, "IR 10.8 µm brightness temperature"),
    "ir_120": (12.0, "IR 12.0 µm brightness temperature"),
    "wv_062": (6.25, "water vapour 6.2 µm brightness temperature"),
}
_ANVIL_LAGS = 4  # slots of anvil memory (1 h)
_ANVIL_DECAY = 0.7  # per slot
_ANVIL_SPREAD_M = 10e3
_SHIELD_SPREAD_M = 8e3
_ICE_ABSORPTION_108 = 0.5  # IR absorption optical depth per unit visible optical depth
_ICE_RATIO_120 = 1.25
_NOISE_K = 0.15
_SIDE_FRACTIONS = (0.25, 0.5, 0.75)  # heights (fractions of the top) at which cloud sides are drawn
_CLOUD_BASE_KM = 1.0
_SLOTS_PER_BLOCK = 32


def seviri_grid(grid: RegularGrid) -> RegularGrid:
    """The ~3-km imager grid: blocks of the truth grid (the truth grid itself if coarser)."""
    factor = max(1, int(round(SPACING_M / abs(grid.dx))))
    return grid.coarsen(factor) if factor > 1 else grid


def complete_intervals(times, interval, step) -> pd.DatetimeIndex:
    """End stamps of the ``interval``\\ s whose every ``step`` frame is in ``times``."""
    times = pd.DatetimeIndex(np.asarray(times))
    labels = times.ceil(interval)
    counts = pd.Series(1, index=labels).groupby(level=0).sum()
    return pd.DatetimeIndex(counts.index[counts.values == int(pd.Timedelta(interval) // pd.Timedelta(step))])


def quarter_hour_truth(truth: xr.Dataset, step) -> tuple[xr.DataArray, xr.DataArray, pd.DatetimeIndex]:
    """Rain and convective rain averaged over the complete 15-min slots (1-km, lazy).

    Returns the two DataArrays and the slot stamps. Calling it twice on the same
    truth gives the same dask graph, so products computed together share it.
    """
    slots = complete_intervals(truth["time"].values, SLOT, step)
    if slots.size == 0:
        raise ValueError(f"the truth ({truth.sizes['time']} frames) covers no complete {SLOT} slot")
    rain = aggregate_time(truth["precip"], SLOT, step=step).sel(time=slots)
    convective = aggregate_time(truth["precip"] * truth["convective"], SLOT, step=step).sel(time=slots)
    return rain, convective, slots


def _lagged(array: dsa.Array, lag: int) -> dsa.Array:
    """``array`` delayed by ``lag`` frames along axis 0 (zeros before the start)."""
    pad = dsa.zeros((lag,) + array.shape[1:], dtype=array.dtype, chunks=(lag,) + array.chunksize[1:])
    return dsa.concatenate([pad, array[:-lag]], axis=0).rechunk(array.chunks)


class _ImagerBlock:
    """Computes the three channels of a block of slots (a picklable callable for dask)."""

    def __init__(self, grid: RegularGrid, static: dict, region, seed: int, times: pd.DatetimeIndex):
        self.grid = grid
        self.static = static
        self.seed = int(seed)
        self.times = times
        self.weather = CloudWeather(region, seed)
        tan_zenith, azimuth = geostationary_view(static["lat"], static["lon"], region.satellite_lon, region.satellite_height)
        # Displacement (cells per km of cloud height) along rows and columns.
        self.shift_rows = tan_zenith * np.cos(azimuth) * 1000.0 / grid.dy
        self.shift_cols = tan_zenith * np.sin(azimuth) * 1000.0 / grid.dx
        u, v = self.weather.upper_wind
        self.drift_cells = (v * SLOT.total_seconds() / grid.dy, u * SLOT.total_seconds() / grid.dx)

    def anvil(self, sources: list[np.ndarray]) -> np.ndarray:
        """Anvil index: spread convective rain of the last hour, drifted and decayed."""
        anvil = sources[0].copy()
        for lag, source in enumerate(sources[1:], start=1):
            drifted = ndimage.shift(source, (lag * self.drift_cells[0], lag * self.drift_cells[1]), order=1, cval=0.0)
            np.maximum(anvil, _ANVIL_DECAY**lag * drifted, out=anvil)
        return anvil

    def __call__(self, rain, convective, *anvil_sources, block_info=None) -> np.ndarray:
        start = block_info[0]["array-location"][0][0]
        out = np.empty((3,) + rain.shape, dtype="float32")
        for i in range(rain.shape[0]):
            sources = [s[i] for s in anvil_sources]
            out[:, i] = self.image(start + i, rain[i], convective[i], self.anvil(sources))
        return out

    def image(self, slot: int, rain: np.ndarray, convective: np.ndarray, anvil: np.ndarray) -> np.ndarray:
        """``(3, ny, nx)`` brightness temperatures of one slot."""
        time = self.times[slot]
        st = self.static
        skin, air = surface_temperatures(time, st["lat"], st["lon"], st["land"], st["dem"])
        low_height, top_height, top_depth = self.clouds(time, np.nan_to_num(rain), np.nan_to_num(convective), anvil)
        channels, clear, emitting_height = self.radiances(time, skin, air, low_height, top_height, top_depth)
        sprites = [(channels, emitting_height, np.ones(emitting_height.shape, bool))]
        # The sides of opaque clouds, seen obliquely between their base and their top.
        for fraction in _SIDE_FRACTIONS:
            side_height = fraction * low_height
            side = temperature_at_height(air, side_height)
            values = np.stack([side, side, np.minimum(clear[2], side + 1.5)])
            sprites.append((values, side_height, side_height >= _CLOUD_BASE_KM))
        seen = _parallax(sprites, clear, self.shift_rows, self.shift_cols)
        rng = np.random.default_rng([self.seed, SEVIRI_STREAM, int(time.value // 10**9)])
        return (seen + rng.normal(0.0, _NOISE_K, seen.shape)).astype("float32")

    def clouds(self, time, rain, convective, anvil) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Height of the opaque lower layer, height and optical depth of the ice above it (km, km, 1).

        The lower layer is the rain cloud, or the shield of cloud around
        stratiform rain; the upper one anvils and cirrus.
        """
        x, y = self.grid.x, self.grid.y
        height, _ = self.weather.rain_cloud(x, y, time, rain, convective)
        shield = ndimage.gaussian_filter(rain - np.minimum(convective, rain), _SHIELD_SPREAD_M / abs(self.grid.dx))
        shield_height = np.where(shield > 0.05, 3.5 + 2.5 * np.clip(shield, 0.0, 1.0), 0.0)
        low_height = np.where(height > 0, height, shield_height)
        anvil_depth = 6.0 * (1.0 - np.exp(-anvil))
        anvil_height = 10.0 + 1.8 * (1.0 - np.exp(-anvil / 2.0))
        cirrus_depth, cirrus_height = self.weather.cirrus(x, y, time)
        top_depth = anvil_depth + cirrus_depth
        top_height = (anvil_depth * anvil_height + cirrus_depth * cirrus_height) / np.maximum(top_depth, 1e-6)
        return low_height, top_height, top_depth

    def radiances(self, time, skin, air, low_height, top_height, top_depth):
        """The three channels of the layered columns, their clear-sky values and emitting heights."""
        x, y = self.grid.x, self.grid.y
        low_temperature = temperature_at_height(air, low_height)
        top_temperature = temperature_at_height(air, top_height)
        emissivity_108 = 1.0 - np.exp(-_ICE_ABSORPTION_108 * top_depth)
        emissivity_120 = 1.0 - np.exp(-_ICE_ABSORPTION_108 * _ICE_RATIO_120 * top_depth)
        # Clear sky: the surface seen through water vapour (more absorbing at 12 µm).
        absorption_108 = 1.0 + 2.0 * self.weather.water_vapour(x, y, time)
        wv_clear = 242.0 - 14.0 * (self.weather.upper_humidity(x, y, time) - 0.5)
        clear = np.stack([skin - absorption_108, skin - 1.8 * absorption_108, wv_clear])
        cloudy = low_height > 0
        below = np.where(cloudy, low_temperature, clear[:2])
        below_wv = np.where(cloudy, np.minimum(wv_clear, low_temperature + 1.5), wv_clear)
        channels = np.stack(
            [
                mix_layers(top_temperature, emissivity_108, below[0], CHANNELS["ir_108"][0]),
                mix_layers(top_temperature, emissivity_120, below[1], CHANNELS["ir_120"][0]),
                mix_layers(np.minimum(top_temperature + 1.0, wv_clear), emissivity_108, below_wv, CHANNELS["wv_062"][0]),
            ]
        )
        emitting_height = emissivity_108 * top_height + (1.0 - emissivity_108) * low_height
        return channels, clear, emitting_height


def _parallax(sprites, clear, shift_rows, shift_cols) -> np.ndarray:
    """What the satellite sees: every sprite moved by parallax, the coldest wins.

    Parameters
    ----------
    sprites : list of (values, height_km, mask)
        ``values`` ``(3, ny, nx)`` brightness temperatures of something at
        ``height_km`` above each cell (a whole column at its emitting height,
        the side of a cloud at some height), used where ``mask``.
    clear : ndarray
        ``(3, ny, nx)`` clear-sky values, seen where nothing lands.
    shift_rows, shift_cols : ndarray
        Cells of displacement per km of height.
    """
    ny, nx = clear.shape[1:]
    rows, cols = np.indices((ny, nx))
    dests, values = [], []
    for sprite_values, height, mask in sprites:
        dest_r = rows + np.rint(height * shift_rows).astype(int)
        dest_c = cols + np.rint(height * shift_cols).astype(int)
        keep = mask & (dest_r >= 0) & (dest_r < ny) & (dest_c >= 0) & (dest_c < nx)
        dests.append((dest_r * nx + dest_c)[keep])
        values.append(sprite_values[:, keep])
    dest = np.concatenate(dests)
    value = np.concatenate(values, axis=1)
    # One key per sprite, ordered by its 10.8-µm temperature (mK), carrying its index:
    # the minimum key landing on a cell is the coldest sprite there.
    key = (np.rint(value[0] * 1000.0).astype(np.int64) << 32) + np.arange(dest.size, dtype=np.int64)
    best = np.full(ny * nx, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, dest, key)
    reached = np.flatnonzero(best != np.iinfo(np.int64).max)
    out = clear.reshape(3, -1).copy()
    out[:, reached] = value[:, best[reached] & 0xFFFFFFFF]
    return out.reshape(clear.shape)


def _static_on(grid: RegularGrid, regridder: ConservativeRegridder, static: xr.Dataset) -> dict:
    """Land fraction, mean terrain height and cell-centre lat/lon on the imager grid."""
    land = regridder.regrid_array(static["land_sea"].values.astype("float32"), min_coverage=0.0)
    dem = regridder.regrid_array(static["dem"].values.astype("float32"), min_coverage=0.0)
    lon, lat = grid.lonlat()
    return {"land": np.nan_to_num(land), "dem": np.nan_to_num(dem), "lat": lat, "lon": lon}


def simulate_seviri(truth: xr.Dataset, static: xr.Dataset, region, seed: int) -> xr.Dataset:
    """SEVIRI-like ``ir_108``, ``ir_120``, ``wv_062`` (K) every 15 min on a ~3-km grid.

    Parameters
    ----------
    truth : xr.Dataset
        The twin truth (``precip``, ``convective`` on ``(time, y, x)``), dask-backed.
    static : xr.Dataset
        ``dem`` and ``land_sea`` on the truth grid.
    region : averse.twin.regions.Region
        The box (mean wind, geostationary sub-satellite longitude and height).
    seed : int
        Seed of the world.

    Returns
    -------
    xr.Dataset
        Lazy (dask) channels on ``(time, y, x)`` of the imager grid; ``time``
        are the slots whose 15 minutes the truth covers completely.
    """
    grid = RegularGrid.from_dataset(truth)
    imager = seviri_grid(grid)
    regridder = ConservativeRegridder(grid, imager)
    rain, convective, slots = quarter_hour_truth(truth, pd.Timedelta(region.dt))
    chunks = {"time": _SLOTS_PER_BLOCK}
    rain = regridder.regrid(rain, min_coverage=0.99).chunk(chunks).data
    convective = regridder.regrid(convective, min_coverage=0.99).chunk(chunks).data
    sigma = _ANVIL_SPREAD_M / abs(imager.dx)
    source = dsa.map_blocks(
        lambda c: ndimage.gaussian_filter(np.nan_to_num(c), (0, sigma, sigma)), convective, dtype="float32"
    )
    lags = [source] + [_lagged(source, lag) for lag in range(1, min(_ANVIL_LAGS, slots.size - 1) + 1)]
    block = _ImagerBlock(imager, _static_on(imager, regridder, static), region, seed, slots)
    stacked = dsa.map_blocks(
        block, rain, convective, *lags, new_axis=0, chunks=((3,),) + rain.chunks, dtype="float32"
    )
    data = {}
    for index, (name, (wavelength, long_name)) in enumerate(CHANNELS.items()):
        data[name] = xr.Variable(
            ("time", "y", "x"),
            stacked[index],
            {
                "long_name": long_name,
                "units": "K",
                "standard_name": "toa_brightness_temperature",
                "wavelength_um": wavelength,
                "cell_methods": "time: point",
            },
        )
    ds = xr.Dataset(data, coords={"time": ("time", slots.values, {"standard_name": "time"})})
    ds = imager.attach(ds)
    ds.attrs.update(
        {
            "title": "SEVIRI-like geostationary infrared imagery of the twin world",
            "platform_kind": "geostationary",
            "satellite_lon": float(region.satellite_lon),
            "satellite_height_m": float(region.satellite_height),
            "repeat_cycle": "15 minutes",
            "comment": (
                "brightness temperatures of the clouds above the twin's rain: convective towers, anvils, "
                "nimbostratus, warm shallow rain, cirrus; parallax applied (columns displaced away from the "
                "sub-satellite point by height*tan(zenith))"
            ),
        }
    )
    return ds
