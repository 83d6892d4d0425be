"""Passive-microwave overpass granules of the twin's constellation.

For every overpass (:mod:`.orbits`) of every satellite (:mod:`.constellation`)
the truth frame holding the overpass time is read (only those frames, a few at
a time), the 1-km scene is built — rain, its convective part, the shared hidden
clouds (warm rain, ice aloft, water vapour) and the surface — and each
instrument

- computes its channels' brightness temperatures at 1 km (:mod:`.microwave`),
  smooths them with a Gaussian antenna pattern of the channel's footprint
  (growing with the scan angle for the cross-track sounder), samples them at
  the footprint centres and adds its radiometric noise: ``tb`` (K);
- retrieves its own ``precip`` (mm/h) the way its channels allow
  (:class:`~.constellation.RetrievalSkill`): imagers over the sea see the rain's
  liquid emission, everything over land and sounders everywhere see mostly the
  ice, converted with a climatological ice-to-rain ratio (that of the period's
  overpass scenes), so they over-estimate convection, under-estimate stratiform
  rain and miss warm rain while staying unbiased on the whole; the estimate is
  smoothed to the retrieval's resolution, has a log-normal random error and a
  detection threshold.

Granules hold whole scans cut to the region (``scan`` × ``pixel``), stacked
along ``granule``; footprints outside the region are NaN (their positions are
kept). The GPM overpasses also feed the space radar (:mod:`.dpr`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from averse.grid import RegularGrid
from averse.twin.sensors._clouds import CloudWeather
from averse.twin.sensors._swaths import FootprintSampler, Scene, granule_dataset, iter_scenes, static_fields
from averse.twin.sensors.constellation import INSTRUMENTS, SATELLITES, Instrument
from averse.twin.sensors.dpr import dpr_dataset, observe_dpr
from averse.twin.sensors.microwave import brightness_temperatures
from averse.twin.sensors.orbits import Overpass, SwathGeometry, overpasses, swath_geometry

__all__ = ["simulate_pmw", "RetrievalParts", "retrieval_parts", "plan_overpasses", "observe_granule", "PMW_STREAM"]

PMW_STREAM = 21
_ICE_PER_RAIN = 0.5  # ice-to-rain ratio of the retrievals when the period has no rain to calibrate it


@dataclass
class RetrievalParts:
    """A retrieval before its climatological calibration (both parts are linear in the scene).

    Attributes
    ----------
    liquid, ice : ndarray
        Footprint averages of the liquid rain and of the ice aloft, each already
        weighted by how much the instrument relies on it.
    noise : ndarray
        Multiplicative log-normal random error (mean 1).
    detection_mm_h : float
        Rates below it are reported as 0.
    """

    liquid: np.ndarray
    ice: np.ndarray
    noise: np.ndarray
    detection_mm_h: float

    def precip(self, ice_per_rain: float) -> np.ndarray:
        """The rain estimate (mm/h) once ice is converted with the climatological ratio."""
        estimate = (self.liquid + self.ice / ice_per_rain) * self.noise
        return np.where(estimate < self.detection_mm_h, 0.0, estimate).astype("float32")


def retrieval_parts(scene: Scene, instrument: Instrument, sampler: FootprintSampler, fwhm_km, rng) -> RetrievalParts:
    """What the instrument's own rain retrieval sees at its footprints.

    The liquid rain where its emission channels work (imagers over the sea),
    elsewhere mostly the ice aloft; smoothed to the retrieval's resolution, with
    a log-normal error (unbiased in the mean) and a detection threshold. The ice
    is turned into rain by a climatological ice-to-rain ratio
    (:meth:`RetrievalParts.precip`), as a retrieval trained on the region's
    climate would: convection (much ice) comes out too strong, stratiform rain
    (little ice) too weak, warm rain (none) is missed.
    """
    skill = instrument.retrieval
    sea = scene.land < 0.5
    liquid_weight = np.where(sea & skill.emission_over_sea, 1.0, skill.liquid_weight_land).astype("float32")
    resolution = skill.resolution_km if skill.resolution_km is not None else fwhm_km
    liquid = sampler.sample(liquid_weight * scene.rain, resolution)
    ice = sampler.sample((1.0 - liquid_weight) * scene.ice, resolution)
    noise = np.exp(skill.error_sigma * rng.standard_normal(liquid.shape) - 0.5 * skill.error_sigma**2)
    return RetrievalParts(liquid, ice, noise, skill.detection_mm_h)


def plan_overpasses(region, start, end, seed: int) -> list[tuple[Instrument, Overpass]]:
    """Every overpass of the constellation over the region in ``[start, end]``, by time."""
    plan = []
    for index, satellite in enumerate(SATELLITES):
        instrument = INSTRUMENTS[satellite.instrument]
        for overpass in overpasses(satellite, instrument, region, start, end, [int(seed), PMW_STREAM, index]):
            plan.append((instrument, overpass))
    return sorted(plan, key=lambda item: item[1].time)


def _granule_rng(seed: int, overpass: Overpass) -> np.random.Generator:
    """The random stream of one granule: seed, sensor stream, satellite and time."""
    satellite = SATELLITES.index(overpass.satellite)
    return np.random.default_rng([int(seed), PMW_STREAM, satellite, int(overpass.time.value // 10**9)])


def observe_granule(scene: Scene, instrument: Instrument, geometry: SwathGeometry, grid: RegularGrid, rng) -> dict:
    """``tb`` (scan, pixel, channel) and the :class:`RetrievalParts` (scan, pixel) of one granule.

    Conical imagers view the scene at their constant incidence; the
    cross-track sounder's brightness temperatures are computed at a nominal
    30° for the whole scan (its footprints do grow with the scan angle).
    """
    sampler = FootprintSampler(grid, geometry.x, geometry.y)
    scale = geometry.footprint_scale[None, :]
    incidence = float(np.mean(geometry.incidence_deg)) if instrument.scan == "conical" else 30.0
    tb = brightness_temperatures(
        instrument.channels, incidence, rain=scene.rain, ice=scene.ice, vapour=scene.vapour,
        skin=scene.skin, air=scene.air, land=scene.land,
    )
    out = np.empty(geometry.x.shape + (len(instrument.channels),), dtype="float32")
    for index, channel in enumerate(instrument.channels):
        sampled = sampler.sample(tb[index], channel.footprint_km * scale)
        out[..., index] = sampled + rng.normal(0.0, channel.noise_k, sampled.shape)
    nominal = instrument.channels[0].footprint_km if instrument.scan == "cross-track" else None
    fwhm = nominal * scale if nominal is not None else None
    return {"tb": out, "retrieval": retrieval_parts(scene, instrument, sampler, fwhm, rng)}


def simulate_pmw(truth: xr.Dataset, static: xr.Dataset, region, seed: int) -> tuple[dict[str, xr.Dataset], xr.Dataset]:
    """Granules of every microwave instrument, and of the space radar, over the truth period.

    Parameters
    ----------
    truth : xr.Dataset
        The twin truth (``precip``, ``convective``), dask-backed; only the frames
        holding an overpass are read.
    static : xr.Dataset
        ``dem`` and ``land_sea`` on the truth grid.
    region : averse.twin.regions.Region
    seed : int

    Returns
    -------
    pmw : dict of xr.Dataset
        One granule stack per instrument name (``gmi``, ``amsr2``, ``ssmis``, ``mhs``).
    dpr : xr.Dataset
        The space-radar granules of the GPM overpasses.
    """
    grid = RegularGrid.from_dataset(truth)
    times = pd.DatetimeIndex(truth["time"].values)
    step = pd.Timedelta(region.dt)
    plan = plan_overpasses(region, times[0] - step, times[-1], seed)
    by_frame: dict[int, list] = {}
    for instrument, overpass in plan:
        frame = int(np.searchsorted(times.values, overpass.time.to_datetime64(), side="left"))
        if frame < times.size and overpass.time > times[frame] - step:
            by_frame.setdefault(frame, []).append((instrument, overpass))
    weather = CloudWeather(region, seed)
    records: dict[str, list] = {name: [] for name in INSTRUMENTS}
    radar_records = []
    ice_total = rain_total = 0.0
    for frame, scene in iter_scenes(truth, by_frame, grid, static_fields(static, grid), weather):
        ice_total += float(scene.ice.sum())
        rain_total += float(scene.rain.sum())
        for instrument, overpass in by_frame[frame]:
            geometry = swath_geometry(instrument, overpass, region)
            record = observe_granule(scene, instrument, geometry, grid, _granule_rng(seed, overpass))
            record.update(geometry=geometry, overpass=overpass)
            records[instrument.name].append(record)
            if instrument.name == "gmi":
                radar_records.append(observe_dpr(scene, overpass, region, grid, seed))
    # The retrievals' climatological ice-to-rain ratio, from the period's overpass scenes
    # (standing in for the a-priori database a real retrieval is trained on).
    ice_per_rain = ice_total / rain_total if rain_total > 0 else _ICE_PER_RAIN
    for record in (r for recs in records.values() for r in recs):
        record["precip"] = record.pop("retrieval").precip(ice_per_rain)
    pmw = {
        name: granule_dataset(
            INSTRUMENTS[name], region, recs,
            title=f"{name.upper()}-like passive-microwave granules of the twin world",
            precip_comment="the sensor's own retrieval, with its error; NaN outside the twin domain",
        )
        for name, recs in records.items()
    }
    return pmw, dpr_dataset(region, radar_records)
