"""Windows read from small twin-like zarr stores: alignment, gaps, splits, statistics, auxiliaries."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from _toy_world import START, moving_fields, open_toy_world, step_fields, step_times, write_toy_world
from averse.data import BlockShuffleSampler, NowcastDataModule
from averse.data import frames as frames_module

DROPPED = range(200, 206)  # a 30-min hole in the archive
SPLIT = {"block": "6h", "gap": "30min", "seed": 1}


@pytest.fixture(scope="module")
def step_world(tmp_path_factory):
    """30 h of steps minus a gap; every pixel holds its step number; a few NaN-only frames."""
    times = step_times(360, drop=DROPPED)
    precip = step_fields(times, shape=(39, 39))
    precip[[50, 120]] = np.nan
    return open_toy_world(write_toy_world(tmp_path_factory.mktemp("toy") / "steps.zarr", precip, times))


def _module(source, **kwargs):
    options = {"n_in": 4, "n_out": 3, "crop": 16, "split": SPLIT, "batch_size": 8, **kwargs}
    dm = NowcastDataModule(source, **options)
    dm.setup()
    return dm


def _steps(times):
    return ((pd.DatetimeIndex(times) - START) / pd.Timedelta("5min")).to_numpy()


def test_windows_are_contiguous_and_aligned(step_world):
    dm = _module(step_world)
    nan_steps = set(_steps(dm.times[[50, 120]]))
    seen = 0
    for name, dataset in dm.datasets.items():
        for i in range(len(dataset)):
            sample = dataset[i]
            radar, target = sample["radar"][:, 0, 0].numpy(), sample["target"][:, 0, 0].numpy()
            analysis = radar[-1]
            assert np.array_equal(radar, analysis - np.arange(3, -1, -1))  # consecutive past frames
            assert np.array_equal(target, analysis + 1 + np.arange(3))  # target k is lead k + 1
            assert not set(np.concatenate([radar, target])) & nan_steps
            assert not set(np.concatenate([radar, target])) & set(DROPPED)  # the gap is never bridged
            assert sample["analysis_time"].item() == (START + analysis * pd.Timedelta("5min")).value
            assert sample["mask"].all()
            seen += 1
    assert seen > 100


def test_splits_do_not_overlap_and_keep_the_gap(step_world):
    dm = _module(step_world)
    frames = {}
    for name, dataset in dm.datasets.items():
        assert len(dataset) > 0, name
        frames[name] = {int(s) + k for s in dataset.starts for k in range(dm.spec.length)}
    names = list(frames)
    for a in names:
        for b in names:
            if a < b:
                assert not frames[a] & frames[b]
                gap = min(abs(dm.times[i] - dm.times[j]) for i in frames[a] for j in frames[b])
                assert gap > pd.Timedelta(SPLIT["gap"])


def test_statistics_come_from_training_frames_only(tmp_path):
    times = step_times(288)
    rng = np.random.default_rng(0)
    precip = rng.gamma(0.5, 2.0, (288, 12, 12)).astype(np.float32)
    precip[rng.random(precip.shape) < 0.05] = np.nan
    tree = open_toy_world(write_toy_world(tmp_path / "stats.zarr", precip, times, seviri=False))
    dm = _module(tree, crop=8, stats=("mean_rate", "wet_fraction", "wet_mean_rate", "heavy_fraction"))
    train = dm.labels == 0
    assert 0 < train.sum() < len(times)
    rates = precip[train]
    valid = np.isfinite(rates).sum(0)
    expected = [
        np.log1p(np.nansum(rates, 0) / valid),
        (rates >= 0.1).sum(0) / valid,
        np.log1p(np.where(rates >= 0.1, rates, 0).sum(0) / (rates >= 0.1).sum(0)),
        (rates >= 5).sum(0) / valid,
    ]
    np.testing.assert_allclose(dm.statistics, np.stack(expected), rtol=1e-5)
    everything = np.log1p(np.nanmean(precip, 0))
    assert not np.allclose(dm.statistics[0], everything, rtol=1e-3)

    # Raising the rain of the validation and test frames leaves the statistics unchanged.
    louder = precip.copy()
    louder[~train] *= 10
    loud = open_toy_world(write_toy_world(tmp_path / "loud.zarr", louder, times, seviri=False))
    other = _module(loud, crop=8, stats=("mean_rate", "wet_fraction", "wet_mean_rate", "heavy_fraction"))
    np.testing.assert_array_equal(other.statistics, dm.statistics)
    sample = dm.datasets["val"][0]
    rows, cols = (slice(int(c), int(c) + 8) for c in sample["corner"])
    np.testing.assert_array_equal(sample["stats"].numpy(), dm.statistics[:, rows, cols])


def test_auxiliary_inputs_are_aligned(step_world):
    dm = _module(step_world, dem=True, ir_channels=("ir_108", "wv_062"))
    assert dm.input_config.n_channels == 4 * 3 + 1
    dem = step_world["static"]["dem"].values
    for i in range(0, len(dm.datasets["train"]), 7):
        sample = dm.datasets["train"][i]
        rows, cols = (slice(int(c), int(c) + 16) for c in sample["corner"])
        np.testing.assert_allclose(sample["dem"][0].numpy(), dem[rows, cols] / 1000.0, rtol=1e-6)
        steps = sample["radar"][:, 0, 0].numpy()
        image_steps = sample["ir"][:, :, 5, 5].numpy() * 25.0 + 250.0 - 200.0
        latest = np.floor((steps + 1) / 3) * 3 - 1  # the 15-min image at or before each frame
        np.testing.assert_allclose(image_steps, np.repeat(latest[:, None], 2, axis=1))


def test_block_reading_gives_the_samples_of_memory(step_world):
    in_memory = _module(step_world, ir_channels=("ir_120",))
    by_blocks = _module(step_world, ir_channels=("ir_120",), memory_budget=200_000)
    assert in_memory.block_steps is None and by_blocks.block_steps is not None
    dataset = by_blocks.datasets["train"]
    assert len(np.unique(dataset.block_ids())) > 2
    keys = [(i, 1000 + i) for i in np.random.default_rng(0).permutation(len(dataset))[:40]]
    batch, reference = dataset[keys], in_memory.datasets["train"][keys]
    for name in reference:
        assert torch.equal(batch[name], reference[name]), name


def test_an_epoch_reads_each_block_once(step_world, monkeypatch):
    dm = _module(step_world, memory_budget=200_000)
    reads = []
    original = frames_module._load

    def counting_load(data, start, stop):
        reads.append(start)
        return original(data, start, stop)

    monkeypatch.setattr(frames_module, "_load", counting_load)
    windows = sum(len(batch["radar"]) for batch in dm.train_dataloader())
    assert windows == len(dm.datasets["train"])
    assert len(reads) == len(np.unique(dm.datasets["train"].block_ids()))


def test_sampler_is_blockwise_reproducible_and_fresh_each_epoch():
    blocks = np.repeat(np.arange(5), 7)[np.random.default_rng(0).permutation(35)]
    sampler = BlockShuffleSampler(blocks, seed=2)
    first = list(sampler)
    assert sorted(w for w, _ in first) == list(range(35))
    visited = [blocks[w] for w, _ in first]
    assert sum(a != b for a, b in zip(visited, visited[1:])) == 4  # one block after another
    assert list(BlockShuffleSampler(blocks, seed=2)) == first
    sampler.set_epoch(1)
    second = list(sampler)
    assert [w for w, _ in second] != [w for w, _ in first]
    assert {d for _, d in second}.isdisjoint({d for _, d in first})  # new crops
    repeated = list(BlockShuffleSampler(blocks, seed=2, crops_per_window=3))
    assert sorted(w for w, _ in repeated) == sorted(list(range(35)) * 3)
    assert len({d for _, d in repeated}) == 105
    visited = [blocks[w] for w, _ in repeated]
    assert sum(a != b for a, b in zip(visited, visited[1:])) == 4


def test_crops_are_reproducible_and_stay_in_coverage(tmp_path):
    times = step_times(120)
    precip = moving_fields(120, (33, 33))
    precip[:, :, :10] = np.nan  # the radar never sees the western columns
    tree = open_toy_world(write_toy_world(tmp_path / "cover.zarr", precip, times, seviri=False))
    dm = _module(tree, crop=16, min_coverage=1.0)
    dataset = dm.datasets["train"]
    assert torch.equal(dataset[3]["radar"], dataset[3]["radar"])
    corners = {tuple(dataset[(3, d)]["corner"].tolist()) for d in range(30)}
    assert len(corners) > 5
    assert all(col >= 10 for _, col in corners)
    again = _module(tree, crop=16, min_coverage=1.0).datasets["train"]
    assert torch.equal(again[(3, 7)]["corner"], dataset[(3, 7)]["corner"])


def test_rain_fraction_selects_rainy_windows_and_crops(tmp_path):
    times = step_times(150)
    precip = moving_fields(150, (33, 33))
    precip[::2] = 0.0  # every other frame dry
    tree = open_toy_world(write_toy_world(tmp_path / "rainy.zarr", precip, times, seviri=False))
    everything = _module(tree, n_in=2, n_out=1, crop=16)
    rainy = _module(tree, n_in=2, n_out=1, crop=16, min_rain_fraction=0.2)
    assert 0 < len(rainy.datasets["train"]) < len(everything.datasets["train"])
    for i in range(len(rainy.datasets["train"])):
        target = rainy.datasets["train"][i]["target"]
        assert (target > 0).any()


def test_loader_batches_match_with_and_without_workers(step_world):
    dm = _module(step_world, ir_channels=("ir_108",))
    reference = next(iter(dm.train_dataloader()))
    assert reference["radar"].shape == (8, 4, 16, 16) and reference["ir"].shape == (8, 4, 1, 16, 16)
    with_worker = _module(step_world, ir_channels=("ir_108",), num_workers=1, persistent_workers=False)
    batch = next(iter(with_worker.train_dataloader()))
    for name in reference:
        assert torch.equal(batch[name], reference[name]), name


def test_bad_requests_are_clear_errors(step_world, tmp_path):
    radar = step_world["radar"].to_dataset()
    with pytest.raises(ValueError, match="DataTree"):
        _module(radar, dem=True)
    with pytest.raises(ValueError, match="unknown statistics"):
        _module(step_world, stats=("median_rate",))
    with pytest.raises(KeyError, match="ir_039"):
        _module(step_world, ir_channels=("ir_039",))
    shuffled = radar.isel(time=np.r_[1, 0, 2:radar.sizes["time"]])
    with pytest.raises(ValueError, match="increasing"):
        _module(shuffled)
    with pytest.raises(ValueError, match="crop"):
        _module(step_world, crop=64)
    assert isinstance(step_world, xr.DataTree)
