"""Name → forecast function registry behind :func:`averse.baselines.get`.

Kept apart from ``averse/baselines/__init__.py`` so that method modules can
register themselves on import without a circular import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from averse.errors import AverseError

__all__ = ["UnknownBaselineError", "register", "get", "available"]

Forecaster = TypeVar("Forecaster", bound=Callable)

_METHODS: dict[str, Callable] = {}


class UnknownBaselineError(AverseError, ValueError):
    """A baseline name is not in the registry.

    Parameters
    ----------
    name : str
        The name that was asked for.
    known : list of str
        The names that are registered.
    """

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(f"unknown baseline {name!r}; available baselines: {', '.join(known) or '(none)'}")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(name: str) -> Callable[[Forecaster], Forecaster]:
    """Function decorator that makes a forecast method available under ``name``.

    Parameters
    ----------
    name : str
        Registry key; case and ``-``/``_`` are not significant.

    Returns
    -------
    callable
        The decorator, which returns the function unchanged.

    Raises
    ------
    ValueError
        If ``name`` is already taken by another function.
    """
    key = _normalise(name)

    def decorator(func: Forecaster) -> Forecaster:
        if key in _METHODS and _METHODS[key] is not func:
            raise ValueError(f"baseline name {key!r} is already registered to {_METHODS[key]!r}")
        _METHODS[key] = func
        return func

    return decorator


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
    if not isinstance(name, str) or _normalise(name) not in _METHODS:
        raise UnknownBaselineError(str(name), available())
    return _METHODS[_normalise(name)]


def available() -> list[str]:
    """Sorted names of the registered baselines."""
    return sorted(_METHODS)
