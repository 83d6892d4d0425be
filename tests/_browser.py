"""Driving Debian's headless Chromium with Playwright, offline, for the browser tests.

Chromium is ``/usr/bin/chromium`` (Debian's package; never ``playwright
install``), started with background networking off. :func:`offline_page`
opens a URL with every request to another host aborted and recorded, and
records console and page errors. :func:`canvas_pixels` reads the pixels of a
page's largest canvas (or of the box holding all maps) from a screenshot; :func:`assert_shows_a_map` checks
they are a coloured field with coastlines rather than a blank frame.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def launch(playwright):
    """Headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def offline_page(browser, url: str, ready: str = "canvas", settle_ms: int = 1500, viewport=(1500, 1100)):
    """Open ``url`` with every request leaving its origin aborted and recorded.

    Parameters
    ----------
    browser : playwright Browser
        From :func:`launch`.
    url : str
        Page to open (on 127.0.0.1).
    ready : str
        Selector waited for (pierces shadow roots) before yielding.
    settle_ms : int
        Extra wait for Bokeh to finish painting.
    viewport : (int, int)
        Window size.

    Yields
    ------
    (Page, dict)
        The page and the record: ``remote`` request URLs, ``console`` errors
        and ``page`` (uncaught) errors.
    """
    origin = url.split("/", 3)[:3]
    origin = "/".join(origin)
    record = {"remote": [], "console": [], "page": []}
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})

    def route(request_route):
        request_url = request_route.request.url
        if request_url.startswith((origin, "blob:", "data:")):
            request_route.continue_()
        else:
            record["remote"].append(request_url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and record["console"].append(msg.text))
    page.on("pageerror", lambda exc: record["page"].append(str(exc)))
    try:
        page.goto(url, wait_until="load")
        page.locator(ready).first.wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(settle_ms)
        yield page, record
    finally:
        page.close()


def canvas_pixels(page, screenshot: Path, selector: str = "canvas", union: bool = False) -> np.ndarray:
    """Screenshot the page; RGB pixels of the largest element matching ``selector``.

    With ``union``, the pixels of the box holding every matching element
    (all the maps of a dashboard) instead.
    """
    from PIL import Image

    page.screenshot(path=str(screenshot), full_page=True)
    elements = page.locator(selector)
    boxes = [b for b in (elements.nth(i).bounding_box() for i in range(elements.count())) if b]
    if union:
        x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
        x1 = max(b["x"] + b["width"] for b in boxes)
        y1 = max(b["y"] + b["height"] for b in boxes)
        box = {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
    else:
        box = max(boxes, key=lambda b: b["width"] * b["height"])
    pixels = np.asarray(Image.open(screenshot).convert("RGB"), dtype="int16")
    x0, y0 = int(box["x"]), int(box["y"])
    return pixels[y0: y0 + int(box["height"]), x0: x0 + int(box["width"])]


def assert_shows_a_map(plot: np.ndarray, min_colours: int = 20, lines: bool = True):
    """The pixels hold a colour field, and dark coastline pixels when ``lines``, not a blank frame.

    ``lines=False`` for a box with no coastline or border in it (a small inland
    radar box): there is nothing dark to draw.
    """
    assert plot.shape[0] > 150 and plot.shape[1] > 150, plot.shape
    # Real run outputs can be mostly dry (white) with near-zero differences: ask for some drawn
    # pixels, not for a mostly covered frame.
    background = np.all(plot >= 245, axis=-1)
    assert (~background).mean() > 0.02, "canvas is almost blank"
    colours = np.unique(plot.reshape(-1, 3) // 16, axis=0)
    assert len(colours) > min_colours, f"canvas shows only {len(colours)} colours"
    if lines:
        dark = np.all(plot < 60, axis=-1)
        assert dark.sum() > 100, "no coastline-dark pixels"


def changed_fraction(before: np.ndarray, after: np.ndarray, level: int = 30) -> float:
    """Fraction of pixels whose colour changed by more than ``level`` (0-255) in a channel."""
    return float((np.abs(before - after).max(axis=-1) > level).mean())
