"""The twin world's machinery: regions, terrain, determinism, chunked generation, store and cache.

Worlds are generated without the satellite sensors (``sensors=False``) so these
tests check the core alone; small boxes and short periods keep them fast.
"""

import json
import subprocess
import sys
import threading
import time

import averse
import dask.array
import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr
from averse.errors import DataFormatError
from averse.twin import reader, world
from averse.twin.regions import REGIONS, get_region
from averse.twin.static import build_static, terrain
from averse.twin.store import keep_bits
from averse.twin.truth import TruthGenerator

SMALL_IDF = get_region("idf", nx=64, ny=64)


def _generator(region, seed=0, start="2021-06-01T12:00"):
    dem, land = terrain(region, seed)
    static = build_static(region, seed)
    return TruthGenerator(region, seed, start, dem, land, static["lon"].values)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("twin_core") / "idf.zarr"
    return world.generate(SMALL_IDF, seed=3, days=2 / 24, store=store, sensors=False, block_steps=6)


# --- regions and terrain ------------------------------------------------------------------


def test_regions_registry_and_overrides():
    assert {"idf", "med", "xband", "france", "europe_wide"} <= set(REGIONS)
    small = get_region("med", nx=32, ny=48)
    assert (small.nx, small.ny, small.name) == (32, 48, "med")
    assert small.radars == REGIONS["med"].radars
    with pytest.raises(KeyError, match="known regions"):
        get_region("atlantis")


def test_region_grid_and_projection():
    idf = get_region("idf")
    crs = pyproj.CRS(idf.crs)
    assert crs.coordinate_operation.method_name == "Lambert Azimuthal Equal Area"
    assert np.allclose(np.diff(idf.y), idf.dx) and np.isclose(idf.y.mean(), 0.0)  # y increases northward with the row
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(0.0, 0.0)
    assert np.isclose(lat, idf.center_lat) and np.isclose(lon, idf.center_lon)
    assert idf.steps_per_day == 288
    assert REGIONS["xband"].dx == 250.0 and REGIONS["xband"].radars[0].band == "X"
    assert REGIONS["france"].nx * REGIONS["france"].dx >= 1.4e6


def test_terrain_per_region():
    dem, land = terrain(get_region("idf"), 0)
    assert land.all()
    low, high = np.percentile(dem, [2, 98])
    assert 15 <= low and high <= 260, "Ile-de-France is flat: about 20-200 m"

    dem, land = terrain(get_region("med"), 0)
    assert dem.max() > 1500 and dem.max() < 3500
    assert land[:20].mean() < 0.05 and land[-20:].all(), "the Mediterranean box has its sea in the south"
    assert (dem[~land] == 0).all()


def test_static_group_follows_the_data_model():
    static = build_static(SMALL_IDF, 0)
    assert static["dem"].attrs["units"] == "m"
    assert set(np.unique(static["land_sea"])) <= {0, 1}
    assert {"x", "y", "lat", "lon", "spatial_ref"} <= set(static.coords)
    assert static["lat"].values[-1, 0] > static["lat"].values[0, 0], "row index increases northward"


# --- truth generator ----------------------------------------------------------------------


def test_same_seed_same_world_and_other_seed_other_world():
    def six_steps(seed):
        generator = _generator(SMALL_IDF, seed=seed)
        return generator.run(generator.initial_state(), 6)[1]

    first, second, third = six_steps(5), six_steps(5), six_steps(6)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert not np.array_equal(first["u"], third["u"])
    assert not np.array_equal(first["precip"], third["precip"])


def test_blocks_carry_the_state():
    generator = _generator(SMALL_IDF, seed=2)
    _, whole = generator.run(generator.initial_state(), 9)
    state, head = generator.run(generator.initial_state(), 4)
    _, tail = generator.run(state, 5)
    for name in whole:
        np.testing.assert_array_equal(whole[name], np.concatenate([head[name], tail[name]]))


def test_truth_fields_are_physical():
    generator = _generator(get_region("idf", nx=96, ny=96), seed=0)
    _, fields = generator.run(generator.initial_state(), 12)
    precip, share = fields["precip"], fields["convective"]
    assert precip.dtype == np.float32 and precip.shape == (12, 96, 96)
    assert (precip >= 0).all() and np.isfinite(precip).all()
    assert (share >= 0).all() and (share <= 1).all() and (share[precip == 0] == 0).all()
    speed = np.hypot(fields["u"], fields["v"])
    assert 1 < speed.mean() < 20


def test_keep_bits_rounds_the_mantissa_only():
    values = np.array([0.0, 1.2345678, -7.654321, 1e-20, np.nan], dtype="float32")
    rounded = keep_bits(values, 10)
    np.testing.assert_allclose(rounded[:4], values[:4], rtol=2**-10)
    assert rounded[0] == 0 and np.isnan(rounded[4])
    assert (rounded[1:3].view(np.uint32) & np.uint32((1 << 13) - 1) == 0).all()


# --- store ---------------------------------------------------------------------------------


def test_store_layout_and_conventions(small_store):
    tree = xr.open_datatree(small_store, engine="zarr", chunks={})
    assert {"/static", "/truth", "/radar"} <= set(tree.groups)
    truth = tree["truth"].to_dataset()
    assert set(truth.data_vars) == {"precip", "u", "v", "convective"}
    assert truth["precip"].dims == ("time", "y", "x") and truth["precip"].dtype == np.float32
    assert truth["precip"].attrs["units"] == "mm h-1" and "end of the interval" in truth["precip"].attrs["cell_methods"]
    assert truth["time"].values[0] == np.datetime64("2021-06-01T00:05"), "time labels the END of each 5-min interval"
    assert truth.sizes["time"] == 24
    assert truth["precip"].chunks[0] == (6, 6, 6, 6)
    assert isinstance(truth["precip"].data, dask.array.Array)
    radar = tree["radar"].to_dataset()
    assert set(radar.data_vars) == {"precip", "quality"}
    assert tree.attrs["seed"] == 3 and tree.attrs["generator_version"] == world.GENERATOR_VERSION
    leftovers = [p.name for p in small_store.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "the temporary store was renamed, nothing is left behind"


def test_generate_refuses_to_overwrite_and_cleans_up_on_failure(small_store, tmp_path, monkeypatch):
    with pytest.raises(FileExistsError):
        world.generate(SMALL_IDF, days=1 / 24, store=small_store, sensors=False)

    def broken(*args, **kwargs):
        raise RuntimeError("sensor failure")

    monkeypatch.setattr(world, "_write_sensors", broken)
    target = tmp_path / "broken.zarr"
    with pytest.raises(RuntimeError, match="sensor failure"):
        world.generate(SMALL_IDF, days=1 / 24, store=target, sensors=True)
    assert list(tmp_path.iterdir()) == [], "a failed generation leaves neither the store nor its temporary"


def test_sensor_products_are_written_under_their_groups(tmp_path, monkeypatch):
    from averse.twin import sensors

    seen = {}

    def fake_observe(truth, static, region, seed):
        seen.update(lazy=isinstance(truth["precip"].data, dask.array.Array), region=region.name, seed=seed)
        mean = truth["precip"].mean(("y", "x")).to_dataset(name="domain_mean")
        return {"fake": mean, "pmw/fake": mean.rename(domain_mean="tb")}

    monkeypatch.setattr(sensors, "observe", fake_observe)
    store = world.generate(SMALL_IDF, seed=4, days=1 / 24, store=tmp_path / "s.zarr", sensors=True)
    assert seen == {"lazy": True, "region": "idf", "seed": 4}, "the sensors get the stored truth, lazily"
    tree = xr.open_datatree(store, engine="zarr")
    assert {"/fake", "/pmw/fake"} <= set(tree.groups)
    np.testing.assert_allclose(
        tree["fake"]["domain_mean"].values, tree["truth"]["precip"].mean(("y", "x")).values, rtol=1e-6
    )


def test_world_with_the_real_sensors(tmp_path):
    store = world.generate(get_region("idf", nx=96, ny=96), days=0.25, store=tmp_path / "full.zarr")
    groups = set(xr.open_datatree(store, engine="zarr").groups)
    assert {"/seviri", "/pmw/gmi", "/dpr", "/imerg"} <= groups


def test_generated_store_is_deterministic(small_store, tmp_path):
    again = world.generate(SMALL_IDF, seed=3, days=2 / 24, store=tmp_path / "again.zarr", sensors=False, block_steps=4)
    for group in ("truth", "radar"):
        first = xr.open_dataset(small_store, group=group, engine="zarr").load()
        second = xr.open_dataset(again, group=group, engine="zarr").load()
        xr.testing.assert_identical(first, second)


def test_generation_on_a_distributed_client_gives_the_same_world(small_store, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        store = world.generate(
            SMALL_IDF, seed=3, days=2 / 24, store=tmp_path / "dist.zarr", sensors=False, block_steps=6, client=client
        )
    expected = xr.open_dataset(small_store, group="radar", engine="zarr").load()
    xr.testing.assert_identical(xr.open_dataset(store, group="radar", engine="zarr").load(), expected)


def test_default_block_steps_divides_a_day():
    assert world.default_block_steps(get_region("idf")) == 12
    france = get_region("france")
    steps = world.default_block_steps(france)
    assert 288 % steps == 0 and steps * france.nx * france.ny * 4 <= 64 * 2**20


# --- reader and cache ----------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AVERSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_open_dataset_generates_once_then_reads_the_cache(cache, monkeypatch):
    calls = []
    real_generate = reader.generate
    monkeypatch.setattr(reader, "generate", lambda *a, **k: calls.append(k) or real_generate(*a, **k))
    tree = averse.open_dataset("twin", region=SMALL_IDF, days=1 / 24, sensors=False)
    assert isinstance(tree, xr.DataTree) and tree["truth"]["precip"].shape == (12, 64, 64)
    stores = sorted((cache / "twin").glob("idf-0-*.zarr"))
    assert len(stores) == 1 and (cache / "twin" / (stores[0].name + ".lock")).exists()
    stamp = (stores[0] / "zarr.json").stat().st_mtime_ns
    averse.open_dataset("twin", region=SMALL_IDF, days=1 / 24, sensors=False)
    assert len(calls) == 1 and (stores[0] / "zarr.json").stat().st_mtime_ns == stamp
    averse.open_dataset("twin", region=SMALL_IDF, days=1 / 24, sensors=False, regenerate=True)
    assert len(calls) == 2 and calls[1]["overwrite"]


def test_cache_key_changes_with_every_parameter(cache):
    base = reader.store_path(SMALL_IDF, 0, 1.0, pd.Timestamp("2021-06-01"))
    assert base.parent == cache / "twin" and base.name.startswith("idf-0-1-")
    assert reader.store_path(SMALL_IDF, 1, 1.0, pd.Timestamp("2021-06-01")) != base
    assert reader.store_path(SMALL_IDF, 0, 2.0, pd.Timestamp("2021-06-01")) != base
    assert reader.store_path(SMALL_IDF, 0, 1.0, pd.Timestamp("2021-07-01")) != base
    assert reader.store_path(SMALL_IDF.replace(dx=2000.0), 0, 1.0, pd.Timestamp("2021-06-01")) != base


def test_concurrent_opens_generate_once(cache, monkeypatch):
    calls = []
    real_generate = reader.generate

    def slow_generate(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(reader, "generate", slow_generate)
    results, errors = [], []

    def worker():
        try:
            results.append(reader.open(region=SMALL_IDF, days=1 / 24, seed=7, sensors=False))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 2 and len(calls) == 1


def test_reader_opens_a_store_path_and_refuses_others(small_store, tmp_path):
    assert reader.sniff(small_store) and not reader.sniff(tmp_path)
    tree = reader.open(small_store)
    assert tree["radar"]["quality"].shape == (24, 64, 64)
    (tmp_path / "zarr.json").write_text(json.dumps({"attributes": {"title": "something else"}}))
    with pytest.raises(DataFormatError, match="not a twin-world"):
        reader.open(tmp_path)


# --- bounded memory ------------------------------------------------------------------------

_PEAK_RSS = """
import resource, sys
from averse.twin.regions import get_region
from averse.twin.world import generate
generate(get_region("idf"), days=float(sys.argv[2]), store=sys.argv[1], sensors=False, block_steps=6)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_rss(store, days):
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(store), str(days)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_memory_stays_bounded_when_the_period_grows(tmp_path):
    short_days, long_days = 36 / 288, 144 / 288
    short = _peak_rss(tmp_path / "short.zarr", short_days)
    long = _peak_rss(tmp_path / "long.zarr", long_days)
    cube = 6 * 144 * 256 * 256 * 4  # truth + radar variables of the long period, float32
    assert long - short < 0.3 * cube, f"peak RSS grew by {(long - short) / 2**20:.0f} MiB for 4x the days"
