"""The served dashboards in a real browser (Debian's headless Chromium), with no network.

One server on 127.0.0.1 serves the three dashboards on the synthetic results;
each dashboard is loaded once: the page must log no error, make no request
outside 127.0.0.1, show maps (not a blank canvas), and a widget change must
redraw the map. The static snapshot of the nowcasting dashboard is opened
from a plain static server the same way and its slider must swap the maps.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest
from _browser import CHROMIUM, assert_shows_a_map, canvas_pixels, changed_fraction, free_port, launch, offline_page

from averse.dashboards import export_html
from averse.dashboards import serve as dashboards_serve
from averse.dashboards.mapview import MAP_CSS_CLASS

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


@pytest.fixture(scope="module")
def server_url(demo_results):
    port = free_port()
    server = dashboards_serve.serve(["nowcast", "irqpe", "imerg"], demo_results, port=port, threaded=True)
    time.sleep(1.0)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _assert_offline_and_clean(record: dict):
    assert record["remote"] == [], "requests left the machine"
    assert record["console"] == [] and record["page"] == [], record


def _change_and_compare(page, tmp_path: Path, name: str, change) -> None:
    """Screenshot the maps, change a widget, screenshot again: maps shown, and redrawn."""
    maps = f".{MAP_CSS_CLASS} canvas"
    before = canvas_pixels(page, tmp_path / f"{name}.png", maps, union=True)
    change(page)
    page.wait_for_timeout(2500)
    after = canvas_pixels(page, tmp_path / f"{name}_changed.png", maps, union=True)
    assert_shows_a_map(before)
    assert_shows_a_map(after)
    assert changed_fraction(before, after) > 0.01, f"{name}: the widget change did not redraw the maps"


def _press_end_on_first_slider(page):
    page.locator(".noUi-handle").first.press("End")


def _choose_first_time(page):
    page.locator("select").first.select_option(index=0)


@pytest.mark.parametrize("name, change", [("nowcast", _press_end_on_first_slider),  # lead time -> last
                                          ("irqpe", _press_end_on_first_slider),  # member -> last
                                          ("imerg", _choose_first_time)])  # half hour -> first
def test_served_dashboard_in_the_browser(browser, server_url, tmp_path, name, change):
    with offline_page(browser, f"{server_url}/{name}", settle_ms=2500) as (page, record):
        _change_and_compare(page, tmp_path, name, change)
    _assert_offline_and_clean(record)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def test_static_snapshot_in_the_browser(browser, demo_results, tmp_path):
    export_html("nowcast", tmp_path / "nowcast.html", demo_results)
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{site.server_address[1]}/nowcast.html"
        with offline_page(browser, url) as (page, record):
            _change_and_compare(page, tmp_path, "snapshot", _press_end_on_first_slider)
    finally:
        site.shutdown()
        site.server_close()
    _assert_offline_and_clean(record)
