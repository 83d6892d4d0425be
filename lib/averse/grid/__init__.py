"""Grids, conservative regridding and time aggregation.

- :class:`RegularGrid` (``grids``): cell centres, edges, areas and CRS of an
  evenly spaced grid; :func:`latlon_grid_covering` builds a global-aligned
  latitude/longitude grid (IMERG's 0.1°) over a projected domain.
- :class:`ConservativeRegridder` (``regrid``): area-weighted regridding with
  weights computed once as a sparse matrix and applied block by block with dask;
  coverage fractions and NaN handling.
- :func:`aggregate_time` (``aggregate``): means of 5-min frames over 15/30-min
  intervals, time = END of the interval, with a coverage fraction.
"""

from averse.grid.aggregate import aggregate_time, infer_step, interval_end_labels
from averse.grid.grids import RegularGrid, latlon_grid_covering
from averse.grid.regrid import ConservativeRegridder

__all__ = [
    "RegularGrid",
    "latlon_grid_covering",
    "ConservativeRegridder",
    "aggregate_time",
    "interval_end_labels",
    "infer_step",
]
