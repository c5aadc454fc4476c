"""One feedback convention for every chapter's exercise checkers, and notebook 00's checkers."""
import importlib
import pkgutil

import pytest
import torch

import vae_teach.exercises as exercises
from vae_teach.data import load_mnist
from vae_teach.exercises import Feedback, say
from vae_teach.exercises.start import check_digit_count, check_ink_fraction


def test_feedback_shows_as_plain_text_and_knows_if_it_is_correct():
    from IPython.lib.pretty import pretty

    right, wrong = say("correct: 42"), say("not quite: 41")
    assert right.correct and not wrong.correct
    assert pretty(right) == "correct: 42"                     # no quotes in a notebook
    assert isinstance(right, str) and Feedback("x").correct is False


@pytest.mark.parametrize("name", [m.name for m in pkgutil.iter_modules(exercises.__path__)])
def test_every_checker_returns_feedback_for_none_without_printing(name, capsys):
    module = importlib.import_module(f"vae_teach.exercises.{name}")
    checkers = [getattr(module, f) for f in dir(module) if f.startswith("check_")]
    assert checkers, f"vae_teach.exercises.{name} has no check_ function"
    for check in checkers:
        n_required = sum(p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
                         for p in __import__("inspect").signature(check).parameters.values())
        if n_required != 1:
            continue                    # checkers that also need the notebook's objects
        feedback = check(None)
        assert isinstance(feedback, Feedback), f"{name}.{check.__name__} returned {feedback!r}"
        assert feedback.startswith("not answered yet") and not feedback.correct
    assert capsys.readouterr().out == ""


def test_start_checkers():
    _, labels = load_mnist("test")
    sevens = int((labels == 7).sum())
    assert check_digit_count(sevens).correct
    wrong = check_digit_count(200)
    assert not wrong.correct and "not equally large" in wrong
    assert "whole number" in check_digit_count("seven")
    x, _ = load_mnist("train", "fixed")
    ink = x.mean()
    assert check_ink_fraction(ink).correct and check_ink_fraction(float(ink)).correct
    assert "divide by 784" in check_ink_fraction(float(ink) * 784)
    assert not check_ink_fraction(0.5).correct
    assert "must be a number" in check_ink_fraction([0.1])
    assert check_ink_fraction(torch.tensor(float(ink))).correct


@pytest.mark.parametrize("name", [m.name for m in pkgutil.iter_modules(exercises.__path__)
                                  if hasattr(importlib.import_module(f"vae_teach.exercises.{m.name}"),
                                             "EXAMPLES")])
def test_worked_examples_are_judged_right_and_wrong(name):
    """Modules that list (checker, right answer, wrong answer) examples: each is judged so."""
    module = importlib.import_module(f"vae_teach.exercises.{name}")
    for check, right, wrong in module.EXAMPLES:
        assert "not answered" in check(None).lower()
        assert check(right).lower().startswith("correct")
        message = check(wrong)
        assert not message.lower().startswith("correct") and len(message) > 10
