"""The results store: what the evaluation notebooks write and the dashboards read.

Each evaluation notebook writes one zarr store under
``<results_dir>/<notebook stem>/`` (``results_dir`` is the ``--out`` folder of
``averse run-notebooks``, ``runs/main`` by default), through the ``write_*``
function of its track; the dashboards open it with :func:`open_results`. The
stores are written to a temporary name and renamed, so a dashboard never sees
a half-written store. Field chunks hold one map each (a widget change reads
one chunk per map). Every store carries the attributes ``averse_results`` (its
kind), ``contract_version`` (:data:`CONTRACT_VERSION`), ``notebook`` and
``created`` (UTC). Grids follow :mod:`averse.datamodel`: ``x``/``y`` projection
coordinates (or lon/lat degrees), 2-D ``lat``/``lon``, CF ``spatial_ref``.
Rain is in mm/h (``units = "mm h-1"``), NaN outside coverage, 0 for no rain.

Nowcasting — ``11_nowcast_evaluate/nowcast_results.zarr`` (:func:`write_nowcast_results`)
    coords ``case`` (datetime64, the issue time in UTC: the end of the last
    observed interval given to the methods), ``event`` (case; name of the
    weather event the case belongs to), ``lead_time`` (timedelta64; the
    verifying interval ends at ``case + lead_time``), ``method`` (str) and
    ``method_kind`` (method; ``"model"`` or ``"baseline"``), ``threshold``
    (mm/h), ``scale`` (km, FSS neighbourhood size, as :func:`averse.verify.fss`
    names it).

    - ``observed`` (case, lead_time, y, x): observed rain rate, mm/h;
    - ``forecast`` (case, method, lead_time, y, x): forecast rain rate, mm/h;
    - ``csi pod far hss ets frequency_bias`` (method, lead_time, threshold):
      categorical scores, event ``value > threshold``;
    - ``mae rmse me corr`` (method, lead_time): continuous scores;
    - ``fss`` (method, lead_time, threshold, scale): event ``value >= threshold``.

    Scores are pooled over all cases (contingency tables and sums added
    before scoring: ``averse.verify`` with ``aggregate_dims=("case",)``).

IR retrieval — ``22_irqpe_generative/irqpe_results.zarr`` (:func:`write_irqpe_results`)
    coords ``case`` (datetime64, UTC end of the retrieved interval),
    ``model`` (str) and ``model_kind`` (model; ``"deterministic"`` or
    ``"ensemble"``), ``member`` (int), ``threshold``, ``scale``.

    - ``reference`` (case, y, x): the reference rain (radar), mm/h;
    - ``deterministic`` (case, model, y, x): retrievals of the deterministic
      models (the U-Net), NaN for ensemble models (such chunks are not stored);
    - ``members`` (case, model, member, y, x): ensemble members of the
      generative models, NaN for deterministic models;
    - spatial scores ``csi pod far hss ets frequency_bias`` (model,
      threshold), ``fss`` (model, threshold, scale), ``mae rmse me corr``
      (model); for an ensemble model they pool all members;
    - statistical scores (model): ``p99``, ``p999`` (99th and 99.9th
      percentiles of the retrieved rain), ``wet_fraction``, ``wasserstein``
      (to the reference distribution), ``crps`` (for a deterministic model
      the CRPS is its MAE); and the reference's own ``reference_p99``,
      ``reference_p999``, ``reference_wet_fraction`` (scalars).

IMERG validation — ``33_imerg_validation/imerg_results.zarr`` (:func:`write_imerg_results`)
    coords ``time`` (datetime64, UTC END of the half hour), IMERG's 0.1°
    grid (``x`` longitude, ``y`` latitude, EPSG:4326).

    - ``imerg`` and ``radar`` (time, y, x): half-hour mean rain rate, mm/h
      (radar aggregated to the IMERG cells and half hours);
    - ``MWprecipSource`` (IMERG V07 sensor code, 0 = no microwave overpass in
      the half hour), ``MWobservationTime`` (minutes after the start of the
      half hour, NaN without overpass), ``IRinfluence`` (%),
      ``precipitationQualityIndex`` (time, y, x), as IMERG V07 names them.

    The stratified scores are not stored: the dashboard computes them live
    from the pixels that pass its filters (:mod:`averse.dashboards.imerg`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import PRECIP_ATTRS
from averse.errors import AverseError, DataFormatError

__all__ = [
    "CONTRACT_VERSION",
    "StoreSpec",
    "STORES",
    "MissingResultsError",
    "results_path",
    "open_results",
    "write_nowcast_results",
    "write_irqpe_results",
    "write_imerg_results",
]

#: Version of the contract below; a store with another version is refused.
CONTRACT_VERSION = 1

_CATEGORICAL = ("csi", "pod", "far", "hss", "ets", "frequency_bias")
_CONTINUOUS = ("mae", "rmse", "me", "corr")
_IMERG_QUALITY = ("MWprecipSource", "MWobservationTime", "IRinfluence", "precipitationQualityIndex")
_GRID = ("y", "x")


@dataclass(frozen=True)
class StoreSpec:
    """One kind of results store.

    Attributes
    ----------
    kind : str
        Short name (``"nowcast"``, ``"irqpe"``, ``"imerg"``).
    title : str
        What it holds, in words.
    notebook : str
        Stem of the notebook that writes it (the store's folder).
    filename : str
        Store name inside that folder.
    variables : dict
        Required variable -> its dims (any order).
    coord_kinds : dict
        Coordinate -> numpy dtype kind (``"M"`` datetime, ``"m"`` timedelta).
    """

    kind: str
    title: str
    notebook: str
    filename: str
    variables: dict[str, tuple[str, ...]]
    coord_kinds: dict[str, str]

    def path(self, results_dir: str | os.PathLike) -> Path:
        """The store's path under ``results_dir``."""
        return Path(results_dir) / self.notebook / self.filename

    @property
    def notebook_path(self) -> str:
        """The notebook to run, relative to the repository root."""
        return f"notebooks/{self.notebook}.ipynb"


def _scores(names, dims) -> dict[str, tuple[str, ...]]:
    return {name: dims for name in names}


#: The three stores of the dashboards, by kind.
STORES: dict[str, StoreSpec] = {
    "nowcast": StoreSpec(
        "nowcast", "nowcasting", "11_nowcast_evaluate", "nowcast_results.zarr",
        {"observed": ("case", "lead_time", *_GRID), "forecast": ("case", "method", "lead_time", *_GRID),
         **_scores(_CATEGORICAL, ("method", "lead_time", "threshold")),
         **_scores(_CONTINUOUS, ("method", "lead_time")),
         "fss": ("method", "lead_time", "threshold", "scale")},
        {"case": "M", "lead_time": "m"},
    ),
    "irqpe": StoreSpec(
        "irqpe", "infrared retrieval", "22_irqpe_generative", "irqpe_results.zarr",
        {"reference": ("case", *_GRID), "deterministic": ("case", "model", *_GRID),
         "members": ("case", "model", "member", *_GRID),
         **_scores(_CATEGORICAL, ("model", "threshold")), **_scores(_CONTINUOUS, ("model",)),
         "fss": ("model", "threshold", "scale"),
         **_scores(("p99", "p999", "wet_fraction", "wasserstein", "crps"), ("model",)),
         **_scores(("reference_p99", "reference_p999", "reference_wet_fraction"), ())},
        {"case": "M"},
    ),
    "imerg": StoreSpec(
        "imerg", "IMERG validation", "33_imerg_validation", "imerg_results.zarr",
        {"imerg": ("time", *_GRID), "radar": ("time", *_GRID), **_scores(_IMERG_QUALITY, ("time", *_GRID))},
        {"time": "M"},
    ),
}

_LABEL_COORDS = {"nowcast": ("method_kind", ("model", "baseline")), "irqpe": ("model_kind", ("deterministic", "ensemble"))}


class MissingResultsError(AverseError, FileNotFoundError):
    """No results store yet: the message names the notebook that writes it.

    Parameters
    ----------
    spec : StoreSpec
        The store looked for.
    results_dir : path-like
        Folder it was looked for in.
    """

    def __init__(self, spec: StoreSpec, results_dir: str | os.PathLike):
        self.spec = spec
        self.path = spec.path(results_dir)
        super().__init__(
            f"no {spec.title} results at {self.path}. Run {spec.notebook_path} first "
            f"(with `averse run-notebooks --out {results_dir}`, or papermill with out_dir="
            f"{Path(results_dir) / spec.notebook}), then reload this dashboard."
        )


def results_path(kind: str, results_dir: str | os.PathLike) -> Path:
    """Path of the ``kind`` store (``"nowcast"``, ``"irqpe"``, ``"imerg"``) under ``results_dir``."""
    return _spec(kind).path(results_dir)


def _spec(kind: str) -> StoreSpec:
    if kind not in STORES:
        raise KeyError(f"unknown results kind {kind!r}; known: {sorted(STORES)}")
    return STORES[kind]


def _check(ds: xr.Dataset, spec: StoreSpec, path) -> None:
    """Raise :class:`DataFormatError` unless ``ds`` follows the contract of ``spec``."""
    problems = []
    for name, dims in spec.variables.items():
        if name not in ds:
            problems.append(f"variable {name!r} is missing")
        elif set(ds[name].dims) != set(dims):
            problems.append(f"{name!r} has dims {ds[name].dims}, the contract says {dims}")
    for name, kind in spec.coord_kinds.items():
        if name not in ds.coords or ds[name].dtype.kind != kind:
            problems.append(f"coordinate {name!r} must be {np.dtype(kind + '8').name}")
    if "spatial_ref" not in ds.coords or "crs_wkt" not in ds["spatial_ref"].attrs:
        problems.append("no 'spatial_ref' coordinate with 'crs_wkt' (see averse.datamodel.attach_grid)")
    if spec.kind in _LABEL_COORDS:
        coord, allowed = _LABEL_COORDS[spec.kind]
        found = set(np.asarray(ds[coord]).astype(str)) if coord in ds.coords else {"<missing>"}
        if not found <= set(allowed):
            problems.append(f"coordinate {coord!r} must take values in {allowed}, found {sorted(found)}")
    if problems:
        raise DataFormatError(path, f"not a {spec.title} results store: " + "; ".join(problems))


def open_results(kind: str, results_dir: str | os.PathLike) -> xr.Dataset:
    """Open a results store, lazily (one chunk is read per map shown).

    Parameters
    ----------
    kind : {"nowcast", "irqpe", "imerg"}
        Which store.
    results_dir : path-like
        The folder the evaluation notebooks wrote (``runs/main``).

    Returns
    -------
    xr.Dataset
        The store, checked against the contract; string coordinates as ``str``.

    Raises
    ------
    MissingResultsError
        When the store does not exist yet (the message names the notebook).
    DataFormatError
        When it is not readable or breaks the contract.
    """
    spec = _spec(kind)
    path = spec.path(results_dir)
    if not path.exists():
        raise MissingResultsError(spec, results_dir)
    try:
        ds = xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None, decode_timedelta=True)
    except Exception as exc:  # zarr and xarray raise many types for a broken store
        raise DataFormatError(path, f"not a readable zarr store ({type(exc).__name__}: {exc})") from exc
    if ds.attrs.get("averse_results") != kind or ds.attrs.get("contract_version") != CONTRACT_VERSION:
        raise DataFormatError(
            path, f"attributes say averse_results={ds.attrs.get('averse_results')!r}, contract_version="
            f"{ds.attrs.get('contract_version')!r}; expected {kind!r}, {CONTRACT_VERSION}")
    strings = {name: (coord.dims, np.array(coord.values.tolist(), dtype=str), coord.attrs)
               for name, coord in ds.coords.items() if coord.dtype.kind in "TO"}
    ds = ds.assign_coords(strings)
    # Only coordinates (lead_time) are durations in the contract; a data variable in CF time units
    # (IMERG's MWobservationTime, "minutes") stays a number of minutes.
    minutes = {name: (var / np.timedelta64(1, "m")).assign_attrs(var.attrs, units="minutes")
               for name, var in ds.data_vars.items() if var.dtype.kind == "m"}
    ds = ds.assign(minutes)
    _check(ds, spec, path)
    return ds


def _rain(da: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` as float32 mm/h named ``name``; refuses other units."""
    units = da.attrs.get("units", PRECIP_ATTRS["units"])
    if units not in ("mm h-1", "mm/h"):
        raise ValueError(f"{name!r} must be a rain rate in mm h-1, got units {units!r}")
    attrs = {**PRECIP_ATTRS, **da.attrs, "units": "mm h-1"}
    return da.astype("float32").rename(name).assign_attrs(attrs)


def _stack(fields: Mapping[str, xr.DataArray], dim: str, name: str) -> xr.DataArray:
    """Fields by name stacked along a new ``dim`` (outer join of their other coords)."""
    if not fields:
        raise ValueError(f"no {dim} given for {name!r}")
    arrays = [_rain(field, name).expand_dims({dim: [label]}) for label, field in fields.items()]
    labels = np.array([str(label) for label in fields], dtype=object)
    return xr.concat(arrays, dim=dim, join="outer", coords="minimal", compat="override").assign_coords({dim: labels})


def _labels(values) -> np.ndarray:
    """Strings as an object array (zarr 3 stores those as variable-length UTF-8)."""
    return np.asarray([str(v) for v in np.ravel(values)], dtype=object)


def _write(ds: xr.Dataset, kind: str, results_dir: str | os.PathLike, attrs: Mapping | None) -> Path:
    """Check ``ds`` against the contract and write it atomically (temporary name, then rename)."""
    spec = _spec(kind)
    path = spec.path(results_dir)
    strings = {name: (coord.dims, _labels(coord.values).reshape(coord.shape), coord.attrs)
               for name, coord in ds.coords.items() if coord.dtype.kind in "TOU"}
    ds = ds.assign_coords(strings)
    ds.attrs = {**(attrs or {}), "averse_results": kind, "contract_version": CONTRACT_VERSION,
                "notebook": spec.notebook_path, "created": pd.Timestamp.now(tz="UTC").isoformat()}
    _check(ds, spec, path)
    encoding = {name: {"chunks": tuple(ds.sizes[d] if d in _GRID else 1 for d in var.dims)}
                for name, var in ds.data_vars.items() if set(_GRID) <= set(var.dims)}
    lazy = {name: ds[name].chunk(dict(zip(ds[name].dims, encoding[name]["chunks"])))
            for name in encoding if ds[name].chunks is not None}  # dask chunks = the store's chunks
    ds = ds.assign(lazy)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False, encoding=encoding)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return path


def write_nowcast_results(results_dir, observed: xr.DataArray, models: Mapping[str, xr.DataArray],
                          baselines: Mapping[str, xr.DataArray], scores: xr.Dataset, events=None,
                          attrs: Mapping | None = None) -> Path:
    """Write the nowcasting results store (see the module docstring for the contract).

    Parameters
    ----------
    results_dir : path-like
        The run folder (``averse run-notebooks --out``); the store goes to
        ``results_dir/11_nowcast_evaluate/nowcast_results.zarr``.
    observed : xr.DataArray
        ``(case, lead_time, y, x)`` observed rain (mm/h) with the data-model grid.
    models, baselines : mapping of str to xr.DataArray
        Forecasts by method name, each ``(case, lead_time, y, x)`` on the same grid.
    scores : xr.Dataset
        At least ``csi pod far hss ets frequency_bias`` (method, lead_time,
        threshold), ``mae rmse me corr`` (method, lead_time) and ``fss``
        (method, lead_time, threshold, scale), e.g. ``averse.verify.evaluate``
        of the stacked forecasts with ``aggregate_dims=("case",)``. Other
        variables are kept.
    events : sequence of str, optional
        Event name of each case; default: the issue date (``YYYY-MM-DD``).
    attrs : mapping, optional
        Extra store attributes (dataset, checkpoint names...).

    Returns
    -------
    Path
        The written store.
    """
    forecast = _stack({**models, **baselines}, "method", "forecast")
    kinds = ["model"] * len(models) + ["baseline"] * len(baselines)
    forecast = forecast.assign_coords(method_kind=("method", _labels(kinds)))
    cases = pd.DatetimeIndex(observed["case"].values)
    events = cases.strftime("%Y-%m-%d") if events is None else events
    ds = xr.merge([_rain(observed, "observed"), forecast], join="exact", compat="override")
    ds = ds.assign_coords(event=("case", _labels(events)))
    ds = ds.merge(scores.sel({"method": ds["method"].values}), join="left", compat="override")  # sel(method=) is a keyword
    return _write(ds, "nowcast", results_dir, attrs)


def write_irqpe_results(results_dir, reference: xr.DataArray, deterministic: Mapping[str, xr.DataArray],
                        ensembles: Mapping[str, xr.DataArray], spatial_scores: xr.Dataset,
                        statistical_scores: xr.Dataset, attrs: Mapping | None = None) -> Path:
    """Write the IR-retrieval results store (see the module docstring for the contract).

    Parameters
    ----------
    results_dir : path-like
        The run folder; the store goes to ``results_dir/22_irqpe_generative/irqpe_results.zarr``.
    reference : xr.DataArray
        ``(case, y, x)`` reference rain (mm/h) with the data-model grid.
    deterministic : mapping of str to xr.DataArray
        Deterministic retrievals by model name, each ``(case, y, x)``.
    ensembles : mapping of str to xr.DataArray
        Generative ensembles by model name, each ``(case, member, y, x)``.
    spatial_scores : xr.Dataset
        ``csi pod far hss ets frequency_bias`` (model, threshold), ``fss``
        (model, threshold, scale), ``mae rmse me corr`` (model).
    statistical_scores : xr.Dataset
        ``p99 p999 wet_fraction wasserstein crps`` (model) and the scalars
        ``reference_p99 reference_p999 reference_wet_fraction``.
    attrs : mapping, optional
        Extra store attributes.

    Returns
    -------
    Path
        The written store.
    """
    names = _labels([*deterministic, *ensembles])
    kinds = ["deterministic"] * len(deterministic) + ["ensemble"] * len(ensembles)
    det = _stack(deterministic, "model", "deterministic").reindex(model=names)
    members = _stack(ensembles, "model", "members").reindex(model=names)
    ds = xr.merge([_rain(reference, "reference"), det, members], join="exact", compat="override")
    ds = ds.assign_coords(model_kind=("model", _labels(kinds)))
    scores = xr.merge([spatial_scores, statistical_scores], compat="override")
    ds = ds.merge(scores.sel(model=names), join="left", compat="override")
    return _write(ds, "irqpe", results_dir, attrs)


def write_imerg_results(results_dir, imerg: xr.Dataset, radar: xr.DataArray, attrs: Mapping | None = None) -> Path:
    """Write the IMERG-validation results store (see the module docstring for the contract).

    Parameters
    ----------
    results_dir : path-like
        The run folder; the store goes to ``results_dir/33_imerg_validation/imerg_results.zarr``.
    imerg : xr.Dataset
        IMERG V07 half hours as ``averse.open_dataset`` reads them:
        ``precipitation`` and ``MWprecipSource``, ``MWobservationTime``,
        ``IRinfluence``, ``precipitationQualityIndex`` on ``(time, y, x)``.
    radar : xr.DataArray
        Radar rain aggregated to the same half hours and 0.1° cells (mm/h);
        its ``time`` and grid must equal IMERG's exactly.
    attrs : mapping, optional
        Extra store attributes.

    Returns
    -------
    Path
        The written store.
    """
    missing = [name for name in ("precipitation", *_IMERG_QUALITY) if name not in imerg]
    if missing:
        raise ValueError(f"the IMERG dataset lacks {missing}")
    quality = imerg[list(_IMERG_QUALITY)].astype("float32")
    ds = xr.merge([_rain(imerg["precipitation"], "imerg"), _rain(radar, "radar"), quality],
                  join="exact", compat="override")
    return _write(ds, "imerg", results_dir, attrs)
