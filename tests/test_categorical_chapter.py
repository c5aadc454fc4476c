"""Tests for notebook 04 (categorical distribution): the die explorer widget and the exercise
checkers.  The categorical helpers themselves are tested in ``test_distributions.py``.

Widget cost, median of 20 slider moves on an idle 2-core machine: about 15 ms per update
(``BlitFigure`` redraws only the bars and the title, pastes the legend's stored pixels and
encodes with ``plots.rgb_to_png``); 25 ms when the legend was redrawn and PIL encoded the PNG; a
full ``savefig`` of the same figure took about 100 ms.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_teach.distributions import entropy, softmax
from vae_teach.exercises.categorical import (TARGET_ENTROPY_NATS, Feedback, check_logit_gradient,
                                             check_logits_for_probs, check_temperature_for_entropy,
                                             entropy_at_temperature)
from vae_teach.widgets.categorical import SAMPLE_SIZES, die_explorer, die_state, sample_categorical

LOGITS = [2.0, 1.0, 0.0, 0.0, -1.0, 3.0]


def _image(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png))


# ------------------------------------------------------------------------------ sampling

def test_sample_categorical_matches_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    n = 200_000
    counts = torch.bincount(sample_categorical(probs, n, seed=1), minlength=4).double()
    standard_error = torch.sqrt(probs * (1 - probs) / n)
    assert ((counts / n - probs).abs() / standard_error).max() < 5


def test_sample_categorical_is_reproducible_and_in_range():
    probs = torch.tensor([1e-12, 1 - 2e-12, 1e-12], dtype=torch.float64)
    a, b = sample_categorical(probs, 1000, seed=3), sample_categorical(probs, 1000, seed=3)
    assert torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) <= 2
    with pytest.raises(ValueError, match="n"):
        sample_categorical(probs, 0)


def test_die_state_numbers():
    state = die_state(LOGITS, temperature=1.0, n_samples=100_000, seed=0)
    expected = torch.softmax(torch.tensor(LOGITS, dtype=torch.float64), dim=0)
    assert torch.allclose(state.probs, expected)
    assert abs(float(state.frequencies.sum()) - 1) < 1e-12
    assert abs(state.entropy_nats - float(entropy(expected))) < 1e-12
    # TV of 100,000 draws: E[TV] <= 0.5 sum sqrt(p(1-p)/n) ~ 0.004; allow a wide margin
    assert state.total_variation < 0.01


def test_die_state_temperature_limits():
    cold = die_state(LOGITS, temperature=0.01, n_samples=1000)
    hot = die_state(LOGITS, temperature=1000.0, n_samples=1000)
    assert float(cold.probs[5]) > 0.999 and cold.entropy_nats < 1e-3
    assert float((hot.probs - 1 / 6).abs().max()) < 1e-3
    assert abs(hot.entropy_nats - math.log(6)) < 1e-5


def test_die_state_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        die_state(LOGITS, temperature=0.0)
    with pytest.raises(ValueError, match="logits"):
        die_state([1.0])
    with pytest.raises(ValueError, match="n"):
        die_state(LOGITS, n_samples=0)


# ------------------------------------------------------------------------------ the widget

def test_explorer_default_picture_and_numbers():
    w = die_explorer()
    width, height = _image(w.png).size
    assert width > 300 and height > 200
    expected = softmax(torch.tensor([0, 0, 0, 0, 0, 1.0], dtype=torch.float64))
    assert torch.allclose(w.latest["state"].probs, expected)
    assert "entropy" in w.status.value
    for control in w.controls.values():
        assert control.description, "every control needs a label for the browser test"


def test_explorer_logit_slider_changes_picture_and_probabilities():
    w = die_explorer()
    before = w.png
    w.set(logit_3=3.0)
    assert w.png != before
    expected = softmax(torch.tensor([0, 0, 3.0, 0, 0, 1.0], dtype=torch.float64))
    assert torch.allclose(w.latest["state"].probs, expected)
    assert int(w.latest["state"].frequencies.argmax()) == 2


def test_explorer_shift_invariance_gives_identical_picture():
    w = die_explorer()
    before, probs_before = w.png, w.latest["state"].probs.clone()
    w.set(**{f"logit_{i}": w.controls[f"logit_{i}"].value + 2.0 for i in range(1, 7)})
    assert torch.allclose(w.latest["state"].probs, probs_before)
    assert w.png == before          # same p, same common random numbers: the same image


def test_explorer_temperature_and_sample_size():
    w = die_explorer()
    w.set(temperature=0.0316)
    assert float(w.latest["state"].probs[5]) > 0.99
    w.set(temperature=31.6)
    assert float((w.latest["state"].probs - 1 / 6).abs().max()) < 0.01
    before = w.png
    w.set(n_samples=100_000)
    assert w.png != before
    assert w.latest["state"].total_variation < 0.01


def test_blit_frame_matches_a_full_drawing():
    """BlitFigure's frame (background + moving bars + the legend's pasted pixels) is the picture a
    full redraw gives, up to the antialiased corners of the legend's frame."""
    from vae_teach.widgets import new_figure
    from vae_teach.widgets._base import BlitFigure

    fig = new_figure(figsize=(4, 3), dpi=80)
    ax = fig.add_axes((0.1, 0.1, 0.85, 0.8))
    bars = ax.bar([1, 2, 3], [0.0, 0.0, 0.0], label="bars")
    ax.set_ylim(0, 1)
    legend = ax.legend(loc="upper left", framealpha=1.0)
    blit = BlitFigure(fig, list(bars), on_top=[legend])
    for bar, height in zip(bars, (0.95, 0.5, 0.2)):        # the first bar runs under the legend
        bar.set_height(height)
    frame = blit.pixels().astype(int)
    for bar in bars:
        bar.set_animated(False)
    fig.canvas.draw()
    full = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    differing = (np.abs(frame - full).max(axis=-1) > 8).mean()
    assert differing < 0.005, f"{100 * differing:.2f}% of the pixels differ"   # 1.2% unpasted


def test_explorer_bad_arguments():
    with pytest.raises(ValueError, match="k"):
        die_explorer(k=1)
    with pytest.raises(ValueError, match="logits"):
        die_explorer(k=3, logits=[0.0, 1.0])
    with pytest.raises(ValueError, match="n_samples"):
        die_explorer(n_samples=7)
    with pytest.raises(ValueError, match="unknown control"):
        die_explorer().set(logit_9=1.0)
    assert 100 in SAMPLE_SIZES


# ------------------------------------------------------------------------------ exercises

def test_feedback_displays_as_plain_text():
    feedback = Feedback("correct: yes", True)
    assert feedback == "correct: yes" and feedback.correct

    class Printer:
        text_seen = ""

        def text(self, value):
            self.text_seen += value

    printer = Printer()
    feedback._repr_pretty_(printer, False)
    assert printer.text_seen == "correct: yes"


def test_check_logits_for_probs():
    assert check_logits_for_probs(None).startswith("not answered")
    right = torch.log(torch.tensor([0.5, 0.3, 0.2])) + 7.0
    assert check_logits_for_probs(right).correct
    assert check_logits_for_probs([math.log(0.5), math.log(0.3), math.log(0.2)]).correct
    assert "probabilities themselves" in check_logits_for_probs([0.5, 0.3, 0.2])
    assert not check_logits_for_probs([0.0, 0.0, 0.0]).correct
    assert "3 numbers" in check_logits_for_probs([1.0, 2.0])
    assert "3 numbers" in check_logits_for_probs("abc")


def test_check_logit_gradient():
    assert check_logit_gradient(None).startswith("not answered")
    assert check_logit_gradient(lambda l, c: c / c.sum() - torch.softmax(l, dim=-1)).correct
    assert "sign" in check_logit_gradient(lambda l, c: torch.softmax(l, dim=-1) - c / c.sum())
    assert "summed" in check_logit_gradient(lambda l, c: c - c.sum() * torch.softmax(l, dim=-1))
    assert "raised" in check_logit_gradient(lambda l, c: 1 / 0)
    assert not check_logit_gradient(lambda l, c: torch.zeros_like(l)).correct
    assert "function" in check_logit_gradient(3.0)


def test_check_temperature_for_entropy():
    assert check_temperature_for_entropy(None).startswith("not answered")
    low, high = 0.01, 100.0
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (low, middle) if entropy_at_temperature(middle) > TARGET_ENTROPY_NATS \
            else (middle, high)
    assert check_temperature_for_entropy(middle).correct
    assert 0.54 < middle < 0.56
    assert "lower T" in check_temperature_for_entropy(1.0)
    assert "raise T" in check_temperature_for_entropy(0.2)
    assert "positive" in check_temperature_for_entropy(-1.0)
    assert "positive" in check_temperature_for_entropy(np.array([1.0, 2.0]))
