"""Name → forecast function registry behind :func:`averse.baselines.get`.

Kept apart from ``averse/baselines/__init__.py`` so that method modules can
register themselves on import without a circular import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from averse.registry import Registry, UnknownNameError

__all__ = ["UnknownBaselineError", "register", "get", "available"]

Forecaster = TypeVar("Forecaster", bound=Callable)


class UnknownBaselineError(UnknownNameError):
    """A baseline name is not in the registry (``name``, ``known``)."""

    kind = "baseline"


_METHODS = Registry("baseline", UnknownBaselineError)


def register(name: str) -> Callable[[Forecaster], Forecaster]:
    """Function decorator that makes a forecast method available under ``name``.

    Parameters
    ----------
    name : str
        Registry key; case and ``-``/``_`` are not significant.

    Raises
    ------
    ValueError
        If ``name`` is already taken by another function.
    """
    return _METHODS.register(name)


def get(name: str) -> Callable:
    """The forecast function registered under ``name``.

    Parameters
    ----------
    name : str
        ``"persistence"``, ``"extrapolation"``, ``"sprog"`` or ``"steps"``
        (see :func:`available`).

    Returns
    -------
    callable
        ``forecast(past, n_leads, **kwargs) -> xr.DataArray``.

    Raises
    ------
    UnknownBaselineError
        If ``name`` is not registered; the message lists the available names.
    """
    return _METHODS.lookup(name)


def available() -> list[str]:
    """Sorted names of the registered baselines."""
    return _METHODS.available()
