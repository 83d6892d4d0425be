"""Maps render in a real browser with no request leaving the machine.

Headless Debian Chromium (``/usr/bin/chromium``, driven by Playwright; never
``playwright install``) opens (1) an interactive map saved by
:func:`averse.maps.save_html` and (2) a notebook executed by a Jupyter kernel
then exported by :func:`averse.maps.notebook_to_html`, both served from
127.0.0.1. Every request is recorded and any to another host is aborted; the
page must log no error, and the map's canvas must show a picture.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import averse.maps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _browser import CHROMIUM, canvas_pixels, launch, offline_page  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REMOTE_REFERENCE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)

NOTEBOOK_CELLS = [
    "import averse.maps\npn = averse.maps.offline_extension()",
    """import numpy as np, pandas as pd, xarray as xr
from averse.datamodel import attach_grid, precip_attrs
x = np.arange(-600e3, 600e3, 20e3) + 10e3
y = np.arange(500e3, -500e3, -20e3) - 10e3
xx, yy = np.meshgrid(x, y)
rain = np.stack([8 * np.exp(-((xx - 2e5 * k) ** 2 + yy ** 2) / 1e11) for k in range(3)]).astype("float32")
times = pd.date_range("2024-06-01T12:05", periods=3, freq="5min")
ds = xr.Dataset({"precip": (("time", "y", "x"), rain, precip_attrs("5min", "rate"))}, coords={"time": times})
ds = attach_grid(ds, x, y, "+proj=laea +lat_0=52 +lon_0=10 +ellps=WGS84")""",
    "averse.maps.interactive_map(ds.precip, layers=('coastline', 'borders'))",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def offline_extension():
    """Run :func:`averse.maps.offline_extension` and undo its global settings afterwards."""
    import panel as pn
    from bokeh.settings import settings
    from panel.viewable import Viewable

    from averse.maps.interactive import _inline_panel_stylesheets

    inline = pn.config.inline
    yield averse.maps.offline_extension()
    settings.resources.unset_value()
    pn.config.inline = inline
    if _inline_panel_stylesheets in Viewable._preprocessing_hooks:
        Viewable._preprocessing_hooks.remove(_inline_panel_stylesheets)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; records each request path instead of printing it."""

    def log_message(self, format, *args):
        self.server.log.append(self.requestline)


@pytest.fixture
def serve(tmp_path):
    """``serve(file)`` copies a file into a folder served on 127.0.0.1 and returns its URL."""
    root = tmp_path / "site"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    server.log = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def publish(path: Path) -> str:
        shutil.copyfile(path, root / path.name)
        return f"http://127.0.0.1:{server.server_address[1]}/{path.name}"

    publish.log = server.log
    yield publish
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def _assert_nothing_left_the_machine(record: dict, server_log: list, page_name: str):
    assert record["remote"] == []
    assert record["console"] == [] and record["page"] == []
    assert all(f" /{page_name} " in line for line in server_log), server_log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _assert_shows_a_map(plot: np.ndarray):
    """The canvas holds a colour field, not a blank frame."""
    assert plot.shape[0] > 200 and plot.shape[1] > 200
    background = np.all(plot >= 245, axis=-1)
    assert background.mean() < 0.6, "canvas is mostly blank"
    colours = np.unique(plot.reshape(-1, 3) // 16, axis=0)
    assert len(colours) > 20, "canvas shows too few colours for a field with a colormap"
    dark = np.all(plot < 60, axis=-1)
    assert dark.sum() > 200, "no coastline-dark pixels"


def test_saved_html_map_renders_offline(browser, serve, europe_field, tmp_path):
    page_file = averse.maps.save_html(averse.maps.interactive_map(europe_field), tmp_path / "map.html")
    assert REMOTE_REFERENCE.search(page_file.read_text(encoding="utf-8")) is None
    with offline_page(browser, serve(page_file)) as (page, record):
        first = canvas_pixels(page, tmp_path / "map.png")
        page.locator(".noUi-handle").first.press("End")  # slider to the last time step
        page.wait_for_timeout(1000)
        last = canvas_pixels(page, tmp_path / "map_last.png")
    _assert_nothing_left_the_machine(record, serve.log, "map.html")
    _assert_shows_a_map(first)
    _assert_shows_a_map(last)
    assert (np.abs(first - last).max(axis=-1) > 30).mean() > 0.02, "the embedded time slider changed nothing"


@pytest.mark.filterwarnings("ignore:Your element with mimetype:UserWarning")  # HoloViews' empty display_data
def test_executed_notebook_renders_offline(browser, serve, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    NotebookClient(notebook, kernel_name="python3", timeout=300).execute()
    html_outputs = [
        output["data"]["text/html"]
        for cell in notebook.cells for output in cell.outputs if "text/html" in output.get("data", {})
    ]
    assert html_outputs
    assert not any(REMOTE_REFERENCE.search(html) or "cdn.holoviz.org" in html for html in html_outputs)
    path = tmp_path / "tour.ipynb"
    nbformat.write(notebook, path)

    page_file = averse.maps.notebook_to_html(path)
    assert REMOTE_REFERENCE.search(page_file.read_text(encoding="utf-8")) is None
    with offline_page(browser, serve(page_file)) as (page, record):
        plot = canvas_pixels(page, tmp_path / "tour.png")
    _assert_nothing_left_the_machine(record, serve.log, "tour.html")
    _assert_shows_a_map(plot)


def test_panel_dashboard_served_on_localhost_renders_offline(browser, offline_extension, europe_field, tmp_path):
    pn = offline_extension
    port = _free_port()
    server = pn.serve({"rain": lambda: pn.Column("# Rain", pn.panel(averse.maps.interactive_map(europe_field)))},
                      port=port, address="127.0.0.1", websocket_origin=[f"127.0.0.1:{port}"],
                      show=False, threaded=True, start=True)
    try:
        with offline_page(browser, f"http://127.0.0.1:{port}/rain") as (page, record):
            first = canvas_pixels(page, tmp_path / "dashboard.png")
            page.locator(".noUi-handle").first.press("End")  # the server re-renders the last step
            page.wait_for_timeout(1500)
            last = canvas_pixels(page, tmp_path / "dashboard_last.png")
    finally:
        server.stop()
    assert record["remote"] == []
    assert record["console"] == [] and record["page"] == []
    _assert_shows_a_map(first)
    assert (np.abs(first - last).max(axis=-1) > 30).mean() > 0.02, "moving the slider changed nothing"
