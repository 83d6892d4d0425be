"""Name → object registries behind the ``get(name)`` functions of averse.

Swappable pieces (models, baselines...) are looked up by name the way pysteps
does ``nowcasts.get_method``. Keys ignore case and ``-``/``_``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from averse.errors import AverseError

__all__ = ["UnknownNameError", "Registry"]

Entry = TypeVar("Entry")


class UnknownNameError(AverseError, ValueError):
    """A name is not in a registry; the message lists what is.

    Parameters
    ----------
    name : str
        The name that was asked for.
    known : list of str
        The names that are registered.
    """

    kind = "name"

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(known) or '(none)'}")


class Registry:
    """A registry of named entries of one kind.

    Parameters
    ----------
    kind : str
        What the entries are (``"model"``, ``"baseline"``), used in messages.
    error : type of UnknownNameError
        Raised by :meth:`lookup` for an unknown name.
    """

    def __init__(self, kind: str, error: type[UnknownNameError] = UnknownNameError):
        self.kind = kind
        self.error = error
        self._entries: dict[str, Any] = {}

    @staticmethod
    def normalise(name: str) -> str:
        """Registry key of ``name``: stripped, lower case, ``-`` as ``_``."""
        return name.strip().lower().replace("-", "_")

    def register(self, name: str) -> Callable[[Entry], Entry]:
        """Decorator that makes a class or function available under ``name``.

        Raises
        ------
        ValueError
            If ``name`` is already taken by another entry.
        """
        key = self.normalise(name)

        def decorator(entry: Entry) -> Entry:
            if key in self._entries and self._entries[key] is not entry:
                raise ValueError(f"{self.kind} name {key!r} is already registered to {self._entries[key]!r}")
            self._entries[key] = entry
            return entry

        return decorator

    def lookup(self, name: str) -> Any:
        """The entry registered under ``name``, or :attr:`error` listing the available names."""
        if not isinstance(name, str) or self.normalise(name) not in self._entries:
            raise self.error(str(name), self.available())
        return self._entries[self.normalise(name)]

    def find(self, name: str) -> Any | None:
        """The entry registered under ``name``, or None."""
        return self._entries.get(self.normalise(name))

    def copy(self) -> Registry:
        """An independent registry with the same entries (for tests that register throwaway ones)."""
        clone = Registry(self.kind, self.error)
        clone._entries = dict(self._entries)
        return clone

    def available(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)
