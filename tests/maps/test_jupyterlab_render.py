"""Interactive maps render inside a live JupyterLab with no request leaving the machine.

A JupyterLab server on 127.0.0.1 opens a notebook that calls
:func:`averse.maps.offline_extension` and :func:`averse.maps.interactive_map`;
headless Debian Chromium runs all its cells through JupyterLab's own menu. Every
request to another host is aborted and recorded: there must be none, and the
map must show in the output area (a coloured field with coastlines).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_offline_render import NOTEBOOK_CELLS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _browser import CHROMIUM, assert_shows_a_map, canvas_pixels, free_port, launch  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "averse-test-token"


@pytest.fixture
def jupyterlab(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    cells = [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
             for src in NOTEBOOK_CELLS]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    (tmp_path / "map.ipynb").write_text(json.dumps(notebook))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start on 127.0.0.1")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_interactive_map_renders_in_jupyterlab_offline(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    remote, page_errors = [], []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def route(request_route):
            if request_route.request.url.startswith((jupyterlab, "blob:", "data:", "ws://127.0.0.1")):
                request_route.continue_()
            else:
                remote.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.goto(f"{jupyterlab}/lab/tree/map.ipynb?token={TOKEN}", wait_until="load")
        page.locator(".jp-Notebook").first.wait_for(state="visible", timeout=90_000)
        page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=90_000)  # the kernel is up
        page.get_by_role("menuitem", name="Run").first.click()
        page.get_by_text("Run All Cells", exact=True).first.click()
        # Bokeh draws on several stacked canvases, some of them hidden: wait for one to exist
        page.locator(".jp-OutputArea canvas").first.wait_for(state="attached", timeout=120_000)
        page.wait_for_timeout(3000)
        pixels = canvas_pixels(page, tmp_path / "jupyterlab.png", selector=".jp-OutputArea canvas")
        browser.close()
    assert remote == [], f"requests left the machine: {remote}"
    assert page_errors == [], page_errors
    assert_shows_a_map(pixels)
