"""The reading edition (``python -m vae_teach_tools.html``, built by ``vae_teach_tools.site``):
chapter selection, alt texts, offline widgets, one real build of a small notebook, and the
course's chapters 04 and 07 with every figure on their pages."""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from vae_teach_tools import html as html_edition
from vae_teach_tools import offline_widgets, runner, site

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

FIGURE_CELL = """
import matplotlib.pyplot as plt
fig, (left, right) = plt.subplots(1, 2, figsize=(4, 2))
left.plot([0, 1], [0, 1]); left.set_title("a rising line")
right.plot([0, 1], [1, 0]); right.set_title(r"falling $\\theta$")
plt.show()
plt.plot([0, 1], [2, 2]); plt.xlabel("time t"); plt.ylabel("level")
plt.show()
"""
WIDGET_CELL = """
import ipywidgets as widgets
from vae_teach.plots import array_to_png
from vae_teach.widgets import CourseWidget
import numpy as np
w = CourseWidget({"level": widgets.FloatSlider(value=0.2, min=0, max=1, step=0.1),
                  "size": widgets.Dropdown(options=[4, 8], value=8)},
                 lambda level, size: (array_to_png(np.full((size, size), level)), f"level {level:.1f}"),
                 title="grey square")
w
"""


def _images(page: str) -> list[dict]:
    """The attributes of every <img> in ``page``."""
    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.append(dict(attrs))

    Parser().feed(page)
    return found


def _notebook(tmp_path, name="01_tiny.ipynb", cells=("x = 6 * 7\nprint(x)", FIGURE_CELL, WIDGET_CELL)):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 — A tiny chapter\n\nMath: $p_\\theta(x)$.")]
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


def test_widget_without_offline_pictures_keeps_its_still_and_says_so(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        site.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "image/png": "iVBORw0KGgo=", "text/plain": "VBox()"})]
    nb.cells = [cell]
    counts = site.prepare(nb, "a chapter", tmp_path / "frames")
    assert counts == {"images": 1, "offline_widgets": 0, "still_widgets": 1}
    data = cell.outputs[0]["data"]
    assert site.WIDGET_VIEW not in data and "iVBORw0KGgo=" in data["text/html"]
    assert "JupyterLab" in data["text/html"] and "alt='Still picture" in data["text/html"]


def test_control_steps_cover_each_kind_of_control():
    import ipywidgets as widgets
    from vae_teach.widgets import CourseWidget

    w = CourseWidget({"a": widgets.FloatSlider(value=0.33, min=-5, max=5, step=0.1),
                      "n": widgets.IntSlider(value=3, min=0, max=9),
                      "t": widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.5),
                      "m": widgets.Dropdown(options=[("one", 1), ("two", 2)], value=2)},
                     lambda a, n, t, m: b"png")
    values, labels, start = offline_widgets.control_steps(w, "a")
    assert len(values) == 12 and values[start] == pytest.approx(0.33)   # 11 positions + its own
    assert values[:2] == [-5, -4] and values[-1] == 5                   # every 10th step
    digits = CourseWidget({"d": widgets.IntSlider(value=5, min=0, max=1999)}, lambda d: b"png")
    values, _, start = offline_widgets.control_steps(digits, "d")
    assert len(values) == 18 and values[0] == 0 and values[-1] == 1999 and values[start] == 5
    assert offline_widgets.control_steps(w, "n") == (list(range(10)), [str(i) for i in range(10)], 3)
    values, _, start = offline_widgets.control_steps(w, "t")
    assert values == pytest.approx([0.1, 10 ** -0.5, 1, 10 ** 0.5, 10]) and start == 2
    assert offline_widgets.control_steps(w, "m") == ([1, 2], ["one", "two"], 1)
    keys = [key for key, _png, _text in offline_widgets.widget_frames(w)]
    assert len(keys) == len(set(keys)) == 1 + 11 + 9 + 4 + 1   # start + each control moved alone


def test_alt_text_from_figure_titles():
    from matplotlib.figure import Figure

    fig = Figure()
    fig.suptitle("Two views")
    fig.add_subplot(1, 2, 1).set_title(r"$q_\phi(z|x)$")
    ax = fig.add_subplot(1, 2, 2)
    ax.set_xlabel("z")
    ax.set_ylabel("density")
    described = offline_widgets.describe_figure(fig)
    assert described == r"Two views. 2 panels: $q_\phi(z|x)$; density against z"
    assert offline_widgets.tex_to_text(described) == "Two views. 2 panels: qφ(z|x); density against z"


def test_build_writes_an_offline_site(tmp_path):
    path = _notebook(tmp_path)
    out = tmp_path / "site"
    rows = html_edition.build([path], out, timeout=120, keep_notebooks=True, log=lambda _m: None)
    row = rows[0]
    assert row["error"] is None and row["images"] == 3 and row["offline_widgets"] == 1
    page = (out / "01_tiny.html").read_text()
    assert "42" in page                                    # the cell really ran
    images = _images(page)
    assert [i["alt"] for i in images[:2]] == ["2 panels: a rising line; falling θ",
                                              "level against time t"]
    assert images[2]["class"] == "vt-widget-image" and images[2]["src"].startswith("frames/")
    assert images[2]["alt"] == "grey square (level = 0.20, size = 8): level 0.2"
    frames = json.loads(re.search(r"<script[^>]*vt-frames[^>]*>(.*?)</script>", page).group(1))
    assert len(frames["frames"]) == 2 * 11 == len(list((out / "frames").glob("*.png")))  # full grid
    # nothing on the page comes from elsewhere
    assert not re.search(r"""(src|href)=["']https?://""", page.split("<nav", 1)[0])
    assert "mathjax" not in page.lower() and "require.js" not in page
    assert (out / "assets" / "katex" / "katex.min.js").is_file()
    assert re.search(r"href=.notation.html", page) and re.search(r"href=.index.html", page)
    assert "widget-state" not in page          # no widget manager, so no widget state either
    index = (out / "index.html").read_text()
    assert "01_tiny.html" in index and "A tiny chapter" in index
    executed = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3]
    assert json.loads((out / "build.json").read_text())[0]["notebook"] == "01_tiny.ipynb"


def test_build_reports_a_failing_notebook(tmp_path):
    path = _notebook(tmp_path, cells=("raise RuntimeError('boom')",))
    rows = html_edition.build([path], tmp_path / "site", timeout=60, log=lambda _m: None)
    assert "cell 1" in rows[0]["error"] and "boom" in (tmp_path / "site" / "01_tiny.html").read_text()


def test_damaged_katex_is_refused(tmp_path, monkeypatch):
    import shutil
    assets = tmp_path / "assets"
    shutil.copytree(site.ASSETS, assets)
    (assets / "katex" / "katex.min.js").write_text("damaged")
    monkeypatch.setattr(site, "ASSETS", assets)
    with pytest.raises(RuntimeError, match="SHA-256"):
        site.copy_assets(tmp_path / "out")


def test_titles_lose_their_tex():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Intro\n# 03 · Learning $p_\\theta \\approx p^*$\n")]
    assert html_edition.title_of(nb, "fallback") == "03 · Learning pθ ≈ p*"
    assert html_edition.title_of(nbformat.v4.new_notebook(), "fallback") == "fallback"


@pytest.mark.slow
def test_course_chapters_show_every_figure(tmp_path):
    """Chapters 04 and 07 as the reading edition builds them: every picture of the executed
    notebook is on the page (04 draws 7, 07 at least 10), each with an alt text."""
    notebooks = runner.select_notebooks(NOTEBOOKS, ["04", "07"])
    rows = site.build(notebooks, tmp_path, keep_notebooks=True, log=lambda _m: None)
    for row, minimum in zip(rows, (7, 10)):
        assert row["error"] is None, row
        executed = nbformat.read(tmp_path / row["notebook"], as_version=4)
        page = (tmp_path / row["page"]).read_text()
        images = _images(page)
        assert len(images) == site.count_images(executed) >= minimum, (row["page"], len(images))
        assert all(len(img.get("alt", "")) >= 8 for img in images), images
        assert row["offline_widgets"] >= 1
