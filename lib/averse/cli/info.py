"""Plain-text descriptions of files and catalog entries (``averse info``, ``averse catalog``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["describe", "describe_dataset", "catalog_report"]

# Ranges of larger variables are computed on a subset of time steps (and said so).
_FULL_RANGE_LIMIT = 50_000_000


def _reader_name(path_or_name: str, reader: str | None) -> str:
    from averse import io
    from averse.catalog import load_catalog

    if reader:
        return reader
    catalog = load_catalog()
    if path_or_name in catalog:
        return catalog[path_or_name].reader
    return io.sniff(io.expand_paths(path_or_name)[0])


def _value_range(da: xr.DataArray) -> str:
    if da.dtype.kind not in "biuf" or da.size == 0:
        return ""
    sample, note = da, ""
    if da.size > _FULL_RANGE_LIMIT:
        lead = next(iter(da.dims))
        keep = max(1, int(_FULL_RANGE_LIMIT // (da.size // da.sizes[lead])))
        sample, note = da.isel({lead: slice(0, keep)}), f" (first {keep} {lead})"
    values = np.asarray(sample.values, dtype="float64")
    finite = np.isfinite(values)
    n_nan = int(values.size - finite.sum())
    if not finite.any():
        return f"all NaN{note}"
    return (
        f"min {np.min(values[finite]):.4g}  max {np.max(values[finite]):.4g}  "
        f"mean {np.mean(values[finite]):.4g}  NaN {100.0 * n_nan / values.size:.1f}%{note}"
    )


def _grid_summary(ds: xr.Dataset) -> list[str]:
    lines = []
    if "spatial_ref" in ds.coords:
        from averse.datamodel import crs_of

        crs = crs_of(ds)
        lines.append(f"  crs: {crs.name}  ({crs.to_proj4() or crs.to_string()})")
    for dim in ("x", "y"):
        if dim in ds.coords and ds[dim].ndim == 1 and ds.sizes[dim] > 1:
            values = ds[dim].values
            units = ds[dim].attrs.get("units", "")
            lines.append(
                f"  {dim}: {ds.sizes[dim]} cells, {values[0]:.6g} .. {values[-1]:.6g} {units}, "
                f"step {values[1] - values[0]:.6g}"
            )
    if "time" in ds.coords and ds["time"].ndim == 1 and ds.sizes.get("time", 0):
        times = pd.DatetimeIndex(ds["time"].values)
        step = ""
        if len(times) > 1:
            steps = pd.Series(np.diff(times.values)).value_counts()
            step = f", step {pd.Timedelta(steps.index[0])}" + (" (irregular)" if len(steps) > 1 else "")
        lines.append(f"  time: {len(times)} steps, {times[0]} .. {times[-1]} UTC{step}")
    return lines


def describe_dataset(ds: xr.Dataset, title: str = "") -> str:
    """Describe one dataset: dims, grid, time axis and each variable with units and range."""
    lines = [title] if title else []
    lines.append("  dims: " + ", ".join(f"{k}={v}" for k, v in ds.sizes.items()))
    lines.extend(_grid_summary(ds))
    for name, var in ds.data_vars.items():
        units = var.attrs.get("units", "-")
        dims = ",".join(var.dims)
        lines.append(f"  {name} ({dims}) {var.dtype} [{units}]  {_value_range(var)}")
        if "cell_methods" in var.attrs:
            lines.append(f"      cell_methods: {var.attrs['cell_methods']}")
    return "\n".join(lines)


def describe(path_or_name: str, reader: str | None = None) -> str:
    """What a file, glob or catalog entry holds: format, variables, grid, times, units, ranges.

    Parameters
    ----------
    path_or_name : str
        File, folder, glob or catalog entry.
    reader : str, optional
        Reader to use instead of sniffing.
    """
    from averse import open_dataset

    name = _reader_name(path_or_name, reader)
    kwargs = {"reader": reader} if reader and Path(path_or_name).exists() else {}
    obj = open_dataset(path_or_name, **kwargs)
    header = f"{path_or_name}\n  format: {name}"
    if isinstance(obj, xr.DataTree):
        parts = [header]
        for node in obj.subtree:
            if node.has_data:
                parts.append(describe_dataset(node.to_dataset(inherit=False), title=f"group {node.path}"))
        return "\n".join(parts)
    return header + "\n" + describe_dataset(obj)


def catalog_report() -> tuple[str, list[str]]:
    """One line per catalog entry: reader, description and whether its files are present."""
    from averse.catalog import load_catalog
    from averse.errors import AverseError

    catalog = load_catalog()
    lines, missing = [f"catalog: {catalog.source}"], []
    for name, entry in catalog.entries.items():
        if entry.path is None:
            state = "generated"
        else:
            try:
                state = f"{len(catalog.files(name))} file(s)"
            except AverseError as exc:
                missing.append(name)
                state = f"missing ({exc})"
        lines.append(f"  {name:<26} {entry.reader:<14} {state}\n      {entry.description}")
    return "\n".join(lines), missing
