"""Checkers for the exercises of notebook 03 (probabilistic models: learning p_theta ~ p*).

Each checker returns a ``Feedback`` message: "not answered yet" for ``None``, a message starting
with "correct" for a right answer, or what is off.  A wrong answer never raises.
"""
from __future__ import annotations

import math

import numpy as np

from ..probmodels import mixture_moments
from . import NOT_ANSWERED, Feedback, number_or_feedback
from . import as_vector as _as_vector

# Exercise 1: a two-component mixture p*.
EXERCISE_WEIGHTS = (0.6, 0.4)
EXERCISE_MEANS = (-1.0, 2.0)
EXERCISE_STDS = (0.5, 1.0)

# Exercise 2: a fair die p* and a loaded model q.
FAIR_DIE = (1 / 6,) * 6
LOADED_DIE = (0.1, 0.1, 0.1, 0.1, 0.1, 0.5)

# Exercise 3: a Beta(2, 2) prior and three heads in three flips.
PRIOR_A, PRIOR_B, HEADS, FLIPS = 2.0, 2.0, 3, 3


# ------------------------------------------------------------------------------ exercise 1

def check_best_gaussian(answer) -> Feedback:
    """Exercise 1: (mu, sigma) of the Gaussian q minimizing KL(p* || q) for the mixture p*."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    values = _as_vector(answer)
    if values is None or len(values) != 2:
        return Feedback("answer must be two numbers (mu, sigma)")
    mu, sigma = float(values[0]), float(values[1])
    mean, var = mixture_moments(EXERCISE_WEIGHTS, EXERCISE_MEANS, EXERCISE_STDS)
    mu_ok, sigma_ok = abs(mu - mean) < 1e-3, abs(sigma - math.sqrt(var)) < 1e-3
    if mu_ok and sigma_ok:
        return Feedback(f"correct: mu = {mean:.4f}, sigma = {math.sqrt(var):.4f} (moment "
                        "matching: minimizing KL(p* || q) over Gaussians q matches the mean and "
                        "the variance of p*)", True)
    if not mu_ok:
        return Feedback(f"mu is off (got {mu:.4f}): the best mean is the mean of p*, "
                        "sum_k w_k m_k")
    if abs(sigma - var) < 1e-3:
        return Feedback("that sigma is the variance; give its square root")
    within = math.sqrt(sum(w * s * s for w, s in zip(EXERCISE_WEIGHTS, EXERCISE_STDS)))
    if abs(sigma - within) < 1e-3:
        return Feedback("that sigma counts only the spread *within* the components; the spread "
                        "*between* their means adds sum_k w_k (m_k - mean)^2 to the variance")
    return Feedback(f"sigma is off (got {sigma:.4f}): Var = sum_k w_k (s_k^2 + m_k^2) - mean^2")


# ------------------------------------------------------------------------------ exercise 2

def check_die_kl(answer) -> Feedback:
    """Exercise 2: KL(p* || q) in nats for the fair die p* and the loaded model q."""
    value = number_or_feedback(answer, "one number (nats)")
    if isinstance(value, Feedback):
        return value
    p, q = np.array(FAIR_DIE), np.array(LOADED_DIE)
    kl = float(np.sum(p * np.log(p / q)))
    reverse = float(np.sum(q * np.log(q / p)))
    cross_entropy = float(-np.sum(p * np.log(q)))
    if abs(value - kl) < 1e-4:
        return Feedback(f"correct: KL = {kl:.4f} nats = cross-entropy {cross_entropy:.4f} minus "
                        f"entropy log 6 = {math.log(6):.4f}", True)
    if abs(value - reverse) < 1e-4:
        return Feedback("that is KL(q || p*), the other direction; KL is not symmetric. "
                        "Average log(p*/q) under p*")
    if abs(value - cross_entropy) < 1e-4:
        return Feedback("that is the cross-entropy E_p*[-log q], what the average negative "
                        "log-likelihood estimates; subtract the entropy H(p*) = log 6")
    if abs(value - kl / math.log(2)) < 1e-4:
        return Feedback("that is in bits; the course uses nats (natural logarithm)")
    return Feedback(f"not quite: got {value:.4f}. KL(p* || q) = sum_i p*_i log(p*_i / q_i)")


# ------------------------------------------------------------------------------ exercise 3

def check_next_flip(answer) -> Feedback:
    """Exercise 3: P(heads on flip 4 | three heads in three flips) under a Beta(2, 2) prior."""
    value = number_or_feedback(answer, "one number (a probability)")
    if isinstance(value, Feedback):
        return value
    predictive = (HEADS + PRIOR_A) / (FLIPS + PRIOR_A + PRIOR_B)
    posterior_mode = (HEADS + PRIOR_A - 1) / (FLIPS + PRIOR_A + PRIOR_B - 2)
    if abs(value - predictive) < 1e-4:
        return Feedback(f"correct: the posterior is Beta(5, 2) and its mean, 5/7 = "
                        f"{predictive:.4f}, is the predictive probability", True)
    if abs(value - 1.0) < 1e-4:
        return Feedback("1 is the maximum-likelihood answer k/n: it gives tails probability "
                        "zero, and log 0 = -inf the first time tails shows up")
    if abs(value - posterior_mode) < 1e-4:
        return Feedback("that is the posterior *mode* (MAP estimate); the probability of the "
                        "next flip averages over the posterior, so it is the posterior *mean*")
    if abs(value - 0.5) < 1e-4:
        return Feedback("0.5 is the prior mean; the three heads should move it")
    return Feedback(f"not quite: got {value:.4f}. Posterior Beta(a + k, b + n - k); predictive "
                    "P(heads) = (k + a) / (n + a + b)")


EXAMPLES = [
    (check_best_gaussian, (0.2, math.sqrt(mixture_moments(EXERCISE_WEIGHTS, EXERCISE_MEANS,
                                                           EXERCISE_STDS)[1])), (0.2, 0.7)),
    (check_die_kl, float(np.sum(np.array(FAIR_DIE) * np.log(np.array(FAIR_DIE) / np.array(LOADED_DIE)))),
     float(np.sum(np.array(LOADED_DIE) * np.log(np.array(LOADED_DIE) / np.array(FAIR_DIE))))),
    (check_next_flip, 5 / 7, 1.0),
]
