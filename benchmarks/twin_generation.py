"""Speed and memory of the twin-world generator, in one run.

Each case runs in a fresh subprocess (so its peak RSS is its own) and prints
the wall time, the frames per second (5-min steps of the truth written with the
radar, per second of wall time) and the peak resident memory:

- ``default``: what ``averse.open_dataset("twin")`` builds on a fresh machine —
  region ``idf`` (256 × 256 km, 1 km), its default 3 days, with the sensors.
  The target is under a minute on 2 cores.
- ``default core``: the same without the satellite sensors (truth + radar).
- ``france``: the France-sized box (1500 × 1500 km at 1 km), ``--france-days``
  days, generated block by block; its peak RSS must stay far below the size of
  the cube it writes.

    .venv/bin/python benchmarks/twin_generation.py [--france-days 1] [--skip-france] [--no-sensors]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CASE = """
import json, resource, sys, time
from averse.twin.regions import get_region
from averse.twin.world import generate, n_steps_for
region, days, sensors, store = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
region = get_region(region)
start = time.perf_counter()
generate(region, days=days, store=store, sensors=sensors)
wall = time.perf_counter() - start
steps = n_steps_for(region, days)
print(json.dumps({"wall_s": wall, "steps": steps, "cells": region.nx * region.ny,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_case(label: str, region: str, days: float, sensors: bool, folder: Path) -> dict:
    """Generate one world in a subprocess and print its numbers."""
    store = folder / f"{label.replace(' ', '_')}.zarr"
    done = subprocess.run(
        [sys.executable, "-c", _CASE, region, str(days), "1" if sensors else "0", str(store)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"{label:<14s} FAILED:\n{done.stderr[-2000:]}")
        return {}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 2**20
    cube = 6 * result["steps"] * result["cells"] * 4 / 2**20  # truth (4) + radar (2) variables, float32
    print(
        f"{label:<14s} {region:<7s} {days:>4g} d {result['steps']:>5d} steps  wall {result['wall_s']:7.1f} s  "
        f"{result['steps'] / result['wall_s']:6.1f} frames/s  peak RSS {result['peak_rss_mib']:7.0f} MiB  "
        f"(truth+radar cube {cube:8.0f} MiB, store {size:7.0f} MiB)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--france-days", type=float, default=1.0)
    parser.add_argument("--skip-france", action="store_true")
    parser.add_argument("--no-sensors", action="store_true", help="skip the satellite sensors in every case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="twin_bench_") as tmp:
        folder = Path(tmp)
        if not args.no_sensors:
            run_case("default", "idf", 3.0, True, folder)
        run_case("default core", "idf", 3.0, False, folder)
        if not args.skip_france:
            run_case("france", "france", args.france_days, not args.no_sensors, folder)


if __name__ == "__main__":
    main()
