"""A pytest plugin for the notebook run: every figure a cell asks for must be drawn.

CI runs each notebook once, cell by cell, with nbval.  This plugin (``-p vae_teach_tools.figcheck``)
adds two things to that run, without executing anything a second time:

* **The kernel starts as a student's does.**  nbval's kernel inherits the environment of pytest;
  ``MPLBACKEND`` is removed while the kernel starts, so ipykernel picks matplotlib's inline
  backend.  (With ``MPLBACKEND=Agg``, ``plt.show()`` silently draws nothing, and an error that
  only appears when a figure is drawn -- a bad mathtext label, a bad colormap argument -- would
  pass CI and crash in the student's JupyterLab.)
* **Each cell shows at least as many pictures as it calls ``plt.show()``.**  After nbval has
  run a cell, the pictures among its outputs are counted and compared with the ``plt.show()``
  calls in its source (see :func:`expected_figures`); fewer pictures fail the cell's test.
"""
from __future__ import annotations

import ast
import os
import re

import pytest

IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
_PYPLOT_NAMES = {"plt", "pyplot"}
# statements whose bodies run when the cell runs (a loop body at least once, we assume);
# function and class bodies, and branches of if/while/try, may not run: not counted
_RUNNING_BODIES = (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)


def _neutralize_magics(source: str) -> str:
    """Replace IPython lines (``%magic``, ``!shell``) by ``pass`` so that ``ast`` can parse."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[:len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


def _is_pyplot_show(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "show" and
            ((isinstance(node.func.value, ast.Name) and node.func.value.id in _PYPLOT_NAMES)
             or (isinstance(node.func.value, ast.Attribute)
                 and node.func.value.attr == "pyplot")))


def expected_figures(source: str) -> int:
    """How many pictures a cell must at least show: its ``plt.show()`` calls (also
    ``pyplot.show()``, ``matplotlib.pyplot.show()``) that run whenever the cell runs -- at the
    top level of the cell or in the body of a ``for`` or ``with`` block (counted once).  Calls
    inside functions, classes, ``if``/``while``/``try`` are not counted.  A cell that cannot be
    parsed counts 0 (nbval reports its error)."""
    if re.search(r"\bshow\s*\(", source) is None:
        return 0
    try:
        tree = ast.parse(_neutralize_magics(source))
    except SyntaxError:
        return 0

    def count(statements) -> int:
        total = 0
        for statement in statements:
            if isinstance(statement, ast.Expr) and _is_pyplot_show(statement.value):
                total += 1
            elif isinstance(statement, _RUNNING_BODIES):
                total += count(statement.body)
        return total

    return count(tree.body)


def count_pictures(outputs) -> int:
    """Pictures among a cell's outputs."""
    return sum(1 for output in outputs
               if any(mime in (output.get("data") or {}) for mime in IMAGE_MIMES))


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """nbval starts a notebook's kernel while setting up its first cell: without MPLBACKEND."""
    if not _is_nbval_cell(item):
        return (yield)
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        return (yield)
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After nbval has run a cell without error: compare its pictures with its plt.show()s."""
    result = yield
    if _is_nbval_cell(item):
        wanted = expected_figures(item.cell.source)
        shown = count_pictures(getattr(item, "test_outputs", None) or [])
        if shown < wanted:
            pytest.fail(f"cell {getattr(item, 'cell_num', '?')} calls plt.show() {wanted} "
                        f"time(s) but its outputs hold {shown} picture(s).  Is a non-inline "
                        f"backend selected (MPLBACKEND, matplotlib.use) in the kernel, or is a "
                        f"figure closed before it is shown?", pytrace=False)
    return result
