"""What every dashboard shares: cached loading, the page frame, the "no results yet" page.

Results are loaded once per server process with ``pn.state.as_cached`` (every
browser session of ``averse dashboard`` shares them) under a key holding the
store's path and modification time, so a store rewritten by its notebook is
read again on the next page load. Stores up to :data:`MAX_IN_MEMORY_BYTES` are
read into memory; larger ones stay lazy and a widget change reads one chunk
per map.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr
from bokeh.models import Slider
from panel.io import hold

from averse.dashboards.mapview import MapGrid
from averse.dashboards.results import STORES, MissingResultsError, open_results, results_path

__all__ = ["MAX_IN_MEMORY_BYTES", "Frames", "MapSpec", "Dashboard", "cached_results", "dashboard_page",
           "missing_results_page", "serve_resources_locally", "utc_label"]

#: Stores up to this size are held in memory.
MAX_IN_MEMORY_BYTES = 1 << 30


def _load(kind: str, results_dir: str, prepare: Callable | None) -> xr.Dataset:
    ds = open_results(kind, results_dir)
    if ds.nbytes <= MAX_IN_MEMORY_BYTES:
        ds = ds.load()
    return prepare(ds) if prepare is not None else ds


def cached_results(kind: str, results_dir: str | os.PathLike, prepare: Callable | None = None) -> xr.Dataset:
    """A results store, loaded once per server process (``pn.state.as_cached``).

    Parameters
    ----------
    kind : {"nowcast", "irqpe", "imerg"}
        Which store (see :mod:`averse.dashboards.results`).
    results_dir : path-like
        The run folder the evaluation notebooks wrote.
    prepare : callable, optional
        ``prepare(ds) -> ds`` run once after loading (derived variables).

    Raises
    ------
    MissingResultsError
        When the store does not exist yet.
    """
    path = results_path(kind, results_dir)
    if not path.exists():
        raise MissingResultsError(STORES[kind], results_dir)
    name = getattr(prepare, "__qualname__", "") if prepare is not None else ""
    key = f"averse.dashboards:{kind}:{path.resolve()}:{path.stat().st_mtime_ns}:{name}"
    return pn.state.as_cached(key, _load, kind=kind, results_dir=str(results_dir), prepare=prepare)


class Frames:
    """Maps of a stored field by position: numpy when the store is in memory, lazy reads otherwise.

    Parameters
    ----------
    da : xr.DataArray
        A field of a results store.
    dims : sequence of str
        Its dims in the order of the positions given to ``frames[...]``.
    """

    def __init__(self, da: xr.DataArray, dims):
        da = da.transpose(*dims)
        self._array = da.values if da.variable._in_memory else da

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self._array[index])


def serve_resources_locally() -> None:
    """In a server, let Panel serve its own JS and CSS (from 127.0.0.1, not its CDN).

    :func:`averse.maps.offline_extension` sets Bokeh's resources to
    ``inline`` for notebooks and saved files; Panel reads that setting as
    "use the CDN" for the stylesheets it adds to models updated in a live
    session (``loading.css``, theme CSS), which a meeting room without
    network cannot fetch. A server has the files itself: resources
    ``server`` make those links local. (Process-wide, like the setting.)
    """
    from bokeh.settings import settings

    settings.resources.set_value("server")
    pn.config.inline = False


def utc_label(time) -> str:
    """``YYYY-MM-DD HH:MM UTC`` of a datetime64 or Timestamp."""
    return f"{pd.Timestamp(time):%Y-%m-%d %H:%M} UTC"


def _header(title: str, about: str) -> pn.pane.Markdown:
    return pn.pane.Markdown(f"# {title}\n\n{about}", sizing_mode="stretch_width")


def dashboard_page(title: str, about: str, controls, *main) -> pn.Column:
    """The frame of a dashboard: title and purpose, controls on the left, content on the right."""
    sidebar = pn.Column(*controls, width=330)
    return pn.Column(_header(title, about), pn.Row(sidebar, pn.Column(*main)), sizing_mode="stretch_width")


def missing_results_page(title: str, error: MissingResultsError) -> pn.Column:
    """The page shown instead of a dashboard when its results store does not exist yet."""
    return pn.Column(
        _header(title, "No results to show yet."),
        pn.pane.Alert(str(error), alert_type="warning", sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )


class MapSpec(NamedTuple):
    """One map of a dashboard.

    Attributes
    ----------
    frame : callable
        ``frame(**values of deps) -> (values, title)``: the ``(y, x)`` field and its title.
    deps : tuple of str
        The dashboard parameters it depends on (passed to ``frame`` by name).
    style : str
        Colour scale, a key of :data:`averse.dashboards.mapview.STYLES`.
    colorbar : bool
        Draw the colour bar.
    """

    frame: Callable
    deps: tuple[str, ...]
    style: str
    colorbar: bool = False


class Dashboard(param.Parameterized):
    """Base of the dashboards: the results store they read and the two views they offer.

    Subclasses set :attr:`kind`, :attr:`title`, :attr:`about` (and
    :meth:`prepare` for derived variables), take the loaded store in their
    constructor and implement :meth:`panel` (the live app) and
    :meth:`snapshot` (static content for an HTML file).
    """

    kind: str = ""
    title: str = ""
    about: str = ""

    @staticmethod
    def prepare(results: xr.Dataset) -> xr.Dataset:
        """Derived variables computed once after loading (none by default)."""
        return results

    @classmethod
    def from_results(cls, results_dir: str | os.PathLike = "runs/main"):
        """The dashboard on the store under ``results_dir`` (loaded once per process).

        Raises
        ------
        MissingResultsError
            When the store does not exist yet.
        """
        return cls(cached_results(cls.kind, Path(results_dir), cls.prepare))

    @classmethod
    def view(cls, results_dir: str | os.PathLike = "runs/main", static: bool = False):
        """The live app (or its static snapshot), or the page naming the notebook to run."""
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:  # a server session
            serve_resources_locally()
        try:
            dashboard = cls.from_results(results_dir)
        except MissingResultsError as error:
            return missing_results_page(cls.title, error)
        return dashboard.snapshot() if static else dashboard.panel()

    def __init__(self, **params):
        super().__init__(**params)
        self._live_maps: list = []  # (MapSpec, LiveMap) of every view built

    def _frame(self, spec: MapSpec, **overrides):
        return spec.frame(**{name: overrides.get(name, getattr(self, name)) for name in spec.deps})

    def live_maps(self, grid: MapGrid, specs, ncols: int):
        """Maps that follow the parameters: a change redraws, in place, the maps depending on it.

        Parameters
        ----------
        grid : MapGrid
            The grid of the maps.
        specs : sequence of MapSpec or None
            The maps in layout order (None: an empty cell).
        ncols : int
            Maps per row.

        Returns
        -------
        bokeh layout
        """
        maps = grid.maps([(spec.style, spec.colorbar) if spec else None for spec in specs])
        built = [(spec, live) for spec, live in zip(specs, maps) if spec is not None]
        for spec, live in built:
            live.show(*self._frame(spec))
        self._live_maps += built
        self.param.watch(self._redraw, sorted({name for spec, _ in built for name in spec.deps}))
        return grid.layout(maps, ncols)

    def _redraw(self, *events) -> None:
        changed = {event.name for event in events}
        with hold():  # one websocket message for all the maps
            for spec, live in self._live_maps:
                if changed & set(spec.deps):
                    live.show(*self._frame(spec))

    def animated_maps(self, grid: MapGrid, specs, ncols: int, vary: str, values, slider_title: str):
        """Static maps for HTML: every value of ``vary`` held in the page, a slider swaps them.

        Maps not depending on ``vary`` show the current state only.
        """
        maps = grid.maps([(spec.style, spec.colorbar) if spec else None for spec in specs])
        values = list(values)
        slider = Slider(start=0, end=max(len(values) - 1, 1), value=values.index(getattr(self, vary)), step=1,
                        title=slider_title, width=420, disabled=len(values) < 2)
        for spec, live in zip(specs, maps):
            if spec is None:
                continue
            if vary in spec.deps:
                live.animate([self._frame(spec, **{vary: value}) for value in values], slider)
            else:
                live.show(*self._frame(spec))
        return grid.layout(maps, ncols, slider)

    def panel(self):
        """The live app: widgets and the plots they drive."""
        raise NotImplementedError

    def snapshot(self):
        """Static content of the current state (maps with an embedded slider), for HTML export."""
        raise NotImplementedError

    def page(self, controls, *main) -> pn.Column:
        """:func:`dashboard_page` with this dashboard's title and purpose."""
        return dashboard_page(self.title, self.about, controls, *main)
