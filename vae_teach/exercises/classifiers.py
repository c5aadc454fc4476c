"""Checkers for the exercises of notebooks 01 (generative vs discriminative) and 09 (VAEs and
support vector machines).

Each checker returns a ``Feedback`` message (a ``str`` shown as plain text): "not answered yet"
for ``None``, a message starting with "correct" for a right answer, or what is off.  A wrong
answer never raises, so the notebooks run unchanged in CI.
"""
from __future__ import annotations

import math

import torch

from ..classifiers import BernoulliNaiveBayes, flip_latent_sign, interpolate_models
from ..objectives import elbo
from ..utils import validate_positive_float, validate_tensor
from . import NOT_ANSWERED, Feedback, number_or_feedback
from . import as_number as _as_number
from . import as_vector as _as_vector


def _check_nb(nb) -> None:
    if not isinstance(nb, BernoulliNaiveBayes) or nb.pixel_probs is None:
        raise TypeError("nb must be a fitted vae_teach.classifiers.BernoulliNaiveBayes")


# =============================================================================== notebook 01

def check_nb_posterior(answer, nb: BernoulliNaiveBayes, x: torch.Tensor) -> Feedback:
    """Exercise 01.1: p(c | x) for one image ``x`` [784], as 10 probabilities, from
    ``nb.log_prior`` and ``nb.pixel_probs`` by Bayes' rule.  The reference is built here with
    ``torch.distributions`` (an independent path from ``nb.log_posterior``)."""
    _check_nb(nb)
    validate_tensor("x", x, ndim=1)
    if answer is None:
        return Feedback(NOT_ANSWERED)
    value = _as_vector(answer)
    k = nb.pixel_probs.shape[0]
    if value is None or value.shape[0] != k:
        return Feedback(f"answer must be {k} numbers, p(c | x) for c = 0..{k - 1}")
    log_lik = torch.distributions.Bernoulli(probs=nb.pixel_probs).log_prob(x.double()).sum(-1)
    joint = log_lik + nb.log_prior
    expected = torch.distributions.Categorical(logits=joint).probs
    if torch.allclose(value, expected, atol=1e-6):
        return Feedback(f"correct: the most probable class is {int(expected.argmax())} with "
                        f"p = {float(expected.max()):.4f}", True)
    if not torch.isfinite(value).all():
        return Feedback("your answer has NaN or inf: exp(log p(x, c)) underflows for 784 pixels. "
                        "Subtract the largest log-joint first (or use torch.logsumexp)")
    if torch.allclose(value, joint, atol=1e-6):
        return Feedback("those are the log-joints log p(x, c); normalize: "
                        "p(c|x) = exp(joint - logsumexp(joint))")
    if torch.allclose(value, torch.softmax(log_lik, 0), atol=1e-6):
        return Feedback("you left out the class prior log p(c); add nb.log_prior to the "
                        "log-likelihoods before normalizing")
    if abs(float(value.sum()) - 1) > 1e-6:
        return Feedback(f"your numbers sum to {float(value.sum()):.4g}, not 1: divide by "
                        "p(x) = sum_c p(x, c)")
    return Feedback("not quite. log p(x|c) = sum_j x_j log theta_cj + (1 - x_j) log(1 - theta_cj); "
                    "add log p(c), then normalize over the classes with logsumexp")


def check_nb_log_odds(answer, nb: BernoulliNaiveBayes, positive: int, negative: int,
                      x: torch.Tensor) -> Feedback:
    """Exercise 01.2: ``(w, b)`` with log p(positive|x) - log p(negative|x) = x . w + b,
    checked on the images ``x`` [N, 784]."""
    _check_nb(nb)
    validate_tensor("x", x, ndim=2)
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return Feedback("answer must be a pair (w, b): a vector of 784 weights and one number")
    w, b = _as_vector(answer[0]), _as_number(answer[1])
    if w is None or w.shape[0] != x.shape[1] or b is None:
        return Feedback(f"w must be {x.shape[1]} numbers and b one number")
    log_post = nb.log_posterior(x)
    target = log_post[:, positive] - log_post[:, negative]
    mine = x.double() @ w + b
    error = float((mine - target).abs().max())
    if error < 1e-6:
        return Feedback("correct: naive Bayes is a linear classifier; only the way it picks w "
                        "and b (counting) differs from logistic regression", True)
    w_ref, b_ref = nb.log_odds(positive, negative)
    if torch.allclose(w, w_ref, atol=1e-6):
        if abs(b - float(b_ref - nb.log_prior[positive] + nb.log_prior[negative])) < 1e-6:
            return Feedback("w is right; b misses the prior term log p(positive) - log p(negative)")
        return Feedback("w is right; b is off. b collects every term without x: the sums of "
                        "log(1 - theta) and the log priors")
    if torch.allclose(w, -w_ref, atol=1e-6):
        return Feedback("w has the wrong sign: the positive class goes first")
    return Feedback(f"not quite (largest error {error:.3g} nats). Expand log p(x|c) and collect "
                    "the terms in x_j: w_j = logit(theta_pos,j) - logit(theta_neg,j)")


def check_expected_on_pixels(answer, nb: BernoulliNaiveBayes) -> Feedback:
    """Exercise 01.3: the expected number of 'on' pixels of an image x ~ p(x | c), one number per
    class (10 numbers)."""
    _check_nb(nb)
    if answer is None:
        return Feedback(NOT_ANSWERED)
    value = _as_vector(answer)
    k = nb.pixel_probs.shape[0]
    if value is None or value.shape[0] != k:
        return Feedback(f"answer must be {k} numbers, one per class")
    expected = nb.pixel_probs.sum(1)
    if torch.allclose(value, expected, atol=1e-3):
        return Feedback(f"correct: E[sum_j x_j | c] = sum_j theta_cj, from "
                        f"{float(expected.min()):.1f} (class {int(expected.argmin())}) to "
                        f"{float(expected.max()):.1f} (class {int(expected.argmax())}) pixels", True)
    if torch.allclose(value, expected / nb.pixel_probs.shape[1], atol=1e-4):
        return Feedback("that is an average; the question asks for the expected *number* of "
                        "on pixels, a sum over the 784 pixels")
    if torch.allclose(value, expected, atol=2.0):
        return Feedback("close, but not exact: a sample count is random, and the training-data "
                        "average is not the model's expectation (the prior smooths theta). "
                        "Use linearity of expectation on the model's theta")
    return Feedback("not quite. Each x_j is Bernoulli(theta_cj), so E[x_j | c] = theta_cj; add up")


# =============================================================================== notebook 09

def check_signed_distance(answer, w: torch.Tensor, b: float, x: torch.Tensor) -> Feedback:
    """Exercise 09.1: the signed Euclidean distance from point ``x`` to the hyperplane
    w . x + b = 0 (positive on the side w points to)."""
    validate_tensor("w", w, ndim=1)
    validate_tensor("x", x, ndim=1)
    value = number_or_feedback(answer, "one number (a distance, in the units of x)")
    if isinstance(value, Feedback):
        return value
    w, x = w.double(), x.double()
    f = float(x @ w + b)
    norm = float(w.norm())
    expected = f / norm
    tol = 1e-6 * max(1.0, abs(expected))
    if abs(value - expected) <= tol:
        return Feedback(f"correct: f(x) / |w| = {f:.4f} / {norm:.4f} = {expected:.4f}; the margin "
                        f"lines f = +-1 lie at distance 1/|w| = {1 / norm:.4f}", True)
    if abs(value + expected) <= tol:
        return Feedback("right size, wrong sign: keep the sign of f(x) = w . x + b")
    if abs(value - f) <= 1e-6 * max(1.0, abs(f)):
        return Feedback("that is f(x), the *functional* margin; divide by |w| to get a distance")
    if abs(value - f / norm ** 2) <= 1e-6 * max(1.0, abs(f)):
        return Feedback("you divided by |w|^2; the distance divides by |w| once")
    return Feedback("not quite. Move from x along w/|w| until f = 0: distance = f(x) / |w|")


def check_hinge_subgradient(answer, w: torch.Tensor, b: float, x: torch.Tensor,
                            y: torch.Tensor, C: float) -> Feedback:
    """Exercise 09.2: a sub-gradient ``(g_w, g_b)`` of 1/2 |w|^2 + C sum_i max(0, 1 - y_i f_i)
    at (w, b), compared with autograd (no point sits exactly on the kink here)."""
    validate_tensor("w", w, ndim=1)
    validate_tensor("x", x, ndim=2)
    C = validate_positive_float("C", C)
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return Feedback("answer must be a pair (g_w, g_b)")
    g_w, g_b = _as_vector(answer[0]), _as_number(answer[1])
    if g_w is None or g_w.shape[0] != w.shape[0] or g_b is None:
        return Feedback(f"g_w must have {w.shape[0]} entries and g_b must be one number")
    w_ = w.double().clone().requires_grad_(True)
    b_ = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    y = y.double()
    margins = y * (x.double() @ w_ + b_)
    objective = 0.5 * w_ @ w_ + C * torch.clamp(1 - margins, min=0).sum()
    objective.backward()
    ref_w, ref_b = w_.grad, float(b_.grad)
    scale = 1e-6 * max(1.0, float(ref_w.abs().max()))
    if torch.allclose(g_w, ref_w, atol=scale) and abs(g_b - ref_b) <= 1e-6 * max(1.0, abs(ref_b)):
        active = int((margins.detach() < 1).sum())
        return Feedback(f"correct: {active} of {len(y)} points have y f < 1 and push on (w, b); "
                        "the others contribute nothing", True)
    if torch.allclose(g_w, ref_w - w.double(), atol=scale):
        return Feedback("g_w misses the gradient of 1/2 |w|^2, which is w itself")
    if torch.allclose(g_w, -(ref_w - w.double()) + w.double(), atol=scale):
        return Feedback("the hinge part has the wrong sign: d/dw max(0, 1 - y f) = -y x where active")
    if C != 1 and torch.allclose(g_w, w.double() + (ref_w - w.double()) / C, atol=scale):
        return Feedback("you forgot the factor C in front of the hinge sum")
    if torch.allclose(g_w, ref_w, atol=scale):
        return Feedback("g_w is right; g_b is off: d/db max(0, 1 - y f) = -y for active points")
    return Feedback("not quite. Only points with y_i f(x_i) < 1 contribute: "
                    "g_w = w - C sum_active y_i x_i and g_b = -C sum_active y_i")


def check_flip_cost(answer, vae, x: torch.Tensor, k: int, n_samples: int = 4,
                    seed: int = 0) -> Feedback:
    """Exercise 09.3: how much worse (in nats per image, a positive number) the -ELBO of the
    midpoint between ``vae`` and ``flip_latent_sign(vae, k)`` is than the -ELBO of ``vae``,
    on images ``x``.  Recomputed here as the notebook asks: ``elbo(..., n_samples,
    generator=torch.Generator().manual_seed(seed))`` for both models, so the same computation
    agrees to rounding; 0.05 nats (or 2 %) of Monte-Carlo slack is allowed for other seeds."""
    validate_tensor("x", x, ndim=2)
    value = number_or_feedback(answer, "one number, in nats per image")
    if isinstance(value, Feedback):
        return value
    with torch.no_grad():
        middle = interpolate_models(vae, flip_latent_sign(vae, k), 0.5)
        loss_end = -elbo(vae, x, n_samples, generator=torch.Generator().manual_seed(seed)).mean()
        loss_mid = -elbo(middle, x, n_samples, generator=torch.Generator().manual_seed(seed)).mean()
    expected = float(loss_mid - loss_end)
    tol = max(0.05, 0.02 * abs(expected))
    if math.isfinite(value) and abs(value - expected) <= tol:
        return Feedback(f"correct: about {expected:.1f} nats. A coordinate that carries little "
                        "information (low rate) costs little when the midpoint switches it off; "
                        "the most informative one costs the most", True)
    if math.isfinite(value) and abs(value + expected) <= tol:
        return Feedback("right size, wrong sign: the midpoint is *worse*, so its -ELBO is larger")
    if math.isfinite(value) and abs(value) < 1e-3:
        return Feedback("zero: did you compare a model with itself? The midpoint is "
                        "interpolate_models(vae, flip_latent_sign(vae, k), 0.5)")
    return Feedback(f"not quite: expected about {expected:.1f} nats. Build the flipped model and "
                    "the midpoint with interpolate_models(vae, flipped, 0.5), then subtract the "
                    "two mean -ELBOs")
