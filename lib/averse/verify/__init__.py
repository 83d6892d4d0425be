"""Verification of rain forecasts and retrievals: every score of every averse track.

One entry point, :func:`evaluate`, takes a forecast, an observation and a
:class:`VerificationConfig` and returns an :class:`xarray.Dataset` of scores
(weatherbench2 style). The dims of the result are the dims of the inputs
that are neither spatial (``config.dims``) nor aggregated
(``config.aggregate_dims``) — ``lead_time``, ``model``, ``member``... — plus
the dims of the scores themselves: ``threshold``, ``scale`` (km),
``wavenumber``, ``probability``, ``bin``, ``rank``.

Each family is also a public function working on DataArrays (numpy- or
dask-backed): :func:`categorical` (and :func:`contingency_table`),
:func:`continuous`, :func:`fss`, :func:`rapsd`, :func:`sal`, :func:`crps`,
:func:`rank_histogram`, :func:`spread_skill`, :func:`distribution`
(:func:`quantiles`, :func:`histogram`, :func:`wasserstein`,
:func:`wet_fraction`). Single scores are looked up by name, the way pysteps
does ``verification.get_method``: ``get_score("csi")(forecast, observation,
config)``. (The functions ``categorical``, ``continuous`` and
``distribution`` share their names with the modules that define them:
``averse.verify.categorical`` is the function; import helpers from the
module with ``from averse.verify.categorical import contingency_table``.)

Statistics are aggregated over cases *before* the scores are computed
(contingency tables, sums of squares, FSS sums), as pysteps' ``*_accum``
functions do; ``aggregate_dims=()`` gives per-case scores. Deterministic
scores of an ensemble are computed per member (the ``member`` dim is kept);
the ensemble family uses all members. Every score is cross-checked against
pysteps in ``tests/verify``; where pysteps differs (NaN handling of
``det_cat_fct``, ties in ``CRPS``) the module docstrings say how and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import xarray as xr

from averse.verify.categorical import categorical, categorical_scores, contingency_table
from averse.verify.continuous import continuous
from averse.verify.distribution import DEFAULT_BINS, distribution, histogram, quantiles, wasserstein, wet_fraction
from averse.verify.ensemble import crps, rank_histogram, spread_skill
from averse.verify.objects import sal
from averse.verify.spatial import fss, scales_to_pixels
from averse.verify.spectra import rapsd

__all__ = [
    "VerificationConfig",
    "evaluate",
    "get_score",
    "available_scores",
    "FAMILIES",
    "categorical",
    "categorical_scores",
    "contingency_table",
    "continuous",
    "fss",
    "scales_to_pixels",
    "rapsd",
    "sal",
    "crps",
    "rank_histogram",
    "spread_skill",
    "distribution",
    "quantiles",
    "histogram",
    "wasserstein",
    "wet_fraction",
]


@dataclass(frozen=True)
class VerificationConfig:
    """What :func:`evaluate` computes, and over which dims.

    Attributes
    ----------
    thresholds : tuple of float
        Categorical thresholds in the units of the fields (mm/h); event =
        ``value > threshold``.
    fss_thresholds : tuple of float, optional
        FSS thresholds (event = ``value >= threshold``); ``thresholds`` if None.
    fss_scales_km : tuple of float
        FSS neighbourhood sizes in km (``L / dx`` pixels, rounded half up).
    grid_spacing_km : float, optional
        Grid spacing; read from the x coordinate (metres) if None.
    dims : (str, str)
        Spatial dims, (row, column).
    aggregate_dims : tuple of str
        Case dims pooled before scoring (absent ones are ignored); ``()``
        gives per-case scores.
    member_dim : str
        Ensemble dim of the forecast (ensemble scores only when present).
    scores : tuple of str, optional
        Families (see :data:`FAMILIES`) or single scores to compute; every
        family that applies if None.
    quantiles : tuple of float
        Probabilities of the distribution quantiles (QQ, 99th, 99.9th percentiles).
    histogram_bins : tuple of float
        Bin edges of the rain-rate histograms.
    wet_threshold : float
        Wet-fraction threshold (``value > wet_threshold``).
    rapsd_fill_value : float, optional
        Value replacing NaN before the spectra (0 = no rain); None leaves a
        field with NaN without spectrum.
    sal_min_size : int
        Smallest SAL object in pixels.
    rank_histogram_x_min : float, optional
        pysteps' ``X_min`` of the rank histogram.
    seed : int
        Seed of the rank-histogram tie breaking.
    """

    thresholds: tuple[float, ...] = (0.1, 1.0, 5.0, 10.0)
    fss_thresholds: tuple[float, ...] | None = None
    fss_scales_km: tuple[float, ...] = (1.0, 5.0, 10.0, 20.0, 40.0)
    grid_spacing_km: float | None = None
    dims: tuple[str, str] = ("y", "x")
    aggregate_dims: tuple[str, ...] = ("time",)
    member_dim: str = "member"
    scores: tuple[str, ...] | None = None
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)
    histogram_bins: tuple[float, ...] = field(default=DEFAULT_BINS)
    wet_threshold: float = 0.1
    rapsd_fill_value: float | None = 0.0
    sal_min_size: int = 1
    rank_histogram_x_min: float | None = None
    seed: int = 0

    def __post_init__(self):
        for name in ("thresholds", "fss_scales_km", "dims", "aggregate_dims", "quantiles", "histogram_bins"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("fss_thresholds", "scores"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.dims) != 2:
            raise ValueError(f"dims must name the two spatial dims, got {self.dims}")
        if min(self.fss_scales_km, default=1.0) <= 0:
            raise ValueError(f"fss_scales_km must be positive, got {self.fss_scales_km}")
        unknown = [name for name in self.scores or () if name not in FAMILIES and name not in _SCORE_FAMILY]
        if unknown:
            raise ValueError(f"unknown scores {unknown}; available: {available_scores()}")


def _categorical(f, o, config):
    return categorical(f, o, config.thresholds, config.dims, config.aggregate_dims)


def _continuous(f, o, config):
    return continuous(f, o, config.dims, config.aggregate_dims)


def _fss(f, o, config):
    thresholds = config.fss_thresholds if config.fss_thresholds is not None else config.thresholds
    score = fss(
        f, o, thresholds, config.fss_scales_km, config.dims, config.aggregate_dims, grid_spacing=config.grid_spacing_km
    )
    return score.to_dataset()


def _spectra(f, o, config):
    kwargs = dict(
        dims=config.dims,
        aggregate_dims=config.aggregate_dims,
        grid_spacing=config.grid_spacing_km,
        fill_value=config.rapsd_fill_value,
    )
    forecast, observed = rapsd(f, **kwargs), rapsd(o, **kwargs)
    ratio = (forecast / observed).assign_attrs(long_name="RAPSD of the forecast / RAPSD of the observation", units="1")
    return xr.Dataset({"rapsd_forecast": forecast, "rapsd_observation": observed, "rapsd_ratio": ratio})


def _distribution(f, o, config):
    return distribution(
        f, o, config.dims, config.aggregate_dims, config.quantiles, config.histogram_bins, config.wet_threshold
    )


def _objects(f, o, config):
    per_case = sal(f, o, config.dims, min_size=config.sal_min_size, grid_spacing=config.grid_spacing_km)
    aggregate = [dim for dim in config.aggregate_dims if dim in per_case.dims]
    if not aggregate:
        return per_case
    mean = per_case.mean(aggregate, skipna=True, keep_attrs=True)
    for name in mean.data_vars:
        mean[name].attrs["cell_methods"] = f"{' '.join(aggregate)}: mean of the per-case values"
    return mean


def _ensemble(f, o, config):
    kwargs = dict(member_dim=config.member_dim, dims=config.dims, aggregate_dims=config.aggregate_dims)
    return xr.Dataset(
        {
            "crps": crps(f, o, **kwargs),
            "rank_histogram": rank_histogram(f, o, x_min=config.rank_histogram_x_min, seed=config.seed, **kwargs),
            **spread_skill(f, o, **kwargs).data_vars,
        }
    )


@dataclass(frozen=True)
class Family:
    """A group of scores computed together.

    Attributes
    ----------
    compute : callable
        ``compute(forecast, observation, config) -> xr.Dataset``.
    variables : tuple of str
        Names of the scores it returns.
    ensemble : bool
        Whether it needs a forecast with ``config.member_dim``.
    """

    compute: Callable[[xr.DataArray, xr.DataArray, VerificationConfig], xr.Dataset]
    variables: tuple[str, ...]
    ensemble: bool = False


#: The score families of :func:`evaluate`, by name.
FAMILIES: dict[str, Family] = {
    "categorical": Family(_categorical, ("pod", "far", "pofd", "csi", "ets", "hss", "frequency_bias", "accuracy")),
    "continuous": Family(_continuous, ("me", "mae", "mse", "rmse", "corr", "valid_pairs")),
    "fss": Family(_fss, ("fss",)),
    "spectra": Family(_spectra, ("rapsd_forecast", "rapsd_observation", "rapsd_ratio")),
    "distribution": Family(
        _distribution,
        (
            "quantile_forecast",
            "quantile_observation",
            "histogram_forecast",
            "histogram_observation",
            "wet_fraction_forecast",
            "wet_fraction_observation",
            "wasserstein",
        ),
    ),
    "objects": Family(
        _objects,
        (
            "sal_structure",
            "sal_amplitude",
            "sal_location",
            "sal_location_centroid",
            "sal_location_spread",
            "centroid_dx",
            "centroid_dy",
        ),
    ),
    "ensemble": Family(
        _ensemble, ("crps", "rank_histogram", "ensemble_spread", "ensemble_mean_rmse", "spread_skill_ratio"), True
    ),
}
_SCORE_FAMILY = {score: name for name, family in FAMILIES.items() for score in family.variables}


def available_scores() -> list[str]:
    """Names accepted by :func:`get_score` and ``VerificationConfig.scores``."""
    return sorted(_SCORE_FAMILY)


def get_score(name: str) -> Callable[..., xr.DataArray]:
    """A single score by name: ``get_score("csi")(forecast, observation, config=None)``.

    The returned function computes the score's family with ``config``
    (defaults when None) and returns the one variable as a DataArray.
    """
    key = name.lower()
    if key not in _SCORE_FAMILY:
        raise KeyError(f"unknown score {name!r}; available: {available_scores()}")
    family = FAMILIES[_SCORE_FAMILY[key]]

    def score(forecast: xr.DataArray, observation: xr.DataArray, config: VerificationConfig | None = None):
        return family.compute(forecast, observation, config or VerificationConfig())[key]

    score.__name__ = key
    score.__doc__ = f"Compute {key!r} (family {_SCORE_FAMILY[key]!r}) with a VerificationConfig."
    return score


def evaluate(
    forecast: xr.DataArray, observation: xr.DataArray, config: VerificationConfig | None = None
) -> xr.Dataset:
    """Verify a forecast against an observation.

    Parameters
    ----------
    forecast : xr.DataArray
        Forecast or retrieval (numpy- or dask-backed), e.g. ``precip`` with
        dims ``(time, lead_time, y, x)`` or with a ``member`` dim.
    observation : xr.DataArray
        Observation broadcasting against the forecast (same grid and cases;
        coordinates must match exactly).
    config : VerificationConfig, optional
        What to compute; defaults otherwise.

    Returns
    -------
    xr.Dataset
        One variable per score with ``long_name`` and ``units``; families
        with different thresholds are merged on the union of thresholds
        (NaN elsewhere). Lazy when the inputs are dask-backed.
    """
    config = config or VerificationConfig()
    missing = [dim for dim in config.dims if dim not in forecast.dims or dim not in observation.dims]
    if missing:
        raise ValueError(f"spatial dims {missing} missing from the forecast or the observation")
    wanted: dict[str, tuple[str, ...] | None] = {}  # family -> selected variables (None: all)
    for name in config.scores or tuple(FAMILIES):
        if name in FAMILIES:
            wanted[name] = None
            continue
        family = _SCORE_FAMILY[name]
        if family not in wanted:
            wanted[family] = (name,)
        elif wanted[family] is not None:
            wanted[family] += (name,)
    has_members = config.member_dim in forecast.dims
    parts = []
    for name, variables in wanted.items():
        family = FAMILIES[name]
        if family.ensemble and not has_members:
            if config.scores is not None:
                raise ValueError(f"{name} scores need an ensemble dim {config.member_dim!r} in the forecast")
            continue
        result = family.compute(forecast, observation, config)
        parts.append(result if variables is None else result[list(variables)])
    scores = xr.merge(parts, join="outer", combine_attrs="drop_conflicts", compat="no_conflicts")
    scores.attrs = {
        "title": "averse.verify scores",
        "aggregate_dims": " ".join(dim for dim in config.aggregate_dims if dim in forecast.dims or dim in observation.dims),
        "spatial_dims": " ".join(config.dims),
        "nan_policy": "pixels where forecast or observation is NaN are ignored (FSS: NaN is no event, as pysteps)",
        "categorical_event": "value > threshold",
        "fss_event": "value >= threshold",
        "units_of_fields": str(observation.attrs.get("units", "mm h-1")),
    }
    return scores
