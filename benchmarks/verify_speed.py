"""Speed of averse.verify against pysteps' per-frame loops, on the same arrays.

A "day of 5-min forecasts": N frames (288 by default) of 256 x 256 float64
rain fields. Measures, in one run:

* categorical scores at 4 thresholds: ``pysteps.verification.det_cat_fct``
  called per frame and threshold, against ``averse.verify.categorical``
  (per-frame scores, i.e. the same output);
* FSS at 4 thresholds x 4 window sizes: ``pysteps.verification.fss`` per
  frame, threshold and scale, against ``averse.verify.fss``.

The three ways (pysteps, averse on numpy arrays, averse on dask arrays with
the threaded scheduler and ``--workers`` threads) take turns on segments of
``--segment`` frames, so that a change of load on a shared machine hits them
alike; each total is the best of ``--repeats`` passes, in wall-clock and CPU
time of the process (with dask the CPU time adds up the threads). The script prints the ratios and the largest
absolute difference between the two sets of scores, and fails if it exceeds
1e-6. Targets (DESIGN.md): >= 15x for categorical, >= 10x for FSS.

Run: ``.venv/bin/python benchmarks/verify_speed.py [--frames 288]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import dask
import numpy as np
import xarray as xr
from pysteps.verification import det_cat_fct, fss
from scipy.ndimage import gaussian_filter

from averse import verify

THRESHOLDS = (0.1, 1.0, 5.0, 10.0)
SCALES = (1, 5, 10, 20)  # pixels = km on the 1 km grid
CATEGORICAL = {"pod": "POD", "far": "FAR", "csi": "CSI", "ets": "GSS", "hss": "HSS", "frequency_bias": "BIAS"}


def rain_day(frames: int, size: int, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Correlated forecast/observation rain fields (mm/h) on a 1 km grid, no NaN."""
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.standard_normal((frames, size, size)), sigma=(0, 4, 4))
    obs = np.clip(6.0 * (noise / noise.std() - 0.2), 0.0, None) ** 1.4
    fcst = np.roll(obs, (2, 3), axis=(1, 2)) * rng.uniform(0.7, 1.3, obs.shape)
    coords = {"x": ("x", np.arange(size) * 1000.0, {"units": "m"}), "y": ("y", np.arange(size) * 1000.0, {"units": "m"})}
    make = lambda values: xr.DataArray(values, dims=("time", "y", "x"), coords=coords, attrs={"units": "mm h-1"})  # noqa: E731
    return make(fcst), make(obs)


def interleaved(methods: dict, frames: int, segment: int, repeats: int):
    """Time ``methods`` segment by segment, taking turns, so that a change of
    machine load hits them alike.

    Each method is called as ``method(slice_of_frames)``. Returns, per method,
    the smallest total (wall, CPU) seconds over ``repeats`` passes, and the
    per-segment results of the first pass.
    """
    best = {name: (np.inf, np.inf) for name in methods}
    results = {name: [] for name in methods}
    for repeat in range(repeats):
        totals = {name: np.zeros(2) for name in methods}
        for start in range(0, frames, segment):
            frames_slice = slice(start, min(start + segment, frames))
            for name, method in methods.items():
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                result = method(frames_slice)
                totals[name] += (time.perf_counter() - start_wall, time.process_time() - start_cpu)
                if repeat == 0:
                    results[name].append(result)
        best = {name: tuple(np.minimum(best[name], totals[name])) for name in methods}
    return best, results


def pysteps_categorical(fcst: np.ndarray, obs: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: np.empty((len(fcst), len(THRESHOLDS))) for name in CATEGORICAL}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for frame in range(len(fcst)):
            for index, threshold in enumerate(THRESHOLDS):
                scores = det_cat_fct(fcst[frame], obs[frame], threshold)
                for name, ps_name in CATEGORICAL.items():
                    out[name][frame, index] = scores[ps_name]
    return out


def pysteps_fss(fcst: np.ndarray, obs: np.ndarray) -> np.ndarray:
    out = np.empty((len(fcst), len(THRESHOLDS), len(SCALES)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for frame in range(len(fcst)):
            for i, threshold in enumerate(THRESHOLDS):
                for j, scale in enumerate(SCALES):
                    out[frame, i, j] = fss(fcst[frame], obs[frame], threshold, scale)
    return out


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference; NaN in the same places counts as equal."""
    same_nan = np.isnan(a) == np.isnan(b)
    if not same_nan.all():
        return np.inf
    return float(np.nanmax(np.abs(a - b), initial=0.0))


def report(label: str, reference: tuple[float, float], timings: dict, frames: int, difference: float) -> None:
    """Print ms/frame and speed-ups, wall clock and CPU time."""
    print(f"{label}: pysteps {1e3 * reference[0] / frames:.3f} ms/frame wall, {1e3 * reference[1] / frames:.3f} CPU")
    for name, (wall, cpu) in timings.items():
        print(
            f"  averse {name:<9} {1e3 * wall / frames:7.3f} ms/frame wall (x{reference[0] / wall:5.1f}),"
            f" {1e3 * cpu / frames:7.3f} CPU (x{reference[1] / cpu:5.1f})"
        )
    print(f"  max |averse - pysteps| = {difference:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=288)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--segment", type=int, default=96, help="frames per timed call (split in --workers dask chunks)")
    args = parser.parse_args()

    forecast, observation = rain_day(args.frames, args.size)
    chunk = max(1, args.segment // args.workers)
    lazy_f, lazy_o = forecast.chunk(time=chunk), observation.chunk(time=chunk)
    fcst, obs = forecast.values, observation.values
    print(f"{args.frames} frames of {args.size}x{args.size} float64, thresholds {THRESHOLDS}, FSS windows {SCALES} px")
    print(f"timed in turns on segments of {args.segment} frames, best of {args.repeats} passes")

    def ours_categorical(f, o):
        return verify.categorical(f, o, THRESHOLDS, aggregate_dims=()).compute()

    def ours_fss(f, o):
        return verify.fss(f, o, THRESHOLDS, scales_pixels=SCALES, aggregate_dims=()).compute()

    dask_label = f"dask x{args.workers}"
    cases = {
        "categorical, 4 thresholds": (pysteps_categorical, ours_categorical),
        "FSS, 4 thresholds x 4 scales": (pysteps_fss, ours_fss),
    }
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        for label, (reference, ours) in cases.items():
            methods = {
                "pysteps": lambda frames, reference=reference: reference(fcst[frames], obs[frames]),
                "numpy": lambda frames, ours=ours: ours(forecast.isel(time=frames), observation.isel(time=frames)),
                dask_label: lambda frames, ours=ours: ours(lazy_f.isel(time=frames), lazy_o.isel(time=frames)),
            }
            interleaved(methods, 2, 2, 1)  # warm-up: imports, thread start-up
            timings, results = interleaved(methods, args.frames, args.segment, args.repeats)
            if isinstance(results["pysteps"][0], dict):  # categorical: one array per score
                expected = {name: np.concatenate([r[name] for r in results["pysteps"]]) for name in CATEGORICAL}
                difference = max(
                    max_difference(xr.concat(results[method], "time")[name].values, expected[name])
                    for method in ("numpy", dask_label)
                    for name in CATEGORICAL
                )
            else:
                expected = np.concatenate(results["pysteps"])
                difference = max(
                    max_difference(xr.concat(results[method], "time").values, expected) for method in ("numpy", dask_label)
                )
            reference_time = timings.pop("pysteps")
            report(label, reference_time, timings, args.frames, difference)
            assert difference < 1e-6, f"{label}: averse differs from pysteps"


if __name__ == "__main__":
    main()
