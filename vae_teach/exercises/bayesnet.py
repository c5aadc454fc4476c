"""Checkers for the exercises of notebook 05 (directed probabilistic models).

Each checker returns a ``Feedback`` message: "not answered yet" for ``None``, a message starting
with "correct" for a right answer, or what is off.  A wrong answer never raises.
"""
from __future__ import annotations

import numpy as np
import torch

from ..bayesnet import BayesNet, wet_grass_network
from . import NOT_ANSWERED, Feedback, number_or_feedback
from . import as_number as _as_number

# Exercise 1: a DAG of six binary variables (drawn in the notebook).
EXERCISE_DAG = {"a": [], "b": [], "c": ["a", "b"], "d": ["c"], "e": ["b", "c"],
                "f": ["a", "d", "e"]}


# ------------------------------------------------------------------------------ exercise 1

def check_parameter_count(answer) -> Feedback:
    """Exercise 1: the number of free parameters of the tables of ``EXERCISE_DAG``."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    value = _as_number(answer)
    if value is None or value != int(value):
        return Feedback("answer must be a whole number")
    sizes = [len(pa) for pa in EXERCISE_DAG.values()]
    expected = sum(2 ** k for k in sizes)
    if value == expected:
        return Feedback(f"correct: {' + '.join(str(2 ** k) for k in sizes)} = {expected}, "
                        f"against {2 ** len(sizes) - 1} for the full joint table", True)
    if value == 2 ** len(sizes) - 1:
        return Feedback("that is the full joint table (2^M - 1); count one number per row of "
                        "each node's table instead")
    if value == 2 * expected:
        return Feedback("you counted P(x=0 | ...) and P(x=1 | ...) separately; they sum to 1, "
                        "so each row of a binary table has one free number")
    if value == sum(sizes) + len(sizes):
        return Feedback("that would be a logistic (linear) conditional per node, |Pa| + 1 "
                        "numbers each; a table needs one number per setting of the parents")
    return Feedback(f"not quite: got {int(value)}. A binary node with k parents has a table "
                    "of 2^k rows, one free number per row")


# ------------------------------------------------------------------------------ exercise 2

def check_rain_given_slippery(answer) -> Feedback:
    """Exercise 2: P(rain = 1 | slippery = 1) in the wet-grass network, by enumeration."""
    value = number_or_feedback(answer, "one number (a probability)")
    if isinstance(value, Feedback):
        return value
    net = wet_grass_network()
    expected = float(net.query("rain", {"slippery": 1})[1])
    joint = net.joint()          # axes: rain, sprinkler, wet, neighbour, slippery
    wrong = {
        "the prior P(rain=1); observing slippery=1 should change it":
            float(net.cpts["rain"]),
        "P(slippery=1 | rain=1), the other direction; Bayes' rule turns it around":
            float(joint[1, :, :, :, 1].sum() / joint[1].sum()),
        "the joint P(rain=1, slippery=1); divide by P(slippery=1)":
            float(joint[1, :, :, :, 1].sum()),
    }
    if abs(value - expected) < 1e-4:
        return Feedback(f"correct: P(rain=1 | slippery=1) = {expected:.4f} (prior 0.2): the "
                        "evidence travels up through wet to rain", True)
    for message, number in wrong.items():
        if abs(value - number) < 1e-4:
            return Feedback(f"that is {message}")
    return Feedback(f"not quite: got {value:.4f}. Sum the joint over every assignment with "
                    "rain=1 and slippery=1, and divide by the sum over all with slippery=1")


# ------------------------------------------------------------------------------ exercise 3

def check_no_explaining_away(answer) -> Feedback:
    """Exercise 3: a table P(wet=1 | rain, sprinkler) (2 x 2, rows = rain) in which both parents
    matter, yet rain and sprinkler stay independent given wet = 1."""
    if answer is None:
        return Feedback(NOT_ANSWERED)
    try:
        table = torch.as_tensor(np.asarray(
            answer.detach() if isinstance(answer, torch.Tensor) else answer, dtype=np.float64))
    except (TypeError, ValueError):
        return Feedback("answer must be a 2 x 2 table of numbers (rows: rain = 0, 1; columns: "
                        "sprinkler = 0, 1)")
    if tuple(table.shape) != (2, 2):
        return Feedback(f"answer must have shape (2, 2), got {tuple(table.shape)}")
    if not torch.isfinite(table).all() or (table < 0).any() or (table > 1).any():
        return Feedback("every entry is a probability P(wet=1 | rain, sprinkler): keep it in [0, 1]")
    rain_matters = bool(((table[1] - table[0]).abs() > 0.05).any())
    sprinkler_matters = bool(((table[:, 1] - table[:, 0]).abs() > 0.05).any())
    if not (rain_matters and sprinkler_matters):
        return Feedback("both parents must matter: make some entries differ by more than 0.05 "
                        "along the rain axis and along the sprinkler axis")
    net: BayesNet = wet_grass_network().with_cpt("wet", table)   # P(wet=1) > 0: an entry > 0.05
    rain_given_wet = net.query("rain", {"wet": 1})
    if float(rain_given_wet.min()) <= 0.0:
        # A zero row: wet=1 rules out one value of rain, so conditioning on it would raise.
        ruled_out = int(rain_given_wet.argmin())
        return Feedback(f"correct, in a degenerate way: P(wet=1 | rain={ruled_out}, sprinkler) = 0, "
                        f"so observing wet=1 makes rain={1 - ruled_out} certain, and a certain "
                        "variable tells nothing about sprinkler. The case that teaches more keeps "
                        "every entry in (0, 1]: then learning rain is real news, and the "
                        "belief in sprinkler still does not move", True)
    with_rain = float(net.query("sprinkler", {"wet": 1, "rain": 1})[1])
    without_rain = float(net.query("sprinkler", {"wet": 1, "rain": 0})[1])
    if abs(with_rain - without_rain) < 1e-3:
        return Feedback(f"correct: P(sprinkler=1 | wet=1, rain=r) = {with_rain:.4f} for both r. "
                        "The table is a product f(rain) g(sprinkler) (rank 1), so conditioning "
                        "on wet=1 multiplies the independent prior by a factor that still "
                        "splits: no explaining away", True)
    return Feedback(f"not yet: P(sprinkler=1 | wet=1, rain=1) = {with_rain:.3f} but "
                    f"P(sprinkler=1 | wet=1, rain=0) = {without_rain:.3f}. Hint: write "
                    "p(rain, sprinkler | wet=1) and ask when it factorizes")
