"""Tests of the course's notebook runner (``vae_teach_tools.runner``) on tiny notebooks made in
a temporary folder.  Each kernel start costs a few seconds, so each run checks several things."""
import os
import sys
import time

import nbformat
import psutil
import pytest

from vae_teach_tools import runner


def make_notebook(folder, name, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a tiny notebook")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    path = folder / name
    nbformat.write(nb, path)
    return path


ALLOCATE_MB = 200


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """One run of a notebook that draws three figures and allocates ~200 MB, started from an
    environment with MPLBACKEND=Agg (which the runner must not pass on)."""
    folder = tmp_path_factory.mktemp("where_the_notebook_lives")
    path = make_notebook(
        folder, "figures.ipynb",
        "import os\nimport matplotlib\nimport matplotlib.pyplot as plt\n"
        "print(os.getcwd())\nprint(matplotlib.get_backend())\n"
        "print(os.environ.get('VAE_TEACH_RUNNER_TEST'))",
        "for i in range(3):\n    plt.plot([0, 1], [0, i])\n    plt.show()",
        f"import numpy as np\nimport time\nblock = np.ones({ALLOCATE_MB} * 2**20 // 8)  # touched: resident\n"
        "time.sleep(0.5)  # held for ten polls\nprint(block.nbytes)\ndel block",
        "print('last cell')")
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        result = runner.execute_notebook(path, env={"VAE_TEACH_RUNNER_TEST": "passed"},
                                         timeout=120)
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND")
        else:
            os.environ["MPLBACKEND"] = saved
    return folder, result


def stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def test_three_shows_give_three_pictures_with_the_inline_backend(clean_run):
    folder, result = clean_run
    assert result.ok and result.errors == []
    assert result.n_images == 3
    figure_cell = result.notebook.cells[2]
    assert sum("image/png" in o.get("data", {}) for o in figure_cell.outputs) == 3
    lines = stdout(result.notebook.cells[1]).splitlines()
    assert lines[0] == str(folder.resolve())              # cwd = the notebook's folder
    assert "inline" in lines[1]                            # not Agg, although we had it set
    assert lines[2] == "passed"                            # extra env reaches the kernel
    assert stdout(result.notebook.cells[4]) == "last cell\n"


def test_peak_memory_sees_a_short_lived_allocation(clean_run):
    _, result = clean_run
    allocated = ALLOCATE_MB * 2**20
    assert result.peak_rss_bytes > allocated
    by_cell = {record.cell: record for record in result.cells}
    assert sorted(by_cell) == [1, 2, 3, 4]                  # code cells only, by notebook index
    alloc = by_cell[3]
    # the cell's peak holds the block; once it is deleted the RSS falls back
    assert alloc.peak_rss_bytes - alloc.end_rss_bytes > 0.8 * allocated
    assert by_cell[1].peak_rss_bytes < result.peak_rss_bytes - 0.8 * allocated
    assert result.seconds >= sum(record.seconds for record in result.cells)
    if sys.platform.startswith("linux"):       # the block is the kernel's own (anonymous) memory
        assert allocated < result.peak_anon_bytes < result.peak_rss_bytes
    assert result.rss_bytes() is None                       # the kernel has been shut down
    assert not psutil.pid_exists(result.kernel_pid) or \
        psutil.Process(result.kernel_pid).status() == psutil.STATUS_ZOMBIE


def test_a_failing_cell_stops_the_run_and_is_reported(tmp_path):
    path = make_notebook(tmp_path, "fails.ipynb", "x = 1", "raise ValueError('bad x')",
                         "print('not reached')")
    result = runner.execute_notebook(path, timeout=60)
    assert not result.ok
    assert result.errors == [runner.CellError(2, "ValueError", "bad x")]
    assert str(result.errors[0]) == "cell 2: ValueError: bad x"
    assert result.notebook.cells[3].outputs == []           # like Run All: stops there
    with pytest.raises(RuntimeError, match="cell 2: ValueError: bad x"):
        result.raise_for_errors()


def test_allow_errors_runs_on_and_a_kept_kernel_stays_alive(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in
                ["1 / 0", "import numpy as np\nkept = np.ones(100 * 2**20 // 8)",
                 "undefined_name",
                 "import time\nt0 = time.process_time()\nwhile time.process_time() - t0 < 1:\n"
                 "    pass"]]
    result = runner.execute_notebook(nb, cwd=tmp_path, allow_errors=True, keep_kernel=True,
                                     timeout=60)
    try:
        assert [(e.cell, e.ename) for e in result.errors] == [(0, "ZeroDivisionError"),
                                                              (2, "NameError")]
        assert result.notebook is nb
        now = result.rss_bytes()
        assert now is not None and now > 100 * 2**20        # the array is still held
        assert psutil.pid_exists(result.kernel_pid)
        assert result.cpu_seconds >= 1.0                     # the last cell's busy second
    finally:
        result.shutdown()
    assert result.rss_bytes() is None
    deadline = time.monotonic() + 10
    while psutil.pid_exists(result.kernel_pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(result.kernel_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        assert not psutil.pid_exists(result.kernel_pid)


def test_a_cell_over_the_timeout_is_an_error(tmp_path):
    path = make_notebook(tmp_path, "slow.ipynb", "import time\ntime.sleep(60)")
    result = runner.execute_notebook(path, timeout=3)
    assert not result.ok
    assert result.errors == [runner.CellError(1, "CellTimeoutError", "the cell ran longer than "
                                              "the timeout of 3 s and was interrupted")]
    assert result.seconds < 45


def test_count_images_counts_picture_outputs_only():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<F>"}),
        nbformat.v4.new_output("execute_result", data={"image/svg+xml": "<svg/>"},
                               execution_count=1),
        nbformat.v4.new_output("display_data", data={"text/plain": "no picture"}),
        nbformat.v4.new_output("stream", name="stdout", text="image/png"),
    ]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("![x](image.png)")]
    assert runner.count_images(nb) == 2


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="notebook"):
        runner.execute_notebook(42)
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        runner.execute_notebook(tmp_path / "missing.ipynb")
    path = make_notebook(tmp_path, "ok.ipynb", "pass")
    with pytest.raises(ValueError, match="timeout"):
        runner.execute_notebook(path, timeout=0)
    with pytest.raises(ValueError, match="cwd"):
        runner.execute_notebook(path, cwd=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="poll_interval"):
        runner.execute_notebook(path, poll_interval=0)
    with pytest.raises(TypeError, match="env"):
        runner.execute_notebook(path, env={"VAE_TEACH_CACHE": tmp_path})


def test_kernel_environment_drops_mplbackend_unless_asked(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert "MPLBACKEND" not in runner.kernel_environment()
    assert runner.kernel_environment({"MPLBACKEND": "svg"})["MPLBACKEND"] == "svg"
