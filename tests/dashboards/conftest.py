"""Fixtures of the dashboard tests: synthetic results written through the writers, an empty run folder."""

from __future__ import annotations

import pytest

from averse.dashboards import demo


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory):
    """A run folder holding the three synthetic stores (written by the ``write_*`` functions)."""
    root = tmp_path_factory.mktemp("runs") / "main"
    demo.write_demo_results(root)
    return root


@pytest.fixture
def empty_results(tmp_path):
    """A run folder where no evaluation notebook has written yet."""
    return tmp_path / "runs" / "main"


@pytest.fixture(scope="module", autouse=True)
def _undo_offline_extension():
    """Undo the global settings of :func:`averse.maps.offline_extension` after each module."""
    import panel as pn
    from bokeh.settings import settings
    from panel.viewable import Viewable

    from averse.maps.interactive import _inline_panel_stylesheets

    inline = pn.config.inline
    yield
    settings.resources.unset_value()
    pn.config.inline = inline
    if _inline_panel_stylesheets in Viewable._preprocessing_hooks:
        Viewable._preprocessing_hooks.remove(_inline_panel_stylesheets)
