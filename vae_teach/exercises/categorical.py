"""Checkers for the exercises of notebook 04 (parameterizing a categorical distribution).

Each checker returns a ``Feedback`` message (a ``str`` that Jupyter shows as plain text):
"not answered yet" for ``None``, a message starting with "correct" for a right answer, or what
is off.  A wrong answer never raises, so the notebook runs unchanged in CI.
"""
from __future__ import annotations

import math

import torch

from ..distributions import categorical_log_prob, entropy, softmax
from . import NOT_ANSWERED, Feedback
from . import as_number as _as_number
from . import as_vector as _as_vector


TARGET_PROBS = (0.5, 0.3, 0.2)            # exercise 1
ENTROPY_LOGITS = (2.0, 1.0, 0.0)          # exercise 3
TARGET_ENTROPY_NATS = 0.5                 # exercise 3


# ------------------------------------------------------------------------------ exercise 1

def check_logits_for_probs(answer) -> Feedback:
    """Exercise 1: logits l (3 numbers) with softmax(l) = (0.5, 0.3, 0.2)."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    logits = _as_vector(answer)
    if logits is None or len(logits) != 3:
        return Feedback("answer must be 3 numbers (a list or a tensor of logits)")
    if not torch.isfinite(logits).all():
        return Feedback("the logits must be finite numbers")
    target = torch.tensor(TARGET_PROBS, dtype=torch.float64)
    probs = softmax(logits)
    if torch.allclose(probs, target, atol=1e-4):
        shift = float(logits[0] - math.log(TARGET_PROBS[0]))
        return Feedback(f"correct: softmax gives {probs.numpy().round(4)}. Your logits are "
                        f"log p + {shift:.3g}; any constant added to all three gives the same "
                        "probabilities (only 2 of the 3 numbers are free)", True)
    if torch.allclose(logits, target, atol=1e-4):
        return Feedback(f"those are the probabilities themselves; softmax of them is "
                        f"{probs.numpy().round(3)}. Logits live on the log scale: try log p")
    return Feedback(f"not quite: softmax of your logits is {probs.numpy().round(3)}, wanted "
                    f"{list(TARGET_PROBS)}. Hint: softmax(l)_i is proportional to exp(l_i)")


# ------------------------------------------------------------------------------ exercise 2

def _reference_gradient(logits: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
    """d/dl of the mean log-likelihood (1/n) sum_i log softmax(l)[x_i], by autograd."""
    logits = logits.clone().requires_grad_(True)
    mean_log_lik = categorical_log_prob(logits, outcomes).mean()
    (gradient,) = torch.autograd.grad(mean_log_lik, logits)
    return gradient


def check_logit_gradient(answer) -> Feedback:
    """Exercise 2: a function ``gradient(logits, counts)`` returning the gradient of the mean
    log-likelihood (1/n) sum_i n_i log softmax(l)_i with respect to the logits."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not callable(answer):
        return Feedback(f"answer must be a function gradient(logits, counts), got "
                        f"{type(answer).__name__}")
    generator = torch.Generator().manual_seed(4)
    for case in range(5):
        k = 3 + case
        logits = torch.randn(k, generator=generator, dtype=torch.float64) * 2
        outcomes = torch.randint(0, k, (10 + 7 * case,), generator=generator)
        counts = torch.bincount(outcomes, minlength=k).to(torch.float64)
        expected = _reference_gradient(logits, outcomes)
        try:
            got = _as_vector(answer(logits.clone(), counts.clone()))
        except Exception as error:  # the student's code failed: say how, do not crash
            return Feedback(f"your function raised {type(error).__name__}: {error}")
        if got is None or got.shape != expected.shape:
            return Feedback(f"your function must return k = {k} numbers for k logits")
        if torch.allclose(got, expected, atol=1e-6):
            continue
        if torch.allclose(got, -expected, atol=1e-6):
            return Feedback("the sign is flipped: that is the gradient of the negative "
                            "log-likelihood (the loss). Ascent needs counts/n - softmax(l)")
        if torch.allclose(got, expected * counts.sum(), atol=1e-6):
            return Feedback("that is the gradient of the summed log-likelihood; the exercise "
                            "asks for the mean (divide by n = counts.sum())")
        return Feedback(f"not quite: for logits {logits.numpy().round(2)} and counts "
                        f"{counts.numpy()} autograd gives {expected.numpy().round(4)}, your "
                        f"function gives {got.numpy().round(4)}")
    return Feedback("correct: the gradient is counts/n - softmax(l), 'observed minus expected' "
                    "frequencies; it is zero exactly at the maximum-likelihood solution", True)


# ------------------------------------------------------------------------------ exercise 3

def entropy_at_temperature(temperature: float) -> float:
    """H(softmax(ENTROPY_LOGITS / T)) in nats (the quantity of exercise 3)."""
    logits = torch.tensor(ENTROPY_LOGITS, dtype=torch.float64)
    return float(entropy(softmax(logits, temperature)))


def check_temperature_for_entropy(answer) -> Feedback:
    """Exercise 3: the temperature T at which softmax((2, 1, 0) / T) has entropy 0.5 nats."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    temperature = _as_number(answer)
    if temperature is None or not math.isfinite(temperature) or temperature <= 0:
        return Feedback("answer must be one positive number (a temperature T > 0)")
    value = entropy_at_temperature(temperature)
    if abs(value - TARGET_ENTROPY_NATS) < 1e-3:
        return Feedback(f"correct: at T = {temperature:.4g} the entropy is {value:.4f} nats "
                        "(entropy grows with T, so bisection on T finds it)", True)
    direction = "lower" if value > TARGET_ENTROPY_NATS else "raise"
    return Feedback(f"not quite: at T = {temperature:.4g} the entropy is {value:.4f} nats, "
                    f"wanted {TARGET_ENTROPY_NATS}. Entropy increases with T, so {direction} T")
