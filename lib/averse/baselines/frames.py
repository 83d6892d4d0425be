"""The past frames a baseline reads and the forecast it returns.

:func:`read_past` checks a ``(time, y, x)`` precipitation DataArray that follows
the averse data model (rain in mm/h, NaN outside coverage, ``time`` at the end of
each interval) and infers the time step from the ``time`` coordinate;
:func:`forecast_array` wraps a method's numpy output with ``lead_time``,
``valid_time`` and ``issue_time`` coordinates and the input's grid coordinates.
Bad input raises a :class:`BaselineInputError` subclass that says what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from averse.datamodel import crs_of
from averse.errors import AverseError

__all__ = [
    "BaselineInputError",
    "NotEnoughFramesError",
    "IrregularTimeStepError",
    "GridSpacingError",
    "PastFields",
    "read_past",
    "forecast_array",
]

_EARTH_RADIUS_KM = 6371.0088
_SPACING_RTOL = 1e-3
_METRES_PER_UNIT = {"m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0, "km": 1000.0}


class BaselineInputError(AverseError, ValueError):
    """The past frames given to a baseline cannot be forecast from."""


class NotEnoughFramesError(BaselineInputError):
    """Fewer past frames than the method needs."""


class IrregularTimeStepError(BaselineInputError):
    """The ``time`` coordinate is not strictly increasing at a constant step."""


class GridSpacingError(BaselineInputError):
    """The ``x``/``y`` coordinates are irregular or their units are unknown."""


@dataclass(frozen=True)
class PastFields:
    """Past frames of one forecast, checked and loaded.

    Attributes
    ----------
    values : ndarray
        ``(time, y, x)`` float64 rain rates in mm/h, oldest first; NaN where
        there is no coverage.
    timestep : pandas.Timedelta
        Constant step between frames (also the lead-time step).
    issue_time : numpy.datetime64
        Time of the last frame, the time the forecast is issued.
    template : xr.DataArray
        The last frame without its time-dependent coordinates: what the
        forecast keeps of the input (grid coordinates, attributes, name, dtype).
    """

    values: np.ndarray
    timestep: pd.Timedelta
    issue_time: np.datetime64
    template: xr.DataArray

    @property
    def timestep_minutes(self) -> float:
        """The time step in minutes (the unit pysteps expects)."""
        return self.timestep.total_seconds() / 60.0

    def kmperpixel(self) -> float:
        """Pixel size in km, from the ``x``/``y`` coordinates.

        Projected grids give it exactly (``x``/``y`` in metres). On a grid
        regular in latitude/longitude the east-west size is taken at the central
        latitude on a spherical Earth. Pixels that are not square give the
        geometric mean of the two sizes, since pysteps assumes square pixels.

        Raises
        ------
        GridSpacingError
            If the units of ``x``/``y`` cannot be told from ``spatial_ref`` or
            the ``units`` attributes.
        """
        x, y = self.template["x"], self.template["y"]
        dx, dy = abs(_spacing(x)), abs(_spacing(y))
        metres_per_unit = _metres_per_unit(self.template)
        if metres_per_unit is None:
            lat_centre = np.deg2rad(float(y[y.size // 2]))
            dy_km = np.deg2rad(dy) * _EARTH_RADIUS_KM
            dx_km = np.deg2rad(dx) * _EARTH_RADIUS_KM * np.cos(lat_centre)
        else:
            dx_km, dy_km = dx * metres_per_unit / 1000.0, dy * metres_per_unit / 1000.0
        return float(np.sqrt(dx_km * dy_km))


def read_past(past: xr.DataArray, min_frames: int, method: str) -> PastFields:
    """Check the past frames given to a baseline and load them.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain rates in mm/h (any order of these three dims),
        lazy or not; NaN outside coverage.
    min_frames : int
        How many frames the method needs.
    method : str
        Name of the method, for the error messages.

    Returns
    -------
    PastFields
        The frames as float64 numpy, the time step and the issue time.

    Raises
    ------
    BaselineInputError
        If ``past`` is not a DataArray with exactly the dims ``time``, ``y``, ``x``.
    NotEnoughFramesError
        If it holds fewer than ``min_frames`` frames.
    IrregularTimeStepError
        If its times are not strictly increasing at a constant step.
    GridSpacingError
        If ``x`` or ``y`` is not regularly spaced.
    """
    if not isinstance(past, xr.DataArray):
        raise BaselineInputError(f"{method}: expected an xarray.DataArray, got {type(past).__name__}")
    if set(past.dims) != {"time", "y", "x"}:
        raise BaselineInputError(f"{method}: expected dims (time, y, x), got {past.dims}")
    past = past.transpose("time", "y", "x")
    if past.sizes["time"] < min_frames:
        raise NotEnoughFramesError(
            f"{method} needs at least {min_frames} past frames, got {past.sizes['time']}"
        )
    timestep = _regular_timestep(past["time"].values, method)
    for dim in ("y", "x"):
        _spacing(past[dim], method)
    timed = [name for name, coord in past.coords.items() if "time" in coord.dims]
    return PastFields(
        values=np.asarray(past.values, dtype="float64"),
        timestep=timestep,
        issue_time=past["time"].values[-1],
        template=past.isel(time=-1).drop_vars(timed),
    )


def forecast_array(
    values: np.ndarray,
    past: PastFields,
    method: str,
    settings: dict,
    ensemble: bool = False,
) -> xr.DataArray:
    """Wrap a forecast computed in numpy as a DataArray on the input's grid.

    Parameters
    ----------
    values : ndarray
        ``(lead_time, y, x)``, or ``(member, lead_time, y, x)`` when ``ensemble``.
    past : PastFields
        The inputs it was computed from.
    method : str
        Registry name of the method, stored in the ``baseline`` attribute.
    settings : dict
        Settings of the method (JSON-serialisable), stored as JSON in the
        ``baseline_settings`` attribute.
    ensemble : bool
        Whether ``values`` has a leading ``member`` dim.

    Returns
    -------
    xr.DataArray
        The forecast with ``lead_time`` (timedelta, one step to ``n_leads``
        steps), ``valid_time`` (issue time + lead), a scalar ``issue_time``, the
        input's ``x``/``y``/``lat``/``lon``/``spatial_ref`` coordinates and its
        attributes, cast to the input's float dtype.
    """
    n_leads = values.shape[-3]
    lead_time = past.timestep.to_timedelta64() * np.arange(1, n_leads + 1)
    template = past.template
    dims = ("lead_time", "y", "x")
    coords = dict(template.coords)
    coords["lead_time"] = ("lead_time", lead_time, {"long_name": "forecast lead time"})
    coords["valid_time"] = (
        "lead_time",
        past.issue_time + lead_time,
        {"long_name": "end of the interval the forecast is valid for (issue_time + lead_time), UTC"},
    )
    coords["issue_time"] = ((), past.issue_time, {"long_name": "time of the last input frame, UTC"})
    if ensemble:
        dims = ("member",) + dims
        coords["member"] = ("member", np.arange(values.shape[0]))
    dtype = template.dtype if np.issubdtype(template.dtype, np.floating) else np.float64
    attrs = dict(template.attrs)
    attrs["baseline"] = method
    attrs["baseline_settings"] = json.dumps(settings, sort_keys=True, default=str)
    return xr.DataArray(
        values.astype(dtype, copy=False),
        dims=dims,
        coords=coords,
        attrs=attrs,
        name=template.name or "precip",
    )


def _regular_timestep(times: np.ndarray, method: str) -> pd.Timedelta:
    """The constant step of ``times``; a single frame has no step and is refused."""
    if not np.issubdtype(times.dtype, np.datetime64):
        raise IrregularTimeStepError(f"{method}: the time coordinate is not datetime64 (got {times.dtype})")
    if times.size < 2:
        raise NotEnoughFramesError(f"{method}: one frame gives no time step; pass at least two")
    steps = np.diff(times)
    if np.any(steps <= np.timedelta64(0)) or np.any(steps != steps[0]):
        listed = ", ".join(str(pd.Timedelta(s)) for s in np.unique(steps))
        raise IrregularTimeStepError(
            f"{method}: times must increase at a constant step; found steps {listed} "
            f"between {pd.Timestamp(times[0])} and {pd.Timestamp(times[-1])}"
        )
    return pd.Timedelta(steps[0])


def _spacing(coord: xr.DataArray, method: str = "baseline") -> float:
    """The constant spacing of a 1-D grid coordinate (signed)."""
    values = np.asarray(coord.values, dtype="float64")
    if values.size < 2:
        raise GridSpacingError(f"{method}: {coord.name!r} needs at least two points")
    steps = np.diff(values)
    if steps[0] == 0 or not np.allclose(steps, steps[0], rtol=_SPACING_RTOL, atol=0):
        raise GridSpacingError(f"{method}: {coord.name!r} is not regularly spaced")
    return float(steps.mean())


def _metres_per_unit(template: xr.DataArray) -> float | None:
    """Metres per unit of ``x``/``y``; None on a latitude/longitude grid.

    The CRS in ``spatial_ref`` decides when there is one, else the ``units``
    attribute of ``x``.
    """
    if "spatial_ref" in template.coords:
        crs = crs_of(template)
        return None if crs.is_geographic else crs.axis_info[0].unit_conversion_factor
    units = str(template["x"].attrs.get("units", ""))
    if units.startswith("degree"):
        return None
    if units in _METRES_PER_UNIT:
        return _METRES_PER_UNIT[units]
    raise GridSpacingError(
        f"cannot tell the pixel size: 'x' has units {units!r} and there is no spatial_ref; "
        "pass kmperpixel explicitly"
    )
