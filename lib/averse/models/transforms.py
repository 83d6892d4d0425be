"""Rain-rate transforms: into a training space, and back for scoring.

Rain rates (mm/h) are skewed and intermittent; networks train better on a
compressed scale. Each transform is a pair ``forward`` (rates → training space)
and ``inverse`` (training space → rates) that works on numpy arrays and torch
tensors alike, keeps their dtype and device, and is differentiable in torch.

- :class:`LogTransform` — ``log(R + offset)``; ``offset=1`` is ``log1p``.
  Computed as ``log(offset) + log1p(R / offset)`` so that zero rain comes back
  as exactly zero. The inverse clips negative rates to 0.
- :class:`DBTransform` — ``10 log10(R)`` for ``R >= threshold`` and a fixed
  ``zero_value`` (default: threshold in dB minus 5) below it, as
  ``pysteps.utils.transformation.dB_transform``; the inverse maps everything
  below the threshold (in dB) to 0 mm/h. Rates in ``(0, threshold)`` therefore
  come back as 0: the round trip is exact for 0 and for ``R >= threshold``.
- :class:`Normalize` — ``(x - loc) / scale``, to chain after the above with
  :class:`Compose`.

NaN (missing / outside coverage) is kept as NaN in both directions. The
training loss must therefore mask NaN targets (:func:`averse.models.losses.masked_mse`),
and NaN inputs must be filled before they reach a network, with the
transformed value of no rain::

    y = torch.nan_to_num(t.forward(rates), nan=t.zero)

Transforms serialise to plain dicts (``to_dict`` / :func:`from_dict`) so a
checkpoint can carry the transform its model was trained with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

__all__ = [
    "RainTransform",
    "Identity",
    "LogTransform",
    "DBTransform",
    "Normalize",
    "Compose",
    "get",
    "from_dict",
]

Array = Any  # numpy.ndarray or torch.Tensor


def _where(condition: Array, value: float, other: Array) -> Array:
    """``value`` where ``condition`` holds, else ``other`` (numpy or torch, dtype kept)."""
    if isinstance(other, torch.Tensor):
        return torch.where(condition, value, other)
    return np.where(condition, value, other)


def _maximum(x: Array, floor: float) -> Array:
    """Element-wise ``max(x, floor)`` keeping NaN."""
    return torch.clamp(x, min=floor) if isinstance(x, torch.Tensor) else np.maximum(x, floor)


def _ops(x: Array):
    """The array namespace of ``x``: torch for tensors, numpy otherwise."""
    return torch if isinstance(x, torch.Tensor) else np


def _as_array(x: Array) -> Array:
    """Tensors unchanged; anything else as a floating numpy array."""
    if isinstance(x, torch.Tensor):
        return x
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


class RainTransform:
    """Base class: a forward/inverse pair between rain rates and a training space."""

    name: ClassVar[str]

    def forward(self, rates: Array) -> Array:
        """Rain rates (mm/h) → training space. NaN stays NaN."""
        raise NotImplementedError

    def inverse(self, values: Array) -> Array:
        """Training space → rain rates (mm/h). NaN stays NaN."""
        raise NotImplementedError

    def __call__(self, rates: Array) -> Array:
        return self.forward(rates)

    @property
    def zero(self) -> float:
        """The transformed value of no rain (0 mm/h): the fill for missing inputs."""
        return float(self.forward(np.zeros(1))[0])

    def to_dict(self) -> dict:
        """Plain-dict description, the inverse of :func:`from_dict`."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class Identity(RainTransform):
    """Rates used as they are."""

    name: ClassVar[str] = "identity"

    def forward(self, rates: Array) -> Array:
        return _as_array(rates)

    def inverse(self, values: Array) -> Array:
        return _as_array(values)


@dataclass(frozen=True)
class LogTransform(RainTransform):
    """``y = log(R + offset)``; inverse ``R = max(exp(y) - offset, 0)``.

    Parameters
    ----------
    offset : float
        Positive offset in mm/h (``1.0`` gives ``log1p``; small values such
        as 0.01 stretch light rain more).
    """

    offset: float = 1.0
    name: ClassVar[str] = "log"

    def __post_init__(self):
        if not self.offset > 0:
            raise ValueError(f"offset must be > 0, got {self.offset}")

    def forward(self, rates: Array) -> Array:
        rates = _as_array(rates)
        return math.log(self.offset) + _ops(rates).log1p(rates / self.offset)

    def inverse(self, values: Array) -> Array:
        values = _as_array(values)
        rates = self.offset * _ops(values).expm1(values - math.log(self.offset))
        return _where(rates < 0, 0.0, rates)


@dataclass(frozen=True)
class DBTransform(RainTransform):
    """Decibel transform of rain rates, as pysteps' ``dB_transform``.

    Parameters
    ----------
    threshold : float
        Rain/no-rain threshold in mm/h; rates below it (zeros included) become
        ``zero_value``.
    zero_value : float, optional
        Transformed value of no rain, in dB. Default: ``10 log10(threshold) - 5``.

    Notes
    -----
    ``forward`` never returns a value between ``zero_value`` and the threshold
    in dB; ``inverse`` maps every value below the threshold in dB (network
    outputs included) to 0 mm/h.
    """

    threshold: float = 0.1
    zero_value: float | None = None
    name: ClassVar[str] = "db"

    def __post_init__(self):
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0 mm/h, got {self.threshold}")
        if self.zero_value is None:
            object.__setattr__(self, "zero_value", self.threshold_db - 5.0)
        if self.zero_value >= self.threshold_db:
            raise ValueError(
                f"zero_value ({self.zero_value} dB) must be below the threshold "
                f"({self.threshold_db} dB)"
            )

    @property
    def threshold_db(self) -> float:
        """The threshold in dB."""
        return 10.0 * math.log10(self.threshold)

    def forward(self, rates: Array) -> Array:
        rates = _as_array(rates)
        dry = rates < self.threshold
        # log10 only of rates at or above the threshold: no -inf, no warnings, finite gradients;
        # the floor keeps R = threshold at or above threshold_db despite rounding.
        db = 10.0 * _ops(rates).log10(_where(dry, self.threshold, rates))
        return _where(dry, self.zero_value, _maximum(db, self.threshold_db))

    def inverse(self, values: Array) -> Array:
        values = _as_array(values)
        return _where(values < self.threshold_db, 0.0, 10.0 ** (values / 10.0))


@dataclass(frozen=True)
class Normalize(RainTransform):
    """``y = (x - loc) / scale``, usually chained after a log or dB transform.

    Parameters
    ----------
    loc, scale : float
        Centre and spread (e.g. mean and standard deviation of the transformed
        training data, see :meth:`fit`).
    """

    loc: float = 0.0
    scale: float = 1.0
    name: ClassVar[str] = "normalize"

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")

    @classmethod
    def fit(cls, values: Array) -> Normalize:
        """Mean and standard deviation of the finite ``values`` (NaN ignored)."""
        values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values,
                            dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise ValueError("cannot fit a normalisation: no finite values")
        return cls(loc=float(finite.mean()), scale=float(finite.std()) or 1.0)

    def forward(self, rates: Array) -> Array:
        return (_as_array(rates) - self.loc) / self.scale

    def inverse(self, values: Array) -> Array:
        return _as_array(values) * self.scale + self.loc


class Compose(RainTransform):
    """Apply transforms in order; ``inverse`` undoes them in reverse order.

    Parameters
    ----------
    *steps : RainTransform
        E.g. ``Compose(DBTransform(), Normalize(loc=-10, scale=8))``.
    """

    name: ClassVar[str] = "compose"

    def __init__(self, *steps: RainTransform):
        self.steps = tuple(steps)

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.steps))})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Compose) and self.steps == other.steps

    def forward(self, rates: Array) -> Array:
        values = _as_array(rates)
        for step in self.steps:
            values = step.forward(values)
        return values

    def inverse(self, values: Array) -> Array:
        rates = _as_array(values)
        for step in reversed(self.steps):
            rates = step.inverse(rates)
        return rates

    def to_dict(self) -> dict:
        return {"name": self.name, "steps": [step.to_dict() for step in self.steps]}


_BY_NAME: dict[str, type[RainTransform]] = {
    cls.name: cls for cls in (Identity, LogTransform, DBTransform, Normalize)
}


def get(name: str, **kwargs) -> RainTransform:
    """Build a transform by name (``"identity"``, ``"log"``, ``"db"``, ``"normalize"``).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    key = name.strip().lower()
    if key not in _BY_NAME:
        known = ", ".join(sorted(_BY_NAME))
        raise ValueError(f"unknown rain transform {name!r}; available: {known}")
    return _BY_NAME[key](**kwargs)


def from_dict(description: dict) -> RainTransform:
    """Rebuild a transform from :meth:`RainTransform.to_dict` output."""
    params = dict(description)
    name = params.pop("name")
    if name == Compose.name:
        return Compose(*(from_dict(step) for step in params["steps"]))
    return get(name, **params)
