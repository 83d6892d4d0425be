"""averse: a notebook-first lab for deep learning on precipitation.

The one door to data is :func:`open_dataset`; everything else is organised in
one subpackage per concern (``io``, ``twin``, ``grid``, ``data``, ``models``,
``baselines``, ``train``, ``verify``, ``dashboards``, ``cli``).
"""

# pyproj must load its PROJ library before eccodes: the eccodes wheels preload eckit's own
# libproj with RTLD_GLOBAL, and a pyproj imported after that fails ("no database context").
import pyproj  # noqa: F401  isort: skip

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
