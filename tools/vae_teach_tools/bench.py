"""The course's benchmark: ``python -m vae_teach_tools.bench``.  Its results, and how to read
them, are in ``docs/benchmark.md``.

One run measures, on this machine and on the fixed-binarized test split
(``load_mnist("test", "fixed")``):

(a) **recipes**: the *reference recipe* (the pytorch/examples VAE: 784-400-20 MLP, ReLU, Adam
    lr 1e-3, batch 128, a ``DataLoader`` over a ``TensorDataset`` with ``shuffle=True``,
    constant learning rate, summed BCE + KL) against the *course's default recipe*
    (``BernoulliVAE()`` trained by ``fit`` with its default arguments), each trained for the
    same wall-clock budgets; test -ELBO and images/s.  Both train on the fixed-binarized training
    split (grey levels for the default recipe if its ``dynamic_binarization`` default is on), so
    the test split is scored under the same likelihood the models were trained for.  A separate,
    interleaved speed race trains the reference architecture and hyper-parameters with ``fit``
    and with the reference loop, to measure what ``fit``'s loop costs.
(b) **FLOP rate**: the matmul FLOPs of training (forward + backward ~ 6 x the weights of the
    Linear layers per image) per second, against a large float32 matrix product measured in
    the same run.
(c) **IWAE_k** (k = 1000) of the trained default model on all test images, and its cost.
(d) **notebooks**: each ``notebooks/*.ipynb`` run by the course's runner
    (``vae_teach_tools.runner``: a fresh kernel, inline backend, every figure drawn) with an
    empty model cache ("cold"), then again with the cache that run filled ("warm"): wall and
    CPU seconds and the kernel's peak RSS; then the memory of several kernels left open one
    after the other, as JupyterLab keeps them (``--open-kernels``).
(e) **widgets**: for every module in ``vae_teach/widgets/``, the median and 95th percentile of
    ``w.set(...)`` (one re-render) over at least 20 updates, no browser involved.
(f) **ablation** (only with ``--ablation``): the default recipe with one change at a time.

Run ``python -m vae_teach_tools.bench --help`` for the flags; ``--only-notebooks`` runs part (d)
alone.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import numpy as np
import psutil
import torch
import torch.nn.functional as F
from torch import nn

from vae_teach import train as train_module
from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import iwae_bound
from vae_teach_tools import runner
from vae_teach_tools.budget import fit_for_seconds
from vae_teach_tools.runner import select_notebooks

# the installed course's widget modules (found without importing them)
WIDGET_DIR = Path(importlib.util.find_spec("vae_teach.widgets").origin).resolve().parent
DEFAULT_OUT = Path("bench_results") / "bench.json"
DEFAULT_BUDGETS = (10.0, 30.0, 60.0)


# ------------------------------------------------------------------------------------ helpers

def parse_budgets(text: str) -> tuple[float, ...]:
    """``"10,30,60"`` -> ``(10.0, 30.0, 60.0)``; each budget must be a positive number of seconds."""
    if not isinstance(text, str):
        raise TypeError(f"budgets must be a string like '10,30,60', got {type(text).__name__}")
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("budgets must list at least one number of seconds, e.g. '10,30,60'")
    budgets = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"budgets must be numbers of seconds separated by commas; "
                             f"got {part!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"budgets must be positive and finite, got {part!r}")
        budgets.append(value)
    return tuple(budgets)


def linear_weight_count(model: nn.Module) -> int:
    """Number of weights (not biases) in the model's ``nn.Linear`` layers."""
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def training_flops_per_image(model: nn.Module) -> int:
    """Matmul FLOPs to train on one image: 2 per weight forward, 4 backward (the gradients with
    respect to the layer input and to the weights) = 6 x the Linear weights.  Bias additions,
    activations and the loss are not counted (they are O(width), not O(width^2))."""
    return 6 * linear_weight_count(model)


def percentiles(values, qs=(50, 95)) -> dict:
    """``{"p50": ..., "p95": ...}`` of ``values`` (linear interpolation, like numpy)."""
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        raise ValueError("values is empty; need at least one measurement")
    return {f"p{q:g}": float(np.percentile(values, q)) for q in qs}


def machine_info() -> dict:
    """What the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {"cpu_model": model, "nproc": usable, "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not available everywhere
        return None


def _process_cpu_seconds() -> float:
    return time.process_time()


# ----------------------------------------------------------------------- (a) reference recipe

class ReferenceVAE(nn.Module):
    """The reference model: the pytorch/examples VAE's shape, 784-400-20 with ReLU.

    ``encode`` gives (mu, logvar) from two heads on one hidden layer; ``decoder(z)`` gives the
    logits (the reference loop applies the sigmoid itself, as the example does), so the model
    can be scored by ``vae_teach.train.evaluate`` exactly like ``BernoulliVAE``.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20):
        super().__init__()
        self.input_dim, self.hidden_dim, self.latent_dim = input_dim, hidden_dim, latent_dim
        self.hidden = nn.Linear(input_dim, hidden_dim)
        self.mean_head = nn.Linear(hidden_dim, latent_dim)
        self.logvar_head = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(),
                                     nn.Linear(hidden_dim, input_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.hidden(x))
        return self.mean_head(h), self.logvar_head(h)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return torch.sigmoid(self.decoder(z)), mu, logvar


def reference_loss(pixel_probs: torch.Tensor, x: torch.Tensor, mu: torch.Tensor,
                   logvar: torch.Tensor) -> torch.Tensor:
    """The reference's loss: binary cross-entropy summed over pixels and the batch, plus the
    Gaussian KL summed the same way (so it is the batch's -ELBO, not its mean)."""
    bce = F.binary_cross_entropy(pixel_probs, x, reduction="sum")
    kl = 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1.0)
    return bce + kl


def train_reference(model: ReferenceVAE, x_train: torch.Tensor, max_seconds: float | None, *,
                    batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                    max_steps: int | None = None) -> dict:
    """The reference training loop for ``max_seconds`` of wall time (checked after each step),
    or ``max_steps`` optimizer steps (for tests), whichever comes first.

    A ``DataLoader`` over a ``TensorDataset`` (shuffle=True), Adam at a constant learning rate,
    the summed loss.  Returns images seen, steps, training seconds and images/s.
    """
    if max_seconds is None and max_steps is None:
        raise ValueError("give max_seconds, max_steps or both")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(x_train), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    images, steps, epochs, start = 0, 0, 0, time.perf_counter()
    done = False
    while not done:
        for (batch,) in loader:
            pixel_probs, mu, logvar = model(batch)
            loss = reference_loss(pixel_probs, batch, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += batch.shape[0]
            steps += 1
            if (max_seconds is not None and time.perf_counter() - start >= max_seconds) \
                    or (max_steps is not None and steps >= max_steps):
                done = True
                break
        epochs += 1
    seconds = time.perf_counter() - start
    model.eval()
    return {"images": images, "steps": steps, "epochs_started": epochs, "seconds": seconds,
            "images_per_s": images / seconds}


def default_fit_arguments() -> dict:
    """The default keyword arguments of ``vae_teach.train.fit`` (the course's default recipe)."""
    signature = inspect.signature(train_module.fit)
    return {name: p.default for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def default_model_arguments() -> dict:
    signature = inspect.signature(BernoulliVAE.__init__)
    return {name: p.default for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_minus_elbo(model: nn.Module, x_test: torch.Tensor, seed: int = 0) -> float:
    """Mean test -ELBO in nats (one z per image, a fixed noise seed so reruns agree)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return float(train_module.evaluate(model, x_test)[0])
    finally:
        torch.random.set_rng_state(state)


def train_default(x_grey: torch.Tensor, x_binary: torch.Tensor, max_seconds: float, *,
                  seed: int = 0, progress: bool = True, **overrides) -> tuple[BernoulliVAE, object]:
    """``BernoulliVAE()`` trained by ``fit`` with its defaults for ``max_seconds`` of wall time.

    Only the epoch limit is lifted (``epochs=None``) so that the recipe uses the whole budget,
    like the reference; the learning-rate schedule then runs over the time budget.  The recipe
    is handed grey levels when its ``dynamic_binarization`` default redraws them ("auto" or
    True), the fixed binary images otherwise.
    """
    defaults = default_fit_arguments()
    dynamic = overrides.get("dynamic_binarization", defaults.get("dynamic_binarization", False))
    overrides.setdefault("epochs", None)
    torch.manual_seed(seed)
    model = BernoulliVAE()
    history = fit_for_seconds(model, x_grey if dynamic in (True, "auto") else x_binary,
                              max_seconds, seed=seed, progress=progress, **overrides)
    return model, history


def compare_recipes(budgets, x_grey, x_binary, x_test, *, seed: int = 0, repeats: int = 1,
                    progress: bool = True, log=print) -> tuple[list[dict], BernoulliVAE]:
    """Part (a): both recipes at each wall-clock budget (the reference first), ``repeats`` times
    with seeds ``seed, seed + 1, ...``.  Returns the rows (one per budget and seed) and the
    default model trained with the last budget and the first seed."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rows, last_model = [], None
    for budget, run_seed in [(b, seed + r) for b in budgets for r in range(repeats)]:
        load_before = load_average()
        torch.manual_seed(run_seed)
        reference = ReferenceVAE()
        ref = train_reference(reference, x_binary, budget, seed=run_seed)
        ref_loss = test_minus_elbo(reference, x_test)
        model, history = train_default(x_grey, x_binary, budget, seed=run_seed, progress=progress)
        default_loss = test_minus_elbo(model, x_test)
        row = {"budget_s": budget, "seed": run_seed,
               "reference": {"test_minus_elbo": ref_loss, **ref},
               "default": {"test_minus_elbo": default_loss,
                           "images": history.images_seen, "seconds": history.seconds[-1],
                           "epochs": len(history.epoch),
                           "images_per_s": history.images_per_second,
                           "stopped_by_time": history.stopped_early},
               "gain_nats": ref_loss - default_loss,
               "load_before": load_before, "load_after": load_average()}
        rows.append(row)
        log(f"  budget {budget:g} s, seed {run_seed}: reference {ref_loss:.2f} nats ({ref['images_per_s']:.0f} img/s), "
            f"default {default_loss:.2f} nats ({history.images_per_second:.0f} img/s), "
            f"gain {row['gain_nats']:.2f} nats")
        if run_seed == seed:
            last_model = model
    return rows, last_model


def median_gains(rows: list[dict]) -> dict:
    """Median gain (reference -ELBO minus default -ELBO, nats) per budget over the seeds."""
    by_budget: dict = {}
    for row in rows:
        by_budget.setdefault(row["budget_s"], []).append(row["gain_nats"])
    return {budget: {"median_gain_nats": statistics.median(gains), "n_seeds": len(gains),
                     "min_gain_nats": min(gains), "max_gain_nats": max(gains)}
            for budget, gains in by_budget.items()}


def speed_race(x_binary: torch.Tensor, seconds: float, rounds: int, *, seed: int = 0,
               progress: bool = True, log=print) -> dict:
    """``fit`` against the reference loop on the SAME architecture and hyper-parameters
    (784-400-20, batch 128, Adam 1e-3, constant, fixed binary images), alternating short runs so
    that a change of machine load hits both alike.  ``fit`` runs with its progress bar on (as in
    a notebook) unless ``progress=False``."""
    fit_rates, ref_rates = [], []
    for round_ in range(rounds):
        torch.manual_seed(seed + round_)
        ref = train_reference(ReferenceVAE(), x_binary, seconds, seed=seed + round_)
        ref_rates.append(ref["images_per_s"])
        torch.manual_seed(seed + round_)
        model = BernoulliVAE(hidden_dim=400, latent_dim=20, n_hidden_layers=1, activation="relu")
        history = fit_for_seconds(model, x_binary, seconds, epochs=None,
                                   batch_size=128, lr=1e-3, lr_schedule="constant",
                                   dynamic_binarization=False, seed=seed + round_,
                                   progress=progress)
        fit_rates.append(history.images_per_second)
    ratios = [f / r for f, r in zip(fit_rates, ref_rates)]
    result = {"seconds_per_run": seconds, "rounds": rounds, "fit_images_per_s": fit_rates,
              "reference_images_per_s": ref_rates, "ratios": ratios,
              "median_ratio": statistics.median(ratios)}
    log(f"  fit {statistics.median(fit_rates):.0f} img/s vs reference loop "
        f"{statistics.median(ref_rates):.0f} img/s: median ratio {result['median_ratio']:.2f}")
    return result


# ---------------------------------------------------------------------- (f) what helped, what not

# One change at a time from the default recipe, each trained for the same wall-clock budget.
ABLATIONS = [
    ("default recipe", {}, {}, {}),
    ("fixed binary images (no dynamic binarization)", {}, {"dynamic_binarization": False}, {}),
    ("constant learning rate (no cosine)", {}, {"lr_schedule": "constant"}, {}),
    ("lr 1e-3 (reference)", {}, {"lr": 1e-3}, {}),
    ("batch 128 (reference)", {}, {"batch_size": 128}, {}),
    ("batch 32", {}, {"batch_size": 32}, {}),
    ("latent 20 (reference)", {"latent_dim": 20}, {}, {}),
    ("latent 16", {"latent_dim": 16}, {}, {}),
    ("hidden 512", {"hidden_dim": 512}, {}, {}),
    ("hidden 256", {"hidden_dim": 256}, {}, {}),
    ("two hidden layers", {"n_hidden_layers": 2}, {}, {}),
    ("per-parameter Adam (no fused kernel)", {}, {"fused_adam": False}, {}),
    ("1 torch thread", {}, {}, {"threads": 1}),
    ("torch.compile(encode, decode)", {}, {}, {"compile": True}),
]


def ablation(budget: float, x_grey, x_binary, x_test, *, seed: int = 0, progress: bool = False,
             only: list[str] | None = None, log=print) -> list[dict]:
    """Part (f): the default recipe with one change at a time, each for ``budget`` seconds.

    Rows give the test -ELBO, its difference from the default recipe (positive = worse) and
    images/s.  ``torch.compile`` compiles inside the budget, as it would in a lecture."""
    rows, baseline = [], None
    for name, model_kwargs, fit_kwargs, special in ABLATIONS:
        if only is not None and name not in only and name != "default recipe":
            continue
        threads_before = torch.get_num_threads()
        row = {"change": name, "model": model_kwargs, "fit": fit_kwargs, "special": special}
        try:
            if "threads" in special:
                torch.set_num_threads(special["threads"])
            torch.manual_seed(seed)
            model = BernoulliVAE(**model_kwargs)
            if special.get("compile"):
                model.encode = torch.compile(model.encode)
                model.decode = torch.compile(model.decode)
            dynamic = fit_kwargs.get("dynamic_binarization", "auto")
            history = fit_for_seconds(model, x_grey if dynamic in (True, "auto") else x_binary,
                                      budget, epochs=None, seed=seed,
                                       progress=progress, **fit_kwargs)
            row.update(status="ok", test_minus_elbo=test_minus_elbo(model, x_test),
                       images_per_s=history.images_per_second, images=history.images_seen)
        except Exception as error:  # e.g. torch.compile without a working C++ compiler
            row.update(status="failed", error=f"{type(error).__name__}: {error}"[:300])
        finally:
            torch.set_num_threads(threads_before)
        if row["status"] == "ok":
            if baseline is None:
                baseline = row["test_minus_elbo"]
            row["vs_default_nats"] = row["test_minus_elbo"] - baseline
            log(f"  {name:48s} -ELBO {row['test_minus_elbo']:7.2f} ({row['vs_default_nats']:+.2f})"
                f"  {row['images_per_s']:6.0f} img/s")
        else:
            log(f"  {name:48s} failed: {row['error']}")
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------ (b) FLOP rate

def matmul_gflops(n: int = 2048, repeats: int = 5) -> dict:
    """GFLOP/s of an n x n float32 matrix product (2 n^3 FLOPs), best and median of ``repeats``."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator)
    b = torch.randn(n, n, generator=generator)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    flops = 2.0 * n ** 3
    return {"n": n, "repeats": repeats, "best_gflops": flops / min(times) / 1e9,
            "median_gflops": flops / statistics.median(times) / 1e9}


# ---------------------------------------------------------------------------------- (c) IWAE

def measure_iwae(model, x_test: torch.Tensor, k: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    cpu_start = _process_cpu_seconds()
    bound = iwae_bound(model, x_test, k, generator=generator)
    return {"k": k, "n_images": len(x_test), "iwae_nats": float(bound.mean()),
            "minus_iwae_nats": float(-bound.mean()),
            "seconds": time.perf_counter() - start, "cpu_seconds": _process_cpu_seconds() - cpu_start}


# ------------------------------------------------------------------------------ (d) notebooks

MB = 2 ** 20


def _notebook_run_row(result) -> dict:
    """The numbers of one ``runner.execute_notebook`` run."""
    heaviest = max(result.cells, key=lambda c: c.peak_rss_bytes, default=None)
    return {"status": "ok" if result.ok else "failed", "wall_s": result.seconds,
            "cpu_s": result.cpu_seconds,
            "peak_rss_mb": None if result.peak_rss_bytes is None else result.peak_rss_bytes / MB,
            "peak_anon_mb": None if result.peak_anon_bytes is None else result.peak_anon_bytes / MB,
            "end_rss_mb": result.cells[-1].end_rss_bytes / MB if result.cells else None,
            "images": result.n_images, "heaviest_cell": heaviest.cell if heaviest else None,
            "error": "; ".join(map(str, result.errors))[:300] or None,
            "cells": [{"cell": c.cell, "seconds": round(c.seconds, 2),
                       "peak_rss_mb": round(c.peak_rss_bytes / MB, 1),
                       "end_rss_mb": round(c.end_rss_bytes / MB, 1)} for c in result.cells]}


def bench_notebook(path: Path, *, timeout: float = 600.0, warm: bool = True,
                   keep_dir: Path | None = None) -> dict:
    """Run one notebook in a fresh kernel with an empty model cache ("cold"), then, if that
    worked and ``warm``, again in a fresh kernel with the cache the first run filled ("warm").
    Both runs are the course's runner: inline backend, every figure drawn, the kernel's peak
    RSS polled.  With ``keep_dir``, the cold run's executed notebook is written there."""
    path = Path(path)
    row = {"notebook": path.name}
    with tempfile.TemporaryDirectory(prefix="vae_teach_bench_cache_") as cache:
        env = {"VAE_TEACH_CACHE": cache}
        cold = runner.execute_notebook(path, env=env, timeout=timeout)
        if keep_dir is not None:
            Path(keep_dir).mkdir(parents=True, exist_ok=True)
            nbformat.write(cold.notebook, Path(keep_dir) / path.name)
        row["cold"] = _notebook_run_row(cold)
        if warm and row["cold"]["status"] == "ok":
            row["warm"] = _notebook_run_row(runner.execute_notebook(path, env=env,
                                                                    timeout=timeout))
    return row


def run_notebooks(paths, *, timeout: float = 600.0, warm: bool = True, log=print,
                  after_each=None, keep_dir: Path | None = None) -> dict:
    """Part (d): every notebook cold and warm (``bench_notebook``), with totals;
    ``after_each(rows)`` is called after each notebook (e.g. to save what is done so far)."""
    rows = []
    for path in paths:
        row = bench_notebook(path, timeout=timeout, warm=warm, keep_dir=keep_dir)
        rows.append(row)
        if after_each is not None:
            after_each(rows)
        cold, warm_run = row["cold"], row.get("warm")
        log(f"  {row['notebook']:<40s} {cold['status']:<6s} cold {cold['wall_s']:6.1f} s "
            f"peak {cold['peak_rss_mb'] or 0:6.0f} MB"
            + (f"  warm {warm_run['wall_s']:6.1f} s peak {warm_run['peak_rss_mb'] or 0:6.0f} MB"
               if warm_run else "") + (f"  ({cold['error']})" if cold["error"] else ""))
    return {"notebooks": rows,
            "total_cold_s": sum(r["cold"]["wall_s"] for r in rows),
            "total_warm_s": sum(r["warm"]["wall_s"] for r in rows if "warm" in r),
            "max_peak_rss_mb": max((r["cold"]["peak_rss_mb"] or 0 for r in rows), default=0),
            "n_failed": sum(r["cold"]["status"] != "ok" for r in rows)}


def _memory_now(pid: int) -> dict:
    """RSS, and on Linux PSS and USS, of a kernel and its children, in MB.  RSS counts shared
    library pages in every process; PSS shares them out; USS is what stopping it frees."""
    processes = [psutil.Process(pid)]
    processes += processes[0].children(recursive=True)
    totals = {"rss_mb": 0.0}
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        totals["rss_mb"] += info.rss / MB
        for name in ("pss", "uss"):
            if hasattr(info, name):
                totals[f"{name}_mb"] = totals.get(f"{name}_mb", 0.0) + getattr(info, name) / MB
    return totals


def kernels_left_open(paths, *, timeout: float = 600.0, log=print) -> dict:
    """What a student's JupyterLab holds after opening ``paths`` one after the other without
    shutting a kernel down: each notebook runs in its own kernel (one model cache for all,
    empty at the start, as on a student's first day); after each one, the memory of every
    kernel still open.  The kernels are shut down at the end."""
    kept, steps = [], []
    with tempfile.TemporaryDirectory(prefix="vae_teach_bench_cache_") as cache:
        try:
            for path in paths:
                result = runner.execute_notebook(path, env={"VAE_TEACH_CACHE": cache},
                                                 timeout=timeout, keep_kernel=True)
                kept.append((Path(path).name, result))
                if not result.ok:
                    log(f"  {Path(path).name} failed: {result.errors[0]}")
                time.sleep(1.0)   # let the last cell's garbage be freed
                kernels = {name: _memory_now(r.kernel_pid) for name, r in kept}
                total = {key: sum(k.get(key, 0.0) for k in kernels.values())
                         for key in ("rss_mb", "pss_mb", "uss_mb")}
                steps.append({"opened": Path(path).name, "kernels": kernels, "total": total})
                log(f"  after {Path(path).name}: {len(kept)} kernels, RSS {total['rss_mb']:.0f} MB, "
                    f"PSS {total['pss_mb']:.0f} MB, USS {total['uss_mb']:.0f} MB")
        finally:
            for _, result in kept:
                result.shutdown()
    return {"notebooks": [Path(p).name for p in paths], "steps": steps}


# -------------------------------------------------------------------------------- (e) widgets

def control_values(control, n: int) -> list:
    """``n`` values to move an ipywidgets control through: a sweep across a slider's range (ends
    included, never the current value twice in a row), the options of a selection in turn, or
    a checkbox toggled.  Returns [] for a control the bench cannot move."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    value = getattr(control, "value", None)
    options = getattr(control, "options", None)
    if options is not None:
        labels = list(options)
        if len(labels) < 2:
            return []
        vals = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in labels]
        start = vals.index(value) if value in vals else -1
        return [vals[(start + 1 + i) % len(vals)] for i in range(n)]
    if isinstance(value, bool):
        return [(not value) if i % 2 == 0 else value for i in range(n)]
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    if low is None or high is None or not isinstance(value, (int, float)) or isinstance(value, tuple):
        return []
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(low, int):
        span = list(range(int(low), int(high) + 1))
        if len(span) < 2:
            return []
        seq = (span + span[-2:0:-1]) or span          # up, then back down
        start = seq.index(value) if value in seq else 0
        return [seq[(start + 1 + i) % len(seq)] for i in range(n)]
    grid = np.linspace(float(low), float(high), num=max(n, 2))
    step = getattr(control, "step", None)
    if step:
        grid = np.round((grid - low) / step) * step + low
        grid = np.clip(grid, low, high)
    out = [float(v) for v in grid[:n]]
    # never "move" to the value it already has (no re-render would happen)
    return [v if not math.isclose(v, value) else float(high if v != high else low) for v in out]


def time_widget_updates(widget, n_updates: int = 20) -> dict:
    """Time ``widget.set(name=value)`` for ``n_updates`` moves spread over its controls."""
    if n_updates < 1:
        raise ValueError(f"n_updates must be >= 1, got {n_updates}")
    plans = {name: control_values(control, n_updates)
             for name, control in widget.controls.items()}
    plans = {name: values for name, values in plans.items() if values}
    if not plans:
        raise ValueError("the widget has no control the bench can move")
    names = sorted(plans)
    times = []
    renders_before = getattr(widget, "n_renders", None)
    for i in range(n_updates):
        name = names[i % len(names)]
        value = plans[name][i // len(names) % len(plans[name])]
        start = time.perf_counter()
        widget.set(**{name: value})
        times.append((time.perf_counter() - start) * 1000.0)
    renders = None if renders_before is None else widget.n_renders - renders_before
    return {"n_updates": n_updates, "renders": renders, "controls": names,
            **{f"{k}_ms": v for k, v in percentiles(times).items()}, "max_ms": max(times)}


def _widget_builders(module) -> list[tuple[str, object]]:
    """The public functions of a widget module that build a ``CourseWidget`` (recognised by
    their return annotation, or by a name ending in ``_explorer`` / ``_widget``)."""
    builders = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
            continue
        annotation = inspect.signature(obj).return_annotation
        returns_widget = annotation == "CourseWidget" or getattr(annotation, "__name__", "") \
            == "CourseWidget"
        if returns_widget or name.endswith(("_explorer", "_widget")):
            builders.append((name, obj))
    return builders


def _needs_arguments(function) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


N_WIDGET_IMAGES = 500


def _widget_argument(name: str, module, cache: dict):
    """A value for a builder's required argument ``name``, or raise LookupError.

    Widget cost does not depend on how well a model is trained, only on its shape, so models
    are untrained ``BernoulliVAE``s (seeded): a 2-D latent space for ``model`` (what the latent
    widgets require) and the default model for each beta of a ``views`` bundle."""
    if name in ("x", "x_test", "images", "data", "labels", "y", "y_test"):
        if "x" not in cache:
            x, labels = load_mnist("test", "fixed")
            cache["x"], cache["labels"] = x[:N_WIDGET_IMAGES], labels[:N_WIDGET_IMAGES]
        return cache["labels"] if name in ("labels", "y", "y_test") else cache["x"]
    if name in ("model", "vae"):
        torch.manual_seed(0)
        return BernoulliVAE(latent_dim=2).eval()
    if name == "views" and hasattr(module, "precompute_beta_views"):
        torch.manual_seed(0)
        models = {beta: BernoulliVAE().eval() for beta in (0.5, 1.0, 4.0)}
        return module.precompute_beta_views(models, _widget_argument("x", module, cache),
                                            _widget_argument("labels", module, cache))
    raise LookupError(name)


def _call_builder(function, module, cache: dict):
    """Call ``function`` with the required arguments the bench knows how to make; None if it
    needs one the bench cannot make."""
    kwargs = {}
    for name in _needs_arguments(function):
        try:
            kwargs[name] = _widget_argument(name, module, cache)
        except LookupError:
            return None
    return function(**kwargs)


def bench_widgets(directory: Path = WIDGET_DIR, *, n_updates: int = 20, log=print) -> list[dict]:
    """Part (e): every widget module's update cost; a module that is missing, fails to import,
    or whose widgets cannot be built is reported, never fatal."""
    from vae_teach.widgets import CourseWidget

    rows, cache = [], {}
    modules = sorted(p.stem for p in Path(directory).glob("*.py") if not p.stem.startswith("_"))
    for stem in modules:
        module_name = f"vae_teach.widgets.{stem}"
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            rows.append({"module": stem, "widget": None, "status": "import failed",
                         "error": f"{type(error).__name__}: {error}"[:300]})
            log(f"  {stem}: import failed ({type(error).__name__}: {error})")
            continue
        builders = _widget_builders(module)
        if not builders:
            rows.append({"module": stem, "widget": None, "status": "no builder found",
                         "error": None})
            log(f"  {stem}: no function returning a CourseWidget found")
            continue
        for name, function in builders:
            row = {"module": stem, "widget": name, "error": None}
            try:
                widget = _call_builder(function, module, cache)
                if widget is None:
                    row["status"] = "skipped"
                    row["error"] = f"needs arguments {_needs_arguments(function)}"
                elif not isinstance(widget, CourseWidget):
                    row["status"] = "skipped"
                    row["error"] = f"returned {type(widget).__name__}, not a CourseWidget"
                else:
                    row.update(time_widget_updates(widget, n_updates))
                    row["status"] = "ok"
            except Exception as error:
                row["status"] = "failed"
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            rows.append(row)
            if row["status"] == "ok":
                log(f"  {stem}.{name}: median {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms "
                    f"over {row['n_updates']} updates ({', '.join(row['controls'])})")
            else:
                log(f"  {stem}.{name}: {row['status']} ({row['error']})")
    return rows


# ----------------------------------------------------------------------------------- report

def _mb(value) -> str:
    return "" if value is None else f"{value:.0f}"


def format_notebook_table(part: dict) -> list[str]:
    """Part (d) as a Markdown table: cold and warm runtime, peak RSS, the anonymous part of the
    cold run's RSS (the kernel's own memory, without shared-library pages), pictures."""
    lines = ["| notebook | cold s | warm s | peak RSS cold (MB) | peak RSS warm (MB) | "
             "anon peak cold (MB) | heaviest cell | images | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in part["notebooks"]:
        cold, warm = row["cold"], row.get("warm") or {}
        status = cold["status"] if not cold["error"] else f"{cold['status']}: {cold['error']}"
        warm_s = f"{warm['wall_s']:.1f}" if warm else ""
        lines.append(f"| {row['notebook']} | {cold['wall_s']:.1f} | {warm_s} | "
                     f"{_mb(cold['peak_rss_mb'])} | {_mb(warm.get('peak_rss_mb'))} | "
                     f"{_mb(cold.get('peak_anon_mb'))} | "
                     f"{cold['heaviest_cell']} | {cold['images']} | {status} |")
    anon = [r["cold"].get("peak_anon_mb") for r in part["notebooks"]]
    lines.append(f"| **all** | {part['total_cold_s']:.1f} | {part['total_warm_s']:.1f} | "
                 f"max {_mb(part['max_peak_rss_mb'])} | | "
                 f"{'max ' + _mb(max(anon)) if anon and None not in anon else ''} | | | "
                 f"{part['n_failed']} failed |")
    return lines


def format_open_kernels(part: dict) -> list[str]:
    """Part (d), kernels left open: the total after each notebook opened."""
    lines = ["| opened (kernels kept) | RSS total (MB) | PSS total (MB) | USS total (MB) |",
             "|---|---|---|---|"]
    for step in part["steps"]:
        t = step["total"]
        lines.append(f"| {', '.join(step['kernels'])} | {_mb(t['rss_mb'])} | "
                     f"{_mb(t.get('pss_mb'))} | {_mb(t.get('uss_mb'))} |")
    return lines


def format_training_tables(results: dict) -> list[str]:
    """Parts (a), (b), (c) as Markdown lines (empty if they were not run)."""
    lines = []
    if "recipes" in results:
        lines += ["", "| budget | reference -ELBO | default -ELBO | gain | reference img/s | "
                  "default img/s | default epochs |", "|---|---|---|---|---|---|---|"]
        for row in results["recipes"]:
            r, d = row["reference"], row["default"]
            seed_note = f" (seed {row['seed']})" if results.get("repeats", 1) > 1 else ""
            lines.append(f"| {row['budget_s']:g} s{seed_note} | {r['test_minus_elbo']:.2f} | "
                         f"{d['test_minus_elbo']:.2f} | {row['gain_nats']:+.2f} | "
                         f"{r['images_per_s']:.0f} | {d['images_per_s']:.0f} | {d['epochs']} |")
    if results.get("repeats", 1) > 1 and "recipe_gains" in results:
        lines += ["", "| budget | median gain | min | max | seeds |", "|---|---|---|---|---|"]
        for budget, g in results["recipe_gains"].items():
            lines.append(f"| {float(budget):g} s | {g['median_gain_nats']:+.2f} | "
                         f"{g['min_gain_nats']:+.2f} | {g['max_gain_nats']:+.2f} | {g['n_seeds']} |")
    if "speed_race" in results:
        s = results["speed_race"]
        lines += ["", f"Same architecture (784-400-20, batch 128, Adam 1e-3): fit "
                  f"{statistics.median(s['fit_images_per_s']):.0f} img/s, reference loop "
                  f"{statistics.median(s['reference_images_per_s']):.0f} img/s, median ratio "
                  f"{s['median_ratio']:.2f} over {s['rounds']} alternating runs of "
                  f"{s['seconds_per_run']:g} s."]
    if "flops" in results:
        f = results["flops"]
        lines += ["", "| what | GFLOP/s | share of matmul |", "|---|---|---|"]
        lines.append(f"| {f['matmul']['n']}x{f['matmul']['n']} float32 matmul (best) | "
                     f"{f['matmul']['best_gflops']:.1f} | 100% |")
        for name, entry in f["training"].items():
            lines.append(f"| training, {name} ({entry['mflop_per_image']:.2f} MFLOP/image) | "
                         f"{entry['gflops']:.1f} | {100 * entry['share_of_matmul']:.0f}% |")
    if "iwae" in results:
        i = results["iwae"]
        lines += ["", f"IWAE_{i['k']} of the default model ({results.get('iwae_model', '')}) on "
                  f"{i['n_images']} test images: -IWAE {i['minus_iwae_nats']:.2f} nats "
                  f"(test -ELBO {i.get('minus_elbo_nats', float('nan')):.2f}), "
                  f"{i['seconds']:.1f} s wall, {i['cpu_seconds']:.1f} s CPU."]
    return lines


def format_report(results: dict) -> str:
    """The results as Markdown tables (what docs/benchmark.md shows)."""
    m = results["machine"]
    lines = [f"Machine: {m['cpu_model']}, {m['nproc']} usable cores, torch {m['torch']}, "
             f"{results.get('threads', m['torch_threads'])} torch threads; load average at "
             f"start {results.get('load_start')}, at end {results.get('load_end')}; "
             f"budgets and speeds in {results.get('clock', 'wall time')}."]
    lines += format_training_tables(results)
    if "notebooks" in results:
        lines += ["", *format_notebook_table(results["notebooks"])]
    if "open_kernels" in results:
        lines += ["", *format_open_kernels(results["open_kernels"])]
    if "widgets" in results:
        lines += ["", "| widget | median ms | p95 ms | updates |", "|---|---|---|---|"]
        for row in results["widgets"]:
            label = f"{row['module']}.{row['widget']}" if row["widget"] else row["module"]
            if row["status"] == "ok":
                lines.append(f"| {label} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
                             f"{row['n_updates']} |")
            else:
                lines.append(f"| {label} | {row['status']} | | |")
    if "ablation" in results:
        lines += ["", f"One change at a time from the default recipe, "
                  f"{results.get('ablation_budget_s', 30):g} s each (positive = worse):", "",
                  "| change | test -ELBO | vs default | img/s |", "|---|---|---|---|"]
        for row in results["ablation"]:
            if row["status"] == "ok":
                lines.append(f"| {row['change']} | {row['test_minus_elbo']:.2f} | "
                             f"{row['vs_default_nats']:+.2f} | {row['images_per_s']:.0f} |")
            else:
                lines.append(f"| {row['change']} | failed | | |")
    return "\n".join(lines)


def _prefixes(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vae_teach_tools.bench",
                                     description="Benchmark of the vae-teach course; results "
                                                 "and how to read them: docs/benchmark.md.")
    parser.add_argument("--budgets", type=parse_budgets, default=None,
                        help="wall-clock training budgets in seconds, e.g. 10,30,60")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budgets and sizes: a smoke run (seconds, not minutes)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-widgets", action="store_true")
    parser.add_argument("--skip-iwae", action="store_true")
    parser.add_argument("--only-notebooks", action="store_true",
                        help="run part (d) only: notebooks cold and warm, kernels left open")
    runner.add_notebooks_option(parser)
    parser.add_argument("--chapters", type=_prefixes, default=[],
                        help="only the notebooks whose names start with these, e.g. 01,07")
    parser.add_argument("--keep-notebooks", type=Path, default=None, metavar="DIR",
                        help="write each cold run's executed notebook (every output) into DIR")
    parser.add_argument("--no-warm", action="store_true",
                        help="part (d): skip the second (warm-cache) run of each notebook")
    parser.add_argument("--open-kernels", type=_prefixes, default=["00", "04", "07"],
                        help="part (d): notebooks opened one after the other with their kernels "
                             "kept running (default 00,04,07; '' to skip)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for this run (default: torch's choice)")
    parser.add_argument("--iwae-k", type=int, default=None, help="importance samples (1000)")
    parser.add_argument("--race-rounds", type=int, default=None,
                        help="alternating fit/reference speed runs (default 3)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of part (a) per budget, with seeds 0, 1, ... (default 1)")
    parser.add_argument("--skip-speed", action="store_true",
                        help="skip the speed race and the FLOP rate (parts a2 and b)")
    parser.add_argument("--ablation", action="store_true",
                        help="also train the default recipe with one change at a time (part f)")
    parser.add_argument("--ablation-only", action="store_true",
                        help="run only the ablation (part f)")
    parser.add_argument("--ablation-budget", type=float, default=30.0,
                        help="seconds per ablation run (default 30)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide fit's progress bars (they go to stderr)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="measure budgets and speeds in this process's CPU seconds instead "
                             "of wall seconds (with --threads 1: what an idle core would do, "
                             "on a machine shared with other jobs); notebooks stay wall-timed")
    return parser


@contextmanager
def _clock(cpu: bool):
    """With ``cpu=True``, make ``time.perf_counter`` (the clock of ``fit``, of the reference
    loop and of every timing here) return process CPU seconds until the block ends."""
    if not cpu:
        yield
        return
    wall_clock = time.perf_counter
    time.perf_counter = time.process_time
    try:
        yield
    finally:
        time.perf_counter = wall_clock


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if not (args.ablation_only or args.skip_notebooks):   # before any training: fail at once
        try:
            args.notebooks = runner.notebook_folder(args.notebooks)
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from None
    threads_before = torch.get_num_threads()
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if args.cpu_clock and torch.get_num_threads() != 1:
        torch.set_num_threads(threads_before)
        raise SystemExit("--cpu-clock needs --threads 1 (CPU seconds of 2 threads are not an "
                         "idle core's wall seconds)")
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads_before)


def _log(message: str) -> None:
    print(message, flush=True)


def _run(args) -> dict:
    """The parts the flags ask for, in order; the report is printed and the JSON written."""
    start = time.perf_counter()
    results: dict = {"machine": machine_info(), "threads": torch.get_num_threads(),
                     "load_start": load_average(), "quick": args.quick,
                     "clock": "process CPU time" if args.cpu_clock else "wall time"}
    _log(f"machine: {results['machine']['cpu_model']}, {results['machine']['nproc']} cores, "
         f"torch {results['machine']['torch']} with {torch.get_num_threads()} threads, "
         f"load {results['load_start']}")
    training = not (args.only_notebooks or args.ablation_only)
    if training or args.ablation_only:
        data = {"x_binary": load_mnist("train", "fixed")[0],
                "x_grey": load_mnist("train", None)[0],
                "x_test": load_mnist("test", "fixed")[0][:200 if args.quick else None]}
    if training:
        _run_training_parts(args, results, **data)
    if not args.ablation_only and not args.skip_notebooks:
        _run_notebook_part(args, results)
    if training and not args.skip_widgets:
        _log("(e) widget updates")
        results["widgets"] = bench_widgets(WIDGET_DIR, n_updates=5 if args.quick else 20, log=_log)
    if args.ablation or args.ablation_only:
        budget = 1.0 if args.quick else args.ablation_budget
        _log(f"(f) one change at a time, {budget:g} s each")
        with _clock(args.cpu_clock):
            results["ablation"] = ablation(budget, **data, log=_log,
                                           only=["1 torch thread"] if args.quick else None)
        results["ablation_budget_s"] = budget
    results["load_end"] = load_average()
    results["bench_seconds"] = time.perf_counter() - start
    print()
    print(format_report(results))
    print(f"\nbench took {results['bench_seconds']:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {out}")
    return results


def _run_training_parts(args, results: dict, *, x_binary, x_grey, x_test) -> None:
    """Parts (a), (b) and (c): recipes, speed race and FLOP rate, IWAE."""
    budgets = args.budgets or ((0.5, 1.0) if args.quick else DEFAULT_BUDGETS)
    progress = not args.no_progress
    results.update(budgets_s=list(budgets), repeats=args.repeats, default_recipe={
        "model": default_model_arguments(),
        "fit": {k: v for k, v in default_fit_arguments().items()
                if k not in ("x_test", "max_seconds")}},
        reference_recipe={"model": "784-400-20 ReLU MLP (ReferenceVAE)",
                          "optimizer": "Adam lr 1e-3 constant", "batch_size": 128,
                          "data": "fixed-binarized train split via DataLoader"})
    unit = "CPU s" if args.cpu_clock else "s"
    _log(f"(a) recipes at budgets {', '.join(f'{b:g} {unit}' for b in budgets)}")
    with _clock(args.cpu_clock):
        rows, model = compare_recipes(budgets, x_grey, x_binary, x_test, progress=progress,
                                      repeats=args.repeats, log=_log)
    results["recipes"], results["recipe_gains"] = rows, median_gains(rows)
    biggest = [row for row in rows if row["budget_s"] == budgets[-1]][0]   # first seed
    if not args.skip_speed:
        with _clock(args.cpu_clock):
            _log("(a) speed race, same architecture")
            results["speed_race"] = speed_race(
                x_binary, 0.5 if args.quick else 5.0, args.race_rounds or (1 if args.quick else 3),
                progress=progress, log=_log)
            _log("(b) FLOP rate")
            matmul = matmul_gflops(512 if args.quick else 2048, repeats=2 if args.quick else 5)
        results["flops"] = flop_rates(matmul, biggest, results["speed_race"])
        _log(f"  matmul {matmul['best_gflops']:.1f} GFLOP/s; training: " + ", ".join(
            f"{k} {v['gflops']:.1f} GFLOP/s" for k, v in results["flops"]["training"].items()))
    if not args.skip_iwae:
        iwae_k = args.iwae_k or (10 if args.quick else 1000)
        _log(f"(c) IWAE_{iwae_k} on {len(x_test)} test images")
        with _clock(args.cpu_clock):
            results["iwae"] = measure_iwae(model, x_test, iwae_k)
        results["iwae"]["minus_elbo_nats"] = biggest["default"]["test_minus_elbo"]
        results["iwae_model"] = f"default recipe after {biggest['budget_s']:g} s"
        _log(f"  -IWAE {results['iwae']['minus_iwae_nats']:.2f} nats vs -ELBO "
             f"{results['iwae']['minus_elbo_nats']:.2f}; {results['iwae']['seconds']:.1f} s")


def flop_rates(matmul: dict, biggest: dict, race: dict) -> dict:
    """Part (b): training GFLOP/s of each recipe against the matmul rate."""
    training = {}
    for name, flops, rate in [
            ("default recipe", training_flops_per_image(BernoulliVAE()),
             biggest["default"]["images_per_s"]),
            ("reference loop", training_flops_per_image(ReferenceVAE()),
             biggest["reference"]["images_per_s"]),
            ("fit, reference architecture", training_flops_per_image(ReferenceVAE()),
             statistics.median(race["fit_images_per_s"]))]:
        gflops = flops * rate / 1e9
        training[name] = {"mflop_per_image": flops / 1e6, "images_per_s": rate, "gflops": gflops,
                          "share_of_matmul": gflops / matmul["best_gflops"]}
    return {"matmul": matmul, "training": training}


def _run_notebook_part(args, results: dict) -> None:
    """Part (d): every chosen notebook cold and warm, then several kernels left open."""
    try:
        paths = select_notebooks(args.notebooks, args.chapters)
        open_paths = select_notebooks(args.notebooks, args.open_kernels) \
            if args.open_kernels else []
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"--notebooks/--chapters/--open-kernels: {error}") from None
    _log("(d) notebooks: fresh kernel, empty model cache (cold), then the filled cache (warm)")
    partial = Path(args.out).with_suffix(".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)

    def save(rows):   # a long run interrupted still leaves its numbers
        partial.write_text(json.dumps({**results, "notebooks_so_far": rows}, indent=2,
                                      default=str))

    results["notebooks"] = run_notebooks(paths, warm=not args.no_warm, log=_log,
                                         after_each=save, keep_dir=args.keep_notebooks)
    part = results["notebooks"]
    _log(f"  total cold {part['total_cold_s']:.1f} s, warm {part['total_warm_s']:.1f} s, "
         f"highest peak {part['max_peak_rss_mb']:.0f} MB, {part['n_failed']} failed")
    if open_paths:
        _log("(d) kernels left open: " + ", ".join(p.name for p in open_paths))
        results["open_kernels"] = kernels_left_open(open_paths, log=_log)


if __name__ == "__main__":
    main()
