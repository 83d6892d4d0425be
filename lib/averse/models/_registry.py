"""Name → model class registry behind :func:`averse.models.get`.

Kept apart from ``averse/models/__init__.py`` so that model modules can
register themselves on import without a circular import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from averse.errors import AverseError

__all__ = ["UnknownModelError", "register", "get", "available"]

ModelClass = TypeVar("ModelClass", bound=type[nn.Module])

_MODELS: dict[str, type[nn.Module]] = {}


class UnknownModelError(AverseError, ValueError):
    """A model name is not in the registry.

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
        super().__init__(
            f"unknown model {name!r}; available models: {', '.join(known) or '(none)'}"
        )


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator that makes a model available under ``name``.

    Parameters
    ----------
    name : str
        Registry key; case and ``-``/``_`` are not significant.

    Returns
    -------
    callable
        The decorator, which returns the class unchanged.

    Raises
    ------
    ValueError
        If ``name`` is already taken by another class.
    """
    key = _normalise(name)

    def decorator(cls: ModelClass) -> ModelClass:
        if key in _MODELS and _MODELS[key] is not cls:
            raise ValueError(f"model name {key!r} is already registered to {_MODELS[key]!r}")
        _MODELS[key] = cls
        return cls

    return decorator


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
    key = _normalise(name)
    if key not in _MODELS:
        raise UnknownModelError(name, available())
    cls = _MODELS[key]
    if config is not None:
        return cls.from_config(config, **kwargs)
    return cls(**kwargs)


def available() -> list[str]:
    """Sorted names of the registered models."""
    return sorted(_MODELS)
