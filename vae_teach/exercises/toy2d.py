"""Checkers for the exercises of notebook 02 (VAEs and GANs on a ring of Gaussians).

Each checker returns a ``Feedback`` message: "not answered yet" for ``None``, a message starting
with "correct" for a right answer, or what is off.  A wrong answer never raises.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..toy2d import MODE_STD, mode_coverage, ring_centres, ring_of_gaussians
from . import NOT_ANSWERED, Feedback, number_or_feedback
from . import as_number as _as_number


# ------------------------------------------------------------------------------ exercise 1

def check_within_three_sigma(answer) -> Feedback:
    """Exercise 1: P(|x - c| <= 3 sigma) for x ~ N(c, sigma^2 I) in two dimensions."""
    value = number_or_feedback(answer, "one number (a probability)")
    if isinstance(value, Feedback):
        return value
    expected = 1 - math.exp(-4.5)
    if abs(value - expected) < 1e-4:
        return Feedback(f"correct: 1 - exp(-9/2) = {expected:.5f}. |x - c|/sigma has the Rayleigh "
                        "density r exp(-r^2/2), so about 1.1 % of true samples count as "
                        "'low quality' however good the model", True)
    one_d = math.erf(3 / math.sqrt(2))
    if abs(value - one_d) < 1e-4:
        return Feedback("that is the 1-D value P(|x| <= 3 sigma) = 0.9973; in 2-D the squared "
                        "distance is a sum of two squares, so more mass lies beyond 3 sigma")
    if abs(value - one_d ** 2) < 1e-4:
        return Feedback("that is the probability of the 3-sigma *square* (each coordinate within "
                        "3 sigma); the criterion is a *disc* of radius 3 sigma")
    return Feedback(f"not quite: got {value:.5f}. Integrate the 2-D Gaussian in polar "
                    "coordinates: the radius r = |x - c|/sigma has density r exp(-r^2/2)")


# ------------------------------------------------------------------------------ exercise 2

def check_generator_loss(answer) -> Feedback:
    """Exercise 2: a function ``loss(fake_logits) -> scalar``, the mean non-saturating generator
    loss -log D(G(z)) with D = sigmoid(logit), finite for every finite logit."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not callable(answer):
        return Feedback("answer must be a function of one tensor of logits, e.g. "
                        "answer = lambda logits: ...")
    cases = [torch.tensor([0.0, 1.0, -2.0]), torch.linspace(-5, 5, 11),
             torch.tensor([-100.0, -40.0, 30.0, 100.0])]
    for logits in cases:
        expected = F.softplus(-logits).mean()
        try:
            got = answer(logits.clone())
            got = float(got)
        except Exception as error:  # the student's code may fail in any way
            return Feedback(f"your function raised {type(error).__name__}: {error}")
        if not math.isfinite(got):
            return Feedback(f"your loss is {got} for logits {logits.tolist()}: log(sigmoid(l)) "
                            "underflows for very negative l. Use log sigmoid(l) = -softplus(-l) "
                            "(torch.nn.functional.softplus or logsigmoid)")
        saturating = -F.softplus(logits).mean()           # mean log(1 - D)
        if abs(got - float(saturating)) < 1e-4 and abs(got - float(expected)) > 1e-4:
            return Feedback("that is the saturating loss mean log(1 - D(G(z))), whose gradient "
                            "vanishes when D confidently rejects the fakes; the generator "
                            "should *minimize* -log D(G(z)) instead")
        if abs(got + float(expected)) < 1e-4 and abs(got - float(expected)) > 1e-4:
            return Feedback("the sign is flipped: the generator minimizes -log D(G(z)), which is "
                            ">= 0")
        if abs(got - float(expected)) > 1e-4 * max(1.0, abs(float(expected))):
            return Feedback(f"not quite: for logits {logits.tolist()} the loss should be "
                            f"{float(expected):.5f}, got {got:.5f}. Average over the batch")
    return Feedback("correct: softplus(-l) = -log sigmoid(l) = -log D, finite even for "
                    "l = -100", True)


def check_saturation_gradients(answer, logit: float = -6.0) -> Feedback:
    """Exercise 2: at a fake point with discriminator logit ``l`` (C = sigmoid(l), the discriminator of notebook 02), the pair
    ``(d/dl log(1 - C), d/dl -log C)``: the gradients of the minimax generator loss and of the
    non-saturating one.  At l = -6 (C is sure the point is fake) the first is about 400 times
    smaller than the second."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return Feedback("answer must be a pair (minimax gradient, non-saturating gradient)")
    values = [_as_number(value) for value in answer]
    if any(value is None for value in values):
        return Feedback("answer must be a pair of two numbers")
    l = torch.tensor(float(logit), dtype=torch.float64, requires_grad=True)
    minimax = torch.autograd.grad(-F.softplus(l), l)[0].item()           # log(1 - sigmoid(l))
    non_saturating = torch.autograd.grad(F.softplus(-l), l)[0].item()    # -log sigmoid(l)
    got_minimax, got_non_saturating = values

    def close(a, b):
        return abs(a - b) <= 1e-4 * max(1.0, abs(b))

    if close(got_minimax, minimax) and close(got_non_saturating, non_saturating):
        return Feedback(f"correct: {minimax:.5f} against {non_saturating:.5f}. Minimizing "
                        "log(1 - C) barely moves a fake that C rejects confidently (the gradient "
                        "-sigmoid(l) vanishes as l -> -inf); -log C pushes it with a gradient "
                        "near -1. Both losses have the same fixed points, but only the second "
                        "helps early in training (Goodfellow et al. 2014, §3)", True)
    if close(got_minimax, non_saturating) and close(got_non_saturating, minimax):
        return Feedback("the two numbers are swapped: the minimax loss log(1 - C) comes first")
    if close(abs(got_minimax), abs(minimax)) and close(abs(got_non_saturating), abs(non_saturating)):
        return Feedback("the sizes are right but a sign is off: both losses fall when l rises, "
                        "so both derivatives are negative")
    return Feedback(f"not quite. With C = sigmoid(l): d/dl log(1 - sigmoid(l)) = -sigmoid(l) and "
                    f"d/dl [-log sigmoid(l)] = -(1 - sigmoid(l)); evaluate both at l = {logit:g}")


# ------------------------------------------------------------------------------ exercise 3

def _coverage_cases():
    generator = torch.Generator().manual_seed(7)
    x, modes = ring_of_gaussians(3000, generator=generator)
    centres = ring_centres()
    dropped = x[modes < 5]                                        # 5 modes only
    few_far = torch.cat([x[modes != 2], centres[2] + 0.2 * torch.randn(4, 2, generator=generator)])
    spread = centres[modes[:1500]] + 0.3 * torch.randn(1500, 2, generator=generator)
    return [("the ring itself", x), ("five modes only", dropped),
            ("mode 2 has only a few samples", few_far), ("blurry samples (std 0.3)", spread)]


def check_count_covered_modes(answer) -> Feedback:
    """Exercise 3: a function ``count(samples, centres, std, min_share)`` returning how many
    centres have at least ``min_share`` of all samples within 3 std of them (and nearest)."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    if not callable(answer):
        return Feedback("answer must be a function count(samples, centres, std, min_share)")
    centres = ring_centres()
    for name, samples in _coverage_cases():
        expected = mode_coverage(samples, std=MODE_STD, min_share=0.02).n_modes_covered
        try:
            got = answer(samples.clone(), centres.clone(), MODE_STD, 0.02)
            got = int(got)
        except Exception as error:  # the student's code may fail in any way
            return Feedback(f"your function raised {type(error).__name__}: {error}")
        if got != expected:
            hint = ""
            if name.startswith("mode 2"):
                hint = (" A mode with a handful of nearby samples is *hit* but not covered: "
                        "compare the share, not the count, with min_share.")
            elif name.startswith("blurry"):
                hint = " Only samples within 3 std of a centre count."
            return Feedback(f"not quite: on '{name}' the answer is {expected}, you gave {got}."
                            + hint)
    return Feedback("correct: your count agrees with vae_teach.toy2d.mode_coverage on four "
                    "sample sets", True)


# Right and wrong answers, for the tests of the checkers themselves.
def _right_count(samples, centres, std, min_share):
    distances = torch.cdist(samples, centres)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= 3 * std
    shares = torch.bincount(nearest[good], minlength=len(centres)).double() / len(samples)
    return int((shares >= min_share).sum())


def _hit_count(samples, centres, std, min_share):
    distances = torch.cdist(samples, centres)
    return int(((distances <= 3 * std).any(dim=0)).sum())


EXAMPLES = [
    (check_within_three_sigma, 1 - math.exp(-4.5), math.erf(3 / math.sqrt(2))),
    (check_generator_loss, lambda l: F.softplus(-l).mean(),
     lambda l: torch.log(torch.sigmoid(l)).mul(-1).mean()),
    (check_count_covered_modes, _right_count, _hit_count),
]
