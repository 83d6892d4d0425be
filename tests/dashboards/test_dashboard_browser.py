"""The served dashboards in a real browser (Debian's headless Chromium), with no network.

One server on 127.0.0.1 serves the three dashboards on the run outputs of the
session: the stores that notebooks 11, 22 and 33 wrote on the ``test`` preset
(the ``run_outputs`` fixture). Each dashboard is loaded once: the page must log
no error, make no request outside 127.0.0.1, show maps (not a blank canvas),
and a widget change must redraw the map. The static snapshot that notebook 90
exported from the same outputs is opened from a plain static server the same
way and its slider must swap the maps.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest
from _browser import CHROMIUM, assert_shows_a_map, canvas_pixels, changed_fraction, free_port, launch, offline_page

from averse.dashboards import serve as dashboards_serve
from averse.dashboards import open_results
from averse.dashboards.mapview import MAP_CSS_CLASS, MapGrid

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


EVALUATION_NOTEBOOKS = ("11_nowcast_evaluate", "22_irqpe_generative", "33_imerg_validation")


@pytest.fixture(scope="module")
def results(run_outputs):
    return run_outputs(*EVALUATION_NOTEBOOKS)


@pytest.fixture(scope="module")
def server_url(results):
    port = free_port()
    server = dashboards_serve.serve(["nowcast", "irqpe", "imerg"], results, port=port, threaded=True)
    time.sleep(1.0)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _assert_offline_and_clean(record: dict):
    assert record["remote"] == [], "requests left the machine"
    assert record["console"] == [] and record["page"] == [], record


def _has_lines(kind: str, results: Path) -> bool:
    """Whether the maps of a store's grid have a coastline or border to draw."""
    return any(len(xy) for xy in MapGrid(open_results(kind, results)).lines.values())


def _change_and_compare(page, tmp_path: Path, name: str, change, lines: bool) -> None:
    """Screenshot the maps, change a widget, screenshot again: maps shown, and redrawn."""
    maps = f".{MAP_CSS_CLASS} canvas"
    before = canvas_pixels(page, tmp_path / f"{name}.png", maps, union=True)
    change(page)
    page.wait_for_timeout(2500)
    after = canvas_pixels(page, tmp_path / f"{name}_changed.png", maps, union=True)
    assert_shows_a_map(before, lines=lines)
    assert_shows_a_map(after, lines=lines)
    assert changed_fraction(before, after) > 0.01, f"{name}: the widget change did not redraw the maps"


def _press_home_on_first_slider(page):
    page.locator(".noUi-handle").first.press("Home")


def _press_end_on_first_slider(page):
    page.locator(".noUi-handle").first.press("End")


def _choose_last_time(page):
    times = page.locator("select").first
    times.select_option(index=times.locator("option").count() - 1)


# The dashboards open on 30 min (or the last lead when shorter), the first member and the first half hour.
@pytest.mark.parametrize("name, change", [("nowcast", _press_home_on_first_slider),  # lead time -> first
                                          ("irqpe", _press_end_on_first_slider),  # member -> last
                                          ("imerg", _choose_last_time)])  # half hour -> last
def test_served_dashboard_in_the_browser(browser, server_url, results, tmp_path, name, change):
    with offline_page(browser, f"{server_url}/{name}", settle_ms=2500) as (page, record):
        _change_and_compare(page, tmp_path, name, change, _has_lines(name, results))
    _assert_offline_and_clean(record)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def test_static_snapshot_in_the_browser(browser, run_outputs, tmp_path):
    snapshot = run_outputs("90_dashboard_nowcast") / "90_dashboard_nowcast" / "nowcast_dashboard.html"
    shutil.copy(snapshot, tmp_path / "nowcast.html")
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{site.server_address[1]}/nowcast.html"
        with offline_page(browser, url) as (page, record):
            _change_and_compare(page, tmp_path, "snapshot", _press_home_on_first_slider,
                                _has_lines("nowcast", snapshot.parents[1]))
    finally:
        site.shutdown()
        site.server_close()
    _assert_offline_and_clean(record)
