"""Cartopy projections from the pyproj CRS of averse grids.

A grid of the data model carries its CRS as CF ``spatial_ref`` (see
:func:`averse.datamodel.crs_of`). Cartopy draws in its own ``Projection``
classes, which know each projection's valid domain (the disc a geostationary
satellite sees, the hemisphere of a polar stereographic grid). This module
maps the CF grid mapping of a pyproj CRS onto the matching cartopy class with
the same parameters and ellipsoid, so that projection coordinates ``x``/``y``
of a grid are the map coordinates of the axes, metre for metre.
"""

from __future__ import annotations

import math

import cartopy.crs as ccrs
import pyproj

__all__ = ["cartopy_crs", "crs_from"]


def _globe(cf: dict) -> ccrs.Globe:
    """Cartopy globe with the ellipsoid (or sphere) of a CF grid mapping."""
    a = cf["semi_major_axis"]
    b = cf.get("semi_minor_axis") or a
    return ccrs.Globe(ellipse=None, semimajor_axis=a, semiminor_axis=b)


def _offsets(cf: dict) -> dict:
    return {"false_easting": cf.get("false_easting", 0.0), "false_northing": cf.get("false_northing", 0.0)}


def _laea(cf, globe):
    return ccrs.LambertAzimuthalEqualArea(
        central_longitude=cf["longitude_of_projection_origin"],
        central_latitude=cf["latitude_of_projection_origin"],
        globe=globe, **_offsets(cf))


def _polar_stereographic(cf, globe):
    if "latitude_of_projection_origin" in cf:
        central_latitude = cf["latitude_of_projection_origin"]
    else:  # variant B: the pole is on the side of the true-scale latitude
        central_latitude = math.copysign(90.0, cf["standard_parallel"])
    return ccrs.Stereographic(
        central_latitude=central_latitude,
        central_longitude=cf["straight_vertical_longitude_from_pole"],
        true_scale_latitude=cf.get("standard_parallel"),
        scale_factor=cf.get("scale_factor_at_projection_origin"),
        globe=globe, **_offsets(cf))


def _stereographic(cf, globe):
    return ccrs.Stereographic(
        central_latitude=cf["latitude_of_projection_origin"],
        central_longitude=cf["longitude_of_projection_origin"],
        scale_factor=cf.get("scale_factor_at_projection_origin"),
        globe=globe, **_offsets(cf))


def _geostationary(cf, globe):
    return ccrs.Geostationary(
        central_longitude=cf["longitude_of_projection_origin"],
        satellite_height=cf["perspective_point_height"],
        sweep_axis=cf.get("sweep_angle_axis", "y"),
        globe=globe, **_offsets(cf))


def _lambert_conformal(cf, globe):
    parallels = cf["standard_parallel"]
    parallels = tuple(parallels) if isinstance(parallels, (tuple, list)) else (parallels,)
    return ccrs.LambertConformal(
        central_longitude=cf["longitude_of_central_meridian"],
        central_latitude=cf["latitude_of_projection_origin"],
        standard_parallels=parallels,
        cutoff=30 if parallels[0] < 0 else -30,
        globe=globe, **_offsets(cf))


def _transverse_mercator(cf, globe):
    return ccrs.TransverseMercator(
        central_longitude=cf["longitude_of_central_meridian"],
        central_latitude=cf["latitude_of_projection_origin"],
        scale_factor=cf["scale_factor_at_central_meridian"],
        globe=globe, **_offsets(cf))


def _azimuthal_equidistant(cf, globe):
    return ccrs.AzimuthalEquidistant(
        central_longitude=cf["longitude_of_projection_origin"],
        central_latitude=cf["latitude_of_projection_origin"],
        globe=globe, **_offsets(cf))


def _mercator(cf, globe):
    if "scale_factor_at_projection_origin" in cf:
        scale = {"scale_factor": cf["scale_factor_at_projection_origin"]}
    else:
        scale = {"latitude_true_scale": cf.get("standard_parallel", 0.0)}
    return ccrs.Mercator(central_longitude=cf["longitude_of_projection_origin"], globe=globe,
                         **scale, **_offsets(cf))


def _rotated_pole(cf, globe):
    return ccrs.RotatedPole(
        pole_longitude=cf["grid_north_pole_longitude"],
        pole_latitude=cf["grid_north_pole_latitude"],
        central_rotated_longitude=cf.get("north_pole_grid_longitude", 0.0),
        globe=globe)


def _plate_carree(cf, globe):
    return ccrs.PlateCarree(globe=globe)


_BUILDERS = {
    "latitude_longitude": _plate_carree,
    "lambert_azimuthal_equal_area": _laea,
    "polar_stereographic": _polar_stereographic,
    "stereographic": _stereographic,
    "geostationary": _geostationary,
    "lambert_conformal_conic": _lambert_conformal,
    "transverse_mercator": _transverse_mercator,
    "azimuthal_equidistant": _azimuthal_equidistant,
    "mercator": _mercator,
    "rotated_latitude_longitude": _rotated_pole,
}


def crs_from(obj) -> pyproj.CRS:
    """The pyproj CRS of a data-model object, a cartopy CRS or anything pyproj reads.

    Parameters
    ----------
    obj : xr.Dataset, xr.DataArray, pyproj.CRS, cartopy CRS, str or int
        A grid with ``spatial_ref`` or a CRS description (WKT, PROJ string, EPSG).
    """
    if hasattr(obj, "coords"):
        from averse.datamodel import crs_of

        return crs_of(obj)
    return pyproj.CRS(obj)


def cartopy_crs(obj) -> ccrs.Projection:
    """The cartopy projection equivalent to the CRS of ``obj``.

    Parameters
    ----------
    obj : xr.Dataset, xr.DataArray, pyproj.CRS, cartopy CRS, str or int
        See :func:`crs_from`. A cartopy ``Projection`` is returned as is.

    Returns
    -------
    cartopy.crs.Projection
        A named cartopy class (``PlateCarree`` for geographic grids,
        ``LambertAzimuthalEqualArea``, ``Stereographic``, ``Geostationary``,
        ``LambertConformal``, ``TransverseMercator``, ``AzimuthalEquidistant``,
        ``Mercator``, ``RotatedPole``) with the CRS's parameters and
        ellipsoid; other CRSs become a generic cartopy projection bounded by
        their area of use.

    Raises
    ------
    ValueError
        When the CRS's x/y are not in metres (cartopy maps are), or it has
        no CF grid mapping cartopy knows and no area of use to bound a
        generic projection.
    """
    if isinstance(obj, ccrs.Projection):
        return obj
    crs = crs_from(obj)
    if crs.is_projected and crs.axis_info[0].unit_conversion_factor != 1.0:
        raise ValueError(
            f"CRS {crs.name!r} has x/y in {crs.axis_info[0].unit_name}; averse grids and cartopy "
            "maps use metres (convert the coordinates and the CRS first)"
        )
    cf = crs.to_cf()
    builder = _BUILDERS.get(cf.get("grid_mapping_name"))
    if builder is not None:
        return builder(cf, _globe(cf))
    if crs.area_of_use is None:
        raise ValueError(
            f"cannot draw CRS {crs.name!r}: its projection has no cartopy equivalent here "
            f"and no area of use to bound it (known grid mappings: {sorted(_BUILDERS)})"
        )
    return ccrs.Projection(crs)
