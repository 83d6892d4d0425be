"""Pick the field a notebook shows from whatever :func:`averse.open_dataset` returned.

Catalog entries differ in shape (a dataset of one radar product, a twin-world
tree of many groups, a GPM granule tree); notebooks that take a ``dataset``
parameter use :func:`rain_field` to get the main rain (or reflectivity) field
of any of them.
"""

from __future__ import annotations

import xarray as xr

from averse.errors import CatalogError

__all__ = ["RAIN_VARIABLES", "rain_field", "thumbnail"]

# In order of preference: a rate in mm/h, IMERG's V07 name, reflectivity.
RAIN_VARIABLES = ("precip", "precipitation", "dbz")
# Groups of a tree tried in order when none is named: what a ground radar sees first.
PREFERRED_GROUPS = ("radar", "truth", "imerg", "dpr")


def _pick(ds: xr.Dataset, variable: str | None, where: str) -> xr.DataArray:
    if variable is not None:
        if variable not in ds.data_vars:
            raise CatalogError(f"{where} has no variable {variable!r}; it holds {sorted(ds.data_vars)}")
        return ds[variable]
    for name in RAIN_VARIABLES:
        if name in ds.data_vars:
            return ds[name]
    raise CatalogError(f"{where} holds no rain field (looked for {', '.join(RAIN_VARIABLES)}); it holds {sorted(ds.data_vars)}")


def rain_field(obj: xr.Dataset | xr.DataTree, group: str | None = None, variable: str | None = None) -> xr.DataArray:
    """The main rain field of a dataset or tree.

    Parameters
    ----------
    obj : xr.Dataset or xr.DataTree
        What :func:`averse.open_dataset` returned.
    group : str, optional
        Group of a tree (``"radar"``, ``"truth"``, ``"imerg"``...). By default the
        first of ``radar``, ``truth``, ``imerg``, ``dpr`` present, else the first
        group holding a rain variable.
    variable : str, optional
        Variable name; by default the first of ``precip``, ``precipitation``, ``dbz``.

    Returns
    -------
    xr.DataArray
        Lazy, with the grid coordinates of its group (``x``, ``y``, ``lat``, ``lon``, ``spatial_ref``).
    """
    if isinstance(obj, xr.Dataset):
        return _pick(obj, variable, "dataset")
    if group is not None:
        if group.strip("/") not in obj:
            raise CatalogError(f"tree has no group {group!r}; groups: {[n.path for n in obj.subtree]}")
        return _pick(obj[group.strip("/")].to_dataset(), variable, f"group {group!r}")
    candidates = [obj[g] for g in PREFERRED_GROUPS if g in obj] + list(obj.subtree)
    for node in candidates:
        ds = node.to_dataset()
        if any(name in ds.data_vars for name in RAIN_VARIABLES) or variable in ds.data_vars:
            return _pick(ds, variable, f"group {node.path!r}")
    raise CatalogError(f"no group of the tree holds a rain field ({', '.join(RAIN_VARIABLES)})")


def thumbnail(da: xr.DataArray, max_side: int = 400) -> xr.DataArray:
    """Block-mean a field so that neither of ``y``/``x`` exceeds ``max_side`` cells.

    Interactive maps embed every pixel of every step in the page; a 2 km
    European composite (2200 × 1900) is coarsened by 6 to fit. Coordinates
    (``x``, ``y``, ``lat``, ``lon``) are block means; ``spatial_ref`` is kept;
    NaN (no coverage) is skipped within a block, and a block of NaN stays NaN.
    """
    factor = max(1, -(-max(da.sizes["y"], da.sizes["x"]) // max_side))
    if factor == 1:
        return da
    coarse = da.coarsen(y=factor, x=factor, boundary="trim").mean()
    return coarse.assign_attrs(da.attrs, coarsened_by=factor)
