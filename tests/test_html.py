"""The HTML edition (``python -m vae_teach.html``): chapter selection, widgets as static
pictures, and one real build of a small notebook holding a course widget."""
import base64
import json

import nbformat
import pytest

from vae_teach import html as html_edition

WIDGET_CELL = """
import ipywidgets as widgets
from vae_teach.plots import array_to_png
from vae_teach.widgets import CourseWidget
import numpy as np
w = CourseWidget({"level": widgets.FloatSlider(value=0.25, min=0, max=1)},
                 lambda level: array_to_png(np.full((8, 8), level)), title="grey")
w
"""


def _notebook(tmp_path, name="01_tiny.ipynb", cells=("x = 6 * 7\nprint(x)", WIDGET_CELL)):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 — A tiny chapter")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_select_notebooks_by_prefix_and_rejects_unknown(tmp_path):
    for name in ("00_a.ipynb", "04_b.ipynb", "07_c.ipynb"):
        _notebook(tmp_path, name, cells=())
    assert [p.name for p in html_edition.select_notebooks(tmp_path, [])] == \
        ["00_a.ipynb", "04_b.ipynb", "07_c.ipynb"]
    assert [p.name for p in html_edition.select_notebooks(tmp_path, ["07", "00"])] == \
        ["00_a.ipynb", "07_c.ipynb"]
    with pytest.raises(ValueError, match="99"):
        html_edition.select_notebooks(tmp_path, ["99"])
    with pytest.raises(FileNotFoundError):
        html_edition.select_notebooks(tmp_path / "nowhere", [])


def test_static_widgets_keeps_the_picture_and_drops_the_view():
    png = base64.b64encode(b"\x89PNG fake").decode()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        html_edition.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "image/png": png, "text/plain": "VBox()"})]
    view_only = nbformat.v4.new_code_cell("v")
    view_only.outputs = [nbformat.v4.new_output("display_data", data={
        html_edition.WIDGET_VIEW: {"model_id": "def", "version_major": 2, "version_minor": 0}})]
    nb.cells = [cell, view_only]
    assert html_edition.static_widgets(nb) == 1
    data = cell.outputs[0]["data"]
    assert html_edition.WIDGET_VIEW not in data and png in data["text/html"]
    assert html_edition.WIDGET_VIEW in view_only.outputs[0]["data"]   # nothing to fall back to


def test_build_executes_and_embeds_figures(tmp_path):
    path = _notebook(tmp_path)
    out = tmp_path / "site"
    rows = html_edition.build([path], out, timeout=120, keep_notebooks=True, log=lambda _m: None)
    assert rows[0]["error"] is None and rows[0]["widgets"] == 1
    page = (out / "01_tiny.html").read_text()
    assert "42" in page                                    # the cell really ran
    assert "data:image/png;base64," in page                # the widget's picture is inline
    assert "application/vnd.jupyter.widget-view+json\">" not in page
    index = (out / "index.html").read_text()
    assert "01_tiny.html" in index and "A tiny chapter" in index
    executed = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert "application/vnd.jupyter.widget-state+json" in executed.metadata["widgets"]
    assert json.loads((out / "build.json").read_text())[0]["notebook"] == "01_tiny.ipynb"


def test_build_reports_a_failing_notebook(tmp_path):
    path = _notebook(tmp_path, cells=("raise RuntimeError('boom')",))
    rows = html_edition.build([path], tmp_path / "site", timeout=60, log=lambda _m: None)
    assert rows[0]["error"] is not None and "boom" in (tmp_path / "site" / "01_tiny.html").read_text()


def test_titles_lose_their_tex():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Intro\n# 03 · Learning $p_\\theta \\approx p^*$\n")]
    assert html_edition.title_of(nb, "fallback") == "03 · Learning pθ ≈ p*"
    assert html_edition.title_of(nbformat.v4.new_notebook(), "fallback") == "fallback"
