"""Every numbered notebook follows the conventions and executes on the ``test`` preset.

Execution goes through :func:`averse.cli.notebooks.execute_notebook`, the same
path as ``averse run-notebooks``, into one run folder shared by the session
(the ``run_outputs`` fixture): the dashboard notebooks show the stores the
evaluation notebooks wrote there, and the dashboard tests serve them.
"""

import json

import pytest

from averse.cli.notebooks import (
    NOTEBOOK_DIR,
    NotebookStructureError,
    check_structure,
    list_notebooks,
    notebook_parameters,
)

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no numbered notebook in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure(notebook):
    check_structure(notebook)
    params = notebook_parameters(notebook)
    assert "out_dir" in params, "every notebook writes under an out_dir parameter"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes_on_test_preset(notebook, run_outputs):
    output = run_outputs(notebook.stem) / notebook.name
    executed = json.loads(output.read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def _write(path, cells):
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text, tags=(), outputs=()):
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": text,
            "outputs": list(outputs), "execution_count": None}


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_code("x = 1", ["parameters"])], "H1 title"),
        ([_md("# T"), _code("x = 1", ["parameters"])], "paragraph"),
        ([_md("# T\n\nWhy."), _code("x = 1")], "tagged 'parameters'"),
        ([_md("# T\n\nWhy."), _code("x = f(1)", ["parameters"])], "not a literal"),
        ([_md("# T\n\nWhy."), _code("import os", ["parameters"])], "only assign"),
        ([_md("# T\n\nWhy."), _code("x = 1", ["parameters"]), _code("x", outputs=[{"output_type": "stream"}])], "without outputs"),
    ],
)
def test_structure_check_rejects(tmp_path, cells, message):
    with pytest.raises(NotebookStructureError, match=message):
        check_structure(_write(tmp_path / "00_bad.ipynb", cells))
