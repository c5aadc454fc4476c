"""Checkers for the exercises of notebook 06 (the factorized Bernoulli log-likelihood).

Each checker returns one message, a ``Feedback`` (a ``str`` that Jupyter shows as plain text,
once): "not answered yet" for ``None``, a message starting with "correct" for a right answer, or
what is off.  They never raise on a wrong answer (so the notebook runs unchanged in CI); an
answer that is not a number gets an explanation.

The expected values are computed here, from the same data and the same float32 arithmetic the
student uses, so they hold on any machine.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data import load_mnist
from . import Feedback, close, number_or_feedback, say


# Exercise 1: a five-pixel "image" and the model's probabilities that each pixel is on.
EXERCISE_1_X = (1.0, 0.0, 1.0, 1.0, 0.0)
EXERCISE_1_P = (0.9, 0.2, 0.6, 0.99, 0.5)
# Exercise 3: which test image (grey levels, as the source text feeds MNIST to its model).
EXERCISE_3_TEST_INDEX = 0
# Exercise 4: the Bernoulli parameter whose "density" over grey levels x in [0, 1] we integrate.
EXERCISE_4_LAMBDA = 0.2


# ------------------------------------------------------------------------------ exercise 1

def exercise_1_log_likelihood() -> float:
    """log p(x | p) = sum_j x_j log p_j + (1 - x_j) log(1 - p_j) for the exercise's vectors."""
    return sum(math.log(p) if x == 1 else math.log(1 - p)
               for x, p in zip(EXERCISE_1_X, EXERCISE_1_P))


def check_log_likelihood_by_hand(answer) -> Feedback:
    """Exercise 1: log p(x | p) in nats for x = EXERCISE_1_X, p = EXERCISE_1_P."""
    value = number_or_feedback(answer, "one number (nats)")
    if isinstance(value, Feedback):
        return value
    expected = exercise_1_log_likelihood()
    terms = " + ".join(f"log {p if x == 1 else round(1 - p, 2):g}"
                       for x, p in zip(EXERCISE_1_X, EXERCISE_1_P))
    if close(value, expected, atol=1e-3):
        return say(f"correct: {terms} = {expected:.4f} nats, i.e. the image has probability "
                    f"{math.exp(expected):.4f} under p")
    if close(value, -expected, atol=1e-3):
        return say("check the sign: a probability is at most 1, so its log is at most 0 "
                    "(you computed the negative log-likelihood, the loss)")
    if close(value, expected / math.log(2), atol=1e-3):
        return say("that is in bits (log base 2); the course measures in nats (natural log)")
    if close(value, math.exp(expected), atol=1e-4):
        return say("that is the probability p(x) itself; take its natural log")
    wrong = sum(math.log(p) for p in EXERCISE_1_P)
    if close(value, wrong, atol=1e-3):
        return say("you used log p_j for every pixel; a pixel with x_j = 0 contributes "
                    "log(1 - p_j)")
    return say(f"not quite: got {value:.4f}. Add one term per pixel: log p_j where x_j = 1, "
                "log(1 - p_j) where x_j = 0")


# ------------------------------------------------------------------------------ exercise 2

def naive_overflow_logit(low: float = 0.0, high: float = 60.0) -> float:
    """The smallest float32 logit l (to ~1e-6) for which torch.log(1 - torch.sigmoid(l))
    is -inf, found by bisection on this machine's float32 arithmetic."""
    def breaks(value: float) -> bool:
        logit = torch.tensor([value], dtype=torch.float32)
        return bool(torch.isinf(torch.log(1 - torch.sigmoid(logit)))[0])

    if breaks(low) or not breaks(high):
        raise ValueError(f"the threshold is not inside [{low}, {high}]")
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (low, middle) if breaks(middle) else (middle, high)
    return high


def check_naive_overflow_logit(answer) -> Feedback:
    """Exercise 2: the logit beyond which float32 ``log(1 - sigmoid(l))`` is -inf (to 0.01)."""
    value = number_or_feedback(answer, "one number (a logit)")
    if isinstance(value, Feedback):
        return value
    expected = naive_overflow_logit()
    why = "sigmoid(l) rounds to exactly 1"
    if abs(expected - 24 * math.log(2)) < 0.01:       # torch's float32 sigmoid ~ 1 / (1 + e^-l)
        why = (f"1 + exp(-l) rounds to 1 once exp(-l) < 2^-24, i.e. l > 24 ln 2 = "
               f"{24 * math.log(2):.4f}, so sigmoid(l) is exactly 1")
    if close(value, expected, atol=0.01):
        return say(f"correct: from l = {expected:.4f} on, {why} and log(1 - 1) = -inf. The "
                    f"true value there is -softplus(l) = {-expected:.2f} nats: nothing extreme")
    if close(abs(value), 88.72, atol=0.5):
        return say("that is the other end: log(sigmoid(l)) (the x = 1 term) breaks near "
                    "l = -88.7, where exp(-l) overflows. The question asks about log(1 - sigmoid(l))")
    if close(value, 25 * math.log(2), atol=0.05) and not close(expected, 25 * math.log(2), atol=0.05):
        return say("close, and a good argument (the float32 number nearest to sigmoid(l) is 1 "
                    "once 1 - sigmoid(l) < 2^-25), but torch's float32 sigmoid already returns 1 "
                    "a little earlier (rounding inside 1 / (1 + exp(-l))). Find the threshold "
                    "numerically")
    if close(value, expected, atol=0.5):
        return say(f"close ({value:.4f}), but search finer: bisect between a logit that gives "
                    "a finite value and one that gives -inf, in float32")
    return say(f"not quite: got {value:.4g}. Evaluate torch.log(1 - torch.sigmoid(l)) on a fine "
                "float32 grid of l (or bisect) and find where it first becomes -inf")


# ------------------------------------------------------------------------------ exercise 3

def source_pixel_floor(x: torch.Tensor) -> torch.Tensor:
    """Per pixel, the infimum over the source text decoder's outputs s in [0, 1] of the source text's loss
    ``binary_cross_entropy_with_logits(s, x) = x softplus(-s) + (1 - x) softplus(s)``.

    Its derivative in s is sigmoid(s) - x, and sigmoid(s) can only reach [1/2, sigmoid(1)]:
    x <= 1/2 gives s -> 0 (cost log 2), x >= sigmoid(1) gives s -> 1, and in between the best s
    is logit(x), where the cost is the binary entropy H(x).
    """
    x = x.double()
    best_s = torch.logit(x.clamp(0.5, torch.sigmoid(torch.tensor(1.0, dtype=torch.float64))))
    return F.binary_cross_entropy_with_logits(best_s, x, reduction="none")


def exercise_3_grey_image() -> torch.Tensor:
    grey, _ = load_mnist("test", binarize=None)
    return grey[EXERCISE_3_TEST_INDEX]


def check_source_grey_floor(answer) -> Feedback:
    """Exercise 3: the lowest value the source text's reconstruction loss can reach on the grey-level
    test image ``EXERCISE_3_TEST_INDEX`` (nats, to 0.05)."""
    value = number_or_feedback(answer, "one number (nats)")
    if isinstance(value, Feedback):
        return value
    grey = exercise_3_grey_image()
    expected = float(source_pixel_floor(grey).sum())
    if close(value, expected, atol=0.05):
        return say(f"correct: {expected:.2f} nats. Every pixel with grey level <= 1/2 (most of "
                    f"them) costs log 2 = {math.log(2):.4f} nats however well the network "
                    "is trained")
    entropy = float(F.binary_cross_entropy(grey.double(), grey.double(), reduction="sum"))
    if close(value, entropy, atol=0.05):
        return say(f"that is sum_j H(x_j) = {entropy:.2f} nats, the floor of a *correct* "
                    "Bernoulli decoder (free p_j = x_j); the source text's implied p_j can only lie in "
                    "(1/2, sigmoid(1))")
    n_pixels = grey.numel()
    if close(value, n_pixels * math.log(2), atol=0.05):
        return say("that is what s = 0 everywhere costs (784 log 2); the bright stroke pixels "
                    "can do better with s -> 1")
    binary = (grey > 0.5).double()
    if close(value, float(source_pixel_floor(binary).sum()), atol=0.05):
        return say("that is the floor of a *binarized* version of the image; the exercise "
                    "uses the grey levels themselves, as the source text's code does")
    return say(f"not quite: got {value:.4g}. Per pixel, minimize x softplus(-s) + (1 - x) "
                "softplus(s) over s in [0, 1] (its derivative is sigmoid(s) - x), then sum")


# ------------------------------------------------------------------------------ exercise 4

def bernoulli_mass_on_grey_levels(lam: float) -> float:
    """The integral over x in [0, 1] of lam^x (1 - lam)^(1 - x): 1 / C(lam), with C the
    continuous Bernoulli's normalizing constant (Loaiza-Ganem & Cunningham 2019, section 3)."""
    if not 0 < lam < 1:
        raise ValueError(f"lam must lie in (0, 1), got {lam}")
    if abs(lam - 0.5) < 1e-9:
        return 0.5
    return (1 - 2 * lam) / (2 * math.atanh(1 - 2 * lam))


def check_grey_level_mass(answer) -> Feedback:
    """Exercise 4: the integral over x in [0, 1] of lam^x (1 - lam)^(1 - x) for
    lam = EXERCISE_4_LAMBDA (to 1e-3)."""
    value = number_or_feedback(answer, "one number")
    if isinstance(value, Feedback):
        return value
    lam = EXERCISE_4_LAMBDA
    expected = bernoulli_mass_on_grey_levels(lam)
    if close(value, expected, atol=1e-3):
        return say(f"correct: {expected:.4f}, well below 1. Treating grey levels as Bernoulli "
                    f"targets scores them with a 'density' that is missing the factor "
                    f"C({lam:g}) = {1 / expected:.4f}; the continuous Bernoulli puts it back")
    if close(value, 1.0, atol=1e-3):
        return say("that is the sum over x in {0, 1} (a proper pmf); the question integrates "
                    "over all grey levels x in [0, 1]")
    if close(value, 1 / expected, atol=1e-3):
        return say("that is C(lam), the normalizing constant; the question asks for its "
                    "inverse, the integral itself")
    return say(f"not quite: got {value:.4g}. Write lam^x (1 - lam)^(1 - x) = (1 - lam) "
                "exp(x log(lam / (1 - lam))) and integrate the exponential from 0 to 1 (or "
                "integrate numerically with np.trapezoid on a fine grid)")
