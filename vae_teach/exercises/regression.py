"""Checkers for the exercises of notebook 08 (KL versus SSE when fitting a line).

Each checker returns one message (a ``Feedback``): "not answered yet" for ``None``, a message
starting with "correct" for a right answer, or what is off.  They never raise on a wrong answer
(so the notebook runs unchanged in CI), only on a wrong *type* of answer, which they explain.
"""
from __future__ import annotations

import math

import torch

from ..regression import design_matrix, fit_line_normal_equations, max_stable_step, sse
from . import NOT_ANSWERED, Feedback, close, number_or_feedback, say


# ------------------------------------------------------------------------------ exercise 1

def check_noise_variance_mle(answer, x: torch.Tensor, y: torch.Tensor) -> Feedback:
    """Exercise 1: the maximum-likelihood noise variance sigma^2 of the line fit to (x, y).

    Correct: SSE_min / n.  Recognized mistakes: SSE_min / (n - 2) (the unbiased estimator),
    the standard deviation instead of the variance, SSE_min itself.
    """
    value = number_or_feedback(answer, "one number (a variance)")
    if isinstance(value, Feedback):
        return value
    slope, intercept = fit_line_normal_equations(x, y)
    sse_min, n = float(sse(x, y, slope, intercept)), x.shape[0]
    expected = sse_min / n
    if close(value, expected, rtol=1e-3):
        return say(f"correct: sigma^2_ML = SSE_min / n = {sse_min:.4f} / {n} = {expected:.4f}")
    if close(value, sse_min / (n - 2), rtol=1e-3):
        return say("that is SSE_min / (n - 2), the unbiased estimator; maximum likelihood "
                    "divides by n (set the derivative of the log-likelihood in sigma^2 to 0)")
    if close(value, math.sqrt(expected), rtol=1e-3):
        return say("that is the standard deviation; the question asks for the variance sigma^2")
    if close(value, sse_min, rtol=1e-3):
        return say("that is SSE_min itself; the log-likelihood has n terms, divide by n")
    return say(f"not quite: got {value:.4g}. Write -log-lik = SSE/(2 s) + (n/2) log(2 pi s) "
                "with s = sigma^2, differentiate in s and set it to 0 (use the fitted line's SSE)")


# ------------------------------------------------------------------------------ exercise 2

def check_shrink_factor(answer) -> Feedback:
    """Exercise 2: a function rho -> (variance of the reverse-KL diagonal q) / (true marginal
    variance) for a 2-D Gaussian with correlation rho.  Correct: 1 - rho^2."""
    if answer is None:
        return say(NOT_ANSWERED)
    if not callable(answer):
        return say(f"answer must be a function of rho (e.g. a lambda), got "
                    f"{type(answer).__name__}")
    rhos = [-0.95, -0.6, 0.0, 0.3, 0.8, 0.99]
    try:
        values = [float(answer(rho)) for rho in rhos]
    except Exception as error:  # the student's function failed: say how, do not crash
        return say(f"calling answer(rho) failed: {type(error).__name__}: {error}")
    expected = [1 - rho ** 2 for rho in rhos]
    if all(abs(v - e) < 1e-6 for v, e in zip(values, expected)):
        return say("correct: the ratio is 1 - rho^2, the same for both coordinates; it goes to "
                    "0 as |rho| -> 1 (reverse KL shrinks q the more, the stronger the correlation)")
    if all(abs(v * e - 1) < 1e-6 for v, e in zip(values, expected)):
        return say("inverted: 1 / (1 - rho^2) would make q *wider* than the marginal; the "
                    "reverse-KL q has variance 1 / Lambda_ii, which is smaller")
    if all(abs(v - math.sqrt(e)) < 1e-6 for v, e in zip(values, expected)):
        return say("that is the ratio of standard deviations; the question asks for variances")
    got = ", ".join(f"{rho:+.2f} -> {v:.3g}" for rho, v in zip(rhos, values))
    return say(f"not quite ({got}). Invert [[1, rho], [rho, 1]] and take 1 / diagonal")


# ------------------------------------------------------------------------------ exercise 3

def check_lighter_mode_kl(answer, weight: float) -> Feedback:
    """Exercise 3: KL(q || p) of the best Gaussian q sitting on a well-separated mode of
    mixture weight ``weight`` (the component q matches exactly).  Correct: about -log(weight)."""
    value = number_or_feedback(answer, "one number (nats)")
    if isinstance(value, Feedback):
        return value
    expected = -math.log(weight)
    if abs(value - expected) < 0.02:
        return say(f"correct: about -log({weight:g}) = {expected:.3f} nats. Where q has its "
                    f"mass, p = {weight:g} x (the component q copies), so "
                    "log q - log p = -log(weight) everywhere that matters")
    if abs(value - (-math.log(1 - weight))) < 0.02:
        return say("that is -log(1 - weight): the KL of q on the *other* mode")
    if abs(value - math.log(weight)) < 0.02:
        return say("check the sign: a KL divergence is never negative")
    return say(f"not quite: got {value:.4g} nats. Write KL(q||p) = E_q[log q - log p] and use "
                "that, near the mode q sits on, p(z) ~ weight x q(z)")


# ------------------------------------------------------------------------------ exercise 4

def check_max_step(answer, x: torch.Tensor) -> Feedback:
    """Exercise 4: the largest step size for which gradient descent on the mean squared error
    converges, for the design points ``x``.  Correct: n / lambda_max(X^T X)."""
    value = number_or_feedback(answer, "one number (a step size)")
    if isinstance(value, Feedback):
        return value
    expected = max_stable_step(x)
    if close(value, expected, rtol=0.01):
        return say(f"correct: lr_max = 2 / lambda_max(H) = n / lambda_max(X^T X) = "
                    f"{expected:.4f}; beyond it the error grows along the steepest direction")
    if close(value, expected / 2, rtol=0.01):
        return say("that is 1 / lambda_max(H), the step the notebook uses (fastest for the "
                    "steep direction); gradient descent still converges up to twice that")
    design = design_matrix(x)
    if close(value, 1 / float(torch.linalg.eigvalsh(design.T @ design).max()), rtol=0.01):
        return say("close, but that is for the *sum* of squared errors; the notebook descends "
                    "the *mean* (SSE / n), whose Hessian is (2/n) X^T X")
    return say(f"not quite: got {value:.4g}. The MSE is quadratic with Hessian "
                "H = (2/n) X^T X; one step multiplies the error along an eigenvector by "
                "(1 - lr * lambda), which must stay inside (-1, 1)")
