"""Checkers for the exercises of notebook 10 (KL divergence and mutual information).

Each checker returns one message (a ``Feedback``): "not answered yet" for ``None``, a message starting
with "correct" for a right answer, or what is off.  They never raise on a wrong answer, so the
notebook runs unchanged in CI.  Expected values are closed forms computed here.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..information import aggregate_log_density
from . import NOT_ANSWERED, Feedback, say
from . import as_number as _as_number


# Exercise 1: the "Gaussian channel".  x ~ N(0, 1) and q(z|x) = N(GAIN x, NOISE_VARIANCE).
EXERCISE_1_GAIN = 0.8
EXERCISE_1_NOISE_VARIANCE = 0.36
# Exercise 3: the reported average rates (nats) of two VAEs, each on N test images.
EXERCISE_3_N = 1000
EXERCISE_3_RATES = (3.0, 25.0)


def _as_pair(answer) -> tuple[float, float] | None:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__len__") or len(answer) != 2:
        return None
    values = [_as_number(a) for a in answer]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return values[0], values[1]


# ------------------------------------------------------------------------------ exercise 1

def exercise_1_solution() -> tuple[float, float]:
    """(I_q(x; z), KL(q(z) || p(z))) in nats for x ~ N(0, 1), q(z|x) = N(a x, s^2).

    q(z) = N(0, a^2 + s^2), so I = 0.5 log((a^2 + s^2) / s^2) and
    KL(N(0, v) || N(0, 1)) = 0.5 (v - 1 - log v) with v = a^2 + s^2.
    """
    a2, s2 = EXERCISE_1_GAIN ** 2, EXERCISE_1_NOISE_VARIANCE
    v = a2 + s2
    return 0.5 * math.log(v / s2), 0.5 * (v - 1.0 - math.log(v))


def check_gaussian_channel(answer) -> Feedback:
    """Exercise 1: ``answer = (I_q, marginal_kl)`` in nats for the Gaussian channel."""
    if answer is None:
        return say(NOT_ANSWERED)
    pair = _as_pair(answer)
    if pair is None:
        return say("answer must be a pair of two finite numbers: (I_q in nats, "
                    f"KL(q(z)||p(z)) in nats); got {answer!r}")
    info, kl = pair
    true_info, true_kl = exercise_1_solution()
    v = EXERCISE_1_GAIN ** 2 + EXERCISE_1_NOISE_VARIANCE
    problems = []
    if abs(info - true_info) > 2e-3:
        if abs(info - 2 * true_info) < 2e-3:
            problems.append("I_q is twice too large: the Gaussian entropy has a factor 1/2, "
                            "H = 1/2 log(2 pi e v)")
        elif abs(info - true_info / math.log(2)) < 2e-3:
            problems.append("I_q is in bits; use the natural log (nats)")
        elif abs(info - 0.5 * math.log(1 + EXERCISE_1_GAIN / EXERCISE_1_NOISE_VARIANCE)) < 2e-3:
            problems.append("the signal variance of z is a^2 Var(x) = a^2, not a")
        else:
            problems.append(f"I_q = {info:.4f} is off: I_q = H(z) - H(z|x) with q(z) = "
                            "N(0, a^2 Var(x) + s^2) and q(z|x) = N(a x, s^2)")
    if abs(kl - true_kl) > 2e-3:
        problems.append(f"KL(q(z)||p(z)) = {kl:.4f} is off: what is the variance of q(z)? "
                        "Compare it with the prior's variance 1")
    if problems:
        return say("not yet: " + "; ".join(problems))
    return say(f"correct: q(z) = N(0, {v:.2f}) is exactly the prior, so KL(q(z)||p(z)) = 0 "
                f"and ALL of the rate, {true_info:.4f} nats, is information about x")


# ------------------------------------------------------------------------------ exercise 2

def check_log_aggregate_posterior(answer) -> Feedback:
    """Exercise 2: ``answer`` is a function f(z [M, d], mu [N, d], logvar [N, d]) -> [M] giving
    log q(z) = log (1/N) sum_n N(z; mu_n, diag exp(logvar_n))."""
    if answer is None:
        return say(NOT_ANSWERED)
    if not callable(answer):
        return say(f"answer must be a function f(z, mu, logvar), got {type(answer).__name__}")
    generator = torch.Generator().manual_seed(10)
    easy = (torch.randn(7, 3, generator=generator), torch.randn(5, 3, generator=generator),
            0.3 * torch.randn(5, 3, generator=generator))
    # 40 dimensions and small variances: every density is below 1e-300 -> exp() underflows.
    hard = (torch.randn(6, 40, generator=generator), torch.randn(50, 40, generator=generator),
            torch.full((50, 40), -4.0))
    for name, (z, mu, logvar) in (("a small case (M=7, N=5, d=3)", easy),
                                  ("a 40-dimensional case with small variances", hard)):
        try:
            result = answer(z.clone(), mu.clone(), logvar.clone())
        except Exception as error:  # the student's code may fail in any way
            return say(f"not yet: your function raised {type(error).__name__}: {error} "
                        f"on {name}")
        if not isinstance(result, torch.Tensor):
            result = torch.as_tensor(np.asarray(result, dtype=np.float64))
        expected = aggregate_log_density(z, mu, logvar)
        if result.shape != expected.shape:
            return say(f"not yet: on {name} the result has shape {tuple(result.shape)}, "
                        f"expected {tuple(expected.shape)} (one log-density per row of z)")
        result = result.double()
        if not torch.isfinite(result).all():
            return say(f"not yet: on {name} you get -inf or NaN: exp() of log-densities near "
                        "-1000 rounds to 0.  Stay in log space: torch.logsumexp over the N "
                        "components, then subtract log N")
        gap = result - expected
        if torch.allclose(gap, torch.full_like(gap, math.log(len(mu))), atol=1e-3):
            return say("not yet: you are off by exactly +log N: the mixture weights are 1/N, "
                        "so subtract log N after the logsumexp")
        if not torch.allclose(result, expected, atol=1e-3, rtol=1e-5):
            return say(f"not yet: on {name} your values differ from log q(z) by up to "
                        f"{float(gap.abs().max()):.3g} nats; check the Gaussian log-density "
                        "(-1/2 [log 2 pi + logvar + (z - mu)^2 / var], summed over d)")
    return say("correct: an exact mixture over all N components, computed in log space, so "
                "it works even when every single density underflows")


# ------------------------------------------------------------------------------ exercise 3

def exercise_3_solution() -> tuple[float, float]:
    """The upper bound min(R, log N) on I_q for each reported rate (approached, never reached
    exactly, by Gaussian encoders)."""
    return tuple(min(rate, math.log(EXERCISE_3_N)) for rate in EXERCISE_3_RATES)


def check_information_ceiling(answer) -> Feedback:
    """Exercise 3: ``answer = (bound on I_q for R = 3, bound on I_q for R = 25)`` with N = 1000."""
    if answer is None:
        return say(NOT_ANSWERED)
    pair = _as_pair(answer)
    if pair is None:
        return say(f"answer must be a pair of two numbers in nats, got {answer!r}")
    expected = exercise_3_solution()
    log_n = math.log(EXERCISE_3_N)
    problems = []
    for which, value, truth, rate in zip(("first", "second"), pair, expected, EXERCISE_3_RATES):
        if abs(value - truth) <= 1e-2:
            continue
        if abs(value - rate) <= 1e-2:
            problems.append(f"the {which} value: I_q <= R, but also I_q <= log N = "
                            f"{log_n:.2f} nats (x takes only N values)")
        elif abs(value - log_n) <= 1e-2:
            problems.append(f"the {which} value: I_q <= log N, but also I_q <= R = {rate:g}, "
                            "because KL(q(z)||p(z)) >= 0 in R = I_q + KL(q(z)||p(z))")
        elif abs(value - math.log2(EXERCISE_3_N)) <= 1e-2:
            problems.append(f"the {which} value is in bits; use nats (natural log)")
        else:
            problems.append(f"the {which} value {value:.3f} is off: which two upper bounds "
                            "does I_q have?")
    if problems:
        return say("not yet: " + "; ".join(problems))
    return say(f"correct: I_q <= min(R, log N): {expected[0]:.2f} nats (the rate binds) and "
                f"{expected[1]:.2f} nats (log N binds: the rest of the rate, at least "
                f"{EXERCISE_3_RATES[1] - log_n:.1f} nats, must be KL(q(z)||p(z)))")
