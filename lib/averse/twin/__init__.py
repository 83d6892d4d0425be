"""The twin world: a synthetic observing system with known truth.

One "true" rain field (:mod:`averse.twin.truth`) over a region's terrain
(:mod:`averse.twin.static`), what a ground radar sees of it
(:mod:`averse.twin.radar`) and, through :mod:`averse.twin.sensors`, what the
satellites see. :func:`generate` writes it all to a zarr DataTree; the reader
``"twin"`` (:mod:`averse.twin.reader`) caches it and opens it lazily, so
``averse.open_dataset("twin")`` works on a machine with no data.
"""

from averse.twin.regions import REGIONS, Climate, Orography, RadarSite, Region, Ridge, get_region, region_names
from averse.twin.world import generate

__all__ = ["REGIONS", "Region", "RadarSite", "Ridge", "Orography", "Climate", "get_region", "region_names", "generate"]
