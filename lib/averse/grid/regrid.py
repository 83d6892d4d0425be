"""Conservative (area-weighted) regridding between regular grids.

The weights are the areas (m²) shared by every target cell and every source
cell, held once in a sparse matrix ``W`` of shape ``(n_target, n_source)``.
Applying them to a field ``v`` gives the area-weighted mean of the valid source
cells inside each target cell::

    mean_j = sum_i W_ij v_i / sum_i W_ij [v_i valid]

and the coverage of the target cell, the valid overlapped area over the area of
the cell. Target cells covered less than ``min_coverage`` are NaN. With these
weights the total ``sum_j mean_j * valid_area_j`` equals the area-weighted total
of the source (``sum_i v_i * area_i`` over the source cells inside the target
grid): the regridding conserves the field's integral.

Two ways to compute the overlaps:

- same CRS on both sides: exact, as the product of 1-D overlaps of the cell
  edges along ``x`` and ``y`` (e.g. 1 km → 3 km in the twin's LAEA);
- different CRS (LAEA → 0.1° latitude/longitude): the corners of every source
  cell are transformed to the target CRS, where the cell is the quadrilateral
  of its corners. A cell whose four corners fall in one target cell lies in it
  and gives it its whole area; the other ("mixed") cells are clipped exactly
  against every target cell of their corners' index box (vectorised
  Sutherland–Hodgman) and share their area in proportion to the clipped areas.
  Exact up to the curvature of a source cell's edges in the target CRS
  (negligible for 1-km cells).

Fields are regridded time block by time block with dask
(:meth:`ConservativeRegridder.regrid`): memory stays bounded by one block of
the source whatever the length of the series.
"""

from __future__ import annotations

import numpy as np
import pyproj
import scipy.sparse as sp
import xarray as xr

from averse.grid.grids import RegularGrid, authalic_sine

__all__ = ["ConservativeRegridder"]

_POINTS_PER_BATCH = 500_000


def _axis_overlap(source_edges: np.ndarray, target_edges: np.ndarray) -> sp.csr_matrix:
    """Lengths shared by 1-D cells: sparse ``(n_target, n_source)``.

    Edges may run in either direction; each cell is the interval between two
    consecutive edges.
    """
    s_lo = np.minimum(source_edges[:-1], source_edges[1:])
    s_hi = np.maximum(source_edges[:-1], source_edges[1:])
    t_lo = np.minimum(target_edges[:-1], target_edges[1:])
    t_hi = np.maximum(target_edges[:-1], target_edges[1:])
    s_order = np.argsort(s_lo)
    s_lo_sorted, s_hi_sorted = s_lo[s_order], s_hi[s_order]
    first = np.searchsorted(s_hi_sorted, t_lo, side="right")
    last = np.searchsorted(s_lo_sorted, t_hi, side="left")
    counts = np.maximum(last - first, 0)
    rows = np.repeat(np.arange(t_lo.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols_sorted = np.repeat(first, counts) + offsets
    cols = s_order[cols_sorted]
    length = np.minimum(t_hi[rows], s_hi[cols]) - np.maximum(t_lo[rows], s_lo[cols])
    keep = length > 0
    return sp.csr_matrix((length[keep], (rows[keep], cols[keep])), shape=(t_lo.size, s_lo.size))


def _polygon_area(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Shoelace area of polygons given as ``(n, m)`` vertex arrays (repeated vertices allowed)."""
    return 0.5 * np.abs(np.sum(px * np.roll(py, -1, axis=1) - np.roll(px, -1, axis=1) * py, axis=1))


def _clip_half_plane(px, py, axis: int, bound, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """One Sutherland–Hodgman step against ``sign * (coord[axis] - bound) >= 0``.

    Polygons are convex, given as ``(n, m)`` vertex arrays; the result has
    ``m + 1`` vertices. Each edge ``a -> b`` yields one vertex: ``b`` (both
    inside), the crossing ``I`` (leaving), the crossing (entering, followed by
    ``b``: the one edge that yields two) or ``b'`` (both outside, ``b``
    projected on the clip line). Each row is rotated so that its entering edge
    comes last and its second vertex fills the extra slot. Repeated vertices and
    runs along the clip line add no area, so the shoelace area of the result is
    the clipped area (zero for an emptied polygon).
    """
    n, m = px.shape
    qx, qy = np.roll(px, -1, axis=1), np.roll(py, -1, axis=1)
    pc, qc = (px, qx) if axis == 0 else (py, qy)
    a, b = sign * (pc - bound), sign * (qc - bound)
    a_in, b_in = a >= 0, b >= 0
    crossing = a_in != b_in
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(crossing, a / (a - b), 0.0)
    ix, iy = px + t * (qx - px), py + t * (qy - py)
    if axis == 0:
        ix = np.where(crossing, bound, ix)  # exactly on the line
        proj_x, proj_y = np.broadcast_to(bound, qx.shape), qy
    else:
        iy = np.where(crossing, bound, iy)
        proj_x, proj_y = qx, np.broadcast_to(bound, qy.shape)
    first_x = np.where(b_in, np.where(a_in, qx, ix), np.where(a_in, ix, proj_x))
    first_y = np.where(b_in, np.where(a_in, qy, iy), np.where(a_in, iy, proj_y))
    entering = ~a_in & b_in
    last = np.argmax(entering, axis=1)  # the entering edge (0 when there is none)
    order = (np.arange(m)[None, :] + last[:, None] + 1) % m
    rows = np.arange(n)[:, None]
    has_entry = entering[np.arange(n), last]
    extra_x = np.where(has_entry, qx[np.arange(n), last], first_x[np.arange(n), last])
    extra_y = np.where(has_entry, qy[np.arange(n), last], first_y[np.arange(n), last])
    out_x = np.concatenate([first_x[rows, order], extra_x[:, None]], axis=1)
    out_y = np.concatenate([first_y[rows, order], extra_y[:, None]], axis=1)
    return out_x, out_y


def _clip_to_boxes(px, py, x_lo, x_hi, y_lo, y_hi) -> np.ndarray:
    """Area of each convex polygon ``(px[i], py[i])`` inside the box ``i`` (vectorised)."""
    for axis, bound, sign in ((0, x_lo, 1.0), (0, x_hi, -1.0), (1, y_lo, 1.0), (1, y_hi, -1.0)):
        px, py = _clip_half_plane(px, py, axis, bound[:, None], sign)
    return _polygon_area(px, py)


class ConservativeRegridder:
    """Area-weighted regridding from one regular grid to another.

    Parameters
    ----------
    source, target : RegularGrid
        Grids of the input fields and of the result.

    Attributes
    ----------
    weights : scipy.sparse.csr_matrix
        Overlap areas (m²), shape ``(n_target, n_source)``; flattened indices are
        ``row * nx + column``.
    target_area : ndarray
        Area of every target cell (m²), shape of the target grid.
    """

    def __init__(self, source: RegularGrid, target: RegularGrid):
        self.source = source
        self.target = target
        self.target_area = target.cell_area()
        if source.pyproj_crs == target.pyproj_crs:
            self.weights = self._separable_weights()
        else:
            self.weights = self._clipped_weights()
        self._overlap_area = np.asarray(self.weights.sum(axis=1)).ravel()
        self._weights32 = None

    # -- weights -------------------------------------------------------------------
    def _separable_weights(self) -> sp.csr_matrix:
        src, tgt = self.source, self.target
        if src.is_geographic:
            # Ellipsoidal area: R_a² Δλ Δ(sin β), separable in (λ, sin β), β the authalic latitude.
            ellipsoid = src.pyproj_crs.ellipsoid
            args = (ellipsoid.semi_major_metre, 1.0 / ellipsoid.inverse_flattening)
            src_sine, radius = authalic_sine(src.y_edges, *args)
            tgt_sine, _ = authalic_sine(tgt.y_edges, *args)
            wx = _axis_overlap(np.deg2rad(src.x_edges), np.deg2rad(tgt.x_edges))
            wy = _axis_overlap(src_sine, tgt_sine)
            return (sp.kron(wy, wx, format="csr") * radius**2).tocsr()
        wx = _axis_overlap(src.x_edges, tgt.x_edges)
        wy = _axis_overlap(src.y_edges, tgt.y_edges)
        map_area = sp.kron(wy, wx, format="csr")
        # Map area -> Earth area with the source cell's areal scale (1 for equal-area CRSs).
        scale = src.cell_area().ravel() / abs(src.dx * src.dy)
        return (map_area @ sp.diags(scale)).tocsr()

    def _clipped_weights(self) -> sp.csr_matrix:
        src, tgt = self.source, self.target
        ny, nx = src.shape
        nty, ntx = tgt.shape
        to_target = pyproj.Transformer.from_crs(src.pyproj_crs, tgt.pyproj_crs, always_xy=True)
        area = src.cell_area().ravel()
        tx_lo = np.minimum(tgt.x_edges[:-1], tgt.x_edges[1:])
        tx_hi = np.maximum(tgt.x_edges[:-1], tgt.x_edges[1:])
        ty_lo = np.minimum(tgt.y_edges[:-1], tgt.y_edges[1:])
        ty_hi = np.maximum(tgt.y_edges[:-1], tgt.y_edges[1:])
        rows_per_batch = max(1, _POINTS_PER_BATCH // (nx + 1))
        blocks = []
        for r0 in range(0, ny, rows_per_batch):
            r1 = min(ny, r0 + rows_per_batch)
            # Cell corners of this band of rows, shared by neighbouring cells, in the target CRS.
            cx, cy = to_target.transform(*np.meshgrid(src.x_edges, src.y_edges[r0 : r1 + 1]))
            quad_x = np.stack([cx[:-1, :-1], cx[:-1, 1:], cx[1:, 1:], cx[1:, :-1]], axis=-1).reshape(-1, 4)
            quad_y = np.stack([cy[:-1, :-1], cy[:-1, 1:], cy[1:, 1:], cy[1:, :-1]], axis=-1).reshape(-1, 4)
            cells = np.arange(r0 * nx, r1 * nx)
            # Target index box of each cell: the quadrilateral lies inside the box of its corners.
            ix = np.floor((quad_x - tgt.x_edges[0]) / tgt.dx).astype("int64")
            iy = np.floor((quad_y - tgt.y_edges[0]) / tgt.dy).astype("int64")
            x0, x1 = np.clip(ix.min(axis=1), 0, None), np.clip(ix.max(axis=1), None, ntx - 1)
            y0, y1 = np.clip(iy.min(axis=1), 0, None), np.clip(iy.max(axis=1), None, nty - 1)
            touches = (x0 <= x1) & (y0 <= y1)
            # A cell whose four corners fall in one target cell lies in it (convexity).
            pure = touches & (ix.min(axis=1) == ix.max(axis=1)) & (iy.min(axis=1) == iy.max(axis=1))
            rows_list, cols_list, vals_list = [y0[pure] * ntx + x0[pure]], [cells[pure]], [area[cells[pure]]]
            mixed = np.flatnonzero(touches & ~pure)
            if mixed.size:
                width, height = x1[mixed] - x0[mixed] + 1, y1[mixed] - y0[mixed] + 1
                counts = width * height
                pair = np.repeat(mixed, counts)
                offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
                dy, dx = np.divmod(offset, np.repeat(width, counts))
                trow, tcol = y0[pair] + dy, x0[pair] + dx
                qx, qy = quad_x[pair], quad_y[pair]
                clipped = _clip_to_boxes(qx, qy, tx_lo[tcol], tx_hi[tcol], ty_lo[trow], ty_hi[trow])
                rows_list.append(trow * ntx + tcol)
                cols_list.append(cells[pair])
                vals_list.append(clipped / _polygon_area(qx, qy) * area[cells[pair]])
            blocks.append(
                sp.coo_matrix(
                    (np.concatenate(vals_list), (np.concatenate(rows_list), np.concatenate(cols_list))),
                    shape=(nty * ntx, ny * nx),
                ).tocsr()
            )
        weights = blocks[0]
        for block in blocks[1:]:
            weights = weights + block
        weights.eliminate_zeros()
        return weights.tocsr()

    # -- properties ----------------------------------------------------------------
    @property
    def overlap_area(self) -> np.ndarray:
        """Area of each target cell covered by the source grid (m², target shape)."""
        return self._overlap_area.reshape(self.target.shape)

    @property
    def covered_fraction(self) -> np.ndarray:
        """Fraction of each target cell covered by the source grid (0..1, target shape)."""
        return np.clip(self.overlap_area / self.target_area, 0.0, 1.0)

    # -- application ---------------------------------------------------------------
    def _weights_as(self, dtype) -> sp.csr_matrix:
        """The weights in ``dtype`` (cached)."""
        if dtype == np.float64:
            return self.weights
        if self._weights32 is None:
            self._weights32 = self.weights.astype(dtype)
        return self._weights32

    def regrid_array(self, values, *, min_coverage: float = 0.5, return_coverage: bool = False):
        """Regrid a numpy array whose last two axes are the source ``(y, x)``.

        Parameters
        ----------
        values : array_like
            Shape ``(..., ny, nx)`` of the source grid; NaN marks missing cells.
        min_coverage : float
            Target cells whose valid overlapped area is below this fraction of
            their area are NaN.
        return_coverage : bool
            Also return the valid-area fraction of every target cell.

        Returns
        -------
        ndarray or (ndarray, ndarray)
            Shape ``(..., nty, ntx)``: the area-weighted means (float32 for float32
            input, else float64), and the coverage fractions when asked.
        """
        values = np.asarray(values)
        if values.shape[-2:] != self.source.shape:
            raise ValueError(f"last axes {values.shape[-2:]} are not the source grid {self.source.shape}")
        lead = values.shape[:-2]
        # float32 fields are regridded in float32 (weights cast once), others in float64.
        dtype = np.float32 if values.dtype == np.float32 else np.float64
        weights = self._weights_as(dtype)
        flat = values.reshape(-1, self.source.shape[0] * self.source.shape[1]).T.astype(dtype, copy=False)
        valid = np.isfinite(flat)
        if valid.all():
            numerator = weights @ flat
            valid_area = np.repeat(self._overlap_area[:, None], flat.shape[1], axis=1)
        else:
            numerator = weights @ np.where(valid, flat, dtype(0))
            valid_area = weights @ valid.astype(dtype)
        coverage = np.clip(valid_area / self.target_area.ravel()[:, None], 0.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = numerator / valid_area
        mean[(coverage < min_coverage) | (valid_area <= 0)] = np.nan
        shape = lead + self.target.shape
        mean = mean.T.reshape(shape).astype(dtype, copy=False)
        if return_coverage:
            return mean, coverage.T.reshape(shape).astype(dtype, copy=False)
        return mean

    def _apply(self, da: xr.DataArray, func, dtype, name: str | None) -> xr.DataArray:
        """Apply ``func`` over the ``(y, x)`` core of ``da`` block by block."""
        if da.sizes.get("y") != self.source.shape[0] or da.sizes.get("x") != self.source.shape[1]:
            raise ValueError(
                f"{da.name!r} has (y, x) sizes ({da.sizes.get('y')}, {da.sizes.get('x')}), "
                f"the regridder's source grid is {self.source.shape}"
            )
        if da.chunks is not None:
            da = da.chunk({"y": -1, "x": -1})
        out = xr.apply_ufunc(
            func,
            da,
            input_core_dims=[["y", "x"]],
            output_core_dims=[["y_target", "x_target"]],
            dask="parallelized",
            output_dtypes=[dtype],
            dask_gufunc_kwargs={"output_sizes": {"y_target": self.target.shape[0], "x_target": self.target.shape[1]}},
            keep_attrs=True,
        )
        out = out.drop_vars([c for c in ("spatial_ref", "lat", "lon") if c in out.coords])
        out = out.rename({"y_target": "y", "x_target": "x"}).transpose(*da.dims)
        name = name or da.name or "regridded"
        return self.target.attach(out.to_dataset(name=name))[name]

    def regrid(self, da: xr.DataArray, *, min_coverage: float = 0.5) -> xr.DataArray:
        """Regrid a (possibly dask-backed) DataArray with ``y``, ``x`` dims.

        Works lazily over the non-spatial chunks (one time block at a time);
        the result carries the target grid (``x``, ``y``, ``lat``, ``lon``,
        ``spatial_ref``) and the input's attributes plus ``regrid_method``.
        """
        dtype = da.dtype if da.dtype == np.float32 else np.float64
        out = self._apply(da, lambda v: self.regrid_array(v, min_coverage=min_coverage), dtype, da.name)
        out.attrs["regrid_method"] = (
            f"conservative area-weighted mean; target cells with less than {min_coverage:g} "
            "valid coverage are NaN"
        )
        return out

    def coverage(self, da: xr.DataArray) -> xr.DataArray:
        """Valid-area fraction (0..1) of every target cell for the field ``da``."""
        dtype = da.dtype if da.dtype == np.float32 else np.float64
        out = self._apply(
            da, lambda v: self.regrid_array(v, min_coverage=0.0, return_coverage=True)[1], dtype, "coverage"
        )
        out.attrs = {"long_name": "valid-area fraction of the cell", "units": "1"}
        return out

    def regrid_dataset(self, ds: xr.Dataset, *, min_coverage: float = 0.5) -> xr.Dataset:
        """Regrid every data variable of ``ds`` that has ``y`` and ``x`` dims."""
        names = [n for n in ds.data_vars if {"y", "x"} <= set(ds[n].dims)]
        out = xr.Dataset({n: self.regrid(ds[n], min_coverage=min_coverage) for n in names})
        out.attrs = dict(ds.attrs)
        return out
