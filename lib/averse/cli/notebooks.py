"""Run the numbered notebooks with papermill, and check their structure.

Every notebook of ``notebooks/`` starts with an H1 title and a paragraph, then a
single cell tagged ``parameters`` holding only literals. Its defaults are the
"small" preset; ``notebooks/presets.yaml`` holds the overrides of the other
presets (``test`` for the test suite, ``full`` for papermill batches on GPU
nodes). The test suite and ``averse run-notebooks`` both execute notebooks
through :func:`execute_notebook`, so the two paths cannot drift apart.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from averse.errors import AverseError

__all__ = [
    "NOTEBOOK_DIR",
    "NotebookStructureError",
    "NotebookRun",
    "list_notebooks",
    "check_structure",
    "notebook_parameters",
    "preset_parameters",
    "execute_notebook",
    "run_notebooks",
    "run_notebooks_cli",
]

NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "notebooks"
KERNEL_NAME = "python3"


class NotebookStructureError(AverseError):
    """A notebook breaks the conventions (title, purpose, parameters cell, no outputs)."""


@dataclass
class NotebookRun:
    """Outcome of one notebook execution."""

    notebook: Path
    output: Path
    parameters: dict[str, Any]
    seconds: float = 0.0
    error: str | None = None
    figures: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def list_notebooks(folder: Path | str = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks (``NN_name.ipynb``) in order, optionally filtered by name prefixes."""
    found = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(p.name.startswith(prefix) for prefix in only)]
    return found


def _load(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise NotebookStructureError(f"{path}: not a readable notebook ({exc})") from exc


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_structure(path: Path | str) -> None:
    """Raise :class:`NotebookStructureError` when a notebook breaks the conventions.

    Checks: first cell is markdown starting with an H1 title followed by a
    paragraph; exactly one code cell is tagged ``parameters`` and it holds only
    assignments of literals; no code cell carries outputs or execution counts.
    """
    path = Path(path)
    nb = _load(path)
    cells = nb.get("cells", [])
    if not cells or cells[0].get("cell_type") != "markdown":
        raise NotebookStructureError(f"{path}: the first cell must be markdown with an H1 title")
    first = _source(cells[0]).strip().splitlines()
    if not first or not first[0].startswith("# "):
        raise NotebookStructureError(f"{path}: the first cell must start with an H1 title ('# ...')")
    if not any(line.strip() and not line.startswith("#") for line in first[1:]):
        raise NotebookStructureError(f"{path}: the title must be followed by a paragraph saying what it answers")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1 or tagged[0].get("cell_type") != "code":
        raise NotebookStructureError(f"{path}: needs exactly one code cell tagged 'parameters' (found {len(tagged)})")
    tree = ast.parse(_source(tagged[0]))
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise NotebookStructureError(f"{path}: the parameters cell may only assign names (line {node.lineno})")
        try:
            ast.literal_eval(node.value)
        except ValueError:
            raise NotebookStructureError(
                f"{path}: parameter {node.targets[0].id!r} is not a literal (line {node.lineno})"
            ) from None
    for cell in cells:
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count")):
            raise NotebookStructureError(f"{path}: notebooks are committed without outputs; strip them")


def notebook_parameters(path: Path | str) -> dict[str, Any]:
    """Default values of the ``parameters`` cell, evaluated as literals."""
    nb = _load(Path(path))
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(_source(cell))
            return {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    return {}


def preset_parameters(notebook: Path | str, preset: str, presets_file: Path | None = None) -> dict[str, Any]:
    """Overrides of ``preset`` for one notebook, from ``notebooks/presets.yaml``.

    The file maps preset → notebook stem (or ``"*"`` for all) → parameters.
    The ``small`` preset is the notebook's own defaults.
    """
    presets_file = presets_file or Path(notebook).parent / "presets.yaml"
    if preset == "small":
        return {}
    if not presets_file.is_file():
        raise AverseError(f"preset {preset!r} asked for, but {presets_file} does not exist")
    with open(presets_file, encoding="utf-8") as fh:
        presets = yaml.safe_load(fh) or {}
    if preset not in presets:
        raise AverseError(f"{presets_file}: no preset {preset!r}; known: small, {', '.join(presets)}")
    table = presets[preset] or {}
    merged = dict(table.get("*", {}) or {})
    merged.update(table.get(Path(notebook).stem, {}) or {})
    return merged


def execute_notebook(
    notebook: Path | str,
    out_dir: Path | str,
    parameters: dict[str, Any] | None = None,
    preset: str = "small",
    timeout: int | None = None,
) -> NotebookRun:
    """Execute one notebook with papermill into ``out_dir``.

    Parameters are merged as: notebook defaults < preset < ``parameters``; only
    names the notebook declares are injected, and ``out_dir`` (when declared)
    is pointed at ``out_dir/<notebook stem>``; ``results_dir`` (when declared and
    not given in ``parameters``) at ``out_dir`` itself, the folder the dashboards
    read the results stores from (:mod:`averse.dashboards.results`).
    """
    import papermill as pm

    notebook = Path(notebook)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    declared = notebook_parameters(notebook)
    wanted = dict(preset_parameters(notebook, preset))
    wanted.update(parameters or {})
    if "out_dir" in declared:
        wanted["out_dir"] = str((out_dir / notebook.stem).resolve())
    if "results_dir" in declared and "results_dir" not in (parameters or {}):
        wanted["results_dir"] = str(out_dir.resolve())
    injected = {k: v for k, v in wanted.items() if k in declared}
    output = out_dir / notebook.name
    run = NotebookRun(notebook=notebook, output=output, parameters=injected)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=injected,
            kernel_name=KERNEL_NAME,
            cwd=str(notebook.parent),
            progress_bar=False,
            execution_timeout=timeout,
        )
    except Exception as exc:  # papermill wraps the kernel's error; keep its message
        run.error = f"{type(exc).__name__}: {exc}"
    run.seconds = time.perf_counter() - start
    figure_dir = out_dir / notebook.stem
    if figure_dir.is_dir():
        run.figures = sorted(figure_dir.rglob("*.png"))
    return run


def run_notebooks(
    out_dir: Path | str,
    preset: str = "small",
    parameters: dict[str, Any] | None = None,
    only: list[str] | None = None,
    keep_going: bool = False,
    folder: Path | str = NOTEBOOK_DIR,
) -> list[NotebookRun]:
    """Execute the numbered notebooks in order; stop at the first failure unless ``keep_going``."""
    from tqdm.auto import tqdm

    notebooks = list_notebooks(folder, only)
    if not notebooks:
        raise AverseError(f"no numbered notebook in {folder} matches {only}")
    runs: list[NotebookRun] = []
    with tqdm(notebooks, desc="notebooks", unit="nb") as bar:
        for notebook in bar:
            bar.set_postfix_str(notebook.name)
            run = execute_notebook(notebook, out_dir, parameters, preset)
            runs.append(run)
            status = "ok" if run.ok else "FAILED"
            bar.write(f"{notebook.name}: {status} in {run.seconds:.0f} s -> {run.output}")
            if not run.ok:
                bar.write(f"  {run.error.splitlines()[0] if run.error else ''}")
                if not keep_going:
                    break
    return runs


def run_notebooks_cli(args) -> int:
    """``averse run-notebooks``: exit code 1 when a notebook fails."""
    params: dict[str, Any] = {"dataset": args.dataset, "device": args.device}
    for name, value in args.parameter:
        params[name] = yaml.safe_load(value)
    os.environ.setdefault("MPLBACKEND", "Agg")
    runs = run_notebooks(args.out, args.size, params, args.only, args.keep_going)
    failed = [r for r in runs if not r.ok]
    total = len(list_notebooks(NOTEBOOK_DIR, args.only))
    print(f"{len(runs) - len(failed)} of {total} notebooks ran; outputs in {Path(args.out).resolve()}")
    for run in failed:
        print(f"FAILED {run.notebook.name}: {run.error}", file=sys.stderr)
    return 1 if failed or len(runs) < total else 0
