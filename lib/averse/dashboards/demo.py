"""Small SYNTHETIC results stores, for the tests, the benchmarks and a first look.

Nothing here comes from a model or an observation: rain is a sum of moving,
growing and decaying Gaussian cells on a 4 km grid over the Channel (coasts
and borders on every map), and each "method" is the same cells seen with its
own, made-up errors (persistence freezes them, the extrapolation baseline
moves them but smooths and keeps their intensity, the "models" follow their
growth in part). The stores are written through the same ``write_*``
functions and with the same :mod:`averse.verify` scores as the evaluation
notebooks, so a dashboard cannot tell them apart from real results; every
store says ``synthetic = "yes"`` in its attributes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from averse import verify
from averse.dashboards.results import write_imerg_results, write_irqpe_results, write_nowcast_results
from averse.datamodel import attach_grid

__all__ = ["demo_nowcast_results", "demo_irqpe_results", "demo_imerg_results", "write_demo_results"]

LAEA_CHANNEL = "+proj=laea +lat_0=50.8 +lon_0=2.0 +ellps=WGS84 +units=m"
THRESHOLDS = (0.1, 1.0, 5.0, 10.0)
SCALES_KM = (4.0, 12.0, 20.0, 40.0)
_ATTRS = {"synthetic": "yes", "source": "averse.dashboards.demo (synthetic, for tests and benchmarks)"}


def _grid(ny: int, nx: int, dx: float = 4000.0) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a ``ny`` x ``nx`` grid centred on the projection origin, north row first."""
    x = (np.arange(nx) - (nx - 1) / 2) * dx
    y = ((ny - 1) / 2 - np.arange(ny)) * dx
    return x, y


class _Cells:
    """A population of Gaussian rain cells: position, velocity, size, peak and lifetime.

    Rain at time ``t`` (minutes) is ``sum_i peak_i env_i(t) exp(-r_i^2 / (2 sigma_i^2))``
    with ``env_i`` a half sine over the cell's life; separable, so a frame
    is one matrix product.
    """

    def __init__(self, rng, n, extent_m, speed, peak, sigma_km, duration):
        self.x0 = rng.uniform(-extent_m, extent_m, n) - speed[0] * 60 * duration / 2
        self.y0 = rng.uniform(-extent_m, extent_m, n) - speed[1] * 60 * duration / 2
        self.u = speed[0] * rng.uniform(0.8, 1.2, n)
        self.v = speed[1] * rng.uniform(0.8, 1.2, n)
        self.peak = rng.lognormal(np.log(peak), 0.5, n)
        self.sigma = rng.uniform(0.6, 1.4, n) * sigma_km * 1000.0
        self.birth = rng.uniform(-0.5 * duration, duration, n)
        self.life = rng.uniform(0.6, 1.2, n) * duration

    def envelope(self, t):
        phase = np.clip((t - self.birth) / self.life, 0.0, 1.0)
        return np.sin(np.pi * phase)

    def render(self, x, y, t, move_t=None, grow_t=None, velocity_error=0.0, blur=1.0, gain=1.0):
        """Rain (mm/h) at ``t`` as a method sees it: moved to ``move_t``, grown to ``grow_t``."""
        move_t = t if move_t is None else move_t
        grow_t = t if grow_t is None else grow_t
        cx = self.x0 + self.u * (1 + velocity_error) * 60 * move_t
        cy = self.y0 + self.v * (1 - velocity_error) * 60 * move_t
        sigma = self.sigma * blur
        amplitude = gain * self.peak * self.envelope(grow_t) / blur
        gy = np.exp(-np.minimum((y[:, None] - cy) ** 2 / (2 * sigma**2), 40.0))  # no denormals: they are slow
        gx = np.exp(-np.minimum((x[:, None] - cx) ** 2 / (2 * sigma**2), 40.0))
        rain = (gy * amplitude) @ gx.T
        return np.where(rain < 0.05, 0.0, rain)


_EVENTS = {  # name: (cells, speed m/s, peak mm/h, sigma km, issue minutes after the event start)
    "squall line": (60, (14.0, 4.0), 25.0, 9.0, (60, 105)),
    "stratiform": (14, (9.0, -3.0), 4.0, 40.0, (60, 105)),
}
_METHODS = {  # name: (kind, velocity error, share of the true growth, blur per hour, gain)
    "smaat_unet": ("model", 0.04, 0.6, 0.5, 0.9),
    "convlstm": ("model", 0.08, 0.35, 0.8, 0.85),
    "sprog": ("baseline", 0.10, 0.0, 0.9, 1.0),
    "persistence": ("baseline", None, 0.0, 0.0, 1.0),
}


def demo_nowcast_results(results_dir, seed: int = 0, ny: int = 96, nx: int = 128, leads: int = 12):
    """Write a synthetic nowcasting store: 2 events x 2 issue times, 4 methods, ``leads`` x 5 min.

    Returns
    -------
    Path
        The store written by :func:`averse.dashboards.results.write_nowcast_results`.
    """
    rng = np.random.default_rng(seed)
    x, y = _grid(ny, nx)
    lead_minutes = 5 * np.arange(1, leads + 1)
    coverage = np.hypot(*np.meshgrid(x, y)) < 1.05 * x.max()  # a composite's round edge: NaN in the corners
    start = pd.Timestamp("2024-06-01T12:00")
    cases, events, observed = [], [], []
    forecasts = {name: [] for name in _METHODS}
    for day, (event, (n, speed, peak, sigma, issues)) in enumerate(_EVENTS.items()):
        cells = _Cells(rng, n, 0.8 * x.max(), speed, peak, sigma, duration=180)
        for issue in issues:
            cases.append(start + pd.Timedelta(days=100 * day, minutes=issue))
            events.append(f"{cases[-1]:%Y-%m-%d} {event}")
            times = issue + lead_minutes
            observed.append([np.where(coverage, cells.render(x, y, t), np.nan) for t in times])
            for name, (_, error, growth, blur, gain) in _METHODS.items():
                forecasts[name].append([
                    cells.render(x, y, t, move_t=issue if error is None else t,
                                 grow_t=issue + growth * (t - issue), velocity_error=error or 0.0,
                                 blur=1 + blur * (t - issue) / 60, gain=gain)
                    for t in times])
    coords = {"case": pd.DatetimeIndex(cases), "lead_time": pd.to_timedelta(lead_minutes, unit="min")}
    dims = ("case", "lead_time", "y", "x")

    def field(values):
        return attach_grid(xr.Dataset({"p": (dims, np.asarray(values, "float32"))}, coords=coords), x, y,
                           LAEA_CHANNEL)["p"]

    obs = field(observed)
    by_method = {name: field(values) for name, values in forecasts.items()}
    stacked = xr.concat(list(by_method.values()), dim=pd.Index(list(by_method), name="method"))
    config = verify.VerificationConfig(thresholds=THRESHOLDS, fss_scales_km=SCALES_KM, aggregate_dims=("case",),
                                       scores=("categorical", "continuous", "fss"))
    scores = verify.evaluate(stacked, obs, config)
    kinds = {name: spec[0] for name, spec in _METHODS.items()}
    return write_nowcast_results(
        results_dir, obs, {k: v for k, v in by_method.items() if kinds[k] == "model"},
        {k: v for k, v in by_method.items() if kinds[k] == "baseline"}, scores, events=events, attrs=_ATTRS)


def _smooth_noise(rng, shape, sigma):
    """Unit-variance Gaussian noise smoothed over ``sigma`` pixels (last two axes)."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=(0,) * (len(shape) - 2) + (sigma, sigma))
    return noise / noise.std()


def demo_irqpe_results(results_dir, seed: int = 1, ny: int = 64, nx: int = 80, cases: int = 6, members: int = 8):
    """Write a synthetic IR-retrieval store: a smooth "U-Net" and two generative ensembles.

    Returns
    -------
    Path
        The store written by :func:`averse.dashboards.results.write_irqpe_results`.
    """
    rng = np.random.default_rng(seed)
    x, y = _grid(ny, nx)
    cells = _Cells(rng, 40, 0.8 * x.max(), (12.0, 3.0), 15.0, 8.0, duration=180)
    times = 30 * np.arange(cases)
    reference = np.stack([cells.render(x, y, t) for t in times])
    unet = 0.8 * ndimage.gaussian_filter(reference, sigma=(0, 2.5, 2.5))
    ensembles = {}
    for name, (shift_px, texture) in {"flow_matching": (1.5, 0.5), "ddim": (2.5, 0.8)}.items():
        shifts = rng.normal(0.0, shift_px, (cases, members, 2))
        moved = np.stack([[ndimage.shift(reference[c], shifts[c, m], order=1, mode="nearest") for m in range(members)]
                          for c in range(cases)])
        ensembles[name] = moved * np.exp(texture * _smooth_noise(rng, moved.shape, 2.0) - texture**2 / 2)
    coords = {"case": pd.date_range("2024-06-01T12:30", periods=cases, freq="30min")}

    def field(values, dims=("case", "y", "x")):
        extra = {"member": np.arange(members)} if "member" in dims else {}
        ds = xr.Dataset({"p": (dims, np.where(values < 0.05, 0.0, values).astype("float32"))}, coords={**coords, **extra})
        return attach_grid(ds, x, y, LAEA_CHANNEL)["p"]

    ref = field(reference)
    deterministic = {"unet": field(unet)}
    ensemble_fields = {name: field(v, ("case", "member", "y", "x")) for name, v in ensembles.items()}
    config = verify.VerificationConfig(thresholds=THRESHOLDS, fss_scales_km=SCALES_KM,
                                       aggregate_dims=("case", "member"), scores=("categorical", "continuous", "fss"))
    pooled = ("case", "member")
    spatial, statistical = [], []
    for name, retrieval in {**deterministic, **ensemble_fields}.items():
        spatial.append(verify.evaluate(retrieval, ref, config).expand_dims(model=[name]))
        q = verify.quantiles(retrieval, (0.99, 0.999), aggregate_dims=pooled)
        crps = (verify.crps(retrieval, ref, aggregate_dims=("case",)) if "member" in retrieval.dims
                else verify.continuous(retrieval, ref, aggregate_dims=("case",))["mae"])
        statistical.append(xr.Dataset({
            "p99": q.sel(probability=0.99, drop=True), "p999": q.sel(probability=0.999, drop=True),
            "wet_fraction": verify.wet_fraction(retrieval, 0.1, aggregate_dims=pooled),
            "wasserstein": verify.wasserstein(retrieval, ref.broadcast_like(retrieval), aggregate_dims=pooled),
            "crps": crps}).expand_dims(model=[name]))
    q_ref = verify.quantiles(ref, (0.99, 0.999), aggregate_dims=("case",))
    statistical = xr.concat(statistical, dim="model").assign(
        reference_p99=q_ref.sel(probability=0.99, drop=True), reference_p999=q_ref.sel(probability=0.999, drop=True),
        reference_wet_fraction=verify.wet_fraction(ref, 0.1, aggregate_dims=("case",)))
    return write_irqpe_results(results_dir, ref, deterministic, ensemble_fields, xr.concat(spatial, dim="model"),
                               statistical, attrs=_ATTRS)


_SENSORS = {9: 0.85, 3: 0.8, 5: 0.7, 7: 0.55}  # IMERG V07 MWprecipSource code: retrieval correlation


def demo_imerg_results(results_dir, seed: int = 2, half_hours: int = 48):
    """Write a synthetic IMERG-validation store on a 0.1° grid (70 x 50 cells), ``half_hours`` steps.

    Overpasses of the four microwave sensors cross the box in swaths every
    2-4 hours; between them the "IMERG" estimate degrades with the time since
    the last overpass, ``IRinfluence`` grows and the quality index falls.

    Returns
    -------
    Path
        The store written by :func:`averse.dashboards.results.write_imerg_results`.
    """
    rng = np.random.default_rng(seed)
    lon = -1.0 + 0.05 + 0.1 * np.arange(70)
    lat = 47.0 + 0.05 + 0.1 * np.arange(50)
    km_x = (lon - lon.mean()) * 111e3 * np.cos(np.deg2rad(lat.mean()))
    km_y = (lat - lat.mean()) * 111e3
    cells = _Cells(rng, 50, 0.8 * km_x.max(), (10.0, 2.0), 10.0, 15.0, duration=30 * half_hours)
    minutes = 30 * np.arange(1, half_hours + 1)
    truth = np.stack([np.mean([cells.render(km_x, km_y, t - dt) for dt in (5, 15, 25)], axis=0) for t in minutes])
    shape = truth.shape
    source = np.zeros(shape, dtype="float32")
    obs_minute = np.full(shape, np.nan, dtype="float32")
    lon2, lat2 = np.meshgrid(lon, lat)
    for step in np.flatnonzero(rng.random(half_hours) < 0.35):
        code = rng.choice(list(_SENSORS))
        swath = np.abs((lon2 - lon.mean()) * rng.uniform(-1, 1) + (lat2 - lat.mean()) - rng.uniform(-2, 2)) < 1.5
        source[step][swath] = code
        obs_minute[step][swath] = rng.integers(0, 30)
    seen = np.where(source > 0, minutes[:, None, None] - 30 + np.nan_to_num(obs_minute), -np.inf)
    age = minutes[:, None, None] - np.maximum.accumulate(seen, axis=0)  # minutes since the last overpass
    age = np.where(np.isfinite(age), age, 360.0)
    sensor_rho = np.zeros(max(_SENSORS) + 1)
    sensor_rho[list(_SENSORS)] = list(_SENSORS.values())
    rho = np.where(source > 0, sensor_rho[source.astype(int)], 0.7 * np.exp(-age / 240))
    error = np.sqrt(1 - rho**2) * _smooth_noise(rng, shape, 1.5)
    imerg = np.where(truth > 0.05, truth * np.exp(1.2 * error - 0.1), np.maximum(0.0, 0.4 * error - 0.3))
    radar = np.where((lon2 > 5.0) & (lat2 < 48.0), np.nan, truth)  # outside the radar composite: NaN
    coords = {"time": pd.Timestamp("2024-06-01") + pd.to_timedelta(minutes, unit="min")}
    dims = ("time", "y", "x")
    ds = xr.Dataset({
        "precipitation": (dims, imerg.astype("float32")),
        "MWprecipSource": (dims, source),
        "MWobservationTime": (dims, obs_minute, {"units": "minutes"}),  # as IMERG files and the twin say
        "IRinfluence": (dims, (100 * (1 - np.exp(-age / 90)) * (source == 0)).astype("float32")),
        "precipitationQualityIndex": (dims, rho.astype("float32")),
        "radar": (dims, radar.astype("float32")),
    }, coords=coords)
    ds = attach_grid(ds, lon, lat, "EPSG:4326")
    return write_imerg_results(results_dir, ds.drop_vars("radar"), ds["radar"], attrs=_ATTRS)


def write_demo_results(results_dir) -> dict:
    """Write all three synthetic stores under ``results_dir``; returns ``{kind: path}``."""
    return {"nowcast": demo_nowcast_results(results_dir), "irqpe": demo_irqpe_results(results_dir),
            "imerg": demo_imerg_results(results_dir)}
