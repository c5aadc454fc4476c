"""Tests for notebook 05: ``vae_teach.bayesnet``, its widget and its exercise checkers.

The joint, the queries and the samples are checked against an independent brute-force loop
over all assignments and against numbers worked out by hand.

Widget cost, measured on the shared 2-core machine (median of 20 slider moves, CPU time):
about 50 ms per update (enumeration < 1 ms; redrawing circles, labels and bars ~45 ms).
"""
from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_teach.bayesnet import (WET_GRASS_POSITIONS, BayesNet, draw_latent_variable_model,
                                draw_network, layered_positions, wet_grass_network)
from vae_teach.exercises.bayesnet import (EXERCISE_DAG, check_no_explaining_away,
                                          check_parameter_count, check_rain_given_slippery)
from vae_teach.widgets.bayesnet import (bayesnet_explorer, evidence_from_values, net_from_values,
                                        table_controls)


def brute_force_joint(net: BayesNet) -> dict[tuple[int, ...], float]:
    """p(x) for every assignment by a plain loop: the product of the table entries."""
    result = {}
    for x in itertools.product((0, 1), repeat=len(net.nodes)):
        value = 1.0
        for node in net.nodes:
            row = tuple(x[net.index[p]] for p in net.parents[node])
            p_one = float(net.cpts[node][row]) if row else float(net.cpts[node])
            value *= p_one if x[net.index[node]] == 1 else 1.0 - p_one
        result[x] = value
    return result


def brute_force_query(net: BayesNet, target: str, evidence: dict[str, int]) -> float:
    joint = brute_force_joint(net)
    agree = {x: p for x, p in joint.items()
             if all(x[net.index[v]] == value for v, value in evidence.items())}
    return sum(p for x, p in agree.items() if x[net.index[target]] == 1) / sum(agree.values())


def random_network(seed: int, n_nodes: int = 6) -> BayesNet:
    """A random DAG (each node picks up to 3 parents among earlier nodes) with random tables;
    the nodes are given in reverse order to exercise the topological sort."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(n_nodes)]
    parents = {}
    for i, name in enumerate(names):
        k = int(rng.integers(0, min(i, 3) + 1))
        parents[name] = sorted(rng.choice(names[:i], size=k, replace=False).tolist()) if k else []
    cpts = {name: rng.uniform(0.05, 0.95, size=(2,) * len(pa)) for name, pa in parents.items()}
    return BayesNet(dict(reversed(list(parents.items()))), cpts)


# ------------------------------------------------------------------------------ the joint

@pytest.mark.parametrize("net", [wet_grass_network(), random_network(0), random_network(1)],
                         ids=["wet-grass", "random-seed-0", "random-seed-1"])
def test_joint_is_the_product_of_the_tables_and_sums_to_one(net):
    joint = net.joint()
    assert joint.shape == (2,) * len(net.nodes)
    assert abs(float(joint.sum()) - 1) < 1e-12
    for x, p in brute_force_joint(net).items():
        assert abs(float(joint[x]) - p) < 1e-14


@pytest.mark.parametrize("net", [wet_grass_network(), random_network(2)], ids=["wet", "random"])
def test_tables_are_the_conditionals_of_the_joint(net):
    joint = net.joint()
    for node in net.nodes:
        keep = [net.index[node]] + [net.index[p] for p in net.parents[node]]
        others = [i for i in range(len(net.nodes)) if i not in keep]
        marginal = joint.sum(dim=others) if others else joint
        marginal = marginal.permute(*np.argsort(np.argsort(keep)))   # axes: node, parents...
        conditional = marginal[1] / marginal.sum(dim=0)
        assert torch.allclose(conditional, net.cpts[node], atol=1e-12), node


def test_topological_order_puts_parents_first():
    net = random_network(3, n_nodes=8)
    for node in net.nodes:
        assert all(net.index[p] < net.index[node] for p in net.parents[node])
    assert wet_grass_network().nodes == ("rain", "sprinkler", "wet", "neighbour", "slippery")


def test_log_prob_is_the_sum_of_node_terms_and_the_log_joint():
    net = wet_grass_network()
    x = torch.tensor(list(itertools.product((0, 1), repeat=5)))
    per_node = torch.stack([net.node_log_prob(node, x) for node in net.nodes]).sum(dim=0)
    assert torch.allclose(per_node, net.log_prob(x))
    assert torch.allclose(net.log_prob(x).exp(), net.joint()[tuple(x.T)])
    assert torch.allclose(net.log_prob(x.float()), net.log_prob(x))


# ------------------------------------------------------------------------------ sampling

def test_ancestral_sampling_reproduces_the_joint():
    net = wet_grass_network()
    n = 50_000
    samples = net.sample(n, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (n, 5) and samples.dtype == torch.int64
    codes = (samples * torch.tensor([16, 8, 4, 2, 1])).sum(dim=1)
    frequencies = torch.bincount(codes, minlength=32).double() / n
    p = net.joint().reshape(-1)
    tv = 0.5 * float((frequencies - p).abs().sum())
    bound = 0.5 * float(torch.sqrt(p * (1 - p) / n).sum()) + math.sqrt(math.log(1e3) / (2 * n))
    assert tv < bound
    again = net.sample(n, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)


def test_sampling_respects_deterministic_tables():
    net = BayesNet({"a": [], "b": ["a"]}, {"a": 0.5, "b": [0.0, 1.0]})   # b copies a
    samples = net.sample(2000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(samples[:, 0], samples[:, 1])


# ------------------------------------------------------------------------------ inference

def test_query_two_node_closed_form():
    net = BayesNet({"rain": [], "wet": ["rain"]}, {"rain": 0.2, "wet": [0.1, 0.9]})
    expected = 0.2 * 0.9 / (0.2 * 0.9 + 0.8 * 0.1)
    posterior = net.query("rain", {"wet": 1})
    assert abs(float(posterior[1]) - expected) < 1e-12
    assert abs(float(posterior.sum()) - 1) < 1e-12


def test_explaining_away_numbers_by_hand():
    net = wet_grass_network()
    p_wet = 0.8 * 0.7 * 0.05 + 0.8 * 0.3 * 0.8 + 0.2 * 0.7 * 0.9 + 0.2 * 0.3 * 0.98
    p_s_given_w = (0.8 * 0.3 * 0.8 + 0.2 * 0.3 * 0.98) / p_wet
    p_s_given_w_r = 0.3 * 0.98 / (0.7 * 0.9 + 0.3 * 0.98)
    assert abs(float(net.query("sprinkler", {"wet": 1})[1]) - p_s_given_w) < 1e-12
    assert abs(float(net.query("sprinkler", {"wet": 1, "rain": 1})[1]) - p_s_given_w_r) < 1e-12
    assert abs(net.probability_of_evidence({"wet": 1}) - p_wet) < 1e-12
    p_s_w_n = float(net.query("sprinkler", {"wet": 1, "neighbour": 1})[1])
    assert p_s_given_w_r < p_s_w_n < p_s_given_w      # explaining away, step by step
    assert abs(p_s_given_w - 0.6196) < 1e-4 and abs(p_s_w_n - 0.3863) < 1e-4


@pytest.mark.parametrize("seed", [0, 4])
def test_query_and_marginals_match_brute_force(seed):
    net = random_network(seed)
    evidence = {net.nodes[-1]: 1, net.nodes[1]: 0}
    marginals = net.posterior_marginals(evidence)
    for target in net.nodes:
        expected = brute_force_query(net, target, evidence)
        assert abs(float(net.query(target, evidence)[1]) - expected) < 1e-12
        assert abs(marginals[target] - expected) < 1e-12
    assert net.posterior_marginals() == pytest.approx(
        {v: brute_force_query(net, v, {}) for v in net.nodes}, abs=1e-12)


def test_parameter_counts():
    net = wet_grass_network()
    assert net.n_parameters() == 10 and net.n_parameters_full_joint() == 31
    dag = BayesNet(EXERCISE_DAG, {v: np.full((2,) * len(pa), 0.5) for v, pa in EXERCISE_DAG.items()})
    assert dag.n_parameters() == 20 and dag.n_parameters_full_joint() == 63


def test_with_cpt_and_describe():
    net = wet_grass_network()
    other = net.with_cpt("neighbour", [0.3, 0.3])
    assert float(other.cpts["neighbour"][1]) == 0.3 and float(net.cpts["neighbour"][1]) == 0.85
    change = float(other.query("rain", {"neighbour": 1})[1]) - float(other.query("rain")[1])
    assert abs(change) < 1e-12          # an edge with equal rows carries nothing
    text = net.describe()
    assert "P(wet=1 | rain=0, sprinkler=1) = 0.800" in text and text.count("\n") == 9
    assert "rain sprinkler → wet" in repr(net)


# ------------------------------------------------------------------------------ bad input

def test_cycles_and_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="parents.*cycle"):
        BayesNet({"a": ["b"], "b": ["a"]}, {"a": [0.5, 0.5], "b": [0.5, 0.5]})
    with pytest.raises(ValueError, match="cycle"):
        BayesNet({"a": ["a"]}, {"a": [0.5, 0.5]})
    with pytest.raises(ValueError, match=r"parents\['a'\].*unknown"):
        BayesNet({"a": ["ghost"]}, {"a": [0.5, 0.5]})
    with pytest.raises(ValueError, match="twice"):
        BayesNet({"a": [], "b": ["a", "a"]}, {"a": 0.5, "b": np.full((2, 2), 0.5)})
    with pytest.raises(TypeError, match="parents"):
        BayesNet([("a", [])], {"a": 0.5})
    with pytest.raises(TypeError, match=r"parents\['a'\]"):
        BayesNet({"a": "b", "b": []}, {"a": [0.5, 0.5], "b": 0.5})


def test_bad_tables_are_rejected():
    parents = {"a": [], "b": ["a"]}
    with pytest.raises(ValueError, match="cpts.*missing"):
        BayesNet(parents, {"a": 0.5})
    with pytest.raises(ValueError, match="unknown"):
        BayesNet(parents, {"a": 0.5, "b": [0.1, 0.2], "c": 0.3})
    with pytest.raises(ValueError, match=r"cpts\['b'\].*shape"):
        BayesNet(parents, {"a": 0.5, "b": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match=r"cpts\['b'\].*\[0, 1\]"):
        BayesNet(parents, {"a": 0.5, "b": [0.1, 1.2]})
    with pytest.raises(ValueError, match=r"cpts\['a'\]"):
        BayesNet(parents, {"a": -0.1, "b": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"cpts\['a'\]"):
        BayesNet(parents, {"a": float("nan"), "b": [0.1, 0.2]})
    with pytest.raises(TypeError, match=r"cpts\['a'\]"):
        BayesNet(parents, {"a": "half", "b": [0.1, 0.2]})


def test_bad_queries_and_assignments_are_rejected():
    net = wet_grass_network()
    with pytest.raises(ValueError, match="target"):
        net.query("snow")
    with pytest.raises(ValueError, match="evidence"):
        net.query("rain", {"snow": 1})
    with pytest.raises(ValueError, match=r"evidence\['wet'\]"):
        net.query("rain", {"wet": 2})
    with pytest.raises(TypeError, match="evidence"):
        net.query("rain", [("wet", 1)])
    impossible = net.with_cpt("wet", [[0.0, 0.8], [0.9, 0.98]])
    with pytest.raises(ValueError, match="probability 0"):
        impossible.query("rain", {"wet": 1, "rain": 0, "sprinkler": 0})
    with pytest.raises(ValueError, match="n"):
        net.sample(0)
    with pytest.raises(ValueError, match="x"):
        net.log_prob(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="0 and 1"):
        net.log_prob(torch.full((3, 5), 2))
    with pytest.raises(TypeError, match="x"):
        net.log_prob([[0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="node"):
        net.with_cpt("snow", 0.5)
    chain = BayesNet({f"v{i}": [f"v{i - 1}"] if i else [] for i in range(21)},
                     {f"v{i}": [0.3, 0.7] if i else 0.5 for i in range(21)})
    with pytest.raises(ValueError, match="enumeration"):
        chain.joint()


# ------------------------------------------------------------------------------ drawing

def test_draw_network_and_layout():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net = wet_grass_network()
    positions = layered_positions(net)
    assert positions["rain"][1] > positions["wet"][1] > positions["slippery"][1]
    fig, ax = plt.subplots()
    artists = draw_network(net, ax, positions=WET_GRASS_POSITIONS,
                           values=net.posterior_marginals(), observed=["wet"])
    assert set(artists["circles"]) == set(net.nodes)
    assert artists["circles"]["wet"].get_linewidth() > artists["circles"]["rain"].get_linewidth()
    assert "0.20" in artists["labels"]["rain"].get_text()
    with pytest.raises(ValueError, match="positions"):
        draw_network(net, ax, positions={"rain": (0, 0)})
    plt.close(fig)
    fig, ax = plt.subplots()
    draw_latent_variable_model(ax)
    assert len(ax.patches) == 3 and {t.get_text() for t in ax.texts} >= {"$z$", "$x$"}
    plt.close(fig)


# ------------------------------------------------------------------------------ the widget

def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).size


def test_explorer_defaults_and_controls():
    net = wet_grass_network()
    w = bayesnet_explorer()
    width, height = _size(w.png)
    assert width > 500 and height > 250
    assert len(table_controls(net)) == net.n_parameters() == 10
    assert len(w.controls) == 10 + 5
    for control in w.controls.values():
        assert control.description
    assert w.latest["posterior"] == pytest.approx(w.latest["prior"], abs=1e-12)
    assert w.latest["prior"]["wet"] == pytest.approx(float(net.query("wet")[1]), abs=1e-12)


def test_explorer_evidence_updates_posterior_and_picture():
    w = bayesnet_explorer()
    before = w.png
    w.set(observe_wet="1")
    assert w.png != before
    assert w.latest["posterior"]["sprinkler"] == pytest.approx(0.6196, abs=1e-4)
    assert w.latest["p_evidence"] == pytest.approx(0.4048, abs=1e-12)
    after_wet = w.png
    w.set(observe_neighbour="1")
    assert w.png != after_wet
    assert w.latest["posterior"]["sprinkler"] == pytest.approx(0.3863, abs=1e-4)
    assert w.latest["evidence"] == {"wet": 1, "neighbour": 1}
    assert "P(sprinkler=1 | evidence) = 0.386" in w.status.value


def test_explorer_table_sliders_change_the_model():
    w = bayesnet_explorer(evidence={"wet": 1})
    before = w.png
    w.set(p_sprinkler=0.6)
    assert w.png != before
    assert w.latest["prior"]["sprinkler"] == pytest.approx(0.6, abs=1e-12)
    expected = brute_force_query(w.latest["net"], "sprinkler", {"wet": 1})
    assert w.latest["posterior"]["sprinkler"] == pytest.approx(expected, abs=1e-12)
    # a rank-one wet table: learning rain no longer moves sprinkler (exercise 3)
    w.set(p_sprinkler=0.3, p_wet_00=0.06, p_wet_01=0.18, p_wet_10=0.30, p_wet_11=0.90)
    with_rain = w.set(observe_rain="1").latest["posterior"]["sprinkler"]
    without_rain = w.set(observe_rain="0").latest["posterior"]["sprinkler"]
    assert with_rain == pytest.approx(without_rain, abs=1e-9)


def test_explorer_impossible_evidence():
    w = bayesnet_explorer()
    w.set(p_wet_00=0.0, observe_wet="1", observe_rain="0", observe_sprinkler="0")
    assert w.latest["posterior"] is None and w.latest["p_evidence"] == 0.0
    assert "probability 0" in w.status.value


def test_explorer_helpers_and_bad_input():
    net = wet_grass_network()
    values = {name: float(net.cpts[node][setting]) for name, (node, setting)
              in table_controls(net).items()}
    rebuilt = net_from_values(net, values)
    assert all(torch.equal(rebuilt.cpts[v], net.cpts[v]) for v in net.nodes)
    observe = {f"observe_{v}": "?" for v in net.nodes} | {"observe_slippery": "1"}
    assert evidence_from_values(net, observe) == {"slippery": 1}
    with pytest.raises(TypeError, match="net"):
        bayesnet_explorer(net={"rain": []})
    with pytest.raises(ValueError, match="evidence"):
        bayesnet_explorer(evidence={"snow": 1})
    small = BayesNet({"a": [], "b": ["a"]}, {"a": 0.4, "b": [0.2, 0.7]})
    w = bayesnet_explorer(small)
    assert set(w.controls) == {"p_a", "p_b_0", "p_b_1", "observe_a", "observe_b"}


# ------------------------------------------------------------------------------ exercises

def test_check_parameter_count():
    assert check_parameter_count(None).startswith("not answered")
    assert check_parameter_count(20).correct
    assert "full joint" in check_parameter_count(63)
    assert "separately" in check_parameter_count(40)
    assert "logistic" in check_parameter_count(sum(len(p) for p in EXERCISE_DAG.values()) + 6)
    assert not check_parameter_count(17).correct
    assert "whole number" in check_parameter_count("twenty")


def test_check_rain_given_slippery():
    joint = wet_grass_network().joint()
    answer = float(joint[1, :, :, :, 1].sum() / joint[..., 1].sum())
    assert check_rain_given_slippery(answer).correct
    assert abs(answer - brute_force_query(wet_grass_network(), "rain", {"slippery": 1})) < 1e-12
    assert "prior" in check_rain_given_slippery(0.2)
    assert "divide" in check_rain_given_slippery(float(joint[1, :, :, :, 1].sum()))
    assert "Bayes" in check_rain_given_slippery(float(joint[1, :, :, :, 1].sum() / joint[1].sum()))
    assert check_rain_given_slippery(None).startswith("not answered")
    assert "one number" in check_rain_given_slippery([0.4])


def test_check_no_explaining_away():
    assert check_no_explaining_away(None).startswith("not answered")
    assert check_no_explaining_away([[0.06, 0.18], [0.30, 0.90]]).correct
    assert check_no_explaining_away(torch.tensor([[0.1, 0.5], [0.2, 1.0]])).correct
    assert "not yet" in check_no_explaining_away([[0.05, 0.8], [0.9, 0.98]])
    assert "both parents" in check_no_explaining_away([[0.5, 0.5], [0.5, 0.5]])
    assert "shape" in check_no_explaining_away([0.1, 0.2])
    assert "[0, 1]" in check_no_explaining_away([[0.1, 0.2], [0.3, 1.5]])
    assert "2 x 2 table" in check_no_explaining_away("table")


@pytest.mark.parametrize("table", [[[0, 0], [0.5, 1]], [[0.5, 1], [0, 0]], [[0, 0], [0, 1]]],
                         ids=["rain0-impossible", "rain1-impossible", "only-corner"])
def test_check_no_explaining_away_zero_row_gives_feedback(table):
    # A zero row is rank one (no explaining away: given wet=1, rain is certain); the checker
    # must say so instead of raising on the impossible evidence rain = ruled-out value.
    feedback = check_no_explaining_away(table)
    assert feedback.correct and "degenerate" in feedback
    ruled_out = 0 if sum(table[0]) == 0 else 1
    net = wet_grass_network().with_cpt("wet", torch.tensor(table, dtype=torch.float64))
    assert float(net.query("rain", {"wet": 1})[ruled_out]) == 0.0
