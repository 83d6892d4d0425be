"""One run folder of the whole test session, written by the numbered notebooks on the ``test`` preset.

It is what ``averse run-notebooks --preset test --out <folder>`` would leave:
every notebook executed into the same folder, so the evaluation notebooks'
results stores sit where the dashboards read them. The notebook tests and the
dashboard tests share it, across pytest-xdist workers: each notebook runs once,
under a lock, and its outcome is recorded beside its output. A dashboard
notebook (``9x_dashboard_<kind>``) first has the notebook that writes its store
run, so that it shows real run outputs, not the "no results yet" page.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from averse.cli.notebooks import NOTEBOOK_DIR, execute_notebook
from averse.dashboards.results import STORES


@dataclass(frozen=True)
class Outcome:
    """How a notebook's run in the shared folder ended."""

    ok: bool
    error: str
    output: Path


def session_root(tmp_path_factory) -> Path:
    """A folder shared by every xdist worker of this session (and only this session)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "run_outputs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def writer_of(stem: str) -> str | None:
    """The evaluation notebook whose store a dashboard notebook shows (``None`` for other notebooks)."""
    kind = stem.rsplit("_", 1)[-1]
    if "_dashboard_" in stem and kind in STORES:
        return STORES[kind].notebook
    return None


def executed(root: Path, stem: str) -> Outcome:
    """Run notebook ``stem`` into ``root`` on the test preset, once per session; its outcome."""
    writer = writer_of(stem)
    if writer is not None:
        executed(root, writer)
    record = root / f"{stem}.outcome.json"
    with FileLock(str(root / f"{stem}.lock")):
        if not record.exists():
            run = execute_notebook(NOTEBOOK_DIR / f"{stem}.ipynb", root, preset="test")
            record.write_text(json.dumps({"ok": run.ok, "error": run.error or "", "output": str(run.output)}))
    saved = json.loads(record.read_text())
    return Outcome(saved["ok"], saved["error"], Path(saved["output"]))
