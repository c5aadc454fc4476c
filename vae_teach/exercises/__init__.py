"""Exercise checkers, one module per chapter idea.

Every checker returns a ``Feedback``: "not answered yet" for ``None``, a message starting with
"correct", or what is off.  Call it as the last line of the exercise cell and Jupyter shows the
message as plain text; ``feedback.correct`` says whether the answer was right (tests use it).
"""
from __future__ import annotations

import math

import numpy as np
import torch

NOT_ANSWERED = "not answered yet: replace None with your answer and run the cell again"


class Feedback(str):
    """A checker's message.  ``.correct`` says whether the answer was right; Jupyter shows the
    text without quotes."""

    correct: bool = False

    def __new__(cls, message: str, correct: bool = False):
        feedback = super().__new__(cls, message)
        feedback.correct = correct
        return feedback

    def __repr__(self) -> str:  # shown as the message itself, in and out of IPython
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display: plain text
        printer.text(str(self))


def say(message: str) -> Feedback:
    """A Feedback whose ``correct`` flag is read off the message ("correct..." or not)."""
    return Feedback(message, correct=message.startswith("correct"))


def close(a: float, b: float, *, atol: float = 0.0, rtol: float = 0.0) -> bool:
    """Whether an answer ``a`` is finite and within ``atol + rtol * |b|`` of the reference ``b``."""
    return math.isfinite(a) and abs(a - b) <= atol + rtol * abs(b)


def as_number(answer) -> float | None:
    """A Python float from a number or a one-element tensor/array; None if it is neither."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return float(answer)
    if isinstance(answer, np.ndarray) and answer.size == 1:
        return float(answer.reshape(()))
    if isinstance(answer, (int, float, np.integer, np.floating)):
        return float(answer)
    return None


def number_or_feedback(answer, what: str, hint: str = "") -> float | Feedback:
    """The answer as a float, or the Feedback a checker returns instead: "not answered yet" for
    None, "answer must be <what>" (naming the type given, then the ``hint``) for anything but
    one number."""
    if answer is None:
        return say(NOT_ANSWERED)
    value = as_number(answer)
    if value is None:
        return say(f"answer must be {what}, got {type(answer).__name__}" + (f"; {hint}" if hint else ""))
    return value


def as_vector(answer) -> torch.Tensor | None:
    """A float64 1-D tensor from a list, array or tensor of numbers; None if impossible."""
    try:
        values = torch.as_tensor(np.asarray(
            answer.detach() if isinstance(answer, torch.Tensor) else answer, dtype=np.float64))
    except (TypeError, ValueError):
        return None
    return values if values.dim() == 1 else None
