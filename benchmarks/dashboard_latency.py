"""How fast the dashboards render and answer a widget change, server side and in a browser.

On the run outputs (``--results``, default ``runs/main``; a dashboard whose
store is not there uses the SYNTHETIC demo store of
:mod:`averse.dashboards.demo`, and the script says so), it measures:

* server side, in this process: the first render of each dashboard (loading
  the store, building widgets, maps and charts, and the Bokeh document a
  browser session gets), then the render of a second session (store cached);
  then the latency of widget changes — the time for the parameter change to
  update the Bokeh models of the document (the new pixels and titles), over
  every lead time (nowcast), every member (IR), 12 half hours and 4 filter
  changes (IMERG);
* in a browser (Debian's headless Chromium through Playwright, when
  ``/usr/bin/chromium`` exists): the time from opening the served page to
  its maps on screen, and from a key press on the lead-time (or member)
  slider, or a choice of half hour, to the new pixels in the page (the
  animation frame after the map's data source changed).

Times are wall-clock on this machine, printed as median and maximum. The
target of the issue: a change of lead time "well under a second".

Run: ``.venv/bin/python benchmarks/dashboard_latency.py [--results runs/main] [--repeats 6]``
(``--nowcast-grid 256x256 --leads 24`` for a synthetic nowcast store of a real size).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bokeh.document import Document

import averse.maps
from averse.dashboards import ImergDashboard, IrqpeDashboard, NowcastDashboard, demo, results_path
from averse.dashboards import serve as dashboards_serve

DASHBOARDS = {"nowcast": NowcastDashboard, "irqpe": IrqpeDashboard, "imerg": ImergDashboard}
DEMOS = {"nowcast": demo.demo_nowcast_results, "irqpe": demo.demo_irqpe_results, "imerg": demo.demo_imerg_results}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _ms(seconds) -> str:
    values = [1000 * s for s in seconds]
    return f"median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms   (n={len(values)})"


def results_folders(results: Path, scratch: Path, nowcast_grid: tuple[int, int], leads: int) -> dict:
    """Where each dashboard reads: ``results`` when its store is there, else a synthetic demo store."""
    folders = {}
    for name in DASHBOARDS:
        if results_path(name, results).exists():
            folders[name] = results
        else:
            options = {"ny": nowcast_grid[0], "nx": nowcast_grid[1], "leads": leads} if name == "nowcast" else {}
            DEMOS[name](scratch, **options)
            folders[name] = scratch
        kind = "run outputs" if folders[name] == results else "SYNTHETIC demo store"
        print(f"{name:8s} reads {results_path(name, folders[name])}  ({kind})")
    return folders


def _changes(dash):
    """The widget changes timed for a dashboard: ``[(label, {param: value})]``."""
    if isinstance(dash, NowcastDashboard):
        return [("lead time", {"lead_time": lead}) for lead in dash.leads[::-1] + dash.leads]
    if isinstance(dash, IrqpeDashboard):
        members = range(dash.param.member.bounds[1] + 1)
        return [("member", {"member": m}) for m in [*members][::-1] + [*members]]
    steps = list(dash.param.time.objects.values())[:12]
    filters = [{"quality": (0.5, 1.0)}, {"age": (0, 120)}, {"sources": list(dash.param.sources.objects.values())[:2]},
               {"quality": (0.0, 1.0), "age": (0, 360), "sources": list(dash.param.sources.objects.values())}]
    return [("half hour", {"time": t}) for t in steps] + [("filter", f) for f in filters]


def server_side(folders: dict) -> None:
    """First render, second session render and widget-change latency, in this process."""
    print("\nserver side (this process)")
    for name, cls in DASHBOARDS.items():
        start = time.perf_counter()
        cls.view(folders[name]).get_root(Document())
        first = time.perf_counter() - start
        start = time.perf_counter()
        dash = cls.from_results(folders[name])
        dash.panel().get_root(Document())
        second = time.perf_counter() - start
        print(f"  {name:8s} first render {first:6.2f} s   next session {second:6.2f} s")
        timings: dict[str, list] = {}
        for label, change in _changes(dash):
            start = time.perf_counter()
            dash.param.update(**change)
            timings.setdefault(label, []).append(time.perf_counter() - start)
        for label, seconds in timings.items():
            print(f"    {label:10s} change: {_ms(seconds)}")


_WATCH_SOURCES = """() => {
  window.__averse_changes = 0;
  for (const doc of Bokeh.documents)
    for (const model of doc._all_models.values())
      if (model.type === "ColumnDataSource" && "image" in model.data)
        model.properties.data.change.connect(() => { window.__averse_changes += 1; });
  return window.__averse_changes;
}"""


def _timed_change(page, act) -> float:
    """Seconds from ``act(page)`` to the animation frame after a map's data source changed."""
    before = page.evaluate("() => window.__averse_changes")
    start = time.perf_counter()
    act(page)
    page.wait_for_function("n => window.__averse_changes > n", arg=before, polling="raf", timeout=30_000)
    return time.perf_counter() - start


def in_browser(folders: dict, repeats: int) -> None:
    """Page load to maps on screen, and key press to new pixels, in headless Chromium."""
    if not CHROMIUM.exists():
        print("\nin browser: skipped (no /usr/bin/chromium)")
        return
    from playwright.sync_api import sync_playwright

    print("\nin browser (headless Chromium, served on 127.0.0.1)")
    servers, urls = [], {}
    for name in DASHBOARDS:
        port = dashboards_serve._free_port("127.0.0.1")
        servers.append(dashboards_serve.serve(name, folders[name], port=port, threaded=True))
        urls[name] = f"http://127.0.0.1:{port}/{name}"
    time.sleep(1.0)
    actions = {
        "nowcast": ("lead time", lambda page, i: page.locator(".noUi-handle").first.press(
            "ArrowRight" if i % 2 == 0 else "ArrowLeft")),
        "irqpe": ("member", lambda page, i: page.locator(".noUi-handle").first.press(
            "ArrowRight" if i % 2 == 0 else "ArrowLeft")),
        "imerg": ("half hour", lambda page, i: page.locator("select").first.select_option(index=i)),
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for name, url in urls.items():
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                start = time.perf_counter()
                page.goto(url, wait_until="load")
                page.locator(".averse-map canvas").first.wait_for(state="visible", timeout=120_000)
                page.wait_for_function("() => Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle",
                                       polling="raf", timeout=120_000)
                loaded = time.perf_counter() - start
                page.evaluate(_WATCH_SOURCES)
                label, act = actions[name]
                seconds = [_timed_change(page, lambda p, i=i: act(p, i)) for i in range(repeats)]
                print(f"  {name:8s} page to maps {loaded:6.2f} s;  {label} change to new pixels: {_ms(seconds)}")
                page.close()
            browser.close()
    finally:
        for server in servers:
            server.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="runs/main", help="run folder of the evaluation notebooks")
    parser.add_argument("--repeats", type=int, default=6, help="widget changes timed per dashboard in the browser")
    parser.add_argument("--no-browser", action="store_true", help="server-side timings only")
    parser.add_argument("--nowcast-grid", default="96x128", help="ny x nx of the synthetic nowcast store (4 km cells)")
    parser.add_argument("--leads", type=int, default=12, help="lead times (5 min) of the synthetic nowcast store")
    args = parser.parse_args(argv)
    averse.maps.offline_extension()
    with tempfile.TemporaryDirectory(prefix="averse-dashboards-") as scratch:
        grid = tuple(int(n) for n in args.nowcast_grid.split("x"))
        folders = results_folders(Path(args.results), Path(scratch), grid, args.leads)
        server_side(folders)
        if not args.no_browser:
            in_browser(folders, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
