"""Self-contained HTML pages of executed notebooks (papermill outputs).

``jupyter nbconvert --to html`` links require.js, MathJax and Mermaid from
CDNs, so a report of a batch run opens broken without network. This module
exports with nbconvert's JupyterLab template minus those scripts
(:data:`OFFLINE_LAB_TEMPLATE`). Plots whose notebook called
:func:`averse.maps.offline_extension` carry their own JavaScript and render;
LaTeX in Markdown cells stays as source text (no MathJax).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OFFLINE_LAB_TEMPLATE", "notebook_to_html"]

#: nbconvert's ``lab/index.html.j2`` without the scripts it loads from CDNs
#: and with an empty favicon, so the browser asks nothing of any server.
OFFLINE_LAB_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<link rel="icon" href="data:,">{%- endblock extra_css -%}
"""
_TEMPLATE_NAME = "averse_offline_lab.html.j2"


def notebook_to_html(notebook: str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """Write an executed notebook as an HTML page that needs no network.

    Parameters
    ----------
    notebook : path-like
        The ``.ipynb`` file (e.g. a papermill output).
    path : path-like, optional
        Destination; default: the notebook's path with ``.html``.

    Returns
    -------
    Path
        The written page (written to a temporary name, then renamed).
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    path = Path(path) if path is not None else notebook.with_suffix(".html")
    exporter = HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: OFFLINE_LAB_TEMPLATE})],
    )
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
