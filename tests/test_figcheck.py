"""Tests of the figure check for the nbval run (``vae_teach_tools.figcheck``): the counting rule
on cell sources, and the plugin in a real pytest + nbval run on tiny notebooks."""
import os
import subprocess
import sys

import nbformat
import pytest

from vae_teach_tools.figcheck import count_pictures, expected_figures


@pytest.mark.parametrize("source, n", [
    pytest.param("import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()", 1, id="one"),
    pytest.param("plt.show()\nplt.show()  # again\n# plt.show()", 2, id="comment-not-counted"),
    pytest.param("for i in range(3):\n    plt.plot([i])\n    plt.show()", 1, id="loop-once"),
    pytest.param("with plt.style.context('bmh'):\n    plt.show()", 1, id="with-block"),
    pytest.param("def draw():\n    plt.show()\ndraw()", 0, id="function-body"),
    pytest.param("if False:\n    plt.show()", 0, id="branch"),
    pytest.param("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.show()", 1,
                 id="magic-line"),
    pytest.param("import matplotlib\nmatplotlib.pyplot.show()\npyplot.show()", 2,
                 id="module-paths"),
    pytest.param("fig.show()\nwidget.show()\nprint('plt.show()')", 0, id="not-pyplot"),
    pytest.param("plt.show(", 0, id="syntax-error"),
])
def test_expected_figures(source, n):
    assert expected_figures(source) == n


def test_count_pictures():
    outputs = [{"output_type": "display_data", "data": {"image/png": "x", "text/plain": "F"}},
               {"output_type": "stream", "name": "stdout", "text": "image/png"},
               {"output_type": "execute_result", "data": {"text/plain": "1"}},
               {"output_type": "display_data", "data": {"image/svg+xml": "<svg/>"}}]
    assert count_pictures(outputs) == 2


GOOD = "import matplotlib.pyplot as plt\nfor i in range(2):\n    plt.plot([0, i])\n    plt.show()"
# switches the kernel to a backend that draws nothing on plt.show(), as MPLBACKEND=Agg would
SILENT = "plt.switch_backend('agg')\nplt.plot([0, 1])\nplt.show()"


def run_pytest(folder, *plugins, env_extra=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(GOOD), nbformat.v4.new_code_cell(SILENT)]
    nbformat.write(nb, folder / "figures.ipynb")
    env = dict(os.environ, **(env_extra or {}))
    args = [sys.executable, "-m", "pytest", "figures.ipynb", "--nbval-lax",
            "--nbval-current-env", "-p", "no:cacheprovider", "-p", "no:xdist",
            "--rootdir", str(folder), "-c", os.devnull, "-rf", *plugins]
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
def test_the_plugin_fails_a_cell_whose_figure_is_not_drawn(tmp_path):
    # MPLBACKEND=Agg in pytest's environment: the plugin keeps it from the kernel, so the first
    # cell's two plt.show() give two pictures and pass; the second cell shows nothing and fails
    code, output = run_pytest(tmp_path, "-p", "vae_teach_tools.figcheck",
                              env_extra={"MPLBACKEND": "Agg"})
    assert code == 1, output
    assert "1 failed, 1 passed" in output
    assert "cell 1 calls plt.show() 1 time(s) but its outputs hold 0 picture(s)" in output


@pytest.mark.slow
def test_without_the_plugin_nbval_alone_passes_the_silent_cell(tmp_path):
    # what the plugin adds: nbval on its own lets a figure that was never drawn pass
    code, output = run_pytest(tmp_path, env_extra={"MPLBACKEND": "Agg"})
    assert code == 0, output
    assert "2 passed" in output
