"""IMERG-like half-hourly 0.1° merge of the twin's satellite estimates.

Built the way IMERG (V07) is, on the twin's own sensors, so that its errors
have IMERG's structure (and the truth is known):

1. **MW** — each microwave retrieval (``/pmw/<sensor>``) is gridded to 0.1°
   (nearest footprint within the swath sampling) and given to the half hour
   holding its scan time. Where several overpasses fall in one half hour, the
   best instrument wins (conical imagers before sounders: GMI, AMSR2, SSMIS,
   MHS). ``MWprecipitation``, ``MWprecipSource`` (IMERG V07 codes: 9 GMI,
   3 AMSR, 5 SSMIS, 7 MHS, 0 none) and ``MWobservationTime`` (minutes after the
   start of the half hour, 0–29).
2. **IR** — SEVIRI ``ir_108`` averaged over the half hour (the slots ending at
   :15 and :30 for the half hour ending :30) and regridded to 0.1°, turned into
   rain by matching its distribution to the MW estimates' where both exist
   (IMERG calibrates its IR to the PMW): ``IRprecipitation``.
3. **Morphing and Kalman-like blending** — half hours without MW are filled
   by propagating the last MW field forward and the next one backward with the
   motion field (the truth's steering wind, half-hour mean, with a slowly
   varying speed and direction error as IMERG's model-based motion has;
   semi-Lagrangian in 30-min steps), weighted by time distance; the propagated estimate's skill
   decays with its age (``exp(-age / 3 h)`` of the sensor's correlation) and
   the IR estimate is blended in with a weight set by the two signal-to-noise
   ratios (the IR correlation is measured against the MW where both exist):
   ``IRinfluence`` (%) grows with the time since the last overpass.
   ``precipitationQualityIndex`` is the estimated correlation of the result.

The half hours are those the truth covers completely; ``time`` is the END of
the half hour (the averse convention; IMERG files are named by its start).
``truth_precipitation`` is the truth conservatively averaged over the half hour
and the 0.1° cell, for scoring, and ``minutes_from_mw`` (a twin diagnostic, not
an IMERG variable) the time between the half hour and the MW observation its
estimate comes from. Cells less than 99 % inside the twin domain are NaN.
No gauge adjustment is applied (``precipitation`` is IMERG's
``precipitationUncal`` analogue).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import xarray as xr
from scipy import ndimage
from scipy.spatial import cKDTree

from averse.datamodel import precip_attrs
from averse.grid import ConservativeRegridder, RegularGrid, aggregate_time, latlon_grid_covering
from averse.twin.sensors.constellation import INSTRUMENTS
from averse.twin.sensors.seviri import SLOT, complete_intervals, quarter_hour_truth

__all__ = [
    "build_imerg",
    "imerg_inputs",
    "motion_error",
    "grid_microwave",
    "calibrate_ir",
    "morph_and_blend",
    "sensor_ranking",
    "HALF_HOUR",
    "RESOLUTION_DEG",
]

IMERG_STREAM = 23
HALF_HOUR = pd.Timedelta("30min")
RESOLUTION_DEG = 0.1
MORPH_DECORRELATION_H = 3.0
_MIN_COVERAGE = 0.99
_PRIORITY = ("gmi", "amsr2", "ssmis", "mhs")  # best first


def _grid_granule(ds: xr.Dataset, g: int, cells: np.ndarray, starts: np.ndarray):
    """The footprints of granule ``g`` nearest to the 0.1° cell centres, by half hour.

    A cell takes its nearest footprint when it lies within 0.75 of the swath's
    sampling distance (the larger of the pixel and scan spacings), so cells
    between the footprints of a coarse sounder are filled and cells off the
    swath are not.

    Returns
    -------
    cell, slot : ndarray of int
        Flat cell index and half-hour index of each gridded value.
    value, minute : ndarray
        Rain (mm/h) and minutes after the start of the half hour.
    """
    values = ds["precip"].values[g]
    x, y = ds["x"].values[g], ds["y"].values[g]
    ok = np.isfinite(values)
    if not ok.any():
        return np.empty(0, int), np.empty(0, int), np.empty(0), np.empty(0)
    spacing = max(np.nanmedian(np.hypot(np.diff(x, axis=1), np.diff(y, axis=1))),
                  np.nanmedian(np.hypot(np.diff(x, axis=0), np.diff(y, axis=0))))
    distance, nearest = cKDTree(np.stack([x[ok], y[ok]], axis=1)).query(cells)
    cell = np.flatnonzero(distance <= 0.75 * spacing)
    footprint = nearest[cell]
    when = np.broadcast_to(ds["time"].values[g][:, None], values.shape)[ok][footprint]
    slot = np.searchsorted(starts, when, side="right") - 1
    elapsed = (when - starts[np.clip(slot, 0, None)]) / np.timedelta64(1, "m")
    keep = (slot >= 0) & (elapsed < HALF_HOUR / pd.Timedelta("1min"))
    return cell[keep], slot[keep], values[ok][footprint][keep], np.floor(elapsed[keep])


def grid_microwave(granules: dict[str, xr.Dataset], target: RegularGrid, half_hours: pd.DatetimeIndex, crs: str) -> dict:
    """Grid the microwave retrievals on the 0.1° grid, one field per half hour.

    Where several overpasses fall in one half hour, the best instrument wins
    (:data:`_PRIORITY`; the later granule between two of the same instrument).

    Parameters
    ----------
    granules : dict of xr.Dataset
        ``/pmw/<sensor>`` granule stacks (``precip``, ``x``, ``y``, ``time``).
    target : RegularGrid
        The 0.1° grid.
    half_hours : DatetimeIndex
        END stamps of the half hours.
    crs : str
        Projection of the granules' ``x``, ``y``.

    Returns
    -------
    dict of ndarray
        ``precip`` (time, y, x) mm/h (NaN: no overpass), ``source`` (IMERG code,
        0: none) and ``minute`` (0–29, NaN: none).
    """
    shape = (half_hours.size, target.shape[0] * target.shape[1])
    precip = np.full(shape, np.nan, dtype="float32")
    minute = np.full(shape, np.nan, dtype="float32")
    source = np.zeros(shape, dtype="int16")
    lon, lat = target.lonlat()
    cells = np.stack(pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon.ravel(), lat.ravel()), axis=1)
    starts = (half_hours - HALF_HOUR).values
    for name in reversed(_PRIORITY):  # the best instrument is written last and wins
        ds = granules.get(name)
        for g in range(0 if ds is None else ds.sizes["granule"]):
            cell, slot, value, elapsed = _grid_granule(ds, g, cells, starts)
            inside = slot < half_hours.size
            cell, slot = cell[inside], slot[inside]
            precip[slot, cell] = value[inside]
            minute[slot, cell] = elapsed[inside]
            source[slot, cell] = INSTRUMENTS[name].imerg_code
    grid_shape = (half_hours.size,) + target.shape
    return {"precip": precip.reshape(grid_shape), "source": source.reshape(grid_shape), "minute": minute.reshape(grid_shape)}


def sensor_ranking() -> tuple[int, ...]:
    """``MWprecipSource`` codes of the merged sensors, best retrieval first: the ranking the twin injects."""
    ranked = sorted(_PRIORITY, key=lambda name: INSTRUMENTS[name].retrieval.correlation, reverse=True)
    return tuple(INSTRUMENTS[name].imerg_code for name in ranked)


def calibrate_ir(tb: np.ndarray, mw: np.ndarray, n_quantiles: int = 201) -> tuple[np.ndarray, float]:
    """IR rain by matching the distribution of IR coldness to the MW rain's.

    Parameters
    ----------
    tb : ndarray
        Half-hour mean IR brightness temperature on the 0.1° grid (K).
    mw : ndarray
        Gridded MW rain, same shape, NaN where no overpass.

    Returns
    -------
    rain : ndarray
        IR rain estimate (mm/h), NaN where ``tb`` is.
    correlation : float
        Correlation of the IR and MW estimates where both exist (the IR skill
        used in the blending), clipped to [0.2, 0.8].
    """
    both = np.isfinite(tb) & np.isfinite(mw)
    q = np.linspace(0.0, 1.0, n_quantiles)
    if both.sum() >= 100:
        cold_q = np.quantile(-tb[both], q)
        rain_q = np.quantile(mw[both], q)
    else:  # too few coincidences: a GPI-like rule, 3 mm/h under cloud tops colder than 235 K
        cold_q, rain_q = np.array([-400.0, -235.0, -234.99, 0.0]), np.array([0.0, 0.0, 3.0, 3.0])
    rain = np.where(np.isfinite(tb), np.interp(-tb, cold_q, rain_q), np.nan).astype("float32")
    correlation = 0.4
    if both.sum() >= 100 and np.std(rain[both]) > 0 and np.std(mw[both]) > 0:
        correlation = float(np.corrcoef(rain[both], mw[both])[0, 1])
    return rain, float(np.clip(correlation, 0.2, 0.8))


def _snr(rho):
    rho = np.clip(rho, 1e-3, 0.999)
    return rho**2 / (1.0 - rho**2)


def _advect(field: np.ndarray, rows: np.ndarray, cols: np.ndarray, order: int = 1) -> np.ndarray:
    """Semi-Lagrangian step: the value at ``(rows, cols)`` upstream (NaN outside, NaN spreads)."""
    return ndimage.map_coordinates(field, [rows, cols], order=order, mode="constant", cval=np.nan)


def _propagate(mw: np.ndarray, rho: np.ndarray, rows_up: np.ndarray, cols_up: np.ndarray):
    """Carry the last MW field along the motion: value, its sensor correlation and age (half hours)."""
    value = np.full(mw.shape, np.nan, dtype="float32")
    skill = np.full(mw.shape, np.nan, dtype="float32")
    age = np.full(mw.shape, np.nan, dtype="float32")
    for t in range(mw.shape[0]):
        observed = np.isfinite(mw[t])
        if t == 0:
            carried = np.full(mw.shape[1:], np.nan), np.full(mw.shape[1:], np.nan), np.full(mw.shape[1:], np.nan)
        else:
            carried = (
                _advect(value[t - 1], rows_up[t], cols_up[t]),
                _advect(skill[t - 1], rows_up[t], cols_up[t], order=0),
                _advect(age[t - 1], rows_up[t], cols_up[t], order=0) + 1.0,
            )
        value[t] = np.where(observed, mw[t], carried[0])
        skill[t] = np.where(observed, rho[t], carried[1])
        age[t] = np.where(observed, 0.0, carried[2])
    return value, skill, age


def morph_and_blend(mw: np.ndarray, rho: np.ndarray, ir: np.ndarray, rho_ir: float, u_cells: np.ndarray, v_cells: np.ndarray) -> dict:
    """IMERG-like morphing of the MW fields and Kalman-like blending with the IR.

    Parameters
    ----------
    mw : ndarray
        ``(time, y, x)`` gridded MW rain, NaN where no overpass.
    rho : ndarray
        Correlation of each MW value's sensor (NaN where no overpass).
    ir : ndarray
        IR rain, same shape.
    rho_ir : float
        Correlation of the IR estimate.
    u_cells, v_cells : ndarray
        Motion over a half hour, in cells along ``x`` and ``y`` (same shape).

    Returns
    -------
    dict of ndarray
        ``precipitation``, ``ir_weight`` (0..1), ``quality`` (estimated
        correlation) and ``minutes_from_mw``.
    """
    rows, cols = np.indices(mw.shape[1:], dtype="float64")
    # Forward: the value at t came from upstream at t-1 (motion of the half hour ending t).
    forward = _propagate(mw, rho, rows[None] - v_cells, cols[None] - u_cells)
    # Backward: the value at t goes downstream by t+1 (motion of the half hour ending t+1).
    v_next = np.concatenate([v_cells[1:], v_cells[-1:]])[::-1]
    u_next = np.concatenate([u_cells[1:], u_cells[-1:]])[::-1]
    backward = [a[::-1] for a in _propagate(mw[::-1], rho[::-1], rows[None] + v_next, cols[None] + u_next)]
    (f_val, f_rho, f_age), (b_val, b_rho, b_age) = forward, backward
    tau = MORPH_DECORRELATION_H * 2.0  # in half hours
    f_ok, b_ok = np.isfinite(f_val), np.isfinite(b_val)
    f_snr = np.where(f_ok, _snr(np.nan_to_num(f_rho) * np.exp(-np.nan_to_num(f_age) / tau)), 0.0)
    b_snr = np.where(b_ok, _snr(np.nan_to_num(b_rho) * np.exp(-np.nan_to_num(b_age) / tau)), 0.0)
    # Time-distance weights between the two propagated fields (linear, as IMERG's morphing).
    f_weight = np.where(f_ok & b_ok, np.nan_to_num(b_age) / np.maximum(np.nan_to_num(f_age) + np.nan_to_num(b_age), 1e-6),
                        f_ok.astype("float32"))
    b_weight = np.where(b_ok, 1.0 - f_weight, 0.0)
    morphed = np.where(f_ok | b_ok, f_weight * np.nan_to_num(f_val) + b_weight * np.nan_to_num(b_val), np.nan)
    morph_snr = f_snr + b_snr
    ir_snr = _snr(rho_ir)
    observed = np.isfinite(mw)
    ir_weight = np.where(observed, 0.0, ir_snr / (morph_snr + ir_snr))
    blended = np.where(np.isfinite(morphed), (1.0 - ir_weight) * np.nan_to_num(morphed) + ir_weight * ir, ir)
    precipitation = np.where(observed, mw, blended)
    total_snr = np.where(observed, _snr(np.nan_to_num(rho)), morph_snr + ir_snr)
    ages = np.fmin(np.where(f_ok, f_age, np.nan), np.where(b_ok, b_age, np.nan))
    return {
        "precipitation": precipitation.astype("float32"),
        "ir_weight": ir_weight.astype("float32"),
        "quality": np.sqrt(total_snr / (1.0 + total_snr)).astype("float32"),
        "minutes_from_mw": (30.0 * ages).astype("float32"),
    }


def imerg_inputs(truth: xr.Dataset, seviri: xr.Dataset, region) -> dict:
    """The gridded inputs of the merge, lazy: truth rain, IR, motion at 0.1° / 30 min.

    Returns
    -------
    dict
        ``target`` (the 0.1° grid), ``half_hours``, ``inside`` (cells at least
        99 % covered by the truth and by the imager grid) and the lazy
        DataArrays ``truth``, ``tb``, ``u``, ``v`` on ``(time, y, x)``. The truth
        rain goes through the 15-min slots of :func:`~.seviri.quarter_hour_truth`,
        so computed with the imagery it reads the truth once.
    """
    grid = RegularGrid.from_dataset(truth)
    target = latlon_grid_covering(grid, RESOLUTION_DEG)
    step = pd.Timedelta(region.dt)
    half_hours = complete_intervals(truth["time"].values, HALF_HOUR, step)
    half_hours = half_hours.intersection(complete_intervals(seviri["time"].values, HALF_HOUR, SLOT))
    if half_hours.size == 0:
        raise ValueError("the truth covers no complete half hour")
    from_truth = ConservativeRegridder(grid, target)
    from_imager = ConservativeRegridder(RegularGrid.from_dataset(seviri), target)

    def half_hourly(da, regridder, frame):
        fine = regridder.regrid(da, min_coverage=_MIN_COVERAGE)
        return aggregate_time(fine, HALF_HOUR, step=frame).sel(time=half_hours)

    rain15, _, _ = quarter_hour_truth(truth, step)
    return {
        "target": target,
        "half_hours": half_hours,
        "inside": (from_truth.covered_fraction >= _MIN_COVERAGE) & (from_imager.covered_fraction >= _MIN_COVERAGE),
        "truth": half_hourly(rain15, from_truth, SLOT),
        "tb": half_hourly(seviri["ir_108"], from_imager, SLOT),
        "u": half_hourly(truth["u"], from_truth, step),
        "v": half_hourly(truth["v"], from_truth, step),
    }


def motion_error(half_hours: pd.DatetimeIndex, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Speed factor and rotation (radians) of the morphing's motion field, per half hour.

    IMERG moves its estimates with model water-vapour motion, not with the rain:
    here the steering wind is scaled by a factor and turned by an angle drawn
    per day (speed ×0.75–1.25, direction ±20° standard deviation) and varying
    slowly, sinusoidally, through the day.
    """
    days = (half_hours - pd.Timestamp("2021-01-01")).days.values
    hours = (half_hours - half_hours.normalize()).total_seconds().values / 3600.0
    factor = np.empty(half_hours.size)
    angle = np.empty(half_hours.size)
    for day in np.unique(days):
        rng = np.random.default_rng([int(seed), IMERG_STREAM, int(day)])
        f0, f1 = rng.uniform(0.75, 1.25, 2)
        a0, a1 = rng.normal(0.0, np.deg2rad(20.0), 2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * hours[days == day] / 24.0 + phase)
        factor[days == day] = 0.5 * (f0 + f1) + 0.5 * (f0 - f1) * wave
        angle[days == day] = 0.5 * (a0 + a1) + 0.5 * (a0 - a1) * wave
    return factor, angle


def build_imerg(inputs: dict, granules: dict[str, xr.Dataset], region, seed: int) -> xr.Dataset:
    """The IMERG-like product of the twin (see the module notes).

    Parameters
    ----------
    inputs : dict
        From :func:`imerg_inputs` (lazy or computed).
    granules : dict of xr.Dataset
        The ``/pmw/<sensor>`` granules.
    region : averse.twin.regions.Region
    seed : int
        Seed of the world (the motion field's error).
    """
    target, half_hours, inside = inputs["target"], inputs["half_hours"], inputs["inside"]
    truth_rain, tb, u, v = (np.asarray(inputs[k].values) for k in ("truth", "tb", "u", "v"))
    mw = grid_microwave(granules, target, half_hours, region.crs)
    rho = np.full(mw["precip"].shape, np.nan, dtype="float32")
    for name in _PRIORITY:
        rho[mw["source"] == INSTRUMENTS[name].imerg_code] = INSTRUMENTS[name].retrieval.correlation
    mw_rain = np.where(inside, mw["precip"], np.nan)
    ir_rain, rho_ir = calibrate_ir(np.where(inside, tb, np.nan), mw_rain)
    factor, angle = (a[:, None, None] for a in motion_error(half_hours, seed))
    u, v = np.nan_to_num(u), np.nan_to_num(v)
    u, v = factor * (u * np.cos(angle) - v * np.sin(angle)), factor * (u * np.sin(angle) + v * np.cos(angle))
    metres_per_cell = RESOLUTION_DEG * np.deg2rad(1.0) * 6_371_000.0
    seconds = HALF_HOUR.total_seconds()
    u_cells = u * seconds / (metres_per_cell * np.cos(np.deg2rad(target.y))[None, :, None])
    v_cells = v * seconds / metres_per_cell * np.sign(target.dy)
    merged = morph_and_blend(mw_rain, rho, ir_rain, rho_ir, u_cells, v_cells)
    return _dataset(target, half_hours, inside, truth_rain, mw, mw_rain, ir_rain, rho_ir, merged)


def _dataset(target, half_hours, inside, truth_rain, mw, mw_rain, ir_rain, rho_ir, merged) -> xr.Dataset:
    def masked(values, fill=np.nan):
        return np.where(inside, values, fill)

    dims = ("time", "y", "x")
    interval = precip_attrs(HALF_HOUR, "rate")
    ds = xr.Dataset(
        {
            "precipitation": (dims, masked(merged["precipitation"]).astype("float32"), {
                **interval, "long_name": "merged microwave-infrared precipitation (IMERG-like, no gauge adjustment)"}),
            "MWprecipitation": (dims, masked(mw_rain).astype("float32"), {
                **precip_attrs(None, "rate"), "long_name": "merged microwave precipitation (instantaneous overpasses)"}),
            "MWprecipSource": (dims, masked(mw["source"], 0).astype("int16"), {
                "long_name": "microwave sensor of MWprecipitation (IMERG V07 codes)",
                "flag_values": np.array([0, 3, 5, 7, 9], dtype="int16"),
                "flag_meanings": "no_observation AMSR2 SSMIS MHS GMI"}),
            "MWobservationTime": (dims, masked(mw["minute"]).astype("float32"), {
                "long_name": "microwave observation time after the start of the half hour", "units": "minutes",
                "valid_range": np.array([0, 29], dtype="float32")}),
            "IRprecipitation": (dims, masked(ir_rain).astype("float32"), {
                **interval, "long_name": "microwave-calibrated infrared precipitation",
                "ir_correlation": rho_ir}),
            "IRinfluence": (dims, masked(100.0 * merged["ir_weight"]).astype("float32"), {
                "long_name": "relative influence of the IR estimate in precipitation", "units": "percent",
                "valid_range": np.array([0, 100], dtype="float32")}),
            "precipitationQualityIndex": (dims, masked(merged["quality"]).astype("float32"), {
                "long_name": "estimated correlation of precipitation with the truth (quality index)", "units": "1",
                "valid_range": np.array([0.0, 1.0], dtype="float32")}),
            "truth_precipitation": (dims, masked(truth_rain).astype("float32"), {
                **interval, "long_name": "twin truth, conservatively averaged over the half hour and the 0.1 degree cell"}),
            "minutes_from_mw": (dims, masked(merged["minutes_from_mw"]).astype("float32"), {
                "long_name": "twin diagnostic: time between the half hour and that of the MW observation its "
                             "estimate comes from (whole half hours)",
                "units": "minutes"}),
        },
        coords={"time": ("time", half_hours.values, {"standard_name": "time", "comment": "end of the half hour, UTC"})},
    )
    ds = target.attach(ds)
    ds.attrs.update({
        "title": "IMERG-like half-hourly 0.1 degree merged precipitation of the twin world",
        "grid": "0.1 degree, aligned on IMERG's global grid (cell centres at k*0.1+0.05)",
        "morph_decorrelation_hours": MORPH_DECORRELATION_H,
        "mw_priority": ", ".join(_PRIORITY),
    })
    return ds
