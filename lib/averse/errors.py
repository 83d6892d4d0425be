"""Typed errors raised by averse.

Every error that concerns a file names the file and the reason, so that a
batch run on a GPU node fails with a message a person can act on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AverseError",
    "CatalogError",
    "DataNotFoundError",
    "DataFormatError",
    "UnknownQuantityError",
    "InconsistentGridError",
]


class AverseError(Exception):
    """Base class of every error raised on purpose by averse."""


class CatalogError(AverseError):
    """A catalog entry is unknown, malformed, or cannot be resolved."""


class DataNotFoundError(CatalogError, FileNotFoundError):
    """A catalog root or the files of an entry are missing.

    The message names the entry and what to set (usually ``AVERSE_DATA``).
    """


class DataFormatError(AverseError, ValueError):
    """A file cannot be read as the format it claims to be.

    Parameters
    ----------
    path : str or Path
        The offending file.
    reason : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnknownQuantityError(DataFormatError):
    """A file holds a quantity that the reader does not know how to convert."""


class InconsistentGridError(DataFormatError):
    """Files of one sequence do not share the same grid or projection."""
