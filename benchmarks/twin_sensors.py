"""Time the twin's satellite sensors and print the physics they are meant to have.

Generates twin truths (``averse.twin.world.generate`` without sensors) into a
temporary folder, then times :func:`averse.twin.sensors.observe` on each (wall
and CPU seconds) and prints, per seed:

- SEVIRI: Spearman correlation of -ir_108 with the 3-km / 15-min truth rain,
  the false-alarm rate of cold pixels (ir_108 < 235 K with no rain) and the
  share of raining pixels (>= 0.5 mm/h) with warm tops (ir_108 > 260 K);
- PMW: correlation and normalised MAE of each sensor's own retrieval against
  the footprint-averaged truth (10-km Gaussian), on footprints where either rains;
- IMERG: 1 - Pearson r, normalised MAE, and MAE relative to the IR-only
  estimate on the same cells (a paired score, free of the weather each class
  happened to sample) against ``truth_precipitation``, by source class (conical
  imagers, sounder, morphed, IR-dominated) and by time from the nearest
  microwave observation.

Usage::

    .venv/bin/python benchmarks/twin_sensors.py [--region idf] [--days 1] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import spearmanr

from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time
from averse.twin.regions import get_region
from averse.twin.sensors import observe
from averse.twin.sensors._swaths import FootprintSampler
from averse.twin.sensors.seviri import seviri_grid
from averse.twin.world import generate


def seviri_metrics(truth: xr.Dataset, seviri: xr.Dataset, region) -> dict:
    grid = RegularGrid.from_dataset(truth)
    regridder = ConservativeRegridder(grid, seviri_grid(grid))
    rain = regridder.regrid(aggregate_time(truth["precip"], "15min", step=region.dt).sel(time=seviri["time"])).values
    ir = seviri["ir_108"].values
    ok = np.isfinite(rain) & np.isfinite(ir)
    rain, ir = rain[ok], ir[ok]
    cold = ir < 235.0
    return {
        "spearman": float(spearmanr(-ir, rain).statistic),
        "cold_false_alarm": float(np.mean(rain[cold] < 0.1)),
        "warm_rain_missed": float(np.mean(ir[rain >= 0.5] > 260.0)),
    }


def pmw_metrics(truth: xr.Dataset, granules: xr.Dataset) -> dict:
    grid = RegularGrid.from_dataset(truth)
    times = pd.DatetimeIndex(truth["time"].values)
    truth_values, estimates = [], []
    for g in range(granules.sizes["granule"]):
        frame = int(np.searchsorted(times.values, granules["overpass_time"].values[g]))
        sampler = FootprintSampler(grid, granules["x"].values[g], granules["y"].values[g])
        truth_values.append(sampler.sample(truth["precip"].isel(time=frame).values, 10.0).ravel())
        estimates.append(granules["precip"].values[g].ravel())
    if not truth_values:
        return {"n": 0}
    t, e = np.concatenate(truth_values), np.concatenate(estimates)
    wet = np.isfinite(t) & np.isfinite(e) & ((t > 0.1) | (e > 0.1))
    return {
        "n": int(wet.sum()),
        "r": float(np.corrcoef(t[wet], e[wet])[0, 1]),
        "nmae": float(np.mean(np.abs(e[wet] - t[wet])) / np.mean(t[wet])),
    }


def imerg_classes(imerg: xr.Dataset) -> dict[str, np.ndarray]:
    source, influence, minutes = (imerg[k].values for k in ("MWprecipSource", "IRinfluence", "minutes_from_mw"))
    return {
        "conical": np.isin(source, (9, 3, 5)),
        "sounder": source == 7,
        "morphed": (source == 0) & (influence < 50),
        "IR-dominated": (source == 0) & (influence >= 50),
        "0 min": minutes == 0,
        "30-60 min": (minutes >= 30) & (minutes <= 60),
        "90-150 min": (minutes >= 90) & (minutes <= 150),
        ">= 180 min": minutes >= 180,
    }


def imerg_metrics(imerg: xr.Dataset) -> dict:
    """Per class: cells, 1 - r, normalised MAE and MAE relative to the IR-only estimate on the same cells."""
    estimate, truth = imerg["precipitation"].values, imerg["truth_precipitation"].values
    infrared = imerg["IRprecipitation"].values
    valid = np.isfinite(estimate) & np.isfinite(truth)
    out = {}
    for name, mask in imerg_classes(imerg).items():
        m = valid & mask
        wet = m & ((estimate > 0.1) | (truth > 0.1))
        if wet.sum() < 30:
            out[name] = (int(wet.sum()), float("nan"), float("nan"), float("nan"))
            continue
        r = np.corrcoef(estimate[m], truth[m])[0, 1]
        error = np.abs(estimate[m] - truth[m])
        nmae = np.mean(np.abs(estimate[wet] - truth[wet])) / np.mean(truth[wet])
        paired = np.mean(error) / np.mean(np.abs(infrared[m] - truth[m]))
        out[name] = (int(m.sum()), float(1.0 - r), float(nmae), float(paired))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="idf")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    region = get_region(args.region)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            store = generate(region, seed=seed, days=args.days, store=Path(tmp) / f"{seed}.zarr", sensors=False)
            truth = xr.open_dataset(store, group="truth", engine="zarr", chunks={}, consolidated=False)
            static = xr.open_dataset(store, group="static", engine="zarr", chunks={}, consolidated=False)
            wall, cpu = time.perf_counter(), time.process_time()
            products = observe(truth, static, region, seed)
            products = {k: v.compute() for k, v in products.items()}
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"\n== {args.region} seed {seed}, {args.days:g} day(s): observe {wall:.1f} s wall, {cpu:.1f} s CPU")
            ir = seviri_metrics(truth, products["seviri"], region)
            print("SEVIRI  " + "  ".join(f"{k}={v:.3f}" for k, v in ir.items()))
            for name in ("gmi", "amsr2", "ssmis", "mhs"):
                m = pmw_metrics(truth, products[f"pmw/{name}"])
                granules = products[f"pmw/{name}"].sizes["granule"]
                print(f"PMW {name:6s} granules={granules:2d} " + "  ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))
            for name, (n, one_minus_r, nmae, paired) in imerg_metrics(products["imerg"]).items():
                print(f"IMERG {name:>13s}: n={n:6d}  1-r={one_minus_r:.3f}  nMAE={nmae:.3f}  MAE/MAE_IR={paired:.3f}")


if __name__ == "__main__":
    main()
