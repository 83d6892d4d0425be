"""Statistical and optical-flow nowcasting baselines, looked up by name.

Built on pysteps. Every baseline takes the past frames of a rain sequence and
returns a forecast on the same grid::

    >>> from averse import baselines
    >>> baselines.available()
    ['extrapolation', 'persistence', 'sprog', 'steps']
    >>> fc = baselines.get("sprog")(past, n_leads=12)        # (lead_time, y, x)
    >>> ens = baselines.get("steps")(past, 12, n_ens_members=20, seed=1)  # (member, lead_time, y, x)

``past`` is a ``(time, y, x)`` DataArray of rain in mm/h following the averse
data model (regular ``time``, ``x``/``y`` in metres, NaN outside coverage). The
forecast has a ``lead_time`` coordinate (timedelta, one to ``n_leads`` input
time steps), ``valid_time`` (= issue time + lead), a scalar ``issue_time`` (the
last input time), the input's grid coordinates, and attributes naming the
method (``baseline``) and its settings (``baseline_settings``, JSON).

Methods (:mod:`~averse.baselines.methods`, which documents units, transforms
and NaN handling): ``persistence`` (Eulerian), ``extrapolation``
(Lucas-Kanade motion + semi-Lagrangian advection), ``sprog`` (S-PROG) and
``steps`` (STEPS ensemble). :func:`run_over` and :func:`observed_at_leads`
(:mod:`~averse.baselines.sequence`) run them over many issue times of a long
sequence; :func:`estimate_motion` (:mod:`~averse.baselines.motion`) exposes the
motion field. Bad input raises a :class:`BaselineInputError` subclass
(:mod:`~averse.baselines.frames`).
"""

from averse.baselines import methods
from averse.baselines._registry import UnknownBaselineError, available, get, register
from averse.baselines.frames import (
    BaselineInputError,
    GridSpacingError,
    IrregularTimeStepError,
    NotEnoughFramesError,
)
from averse.baselines.methods import DegenerateInputWarning
from averse.baselines.motion import estimate_motion
from averse.baselines.sequence import observed_at_leads, run_over

__all__ = [
    "get",
    "register",
    "available",
    "run_over",
    "observed_at_leads",
    "estimate_motion",
    "methods",
    "UnknownBaselineError",
    "BaselineInputError",
    "NotEnoughFramesError",
    "IrregularTimeStepError",
    "GridSpacingError",
    "DegenerateInputWarning",
]
