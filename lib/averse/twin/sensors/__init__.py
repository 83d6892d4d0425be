"""What the satellites see of the twin world.

:func:`observe` takes the stored truth (dask-backed, never loaded whole) and
returns one dataset per product, keyed by its group in the twin store:

- ``"seviri"`` — geostationary IR ``ir_108``, ``ir_120``, ``wv_062`` (K), ~3 km
  every 15 min (:mod:`.seviri`); lazy, computed block by block in time;
- ``"pmw/gmi"``, ``"pmw/amsr2"``, ``"pmw/ssmis"``, ``"pmw/mhs"`` — overpass
  granules of a microwave constellation: ``tb`` (granule, scan, pixel,
  channel) and each sensor's own ``precip`` retrieval (:mod:`.pmw`);
- ``"dpr"`` — space-radar ``precip`` on the GPM overpasses (:mod:`.dpr`);
- ``"imerg"`` — an IMERG-like 0.1°/30-min merge with the V07 variable names and
  the aggregated truth for scoring (:mod:`.imerg`).

All sensors share the same hidden clouds (:mod:`._clouds`: warm rain, ice
aloft, cirrus, humidity), so their disagreements come from their physics.
Every random draw is seeded from ``(seed, sensor stream, time)``: the same
world always gives the same observations.
"""

from __future__ import annotations

import dask
import xarray as xr

from averse.twin.sensors.imerg import build_imerg, imerg_inputs
from averse.twin.sensors.pmw import simulate_pmw
from averse.twin.sensors.seviri import simulate_seviri

__all__ = ["observe", "PRODUCTS", "VERSION"]

VERSION = "1.0"
"""Version of the sensor simulation; part of the twin cache key (change it when outputs change)."""
PRODUCTS = ("seviri", "pmw/gmi", "pmw/amsr2", "pmw/ssmis", "pmw/mhs", "dpr", "imerg")
_PERSIST_BYTES = 256 * 2**20  # imagery smaller than this is computed once and kept in memory


def observe(truth: xr.Dataset, static: xr.Dataset, region, seed: int) -> dict[str, xr.Dataset]:
    """Simulate every satellite product of the twin from its stored truth.

    Parameters
    ----------
    truth : xr.Dataset
        ``precip``, ``u``, ``v``, ``convective`` on ``(time, y, x)``, dask-backed
        (as re-opened from the store), following :mod:`averse.datamodel`.
    static : xr.Dataset
        ``dem`` and ``land_sea`` on the truth grid.
    region : averse.twin.regions.Region
        The box (mean wind, geostationary satellite position, time step).
    seed : int
        Seed of the world.

    Returns
    -------
    dict of xr.Dataset
        Keyed by store group (:data:`PRODUCTS`). ``seviri`` may be dask-backed
        (it is kept lazy on large domains and computes block by block); the
        others are small and in memory.
    """
    seviri = simulate_seviri(truth, static, region, seed)
    inputs = imerg_inputs(truth, seviri, region)
    gridded = {k: inputs[k] for k in ("truth", "tb", "u", "v")}
    if seviri.nbytes <= _PERSIST_BYTES:
        # One pass over the truth for the imagery (kept for the store writer) and the merge's inputs.
        seviri, gridded = dask.persist(seviri, gridded)
    else:
        (gridded,) = dask.compute(gridded)  # small 0.1° fields; the imagery stays lazy
    inputs.update(gridded)
    pmw, dpr = simulate_pmw(truth, static, region, seed)
    imerg = build_imerg(inputs, pmw, region, seed)
    products = {"seviri": seviri}
    products.update({f"pmw/{name}": ds for name, ds in pmw.items()})
    products["dpr"] = dpr
    products["imerg"] = imerg
    return products
