"""Generate a twin world into a zarr DataTree, block by block, with Dask.

:func:`generate` writes ``/static`` (terrain), then ``/truth`` and ``/radar``
one time block after another, then asks :func:`averse.twin.sensors.observe`
what the satellites see of the stored truth and writes each of its products
under its own group. The truth is a sequential process (each block starts from
the state the previous one left), so the blocks form a chain of Dask tasks;
the radar simulation and the compressed writes of a block run beside the
generation of the next one. At most a few blocks are alive at once (block
``n + 2`` waits until block ``n`` is written), so memory stays bounded however
long or large the world — a France-sized domain over days included.

Work runs on Dask's threaded scheduler unless a ``client`` is given: a
``distributed.Client`` (``LocalCluster``, ``dask_jobqueue.SLURMCluster``...) or
the address of a scheduler. Workers then write their blocks straight into the
store, which must lie on a file system they all see.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import dask
import pandas as pd
import xarray as xr
import zarr

from averse.datamodel import precip_attrs
from averse.twin.radar import observe_radar, radar_geometry
from averse.twin.regions import Region, get_region
from averse.twin.static import build_static
from averse.twin.store import create_time_group, publish, temporary_path, write_block
from averse.twin.truth import TruthGenerator

__all__ = ["generate", "GENERATOR_VERSION", "DEFAULT_START", "default_block_steps", "n_steps_for"]

GENERATOR_VERSION = "1.0"
DEFAULT_START = "2021-06-01T00:00"

_BLOCK_BYTES = 64 * 2**20  # budget of one variable over one block
_MAX_BLOCK_STEPS = 12
_Y_AXIS_NOTE = "y increases northward with the row index (row 0 is the southern edge)"
# mantissa bits kept per stored variable (relative precision 2**-bits)
_BITS = {"precip": 12, "u": 10, "v": 10, "convective": 10, "quality": 8}


def n_steps_for(region: Region, days: float) -> int:
    """Number of time steps in ``days`` days (at least 1)."""
    steps = int(round(float(days) * region.steps_per_day))
    if steps < 1:
        raise ValueError(f"days={days!r} gives no {region.dt} step in region {region.name!r}")
    return steps


def default_block_steps(region: Region) -> int:
    """Time steps per block/chunk: a divisor of a day, at most 12, ~64 MiB per variable at most."""
    fit = max(1, min(_MAX_BLOCK_STEPS, _BLOCK_BYTES // (region.nx * region.ny * 4)))
    divisors = [d for d in range(1, fit + 1) if region.steps_per_day % d == 0]
    return max(divisors)


def _truth_variables(region: Region) -> dict[str, dict]:
    motion = "velocity of the rain pattern (steering wind); " + _Y_AXIS_NOTE
    return {
        "precip": precip_attrs(region.dt, "rate", long_name="true precipitation rate", source="twin truth"),
        "u": {"long_name": "eastward " + motion, "units": "m s-1", "cell_methods": "time: point"},
        "v": {"long_name": "northward " + motion, "units": "m s-1", "cell_methods": "time: point"},
        "convective": {
            "long_name": "convective share of the precipitation rate",
            "units": "1",
            "valid_range": [0.0, 1.0],
            "cell_methods": "time: point",
        },
    }


def _radar_variables(region: Region) -> dict[str, dict]:
    sites = ", ".join(f"{s.name} ({s.band}-band, {s.range_m / 1000:g} km)" for s in region.radars)
    return {
        "precip": precip_attrs(
            region.dt, "rate", long_name="radar precipitation rate", source=f"twin radar network: {sites}"
        ),
        "quality": {"long_name": "radar quality index", "units": "1", "valid_range": [0.0, 1.0]},
    }


def _initial_state(generator: TruthGenerator):
    return generator.initial_state()


def _run_block(generator: TruthGenerator, state, n_steps: int, _written_before=None):
    """Next block of the truth; ``_written_before`` only orders the task after an older write."""
    return generator.run(state, n_steps)


def _write_block(path: str, start: int, fields: dict, geometries, seed: int) -> None:
    """Write a block of truth, then simulate and write what the radar network sees of it."""
    write_block(Path(path), "truth", start, fields, _BITS)
    observed, quality = observe_radar(fields["precip"], fields["convective"], geometries, seed, start + 1)
    write_block(Path(path), "radar", start, {"precip": observed, "quality": quality}, _BITS)


@contextmanager
def _scheduler(client):
    """Dask scheduler to use: threads, a given distributed Client, or a Client connected to an address."""
    if client is None:
        with dask.config.set(scheduler="threads"):
            yield
        return
    if isinstance(client, str):
        from distributed import Client

        with Client(client) as connected, dask.config.set(scheduler=connected):
            yield
        return
    with dask.config.set(scheduler=client):
        yield


def _write_sensors(path: Path, region: Region, seed: int) -> None:
    """Let the sensors observe the stored truth and write each product under its group."""
    from averse.twin.sensors import observe

    truth = xr.open_dataset(path, group="truth", engine="zarr", chunks={}, consolidated=False)
    static = xr.open_dataset(path, group="static", engine="zarr", chunks={}, consolidated=False)
    for key, product in observe(truth, static, region, seed).items():
        product.to_zarr(path, group=key, mode="w", consolidated=False)


def generate(
    region: str | Region = "idf",
    *,
    seed: int = 0,
    start: str | pd.Timestamp = DEFAULT_START,
    days: float | None = None,
    store: str | Path,
    client=None,
    sensors: bool = True,
    block_steps: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Generate a twin world and write it to a zarr DataTree.

    Parameters
    ----------
    region : str or Region
        Region name (see :func:`averse.twin.regions.region_names`) or a Region.
    seed : int
        Seed; the same seed and parameters always give the same world.
    start : str or Timestamp
        UTC start; the first step is the interval ending at ``start + dt``.
    days : float, optional
        Length of the period; default ``region.default_days``.
    store : str or Path
        Path of the zarr store to create (built under a temporary name, then renamed).
    client : distributed.Client or str, optional
        Dask client or scheduler address; default: the threaded scheduler.
    sensors : bool
        Also simulate the satellite sensors (:func:`averse.twin.sensors.observe`).
    block_steps : int, optional
        Time steps per block and per chunk; default :func:`default_block_steps`.
    overwrite : bool
        Replace an existing store.

    Returns
    -------
    Path
        The store.
    """
    region = get_region(region)
    start = pd.Timestamp(start)
    if start.tzinfo is not None:
        start = start.tz_convert("UTC").tz_localize(None)
    days = region.default_days if days is None else float(days)
    n_steps = n_steps_for(region, days)
    block_steps = int(block_steps or default_block_steps(region))
    store = Path(store)
    if store.exists() and not overwrite:
        raise FileExistsError(f"{store} already exists; pass overwrite=True to replace it")
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(store)
    try:
        with _scheduler(client):
            _generate_into(tmp, region, seed, start, days, n_steps, block_steps, sensors)
        return publish(tmp, store, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _generate_into(
    path: Path,
    region: Region,
    seed: int,
    start: pd.Timestamp,
    days: float,
    n_steps: int,
    block_steps: int,
    sensors: bool,
) -> None:
    static = build_static(region, seed)
    attrs = {
        "title": f"averse twin world, region {region.name}",
        "generator_version": GENERATOR_VERSION,
        "region": region.name,
        "region_parameters": repr(region),
        "seed": int(seed),
        "start": start.isoformat(),
        "days": days,
        "time_convention": "time is the END of the averaging interval, UTC",
        "y_axis": _Y_AXIS_NOTE,
        "crs": region.crs,
    }
    static.to_zarr(path, group="static", mode="w", consolidated=False)
    zarr.open_group(str(path), mode="r+").attrs.update(attrs)

    times = pd.date_range(start + region.dt, periods=n_steps, freq=region.dt).values
    group_attrs = {"region": region.name, "seed": int(seed), "y_axis": _Y_AXIS_NOTE}
    create_time_group(path, "truth", _truth_variables(region), times, static, block_steps, group_attrs)
    create_time_group(path, "radar", _radar_variables(region), times, static, block_steps, group_attrs)

    dem = static["dem"].values
    generator = TruthGenerator(region, seed, start, dem, static["land_sea"].values.astype(bool), static["lon"].values)
    generator_task = dask.delayed(
        generator, name=f"twin-generator-{dask.base.tokenize(repr(region), seed, str(start))}"
    )
    geometry_task = dask.delayed(radar_geometry)(region, dem)
    state = dask.delayed(_initial_state)(generator_task)
    writes = []
    for block, first in enumerate(range(0, n_steps, block_steps)):
        size = min(block_steps, n_steps - first)
        waits_for = writes[block - 2] if block >= 2 else None
        state, fields = dask.delayed(_run_block, nout=2)(generator_task, state, size, waits_for)
        writes.append(dask.delayed(_write_block)(str(path), first, fields, geometry_task, seed))
    dask.compute(*writes)

    if sensors:
        _write_sensors(path, region, seed)
