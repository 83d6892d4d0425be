"""Regular grids: cell centres, cell edges, cell areas and the CRS, in one object.

A :class:`RegularGrid` describes the horizontal grid of an averse dataset
(``averse.datamodel``): 1-D cell-centre coordinates ``x`` and ``y`` that are
evenly spaced, in metres for a projected CRS or in degrees (``x`` = longitude,
``y`` = latitude) for a geographic one. Both axis directions are allowed
(``y`` may decrease with the row index, as in many north-up images).

The regridders (:mod:`averse.grid.regrid`) take two grids; the helpers below
build the usual targets: a coarser grid in the same projection
(:meth:`RegularGrid.coarsen`) and a global-aligned latitude/longitude grid such
as IMERG's 0.1° (:func:`latlon_grid_covering`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import xarray as xr

from averse.datamodel import attach_grid, crs_of

__all__ = ["RegularGrid", "latlon_grid_covering", "authalic_sine"]


def authalic_sine(lat_deg: np.ndarray, semi_major: float, flattening: float) -> tuple[np.ndarray, float]:
    """Sine of the authalic latitude, and the authalic radius, of an ellipsoid.

    The area between two parallels over a longitude span ``Δλ`` (radians) is
    exactly ``R_a² Δλ (sin β2 - sin β1)`` with ``β`` the authalic latitude.
    """
    e2 = flattening * (2.0 - flattening)
    sin_phi = np.sin(np.deg2rad(np.asarray(lat_deg, dtype="float64")))
    if e2 == 0.0:
        return sin_phi, semi_major
    e = np.sqrt(e2)

    def q(s):
        return (1.0 - e2) * (s / (1.0 - e2 * s**2) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2.0 * e))

    q_pole = q(1.0)
    return q(sin_phi) / q_pole, semi_major * np.sqrt(q_pole / 2.0)


def _regular_step(values: np.ndarray, name: str) -> float:
    """Spacing of an evenly spaced 1-D coordinate; raise if it is not regular."""
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"coordinate {name!r} must be 1-D with at least two values")
    steps = np.diff(values)
    step = float(np.mean(steps))
    if step == 0 or np.max(np.abs(steps - step)) > 1e-6 * abs(step):
        raise ValueError(f"coordinate {name!r} is not evenly spaced")
    return step


@dataclass(frozen=True, eq=False)
class RegularGrid:
    """An evenly spaced grid of cells given by their centres.

    Parameters
    ----------
    x, y : ndarray
        1-D cell-centre coordinates (metres, or degrees for a geographic CRS).
    crs : str
        The CRS as WKT or anything ``pyproj.CRS`` accepts.
    """

    x: np.ndarray
    y: np.ndarray
    crs: str

    def __post_init__(self):
        object.__setattr__(self, "x", np.asarray(self.x, dtype="float64"))
        object.__setattr__(self, "y", np.asarray(self.y, dtype="float64"))
        object.__setattr__(self, "crs", pyproj.CRS(self.crs).to_wkt())
        _regular_step(self.x, "x")
        _regular_step(self.y, "y")

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_dataset(cls, obj: xr.Dataset | xr.DataArray) -> "RegularGrid":
        """The grid of a dataset following :mod:`averse.datamodel`."""
        return cls(obj["x"].values, obj["y"].values, crs_of(obj).to_wkt())

    # -- geometry ------------------------------------------------------------------
    @property
    def pyproj_crs(self) -> pyproj.CRS:
        """The CRS as a ``pyproj.CRS``."""
        return pyproj.CRS(self.crs)

    @property
    def is_geographic(self) -> bool:
        """True for a latitude/longitude grid (coordinates in degrees)."""
        return self.pyproj_crs.is_geographic

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (self.y.size, self.x.size)

    @property
    def dx(self) -> float:
        """Signed spacing along ``x``."""
        return _regular_step(self.x, "x")

    @property
    def dy(self) -> float:
        """Signed spacing along ``y``."""
        return _regular_step(self.y, "y")

    @property
    def x_edges(self) -> np.ndarray:
        """Cell edges along ``x`` (``nx + 1`` values, same direction as ``x``)."""
        return np.append(self.x - self.dx / 2, self.x[-1] + self.dx / 2)

    @property
    def y_edges(self) -> np.ndarray:
        """Cell edges along ``y`` (``ny + 1`` values, same direction as ``y``)."""
        return np.append(self.y - self.dy / 2, self.y[-1] + self.dy / 2)

    def cell_area(self) -> np.ndarray:
        """Area of every cell on the Earth, m², shape ``(ny, nx)``.

        Geographic grids use the exact ellipsoidal area of each cell (through
        the authalic latitude of the CRS's ellipsoid). Projected grids divide the map area by
        the projection's areal scale factor at the cell centre, so equal-area
        projections (the twin's LAEA) give exactly ``|dx dy|``.
        """
        if self.is_geographic:
            ellipsoid = self.pyproj_crs.ellipsoid
            sine, radius = authalic_sine(self.y_edges, ellipsoid.semi_major_metre, 1.0 / ellipsoid.inverse_flattening)
            row = radius**2 * np.deg2rad(abs(self.dx)) * np.abs(np.diff(sine))
            return np.repeat(row[:, None], self.x.size, axis=1)
        map_area = abs(self.dx * self.dy)
        lon, lat = self.lonlat()
        factors = pyproj.Proj(self.pyproj_crs).get_factors(lon, lat)
        return map_area / np.asarray(factors.areal_scale).reshape(self.shape)

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D longitude and latitude of the cell centres (degrees)."""
        xx, yy = np.meshgrid(self.x, self.y)
        if self.is_geographic:
            return xx, yy
        transformer = pyproj.Transformer.from_crs(self.pyproj_crs, "EPSG:4326", always_xy=True)
        return transformer.transform(xx, yy)

    # -- derived grids -------------------------------------------------------------
    def coarsen(self, factor: int) -> "RegularGrid":
        """The grid of ``factor × factor`` blocks of cells, same CRS and origin.

        Cells that would be partly outside (``n % factor`` trailing cells) are
        dropped, so every coarse cell is fully covered by this grid.
        """
        factor = int(factor)
        if factor < 1:
            raise ValueError("factor must be a positive integer")
        nx, ny = self.x.size // factor, self.y.size // factor
        if nx < 2 or ny < 2:
            raise ValueError(f"grid {self.shape} is too small to coarsen by {factor}")
        x = self.x_edges[0] + (np.arange(nx) + 0.5) * factor * self.dx
        y = self.y_edges[0] + (np.arange(ny) + 0.5) * factor * self.dy
        return RegularGrid(x, y, self.crs)

    def attach(self, ds: xr.Dataset) -> xr.Dataset:
        """Attach this grid's coordinates and CRS to ``ds`` (``attach_grid``)."""
        return attach_grid(ds, self.x, self.y, self.pyproj_crs)

    def empty_dataset(self) -> xr.Dataset:
        """A dataset holding only this grid's coordinates."""
        return self.attach(xr.Dataset(coords={"y": self.y, "x": self.x}))


def latlon_grid_covering(grid: RegularGrid, resolution: float = 0.1) -> RegularGrid:
    """Latitude/longitude grid aligned on the global grid of ``resolution``°.

    The cells are those of the global grid whose centres lie at
    ``-180 + (k + 1/2) resolution`` (longitude) and ``-90 + (k + 1/2) resolution``
    (latitude) — IMERG's 0.1° layout — and which intersect the bounding box of
    ``grid``'s cells. Cells on the rim are only partly covered by ``grid``:
    regridding reports their coverage fraction.

    Parameters
    ----------
    grid : RegularGrid
        The source grid (any CRS).
    resolution : float
        Cell size in degrees.
    """
    xe, ye = grid.x_edges, grid.y_edges
    # The boundary of the source domain, densely sampled (projected edges bend in lat/lon).
    t = np.linspace(0.0, 1.0, 64)
    bx = np.concatenate([xe[0] + t * (xe[-1] - xe[0]), np.full_like(t, xe[-1]),
                         xe[-1] - t * (xe[-1] - xe[0]), np.full_like(t, xe[0])])
    by = np.concatenate([np.full_like(t, ye[0]), ye[0] + t * (ye[-1] - ye[0]),
                         np.full_like(t, ye[-1]), ye[-1] - t * (ye[-1] - ye[0])])
    if grid.is_geographic:
        lon, lat = bx, by
    else:
        transformer = pyproj.Transformer.from_crs(grid.pyproj_crs, "EPSG:4326", always_xy=True)
        lon, lat = transformer.transform(bx, by)
    i0 = int(np.floor((np.min(lon) + 180.0) / resolution))
    i1 = int(np.ceil((np.max(lon) + 180.0) / resolution))
    j0 = int(np.floor((np.min(lat) + 90.0) / resolution))
    j1 = int(np.ceil((np.max(lat) + 90.0) / resolution))
    x = -180.0 + (np.arange(i0, i1) + 0.5) * resolution
    y = -90.0 + (np.arange(j0, j1) + 0.5) * resolution
    return RegularGrid(np.round(x, 10), np.round(y, 10), "EPSG:4326")
