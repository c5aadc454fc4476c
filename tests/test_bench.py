"""Tests of the benchmark's helpers (``vae_teach_tools.bench``) on tiny inputs, and of the training
features the benchmark tunes (``fit``'s time limit, "auto" dynamic binarization, fused Adam).

No test asserts a speed: timings belong in ``python -m vae_teach_tools.bench``.
"""
import json
import math
import os
import sys

import ipywidgets as widgets
import nbformat
import psutil
import pytest
import torch

from vae_teach_tools import bench, runner
from vae_teach.data import load_mnist
from vae_teach.distributions import bernoulli_log_likelihood, gaussian_kl
from vae_teach.models import BernoulliVAE
from vae_teach_tools.budget import fit_for_seconds
from vae_teach.train import fit
from vae_teach.widgets import CourseWidget


@pytest.fixture(scope="module")
def data():
    x_binary, _ = load_mnist("train", "fixed")
    x_grey, _ = load_mnist("train", None)
    x_test, _ = load_mnist("test", "fixed")
    return x_binary[:512], x_grey[:512], x_test[:200]


# ------------------------------------------------------------------------------ small helpers

def test_parse_budgets():
    assert bench.parse_budgets("10,30,60") == (10.0, 30.0, 60.0)
    assert bench.parse_budgets(" 0.5, 2 ,") == (0.5, 2.0)
    for bad in ["", ",", "10,abc", "0", "-5", "nan", "inf"]:
        with pytest.raises(ValueError, match="budgets"):
            bench.parse_budgets(bad)
    with pytest.raises(TypeError, match="budgets"):
        bench.parse_budgets([10, 30])


def test_flops_count_the_linear_weights():
    # 784-400-20: encoder 784*400 + 400*40, decoder 20*400 + 400*784 weights
    weights = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784
    assert weights == 651_200
    assert bench.linear_weight_count(BernoulliVAE(hidden_dim=400, latent_dim=20)) == weights
    # the reference's two heads hold the same weights as BernoulliVAE's one 400 -> 40 layer
    assert bench.linear_weight_count(bench.ReferenceVAE()) == weights
    assert bench.training_flops_per_image(bench.ReferenceVAE()) == 6 * weights
    # biases are not counted: the count is independent of them
    params = sum(p.numel() for p in bench.ReferenceVAE().parameters())
    assert params == weights + 400 + 20 + 20 + 400 + 784


def test_percentiles_match_numpy_and_reject_empty():
    values = list(range(1, 101))
    result = bench.percentiles(values)
    assert result == {"p50": pytest.approx(50.5), "p95": pytest.approx(95.05)}
    with pytest.raises(ValueError, match="empty"):
        bench.percentiles([])


def test_machine_info_names_what_matters():
    info = bench.machine_info()
    assert info["nproc"] >= 1 and info["torch_threads"] >= 1
    assert info["torch"] == torch.__version__ and info["cpu_model"]


# ------------------------------------------------------------------------ reference recipe

def test_reference_loss_is_the_summed_negative_elbo():
    torch.manual_seed(0)
    logits = torch.randn(5, 784)
    x = torch.bernoulli(torch.full((5, 784), 0.3))
    mu, logvar = torch.randn(5, 20), torch.randn(5, 20)
    expected = -(bernoulli_log_likelihood(logits, x) - gaussian_kl(mu, logvar)).sum()
    got = bench.reference_loss(torch.sigmoid(logits), x, mu, logvar)
    assert got.item() == pytest.approx(expected.item(), rel=1e-4)


def test_reference_model_has_the_example_shape_and_scores_like_bernoulli_vae(data):
    _, _, x_test = data
    model = bench.ReferenceVAE()
    assert (model.hidden.in_features, model.hidden.out_features) == (784, 400)
    assert model.mean_head.out_features == model.logvar_head.out_features == 20
    loss = bench.test_minus_elbo(model, x_test)
    assert 500 < loss < 600                                  # ~ 784 log 2 = 543 at init


def test_train_reference_learns_and_stops(data):
    x_binary, _, x_test = data
    torch.manual_seed(0)
    model = bench.ReferenceVAE(hidden_dim=64, latent_dim=4)
    before = bench.test_minus_elbo(model, x_test)
    result = bench.train_reference(model, x_binary, None, max_steps=40)
    assert result["steps"] == 40
    assert result["images"] == 40 * 128                      # 512 images = 4 full batches
    assert result["epochs_started"] == 10
    after = bench.test_minus_elbo(model, x_test)
    assert after < before - 150                              # ~545 -> ~250 nats
    assert not model.training
    stopped = bench.train_reference(bench.ReferenceVAE(hidden_dim=8, latent_dim=2), x_binary, 0.05)
    assert stopped["seconds"] >= 0.05 and stopped["steps"] >= 1
    with pytest.raises(ValueError, match="max_seconds"):
        bench.train_reference(model, x_binary, 0.0)
    with pytest.raises(ValueError, match="max_steps"):
        bench.train_reference(model, x_binary, None)


def test_test_minus_elbo_is_reproducible_and_leaves_the_rng_alone(data):
    _, _, x_test = data
    torch.manual_seed(3)
    model = BernoulliVAE(hidden_dim=16, latent_dim=2)
    state = torch.random.get_rng_state()
    first = bench.test_minus_elbo(model, x_test)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert bench.test_minus_elbo(model, x_test) == first


def test_default_recipe_arguments_are_read_from_the_code():
    fit_defaults = bench.default_fit_arguments()
    assert fit_defaults["batch_size"] == 64 and fit_defaults["lr"] == pytest.approx(3e-3)
    assert fit_defaults["lr_schedule"] == "cosine"
    assert fit_defaults["dynamic_binarization"] == "auto"
    assert bench.default_model_arguments()["hidden_dim"] == BernoulliVAE().hidden_dim


# ------------------------------------------------------------------ fit features the bench tunes

def test_fit_stops_mid_budget_when_time_is_up(data):
    x_binary, _, _ = data
    torch.manual_seed(0)
    model = BernoulliVAE(hidden_dim=16, latent_dim=2)
    history = fit_for_seconds(model, x_binary[:256], 0.2, epochs=100_000, progress=False)
    assert history.stopped_early
    assert history.seconds[-1] >= 0.2
    assert len(history.epoch) < 100_000
    assert history.images_seen <= len(history.epoch) * 256


def test_auto_binarization_redraws_grey_levels_only(data, recwarn):
    x_binary, x_grey, _ = data

    def losses(x, **kwargs):
        torch.manual_seed(0)
        model = BernoulliVAE(hidden_dim=16, latent_dim=2)
        return fit(model, x[:256], epochs=2, progress=False, seed=5, **kwargs).train_loss

    # grey levels: "auto" is dynamic binarization ...
    assert losses(x_grey) == losses(x_grey, dynamic_binarization=True)
    assert losses(x_grey) != losses(x_grey, dynamic_binarization=False)
    # ... binary images: "auto" trains on them as they are, with no warning
    assert losses(x_binary) == losses(x_binary, dynamic_binarization=False)
    assert not [w for w in recwarn if "dynamic_binarization" in str(w.message)]
    with pytest.raises(TypeError, match="dynamic_binarization"):
        losses(x_binary, dynamic_binarization="yes")


def test_fused_adam_is_the_same_update_rule(data):
    x_binary, _, _ = data

    def run(fused):
        torch.manual_seed(0)
        model = BernoulliVAE(hidden_dim=32, latent_dim=4)
        history = fit_for_seconds(model, x_binary[:256], None, epochs=3, progress=False,
                                  fused_adam=fused)
        return history.train_loss, model

    fused_losses, fused_model = run(True)
    loop_losses, loop_model = run(False)
    assert fused_losses == pytest.approx(loop_losses, rel=1e-3)
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        assert torch.allclose(a, b, atol=1e-3)
    with pytest.raises(TypeError, match="fused_adam"):
        fit_for_seconds(fused_model, x_binary[:64], None, epochs=1, progress=False, fused_adam=1)


# ---------------------------------------------------------------------------------- widgets

def test_control_values_move_every_kind_of_control():
    slider = widgets.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.1)
    values = bench.control_values(slider, 20)
    assert len(values) == 20 and all(-2.0 <= v <= 2.0 for v in values)
    assert not math.isclose(values[0], 0.0) and len(set(values)) > 10
    int_slider = widgets.IntSlider(value=3, min=0, max=5)
    values = bench.control_values(int_slider, 12)
    assert values[0] != 3 and set(values) <= set(range(6)) and len(set(values)) == 6
    assert all(abs(a - b) == 1 for a, b in zip(values, values[1:]))   # a sweep up and down
    dropdown = widgets.Dropdown(options=[("one", 1), ("two", 2), ("three", 3)], value=1)
    assert bench.control_values(dropdown, 4) == [2, 3, 1, 2]
    selection = widgets.SelectionSlider(options=["a", "b"], value="a")
    assert bench.control_values(selection, 3) == ["b", "a", "b"]
    checkbox = widgets.Checkbox(value=False)
    assert bench.control_values(checkbox, 3) == [True, False, True]
    assert bench.control_values(widgets.Text(value="hi"), 5) == []
    assert bench.control_values(widgets.Dropdown(options=["only"]), 5) == []
    with pytest.raises(ValueError, match="n"):
        bench.control_values(slider, 0)


def _toy_widget():
    def render(a, b):
        return f"{a:.3f}-{b}".encode()

    return CourseWidget({"a": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01,
                                                  description="a"),
                         "b": widgets.Dropdown(options=["x", "y", "z"], value="x",
                                               description="b")}, render)


def test_time_widget_updates_renders_once_per_update():
    widget = _toy_widget()
    result = bench.time_widget_updates(widget, 21)
    assert result["n_updates"] == 21 and result["renders"] == 21
    assert result["controls"] == ["a", "b"]
    assert 0 <= result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]
    with pytest.raises(ValueError, match="n_updates"):
        bench.time_widget_updates(widget, 0)


def test_bench_widgets_reports_a_broken_module_instead_of_crashing(tmp_path):
    (tmp_path / "no_such_widget_module_xyz.py").write_text("# not importable as vae_teach.widgets.*\n")
    (tmp_path / "_private.py").write_text("")
    rows = bench.bench_widgets(tmp_path, n_updates=3, log=lambda message: None)
    assert [r["module"] for r in rows] == ["no_such_widget_module_xyz"]
    assert rows[0]["status"] == "import failed" and "ModuleNotFoundError" in rows[0]["error"]


def test_widget_builders_are_found_by_their_return_type():
    import types

    module = types.ModuleType("fake_widgets")

    def good_explorer() -> "CourseWidget":
        return _toy_widget()

    def helper(x):
        return x

    for function in (good_explorer, helper):
        function.__module__ = "fake_widgets"
        setattr(module, function.__name__, function)
    assert [name for name, _ in bench._widget_builders(module)] == ["good_explorer"]
    widget = bench._call_builder(good_explorer, module, {})
    assert isinstance(widget, CourseWidget)

    def needs_unknown(something) -> "CourseWidget":
        return _toy_widget()

    assert bench._call_builder(needs_unknown, module, {}) is None


# -------------------------------------------------------------------------------- notebooks

def _write_notebook(path, source):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)


# Shows one figure per file already in the model cache, plus one: 1 picture from an empty cache
# (cold), 2 when the cold run's file is still there (warm, same cache).  Holds ~60 MB.
COUNTING_NOTEBOOK = """\
import os, pathlib
import numpy as np
import matplotlib.pyplot as plt
cache = pathlib.Path(os.environ['VAE_TEACH_CACHE'])
assert 'vae_teach_bench_cache_' in cache.name
n = len(list(cache.iterdir()))
(cache / f'run{n}').write_text('')
block = np.ones(60 * 2**20 // 8)
for i in range(n + 1):
    plt.plot([0, i])
    plt.show()
"""


@pytest.mark.slow
def test_notebook_part_cold_warm_memory_and_kernels_left_open(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAE_TEACH_CACHE", "/should/not/be/used")
    monkeypatch.setenv("MPLBACKEND", "Agg")                  # the runner must not pass it on
    _write_notebook(tmp_path / "01_ok.ipynb", COUNTING_NOTEBOOK)
    _write_notebook(tmp_path / "02_fails.ipynb", "raise RuntimeError('broken on purpose')")
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    results = bench.main(["--only-notebooks", "--notebooks", str(tmp_path), "--open-kernels",
                          "01,02", "--out", str(tmp_path / "b.json"),
                          "--keep-notebooks", str(tmp_path / "executed")])
    assert "recipes" not in results and "widgets" not in results
    part = results["notebooks"]
    rows = {row["notebook"]: row for row in part["notebooks"]}
    ok, fails = rows["01_ok.ipynb"], rows["02_fails.ipynb"]
    assert ok["cold"]["status"] == ok["warm"]["status"] == "ok", ok["cold"]["error"]
    assert (ok["cold"]["images"], ok["warm"]["images"]) == (1, 2)   # empty cache, then shared
    assert ok["cold"]["peak_rss_mb"] > 60 and ok["cold"]["heaviest_cell"] == 0
    if sys.platform.startswith("linux"):
        assert 20 < ok["cold"]["peak_anon_mb"] < ok["cold"]["peak_rss_mb"]
    assert ok["cold"]["cpu_s"] > 0
    assert fails["cold"]["status"] == "failed" and "warm" not in fails
    assert "broken on purpose" in fails["cold"]["error"]
    assert part["n_failed"] == 1
    assert part["total_cold_s"] == pytest.approx(ok["cold"]["wall_s"] + fails["cold"]["wall_s"])
    assert part["max_peak_rss_mb"] == max(ok["cold"]["peak_rss_mb"], fails["cold"]["peak_rss_mb"])
    assert [c["cell"] for c in ok["cold"]["cells"]] == [0]          # per-cell memory is kept
    kept = {p.name: nbformat.read(p, as_version=4) for p in (tmp_path / "executed").iterdir()}
    assert set(kept) == {"01_ok.ipynb", "02_fails.ipynb"}             # the cold runs, executed
    assert runner.count_images(kept["01_ok.ipynb"]) == 1
    partial = json.loads((tmp_path / "b.partial.json").read_text())  # saved after each notebook
    assert [r["notebook"] for r in partial["notebooks_so_far"]] == ["01_ok.ipynb", "02_fails.ipynb"]
    # two kernels kept open one after the other (a failing notebook's too), then shut down
    steps = results["open_kernels"]["steps"]
    assert [list(step["kernels"]) for step in steps] == [["01_ok.ipynb"],
                                                         ["01_ok.ipynb", "02_fails.ipynb"]]
    assert steps[1]["total"]["rss_mb"] > steps[0]["total"]["rss_mb"] > 60
    alive = [p for p in psutil.Process().children(recursive=True)
             if p.pid not in children_before and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert os.environ["VAE_TEACH_CACHE"] == "/should/not/be/used"
    printed = capsys.readouterr().out
    assert "| 01_ok.ipynb |" in printed and "peak RSS cold (MB)" in printed
    assert "RSS total (MB)" in printed


def test_notebook_tables_show_every_row():
    run = {"status": "ok", "wall_s": 12.0, "cpu_s": 20.0, "peak_rss_mb": 512.4,
           "peak_anon_mb": 371.2, "end_rss_mb": 400.0, "images": 3, "heaviest_cell": 7, "error": None}
    part = {"notebooks": [{"notebook": "07_x.ipynb", "cold": run, "warm": dict(run, wall_s=5.0)},
                          {"notebook": "08_y.ipynb",
                           "cold": dict(run, status="failed", error="cell 2: ValueError: no")}],
            "total_cold_s": 24.0, "total_warm_s": 5.0, "max_peak_rss_mb": 512.4, "n_failed": 1}
    lines = bench.format_notebook_table(part)
    assert lines[2] == "| 07_x.ipynb | 12.0 | 5.0 | 512 | 512 | 371 | 7 | 3 | ok |"
    assert lines[3].startswith("| 08_y.ipynb | 12.0 |  | 512 |  | 371 | 7 | 3 | failed: cell 2")
    assert lines[-1] == "| **all** | 24.0 | 5.0 | max 512 | | max 371 | | | 1 failed |"
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    kernels = {"steps": [{"kernels": {"00.ipynb": {}}, "total": {"rss_mb": 300.0}},
                         {"kernels": {"00.ipynb": {}, "04.ipynb": {}},
                          "total": {"rss_mb": 700.0, "pss_mb": 500.0, "uss_mb": 450.0}}]}
    assert bench.format_open_kernels(kernels)[2:] == ["| 00.ipynb | 300 |  |  |",
                                                       "| 00.ipynb, 04.ipynb | 700 | 500 | 450 |"]


def test_select_notebooks_by_prefix(tmp_path):
    for name in ("00_a.ipynb", "04_b.ipynb", "07_c.ipynb"):
        _write_notebook(tmp_path / name, "pass")
    assert [p.name for p in bench.select_notebooks(tmp_path, [])] == \
        ["00_a.ipynb", "04_b.ipynb", "07_c.ipynb"]
    assert [p.name for p in bench.select_notebooks(tmp_path, ["07", "00"])] == \
        ["00_a.ipynb", "07_c.ipynb"]
    with pytest.raises(ValueError, match="starts with 12"):
        bench.select_notebooks(tmp_path, ["12"])
    with pytest.raises(FileNotFoundError, match="no notebooks"):
        bench.select_notebooks(tmp_path / "empty", [])


def test_bench_does_not_import_posix_only_modules_at_top_level():
    """``resource`` exists only on POSIX; the course also runs on Windows."""
    import ast
    import inspect as inspect_module

    tree = ast.parse(inspect_module.getsource(bench))
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert "psutil" in top_level                       # the parse found the imports
    assert not top_level & {"resource", "fcntl", "termios", "pwd", "grp"}


# ------------------------------------------------------------------------------- smoke run

@pytest.mark.slow
def test_quick_run_writes_json_and_a_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--quick", "--skip-notebooks", "--skip-widgets", "--threads", "1",
                          "--no-progress", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert [row["budget_s"] for row in saved["recipes"]] == [0.5, 1.0]
    for row in saved["recipes"]:
        for recipe in ("reference", "default"):
            assert 0 < row[recipe]["test_minus_elbo"] < 800
            assert row[recipe]["images_per_s"] > 0
        assert row["gain_nats"] == pytest.approx(row["reference"]["test_minus_elbo"]
                                                 - row["default"]["test_minus_elbo"])
    assert saved["flops"]["matmul"]["best_gflops"] > 0
    assert saved["iwae"]["k"] == 10
    # IWAE_k >= ELBO holds per image in expectation; on 200 images the mean gap is clearly > 0
    assert saved["iwae"]["minus_iwae_nats"] < saved["iwae"]["minus_elbo_nats"]
    assert saved["machine"]["torch_threads"] == 1
    assert results["speed_race"]["median_ratio"] > 0
    printed = capsys.readouterr().out
    assert "| budget |" in printed and "GFLOP/s" in printed


def test_cpu_clock_is_restored_and_needs_one_thread():
    import time

    wall_clock = time.perf_counter
    with bench._clock(True):
        assert time.perf_counter is time.process_time
    assert time.perf_counter is wall_clock
    with pytest.raises(RuntimeError), bench._clock(True):
        raise RuntimeError("restored even when the block fails")
    assert time.perf_counter is wall_clock
    threads = torch.get_num_threads()
    with pytest.raises(SystemExit, match="threads 1"):
        bench.main(["--quick", "--cpu-clock", "--threads", "2", "--out", "/nonexistent/x.json"])
    assert torch.get_num_threads() == threads


def test_ablation_changes_one_thing_and_compares_with_the_default(data):
    x_binary, x_grey, x_test = data
    only = ["batch 128 (reference)", "1 torch thread"]
    threads = torch.get_num_threads()
    rows = bench.ablation(0.3, x_grey, x_binary, x_test, only=only, log=lambda _m: None)
    assert [r["change"] for r in rows] == ["default recipe"] + only
    assert torch.get_num_threads() == threads                 # the thread change is undone
    assert all(r["status"] == "ok" for r in rows)
    assert rows[0]["vs_default_nats"] == 0.0
    for row in rows[1:]:
        assert math.isclose(row["vs_default_nats"],
                            row["test_minus_elbo"] - rows[0]["test_minus_elbo"])
    table = bench.format_report({"machine": bench.machine_info(), "ablation": rows,
                                 "ablation_budget_s": 0.3})
    assert "| batch 128 (reference) |" in table and "0.3 s each" in table
    names = [name for name, *_ in bench.ABLATIONS]
    assert len(set(names)) == len(names) and names[0] == "default recipe"


def test_repeated_recipes_give_one_row_per_seed_and_a_median(data, tmp_path):
    x_binary, x_grey, x_test = data
    rows, model = bench.compare_recipes((0.2,), x_grey, x_binary, x_test, repeats=3,
                                        progress=False, log=lambda _m: None)
    assert [(r["budget_s"], r["seed"]) for r in rows] == [(0.2, 0), (0.2, 1), (0.2, 2)]
    gains = bench.median_gains(rows)[0.2]
    values = sorted(r["gain_nats"] for r in rows)
    assert gains["n_seeds"] == 3 and gains["median_gain_nats"] == values[1]
    assert gains["min_gain_nats"] == values[0] and gains["max_gain_nats"] == values[2]
    with pytest.raises(ValueError, match="repeats"):
        bench.compare_recipes((0.2,), x_grey, x_binary, x_test, repeats=0)
    out = tmp_path / "b.json"
    results = bench.main(["--quick", "--repeats", "2", "--skip-speed", "--skip-notebooks",
                          "--skip-widgets", "--no-progress", "--out", str(out)])
    assert "speed_race" not in results and len(results["recipes"]) == 2 * len(results["budgets_s"])
    assert "median gain" in bench.format_report(results)
    assert json.loads(out.read_text())["repeats"] == 2
