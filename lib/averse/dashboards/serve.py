"""Serving and sharing the dashboards: the registry by name, ``averse dashboard``, HTML snapshots.

A server binds to 127.0.0.1 unless told otherwise and accepts websocket
connections only from the page it serves (``address:port``, plus
``localhost:port`` for a loopback address) and from the origins given with
``--allow-origin``: another site open in the same browser cannot drive the
dashboard. Every resource is inlined (:func:`averse.maps.offline_extension`),
so a meeting room without network works. A static snapshot
(:func:`export_html`) is one self-contained HTML file of the current view.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from averse.dashboards._app import serve_resources_locally
from averse.dashboards.imerg import ImergDashboard
from averse.dashboards.irqpe import IrqpeDashboard
from averse.dashboards.nowcast import NowcastDashboard
from averse.dashboards.results import STORES
from averse.errors import AverseError

__all__ = ["DASHBOARDS", "dashboard", "websocket_origins", "serve", "export_html", "serve_cli"]

#: The dashboards by name (the URL path of each app).
DASHBOARDS = {"nowcast": NowcastDashboard, "irqpe": IrqpeDashboard, "imerg": ImergDashboard}
_LOOPBACK = ("127.0.0.1", "localhost")


def _dashboard_class(name: str):
    if name not in DASHBOARDS:
        raise AverseError(f"unknown dashboard {name!r}; known: {', '.join(DASHBOARDS)} (averse dashboard --list)")
    return DASHBOARDS[name]


def dashboard(name: str, results_dir: str | os.PathLike = "runs/main", static: bool = False):
    """The dashboard ``name`` on the results under ``results_dir``.

    Parameters
    ----------
    name : str
        A key of :data:`DASHBOARDS`.
    results_dir : path-like
        The folder the evaluation notebooks wrote (``averse run-notebooks --out``).
    static : bool
        The static snapshot (for HTML) instead of the live app.

    Returns
    -------
    panel.viewable.Viewable
        The app, or a page saying which notebook to run when its results are missing.
    """
    return _dashboard_class(name).view(results_dir, static=static)


def _app(name: str, results_dir: str):
    """A function building the dashboard for each session (Panel serves functions, not partials)."""
    def build():
        return dashboard(name, results_dir)

    build.__name__ = name
    return build


def websocket_origins(address: str, port: int, allow_origin=()) -> list[str]:
    """Origins whose pages may open the server's websocket: its own address, and ``allow_origin``."""
    hosts = _LOOPBACK if address in _LOOPBACK else (address,)
    return [f"{host}:{port}" for host in hosts] + list(allow_origin)


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def serve(names, results_dir: str | os.PathLike = "runs/main", address: str = "127.0.0.1", port: int = 5006,
          allow_origin=(), show: bool = False, threaded: bool = False, start: bool = True):
    """Serve dashboards with Panel, each at ``http://address:port/<name>``.

    Parameters
    ----------
    names : str or sequence of str
        Dashboards to serve (keys of :data:`DASHBOARDS`).
    results_dir : path-like
        The folder the evaluation notebooks wrote.
    address : str
        Interface to bind; 127.0.0.1 keeps the server private to this machine.
    port : int
        Port; 0 picks a free one.
    allow_origin : sequence of str
        Extra ``host:port`` origins allowed to open the websocket (a proxy,
        another machine's name when binding a public address).
    show : bool
        Open a browser.
    threaded : bool
        Run the server in a thread and return it (``server.stop()`` ends it).
    start : bool
        Start serving (blocks unless ``threaded``).

    Returns
    -------
    panel.io.server.Server or StoppableThread
        The server (``threaded``: the thread running it).
    """
    from averse.maps import offline_extension

    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        _dashboard_class(name)
    pn = offline_extension()
    serve_resources_locally()
    port = port or _free_port(address)
    apps = {name: _app(name, str(results_dir)) for name in names}
    return pn.serve(apps, port=port, address=address, websocket_origin=websocket_origins(address, port, allow_origin),
                    show=show, threaded=threaded, start=start, title={n: DASHBOARDS[n].title for n in names},
                    verbose=False)


def export_html(name: str, path: str | os.PathLike, results_dir: str | os.PathLike = "runs/main") -> Path:
    """Write a static, self-contained HTML snapshot of dashboard ``name`` (opens offline).

    The snapshot shows the default view; its maps hold every lead time (or
    member, or half hour) and a slider swaps them in the browser, with no server.

    Returns
    -------
    Path
        The written file (written to a temporary name, then renamed).
    """
    from averse.maps import offline_extension, save_html

    offline_extension()
    return save_html(dashboard(name, results_dir, static=True), path, title=_dashboard_class(name).title)


def serve_cli(args) -> int:
    """``averse dashboard``: list, export or serve (see ``averse dashboard --help``)."""
    if args.list or not args.name:
        for name, cls in DASHBOARDS.items():
            print(f"{name:8s} {cls.title}  (results of {STORES[cls.kind].notebook_path})")
        return 0 if args.list else 2
    if args.export:
        print(export_html(args.name, args.export, args.results))
        return 0
    port = args.port or _free_port(args.address)
    if args.address not in _LOOPBACK:
        print(f"warning: binding {args.address}: anyone who reaches this machine can open the dashboard",
              file=sys.stderr)
    print(f"serving http://{args.address}:{port}/{args.name} (results: {args.results}); Ctrl-C stops", flush=True)
    try:
        serve(args.name, args.results, args.address, port, args.allow_origin or ())
    except KeyboardInterrupt:
        pass
    return 0
