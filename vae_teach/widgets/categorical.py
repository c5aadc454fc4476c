"""The die explorer of notebook 04: logit sliders -> softmax probabilities beside a histogram.

``die_state`` is the pure computation (logits, temperature, n) -> probabilities, sampled
frequencies, entropy; ``die_explorer`` wraps it in a ``CourseWidget`` that moves the bars of one
figure created once.

Sampling uses *common random numbers*: the same n uniforms (from a generator seeded with
``seed``) are pushed through the inverse CDF of whatever distribution the sliders describe.  So
the histogram is reproducible, and moving a slider a little moves only the few samples that sit
near a boundary of the CDF, instead of redrawing a whole new histogram.
"""
from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

from ..distributions import entropy, softmax
from ..plots import label_colors
from ..utils import validate_positive_float, validate_positive_int
from ._base import BlitFigure, CourseWidget, new_figure

SAMPLE_SIZES = (10, 30, 100, 300, 1000, 3000, 10000, 100000)


@dataclass
class DieState:
    """What the die explorer shows: p = softmax(logits / T) and the frequencies of n draws."""
    probs: torch.Tensor            # [k] float64, on the simplex
    frequencies: torch.Tensor      # [k] float64, counts / n
    entropy_nats: float            # H(p)
    total_variation: float         # 0.5 * sum |frequencies - p|


def sample_categorical(probs: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """n draws from Cat(probs) by the inverse CDF of n fixed uniforms (int64 [n])."""
    n = validate_positive_int("n", n)
    uniforms = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    cdf = torch.cumsum(probs.to(torch.float64), dim=0)
    return torch.searchsorted(cdf, uniforms, right=True).clamp(max=len(probs) - 1)


def die_state(logits, temperature: float = 1.0, n_samples: int = 100, seed: int = 0) -> DieState:
    """p = softmax(logits / temperature), n_samples draws with common random numbers."""
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    if logits.dim() != 1 or len(logits) < 2:
        raise ValueError(f"logits must be a 1-D list of at least 2 numbers, got shape "
                         f"{tuple(logits.shape)}")
    temperature = validate_positive_float("temperature", temperature)
    probs = softmax(logits, temperature)
    samples = sample_categorical(probs, n_samples, seed)
    frequencies = torch.bincount(samples, minlength=len(probs)).to(torch.float64) / n_samples
    return DieState(probs, frequencies, float(entropy(probs)),
                    0.5 * float((frequencies - probs).abs().sum()))


def die_explorer(k: int = 6, *, logits=None, temperature: float = 1.0, n_samples: int = 100,
                 seed: int = 0) -> CourseWidget:
    """Sliders for k logits, the temperature T and the number of samples n.

    The figure shows p_i = softmax(l / T)_i (the lighter left bar of each pair) and the frequency of face i among n
    draws (the right bar).  ``widget.latest["state"]`` is the ``DieState`` behind the current
    picture.
    """
    k = validate_positive_int("k", k, minimum=2)
    logits = [0.0] * (k - 1) + [1.0] if logits is None else [float(v) for v in logits]
    if len(logits) != k:
        raise ValueError(f"logits must have k = {k} entries, got {len(logits)}")
    if n_samples not in SAMPLE_SIZES:
        raise ValueError(f"n_samples must be one of {SAMPLE_SIZES}, got {n_samples!r}")
    style = {"description_width": "110px"}
    controls = {f"logit_{i + 1}": widgets.FloatSlider(
        value=logits[i], min=-5.0, max=5.0, step=0.1, description=f"logit face {i + 1}",
        style=style) for i in range(k)}
    controls["temperature"] = widgets.FloatLogSlider(
        value=temperature, base=10, min=-1.5, max=1.5, step=0.05, description="temperature T",
        readout_format=".3g", style=style)
    controls["n_samples"] = widgets.SelectionSlider(
        options=list(SAMPLE_SIZES), value=n_samples, description="samples n", style=style)

    fig = new_figure(figsize=(6.4, 3.8), dpi=90)
    ax = fig.add_axes((0.12, 0.14, 0.84, 0.74))
    faces = np.arange(1, k + 1)
    prob_color, freq_color = label_colors(2)
    prob_bars = ax.bar(faces - 0.18, np.zeros(k), width=0.36, color=prob_color, alpha=0.55,
                       label="model p = softmax(logits / T)")
    freq_bars = ax.bar(faces + 0.18, np.zeros(k), width=0.36, color=freq_color,
                       label="frequency in n samples")
    ax.set_xticks(faces)
    ax.set_xlabel("face i")
    ax.set_ylabel("probability / frequency")
    ax.set_ylim(0, 1.0)
    legend = ax.legend(loc="upper left", fontsize=11, frameon=True, framealpha=1.0)
    title = ax.set_title("")
    blit = BlitFigure(fig, [*prob_bars, *freq_bars, title], on_top=[legend])   # over the bars
    latest: dict = {}

    def render(**values) -> tuple[bytes, str]:
        current = die_state([values[f"logit_{i + 1}"] for i in range(k)],
                            values["temperature"], values["n_samples"], seed)
        for bar, height in zip(prob_bars, current.probs.tolist()):
            bar.set_height(height)
        for bar, height in zip(freq_bars, current.frequencies.tolist()):
            bar.set_height(height)
        title.set_text(f"n = {values['n_samples']},  H(p) = {current.entropy_nats:.2f} nats,  "
                       f"TV = {current.total_variation:.3f}")
        latest["state"] = current
        probs = ", ".join(f"{v:.3f}" for v in current.probs.tolist())
        text = (f"p = ({probs})<br>entropy H(p) = {current.entropy_nats:.3f} nats "
                f"(uniform: log {k} = {np.log(k):.3f})<br>total variation between frequencies "
                f"and p = {current.total_variation:.3f} (shrinks like 1/√n)")
        return blit.png(), text

    return CourseWidget(controls, render, latest=latest,
                        title="A die with logits: move the sliders")
