"""DPR-like space radar on the GPM core satellite's overpasses.

The Dual-frequency Precipitation Radar looks down from the same platform as
GMI: its swath (FS mode) is centred on the ground track, 245 km wide, 49
beams of ~5 km footprint, a scan every ~5 km along the track. It measures the
rain profile directly, so its surface rate is close to the truth: the
footprint-averaged rain with a small log-normal error (12 %), and nothing below
its sensitivity (~0.2 mm/h). Its granules are aligned with the GMI ones:
granule ``i`` of ``/dpr`` is the overpass of granule ``i`` of ``/pmw/gmi``
(they share ``overpass_time``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from averse.grid import RegularGrid
from averse.twin.sensors._swaths import FootprintSampler, Scene, granule_dataset
from averse.twin.sensors.constellation import INSTRUMENTS, Instrument, RetrievalSkill
from averse.twin.sensors.orbits import Overpass, swath_geometry

__all__ = ["DPR", "observe_dpr", "dpr_dataset", "DPR_STREAM"]

DPR_STREAM = 22
_BEAMS = 49
_BEAM_SPACING_KM = 5.0

DPR = Instrument(
    name="dpr",
    scan="cross-track",
    imerg_code=0,
    altitude_km=INSTRUMENTS["gmi"].altitude_km,
    swath_km=245.0,
    n_pixels=_BEAMS,
    scan_spacing_km=5.0,
    channels=(),
    retrieval=RetrievalSkill(5.0, 0.12, 0.2, True, 1.0, 0.95),
)
"""The radar as an :class:`Instrument` (no radiometer channels; IMERG code 0: not a PMW source)."""


def observe_dpr(scene: Scene, overpass: Overpass, region, grid: RegularGrid, seed: int, instrument: Instrument = DPR) -> dict:
    """The radar granule of one GPM overpass: ``precip`` (scan, beam), NaN outside the region."""
    across = (np.arange(instrument.n_pixels) - (instrument.n_pixels - 1) / 2.0) * _BEAM_SPACING_KM
    geometry = swath_geometry(instrument, overpass, region, across_km=across)
    sampler = FootprintSampler(grid, geometry.x, geometry.y)
    skill = instrument.retrieval
    rain = sampler.sample(scene.rain, skill.resolution_km)
    rng = np.random.default_rng([int(seed), DPR_STREAM, int(overpass.time.value // 10**9)])
    rain = rain * np.exp(skill.error_sigma * rng.standard_normal(rain.shape) - 0.5 * skill.error_sigma**2)
    precip = np.where(rain < skill.detection_mm_h, 0.0, rain).astype("float32")
    return {"geometry": geometry, "overpass": overpass, "precip": precip}


def dpr_dataset(region, records: list[dict]) -> xr.Dataset:
    """Stack the radar granules along ``granule`` (same order as the GMI ones)."""
    ds = granule_dataset(
        DPR, region, records,
        title="DPR-like space-radar surface precipitation of the twin world (FS-like swath)",
        precip_comment="near-surface rain of a 5-km footprint, 12 % random error, 0 below 0.2 mm/h",
    )
    ds.attrs["footprint_km"] = float(DPR.retrieval.resolution_km)
    return ds
