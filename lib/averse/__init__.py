"""averse: a notebook-first lab for deep learning on precipitation.

The one door to data is :func:`open_dataset`; everything else is organised in
one subpackage per concern (``io``, ``twin``, ``grid``, ``data``, ``models``,
``baselines``, ``train``, ``verify``, ``dashboards``, ``cli``).
"""

from averse.catalog import load_catalog, open_dataset
from averse.errors import AverseError, CatalogError, DataFormatError, DataNotFoundError

__version__ = "0.1.0"

__all__ = [
    "open_dataset",
    "load_catalog",
    "AverseError",
    "CatalogError",
    "DataFormatError",
    "DataNotFoundError",
    "__version__",
]
