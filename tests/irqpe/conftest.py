"""Fixtures of the IR-retrieval tests; the toy data builders live in ``_irqpe_toys``."""

from _irqpe_toys import toy_tree  # noqa: F401  (fixtures)
