"""Motion fields for the advection baselines, estimated by pysteps' optical flow.

Motion is estimated on the dBR transform of the rain (10 log10 R, -15 dBR below
0.1 mm/h), as pysteps recommends: optical flow tracks the pattern of the field,
and the log scale keeps a few intense cores from dominating it. Pixels outside
coverage stay NaN, which pysteps' Lucas-Kanade masks (no features are tracked
there), rather than a filled value that would draw a fixed edge to track.

The field is in pixels per time step along the array axes, pysteps'
convention: component ``"x"`` along increasing column index, ``"y"`` along
increasing row index (southward on a north-up grid whose ``y`` decreases).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from averse.baselines._pysteps import motion, quiet, to_db
from averse.baselines.frames import read_past

__all__ = ["DEFAULT_MOTION_METHOD", "motion_field", "estimate_motion"]

DEFAULT_MOTION_METHOD = "LK"
"""pysteps' dense Lucas-Kanade optical flow."""


def motion_field(frames: np.ndarray, method: str = DEFAULT_MOTION_METHOD, **kwargs) -> np.ndarray:
    """Motion of a sequence of rain fields, in pixels per time step.

    Parameters
    ----------
    frames : ndarray
        ``(time, y, x)`` rain rates in mm/h, oldest first, at least two; NaN
        outside coverage.
    method : str
        Name of a pysteps motion method (``pysteps.motion.get_method``):
        ``"LK"`` (default), ``"DARTS"``, ``"VET"``...
    **kwargs
        Passed to the pysteps method (``fd_kwargs``, ``lk_kwargs``...).

    Returns
    -------
    ndarray
        ``(2, y, x)`` finite x- and y-components (zero where nothing moves or
        nothing could be tracked).
    """
    with quiet():
        velocity = motion.get_method(method)(to_db(frames), **kwargs)
    return np.nan_to_num(np.asarray(velocity, dtype="float64"), nan=0.0)


def estimate_motion(
    past: xr.DataArray, method: str = DEFAULT_MOTION_METHOD, n_frames: int = 3, **kwargs
) -> xr.DataArray:
    """Motion field of the last frames of a rain sequence, on its grid.

    Parameters
    ----------
    past : xr.DataArray
        ``(time, y, x)`` rain in mm/h following the averse data model.
    method : str
        pysteps motion method (see :func:`motion_field`).
    n_frames : int
        How many of the last frames to track (their vectors are pooled).
    **kwargs
        Passed to the pysteps method.

    Returns
    -------
    xr.DataArray
        ``(component, y, x)`` with ``component`` = ``["x", "y"]``, in pixels per
        time step along the array axes; the time step is in the ``timestep``
        attribute and the issue time in the ``time`` coordinate.
    """
    fields = read_past(past, min_frames=max(2, n_frames), method=f"motion {method}")
    velocity = motion_field(fields.values[-n_frames:], method=method, **kwargs)
    template = fields.template
    return xr.DataArray(
        velocity,
        dims=("component", "y", "x"),
        coords={**template.coords, "time": fields.issue_time, "component": ["x", "y"]},
        attrs={
            "long_name": "advection velocity along the array axes",
            "units": "pixel per time step",
            "timestep": str(fields.timestep),
            "motion_method": method,
            "transform": "dBR",
        },
        name="velocity",
    )
