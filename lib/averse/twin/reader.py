"""Reader ``"twin"``: the twin world, generated on first use and cached as zarr.

``averse.open_dataset("twin")`` (or ``"twin", region="med", days=1``) lands
here. The world is looked up in the cache — root ``cache`` of
``data_catalog.yaml``, ``$AVERSE_CACHE`` or ``~/.cache/averse`` — under
``twin/<region>-<seed>-<days>-<hash>.zarr``, where the hash covers every
parameter of the region, the start, the generator version and the sensors'
version, so a changed generator never serves a stale world. A missing store is
generated under a lock file (two processes never build the same store at once;
the second waits and then reads what the first built) and published atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import xarray as xr

from averse.catalog import load_catalog, resolve_root
from averse.errors import DataFormatError
from averse.twin.regions import Region, get_region
from averse.twin.world import DEFAULT_START, GENERATOR_VERSION, generate

__all__ = ["NAME", "sniff", "open", "store_path", "cache_folder"]

NAME = "twin"
_TITLE = "averse twin world"


def sniff(path) -> bool:
    """True for a zarr store written by :func:`averse.twin.world.generate`."""
    meta = Path(path) / "zarr.json"
    if not meta.is_file():
        return False
    try:
        attrs = json.loads(meta.read_text(encoding="utf-8")).get("attributes", {})
    except (OSError, ValueError):
        return False
    return str(attrs.get("title", "")).startswith(_TITLE)


def cache_folder() -> Path:
    """Folder of the cached twin worlds: ``<cache root>/twin``."""
    return resolve_root(load_catalog(), "cache", "twin") / "twin"


def _sensors_version() -> str:
    try:
        from averse.twin import sensors
    except ImportError:
        return "none"
    return str(getattr(sensors, "VERSION", getattr(sensors, "__version__", "0")))


def store_path(region: Region, seed: int, days: float, start: pd.Timestamp, sensors: bool = True) -> Path:
    """Cache path of a world: ``twin/<region>-<seed>-<days>-<hash>.zarr``."""
    key = {
        "generator": GENERATOR_VERSION,
        "sensors": _sensors_version() if sensors else "off",
        "region": repr(region),
        "seed": int(seed),
        "days": float(days),
        "start": pd.Timestamp(start).isoformat(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return cache_folder() / f"{region.name}-{int(seed)}-{float(days):g}-{digest}.zarr"


@contextmanager
def _locked(store: Path):
    """Hold an exclusive lock file next to ``store`` (blocks while another process holds it)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    with store.with_name(store.name + ".lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_store(store: Path) -> xr.DataTree:
    if not sniff(store):
        raise DataFormatError(store, "not a twin-world zarr store (no root zarr.json titled 'averse twin world')")
    return xr.open_datatree(store, engine="zarr", chunks={})


def open(
    paths=None,
    *,
    region: str | Region = "idf",
    seed: int = 0,
    days: float | None = None,
    start: str | pd.Timestamp | None = None,
    regenerate: bool = False,
    client=None,
    sensors: bool = True,
    block_steps: int | None = None,
) -> xr.DataTree:
    """Open a twin world (lazy, dask-backed DataTree), generating it on first use.

    Parameters
    ----------
    paths : path or list of one path, optional
        An existing twin store to open; when given, the other arguments are ignored.
    region : str or Region
        Region name (``"idf"``, ``"med"``, ``"xband"``, ``"france"``, ``"europe_wide"``).
    seed : int
        Seed of the world.
    days : float, optional
        Length of the period; default the region's ``default_days``.
    start : str or Timestamp, optional
        UTC start; default 2021-06-01 00:00.
    regenerate : bool
        Build the world again even if it is cached.
    client : distributed.Client or str, optional
        Dask client or scheduler address for the generation.
    sensors : bool
        Include the satellite sensors.
    block_steps : int, optional
        Time steps per chunk of the generated store.

    Returns
    -------
    xr.DataTree
        Groups ``/static``, ``/truth``, ``/radar`` and the sensor groups.

    Raises
    ------
    DataFormatError
        When ``paths`` is not a twin-world store.
    """
    if paths is not None:
        candidates = [paths] if isinstance(paths, (str, Path)) else list(paths)
        if len(candidates) != 1:
            raise ValueError(f"the twin reader opens one store at a time, got {len(candidates)} paths")
        return _open_store(Path(candidates[0]))
    region = get_region(region)
    days = region.default_days if days is None else float(days)
    start = pd.Timestamp(start if start is not None else DEFAULT_START)
    store = store_path(region, seed, days, start, sensors)
    with _locked(store):
        if regenerate or not store.exists():
            generate(
                region,
                seed=seed,
                start=start,
                days=days,
                store=store,
                client=client,
                sensors=sensors,
                block_steps=block_steps,
                overwrite=True,
            )
    return _open_store(store)
