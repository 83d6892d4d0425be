"""Panel dashboards of averse results, for team meetings: maps, not tables.

Three dashboards read the stores the evaluation notebooks write
(:mod:`averse.dashboards.results` defines them):

- ``nowcast`` (:class:`NowcastDashboard`): observed radar beside each model
  and baseline, differences, skill against lead time, score table, animation;
- ``irqpe`` (:class:`IrqpeDashboard`): reference, U-Net, ensemble members,
  mean, spread, exceedance probability, scores on two axes;
- ``imerg`` (:class:`ImergDashboard`): IMERG beside the aggregated radar, with
  filters and live stratified scores.

Serve one with ``averse dashboard NAME`` (127.0.0.1, websocket origin
restricted; :func:`averse.dashboards.serve.serve`), or ``panel serve notebooks/90_dashboard_nowcast.ipynb
--address 127.0.0.1``; write a static HTML snapshot with ``averse dashboard
NAME --export file.html`` (:func:`export_html`). Everything renders offline:
resources are inlined and coastlines come from the shipped Natural Earth
extract. A dashboard whose store is missing shows which notebook to run.
:mod:`averse.dashboards.demo` writes small synthetic stores for tests and
benchmarks.

The results contract (:mod:`~averse.dashboards.results`) imports no Panel;
the dashboards import Panel and Bokeh on first use.
"""

from __future__ import annotations

from averse.dashboards.results import (
    STORES,
    MissingResultsError,
    open_results,
    results_path,
    write_imerg_results,
    write_irqpe_results,
    write_nowcast_results,
)

__all__ = [
    "STORES",
    "MissingResultsError",
    "open_results",
    "results_path",
    "write_nowcast_results",
    "write_irqpe_results",
    "write_imerg_results",
    "demo_nowcast_results",
    "demo_irqpe_results",
    "demo_imerg_results",
    "write_demo_results",
    "NowcastDashboard",
    "IrqpeDashboard",
    "ImergDashboard",
    "DASHBOARDS",
    "dashboard",
    "export_html",
    "serve_cli",
]

_LAZY = {
    "demo_nowcast_results": "demo",
    "demo_irqpe_results": "demo",
    "demo_imerg_results": "demo",
    "write_demo_results": "demo",
    "NowcastDashboard": "nowcast",
    "IrqpeDashboard": "irqpe",
    "ImergDashboard": "imerg",
    "DASHBOARDS": "serve",
    "dashboard": "serve",
    "export_html": "serve",
    "serve_cli": "serve",
}


def __getattr__(name: str):
    """Import the Panel parts (slow to import) on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"averse.dashboards.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
