"""Name → model class registry behind :func:`averse.models.get`.

Kept apart from ``averse/models/__init__.py`` so that model modules can
register themselves on import without a circular import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from averse.registry import Registry, UnknownNameError

__all__ = ["UnknownModelError", "register", "get", "available"]

ModelClass = TypeVar("ModelClass", bound=type[nn.Module])


class UnknownModelError(UnknownNameError):
    """A model name is not in the registry (``name``, ``known``)."""

    kind = "model"


_MODELS = Registry("model", UnknownModelError)


def register(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator that makes a model available under ``name``.

    Parameters
    ----------
    name : str
        Registry key; case and ``-``/``_`` are not significant.

    Raises
    ------
    ValueError
        If ``name`` is already taken by another class.
    """
    return _MODELS.register(name)


def get(name: str, *, config=None, **kwargs) -> nn.Module:
    """Build a registered model by name.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"smaat_unet"`` (see :func:`available`).
    config : averse.models.InputConfig, optional
        When given, the model is built with ``cls.from_config(config, **kwargs)``
        so that its input and output sizes follow the input configuration.
    **kwargs
        Constructor arguments of the model (hidden sizes, widths...).

    Returns
    -------
    torch.nn.Module
        A freshly initialised model (on the CPU; move it with ``.to(device)``).

    Raises
    ------
    UnknownModelError
        If ``name`` is not registered; the message lists the available names.
    """
    cls = _MODELS.lookup(name)
    if config is not None:
        return cls.from_config(config, **kwargs)
    return cls(**kwargs)


def available() -> list[str]:
    """Sorted names of the registered models."""
    return _MODELS.available()
