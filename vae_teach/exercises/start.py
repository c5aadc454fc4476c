"""Exercise checkers for notebook 00 (start here)."""
from __future__ import annotations

import torch

from ..data import load_mnist
from . import Feedback


def _report(ok: bool, message: str) -> Feedback:
    return Feedback(("correct: " if ok else "not quite: ") + message, correct=ok)


def check_digit_count(answer) -> Feedback:
    """Exercise 1: how many images of the digit 7 are in the test split?"""
    if answer is None:
        return Feedback("not answered yet: set `answer` to a number and run the cell again")
    _, labels = load_mnist("test")
    truth = int((labels == 7).sum())
    try:
        value = int(answer)
    except (TypeError, ValueError):
        return _report(False, f"answer must be a whole number, got {answer!r}")
    if value == truth:
        return _report(True, f"the test split holds {truth} sevens")
    hint = "count the labels equal to 7 in load_mnist('test')[1]"
    if value == 200:
        hint = "the classes are not equally large: MNIST has more ones than fives"
    return _report(False, f"{value} is not it; {hint}")


def check_ink_fraction(answer) -> Feedback:
    """Exercise 2: the fraction of pixels that are 1 in the fixed-binarized training split."""
    if answer is None:
        return Feedback("not answered yet: set `answer` to a number between 0 and 1")
    x, _ = load_mnist("train", "fixed")
    truth = float(x.mean())
    if not isinstance(answer, (int, float, torch.Tensor)):
        return _report(False, f"answer must be a number, got {type(answer).__name__}")
    value = float(answer)
    if abs(value - truth) < 1e-4:
        return _report(True, f"{truth:.4f} of the pixels are ink: the images are mostly background")
    if abs(value - truth * 784) < 0.5:
        return _report(False, "that is the number of ink pixels per image; divide by 784")
    return _report(False, f"{value:.4f} is off; take the mean of all entries of x")
