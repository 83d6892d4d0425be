"""Seconds per forecast of each nowcasting baseline: 12 leads on a 256 x 256 grid.

The input is 4 frames of synthetic rain (power-law spectrum, intermittent,
translating 2 px per step with fresh small scales each frame) on a 1 km grid.
Prints the best of ``--repeats`` runs per method; STEPS also per member.

    .venv/bin/python benchmarks/baselines_speed.py [--members 20] [--num-workers 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import xarray as xr

from averse import baselines
from averse.datamodel import attach_grid, precip_attrs

SIZE = 256
N_LEADS = 12
N_FRAMES = 4


def synthetic_past(seed: int = 0) -> xr.DataArray:
    """``(time, y, x)`` rain in mm/h moving 2 px per 5-min step to the east."""
    rng = np.random.default_rng(seed)
    width = SIZE + 2 * N_FRAMES
    wavenumber = np.hypot(*np.meshgrid(np.fft.fftfreq(width), np.fft.fftfreq(SIZE)))
    wavenumber[0, 0] = 1.0
    log_rain = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((SIZE, width))) * wavenumber**-1.6))
    log_rain = (log_rain - log_rain.mean()) / log_rain.std()
    frames = np.stack([log_rain[:, 2 * (N_FRAMES - t) : 2 * (N_FRAMES - t) + SIZE] for t in range(N_FRAMES)])
    frames = frames + 0.2 * rng.standard_normal(frames.shape)
    rain = np.where(frames > 0.2, np.exp(frames) - np.exp(0.2), 0.0).astype("float32")
    times = pd.date_range("2024-06-01T12:00", periods=N_FRAMES, freq="5min")
    data = xr.Dataset(
        {"precip": (("time", "y", "x"), rain, precip_attrs("5min", "rate"))}, coords={"time": times}
    )
    grid = 1000.0 * np.arange(SIZE)
    return attach_grid(data, x=3.5e6 + grid, y=3.0e6 - grid, crs="EPSG:3035")["precip"]


def seconds_per_forecast(name: str, past: xr.DataArray, repeats: int, **kwargs) -> float:
    """Best wall time of ``repeats`` forecasts of ``N_LEADS`` leads."""
    forecast = baselines.get(name)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        forecast(past, N_LEADS, **kwargs)
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20, help="STEPS ensemble size")
    parser.add_argument("--num-workers", type=int, default=1, help="workers given to pysteps")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (best is kept)")
    args = parser.parse_args()

    past = synthetic_past()
    workers = {"num_workers": args.num_workers}
    runs = {
        "persistence": {},
        "extrapolation": {},
        "sprog": workers,
        "steps": {"n_ens_members": args.members, "seed": 1, **workers},
    }
    print(f"{SIZE}x{SIZE}, {N_FRAMES} input frames, {N_LEADS} leads, num_workers={args.num_workers}")
    for name, kwargs in runs.items():
        repeats = 1 if name == "steps" else args.repeats
        seconds = seconds_per_forecast(name, past, repeats, **kwargs)
        line = f"{name:14s} {seconds:8.3f} s/forecast"
        if name == "steps":
            line += f"  ({args.members} members, {seconds / args.members:.3f} s/member)"
        print(line)


if __name__ == "__main__":
    main()
