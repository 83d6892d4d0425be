"""Windows per second of the nowcasting loader against the naive ways, in one run.

Reads windows of ``n_in + n_out`` frames × crop × crop float32 (18 × 128 × 128 by
default) at random times and places from a zarr store, one loader process:

- ``xarray isel``: ``da.isel(time=..., y=..., x=...).values`` per sample (lazy, dask);
- ``zarr slicing``: ``zarr_array[t:t+18, y:y+128, x:x+128]`` per sample;
- ``numpy slicing``: the same slice of the whole array held in memory, copied
  (the ceiling of any loader: one memory copy per window);
- ``averse (memory)``: :class:`averse.data.NowcastDataModule` holding the frames
  in memory, samples through a DataLoader (batch 16, collation included);
- ``averse (blocks)``: the same with a memory budget too small for the data:
  blocks of time read once and cut into many windows, in the block-wise order
  of the training sampler.

Both averse loaders draw ``(H × W) / crop²`` random crops per window and epoch
(``crops_per_window``: 4 for 128² crops of 256² frames).

Prints windows/s (wall clock) with ratios to the naive read, and windows per
CPU second of the process (the rate of a loader process that has a core to itself). The store is synthetic (smooth
rain translating in time, zeros outside, zarr defaults) unless ``--twin DAYS``
asks for the radar of a twin world (``averse.open_dataset("twin", days=DAYS)``,
copied with its chunks to a temporary store).

    .venv/bin/python benchmarks/loader_speed.py [--frames 1000] [--size 256] [--twin 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
import zarr

from averse.data import NowcastDataModule


def synthetic_store(path: Path, frames: int, size: int, chunk: int) -> Path:
    """Write smooth rain translating (1, 2) pixels per step as ``precip`` in a zarr store."""
    rng = np.random.default_rng(0)
    k = np.fft.fftfreq(size)
    spectrum = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / 0.002) * np.exp(2j * np.pi * rng.random((size, size)))
    base = np.real(np.fft.ifft2(spectrum))
    base = np.clip(10 * (base - base.mean()) / base.std() - 2, 0, None).astype(np.float32)
    data = np.stack([np.roll(base, (t, 2 * t), axis=(0, 1)) for t in range(frames)])
    times = pd.date_range("2021-06-01T00:05", periods=frames, freq="5min")
    ds = xr.Dataset({"precip": (("time", "y", "x"), data)},
                    coords={"time": times, "y": np.arange(size) * 1000.0, "x": np.arange(size) * 1000.0})
    ds["precip"].encoding["chunks"] = (chunk, size, size)
    ds.to_zarr(path, mode="w", consolidated=False)
    return path


def rate(label: str, seconds_for, n: int, reference: float | None = None) -> float:
    """Print and return windows per wall-clock second; also per CPU second of this process.

    The CPU-time rate is what one loader process delivers when it has a core to
    itself; it is the fairer number on a machine shared with other jobs.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    seconds_for(n)
    per_second = n / (time.perf_counter() - wall)
    per_cpu_second = n / max(time.process_time() - cpu, 1e-9)
    ratio = f"  ({per_second / reference:5.1f}× xarray isel)" if reference else ""
    print(f"{label:<30s}{per_second:8.0f} windows/s{ratio}   {per_cpu_second:8.0f} windows per CPU-s")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=4, help="time steps per zarr chunk")
    parser.add_argument("--n-in", type=int, default=6)
    parser.add_argument("--n-out", type=int, default=12)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--budget", default="128MiB", help="memory budget of the blocks mode")
    parser.add_argument("--workers", type=int, default=0, help="loader worker processes")
    parser.add_argument("--twin", type=int, default=None, help="days of the twin world to read instead")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a loader worker
    length = args.n_in + args.n_out

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.zarr"
        if args.twin:
            import averse

            radar = averse.open_dataset("twin", days=args.twin)["radar"].to_dataset()[["precip"]]
            radar.drop_vars(["lat", "lon"]).to_zarr(path, mode="w", consolidated=False)  # the twin's chunks
        else:
            synthetic_store(path, args.frames, args.size, args.chunk)
        source = xr.open_zarr(path, consolidated=False)
        rates = source["precip"]
        store = zarr.open_array(path, path="precip", mode="r")
        nt, ny, nx = rates.shape
        print(f"store: {nt} frames of {ny}×{nx} float32, chunks {rates.encoding.get('chunks')}; "
              f"windows {length}×{args.crop}×{args.crop}")
        rng = np.random.default_rng(1)

        def corners(n):
            return zip(rng.integers(0, nt - length, n), rng.integers(0, ny - args.crop, n),
                       rng.integers(0, nx - args.crop, n))

        def xarray_isel(n):
            for t, y, x in corners(n):
                rates.isel(time=slice(t, t + length), y=slice(y, y + args.crop), x=slice(x, x + args.crop)).values

        def zarr_slicing(n):
            for t, y, x in corners(n):
                store[t:t + length, y:y + args.crop, x:x + args.crop]

        in_memory = rates.values

        def numpy_slicing(n):
            for t, y, x in corners(n):
                in_memory[t:t + length, y:y + args.crop, x:x + args.crop].copy()

        reference = rate("xarray isel per sample", xarray_isel, 100)
        rate("zarr slicing per sample", zarr_slicing, 200, reference)
        rate("numpy slicing (in memory)", numpy_slicing, 3000, reference)
        del in_memory

        split = {"block": "6h", "fractions": (1, 0, 0), "gap": "0min"}
        for label, budget in (("averse (memory)", "8GiB"), ("averse (blocks)", args.budget)):
            start = time.perf_counter()
            crops = max(1, (ny * nx) // (args.crop * args.crop))
            dm = NowcastDataModule(source, n_in=args.n_in, n_out=args.n_out, crop=args.crop, split=split,
                                   batch_size=16, memory_budget=budget, num_workers=args.workers,
                                   crops_per_window=crops)
            dm.setup()
            print(f"{label} set-up (read + scan): {time.perf_counter() - start:.1f} s, {dm!r}")
            loader = dm.train_dataloader()

            def through_loader(n):
                seen = 0
                while seen < n:
                    for batch in loader:
                        seen += len(batch["radar"])
                        if seen >= n:
                            return

            rate(label + " DataLoader", through_loader, 3000, reference)


if __name__ == "__main__":
    main()
