"""A small, readable Bayesian network over binary variables (notebook 05).

A Bayesian network is a directed acyclic graph (DAG) plus one conditional table per node.  Its
joint distribution is the product of those tables,

    p(x_1, ..., x_M) = prod_j p(x_j | Pa(x_j)),

so it needs sum_j 2^|Pa(x_j)| numbers instead of the 2^M - 1 of a full joint table.

``BayesNet`` does everything by *enumeration* of all 2^M assignments, which is exact and easy to
read but only possible for a handful of variables (M <= 20 here): that limit is part of the
lesson, and notebook 05 ends where it leads (a continuous latent z cannot be enumerated at all).

Conventions
-----------
* ``parents`` maps every node name to the list of its parents (``[]`` for a root).
* ``cpts[node]`` holds P(node = 1 | parents), an array of shape ``(2,) * len(parents[node])``
  indexed by the parents' values in the order of ``parents[node]``.  A root's table is a single
  number.  P(node = 0 | ...) is 1 minus it.
* Joint tables, samples and assignments list the nodes in ``net.nodes``: a topological order
  (every parent before its children), ties kept in the order the nodes were given.
"""
from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .utils import validate_positive_int

MAX_ENUMERATION_NODES = 20  # 2^20 joint entries (8 MB of float64): enumeration's practical end


def _topological_order(parents: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Kahn's algorithm; raises ValueError naming ``parents`` and the nodes on a cycle."""
    remaining = {node: set(pa) for node, pa in parents.items()}
    order: list[str] = []
    while remaining:
        ready = [node for node, pa in remaining.items() if not pa]   # keeps the given order
        if not ready:
            raise ValueError("parents describes a graph with a cycle (a Bayesian network must be "
                             f"acyclic); the nodes {sorted(remaining)} lie on or after a cycle")
        for node in ready:
            order.append(node)
            del remaining[node]
        for pa in remaining.values():
            pa.difference_update(ready)
    return tuple(order)


class BayesNet:
    """A Bayesian network of binary variables with table conditionals (taught in notebook 05).

    >>> net = BayesNet({"rain": [], "wet": ["rain"]}, {"rain": 0.2, "wet": [0.1, 0.9]})
    >>> round(float(net.query("rain", {"wet": 1})[1]), 4)     # P(rain = 1 | wet = 1)
    0.6923
    """

    def __init__(self, parents: Mapping[str, Sequence[str]], cpts: Mapping[str, object]):
        if not isinstance(parents, Mapping) or not parents:
            raise TypeError("parents must be a non-empty dict {node: [parent, ...]}")
        clean: dict[str, tuple[str, ...]] = {}
        for node, pa in parents.items():
            if not isinstance(node, str) or not node:
                raise TypeError(f"parents: node names must be non-empty strings, got {node!r}")
            if isinstance(pa, str) or not isinstance(pa, Sequence):
                raise TypeError(f"parents[{node!r}] must be a list of parent names, got {pa!r}")
            unknown = [p for p in pa if p not in parents]
            if unknown:
                raise ValueError(f"parents[{node!r}] names unknown node(s) {unknown}; every "
                                 "parent must also be a key of parents")
            if node in pa:
                raise ValueError(f"parents[{node!r}] contains the node itself (a cycle)")
            if len(set(pa)) != len(pa):
                raise ValueError(f"parents[{node!r}] lists a parent twice: {list(pa)}")
            clean[node] = tuple(pa)
        self.nodes: tuple[str, ...] = _topological_order(clean)
        self.parents: dict[str, tuple[str, ...]] = {node: clean[node] for node in self.nodes}
        self.index = {node: i for i, node in enumerate(self.nodes)}

        if not isinstance(cpts, Mapping):
            raise TypeError("cpts must be a dict {node: table of P(node = 1 | parents)}")
        missing = [node for node in self.nodes if node not in cpts]
        extra = [node for node in cpts if node not in self.parents]
        if missing or extra:
            raise ValueError(f"cpts must have one table per node; missing {missing}, "
                             f"unknown {extra}")
        self.cpts: dict[str, torch.Tensor] = {node: self._check_table(node, cpts[node])
                                              for node in self.nodes}

    def _check_table(self, node: str, table) -> torch.Tensor:
        name = f"cpts[{node!r}]"
        try:
            values = torch.as_tensor(np.asarray(table, dtype=np.float64))
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be numbers (P({node} = 1 | parents)), got {table!r}") \
                from error
        shape = (2,) * len(self.parents[node])
        if tuple(values.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} (one entry per setting of the "
                             f"parents {list(self.parents[node])}), got {tuple(values.shape)}")
        if not torch.isfinite(values).all() or (values < 0).any() or (values > 1).any():
            raise ValueError(f"{name} must hold probabilities in [0, 1], got {values.tolist()}")
        return values

    # ------------------------------------------------------------------------------ structure

    def __repr__(self) -> str:
        edges = ", ".join(f"{' '.join(pa) or '∅'} → {node}" for node, pa in self.parents.items())
        return f"BayesNet({len(self.nodes)} binary nodes: {edges})"

    def n_parameters(self) -> int:
        """Free numbers in the tables: sum over nodes of 2^|Pa(node)|."""
        return sum(2 ** len(pa) for pa in self.parents.values())

    def n_parameters_full_joint(self) -> int:
        """Free numbers of an unrestricted joint table over the same nodes: 2^M - 1."""
        return 2 ** len(self.nodes) - 1

    def with_cpt(self, node: str, table) -> "BayesNet":
        """A copy of this network with ``node``'s table replaced (the graph is unchanged)."""
        self._check_node("node", node)
        cpts = dict(self.cpts)
        cpts[node] = table
        return BayesNet(self.parents, cpts)

    def describe(self, digits: int = 3) -> str:
        """The tables as text, one line per row: ``P(wet=1 | rain=0, sprinkler=1) = 0.800``."""
        lines = []
        for node in self.nodes:
            pa, table = self.parents[node], self.cpts[node]
            if not pa:
                lines.append(f"P({node}=1) = {float(table):.{digits}f}")
                continue
            for setting in np.ndindex(*table.shape):
                given = ", ".join(f"{p}={v}" for p, v in zip(pa, setting))
                lines.append(f"P({node}=1 | {given}) = {float(table[setting]):.{digits}f}")
        return "\n".join(lines)

    # ---------------------------------------------------------------------------- the joint

    def factor(self, node: str) -> torch.Tensor:
        """p(x_node | parents) as a table indexed ``[x_node, x_parent_1, ...]``."""
        self._check_node("node", node)
        p_one = self.cpts[node]
        return torch.stack([1.0 - p_one, p_one])

    def joint(self) -> torch.Tensor:
        """The full joint p(x_1..x_M), shape ``(2,) * M`` in the order of ``nodes``.

        Each node contributes its factor p(x_j | Pa(x_j)); ``einsum`` multiplies them, lining
        up the axes by node name (one letter per node), e.g. for rain -> wet:
        ``einsum("a,ba->ab", p(rain), p(wet | rain))``.
        """
        if len(self.nodes) > MAX_ENUMERATION_NODES:
            raise ValueError(f"the joint has 2^{len(self.nodes)} entries; enumeration is "
                             f"limited to {MAX_ENUMERATION_NODES} nodes")
        letters = dict(zip(self.nodes, string.ascii_letters))
        inputs = ["".join(letters[v] for v in (node, *self.parents[node])) for node in self.nodes]
        output = "".join(letters[node] for node in self.nodes)
        return torch.einsum(",".join(inputs) + "->" + output,
                            *[self.factor(node) for node in self.nodes])

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for assignments ``x`` (int or 0/1 float tensor [N, M], columns = ``nodes``):
        the sum over nodes of log p(x_j | Pa(x_j)), shape [N]."""
        x = self._check_assignments("x", x)
        total = torch.zeros(x.shape[0], dtype=torch.float64)
        for node in self.nodes:
            total += self.node_log_prob(node, x)
        return total

    def node_log_prob(self, node: str, x: torch.Tensor) -> torch.Tensor:
        """log p(x_node | Pa(x_node)) for each row of ``x`` [N, M], shape [N]."""
        self._check_node("node", node)
        x = self._check_assignments("x", x)
        p_one = self._p_one_given_parents(node, x)
        value = x[:, self.index[node]]
        return torch.log(torch.where(value == 1, p_one, 1.0 - p_one))

    def _p_one_given_parents(self, node: str, x: torch.Tensor) -> torch.Tensor:
        """P(node = 1 | its parents' values in each row of x), shape [N] (a table lookup)."""
        table = self.cpts[node]
        if not self.parents[node]:
            return table.expand(x.shape[0])
        columns = tuple(x[:, self.index[p]] for p in self.parents[node])
        return table[columns]

    # ---------------------------------------------------------------------------- sampling

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` ancestral samples, int64 [n, M] in the order of ``nodes``.

        Visit the nodes parents-first; draw each one from its table, row chosen by the values
        its parents already got: x_j ~ Bernoulli(P(x_j = 1 | Pa(x_j))).
        """
        n = validate_positive_int("n", n)
        x = torch.zeros(n, len(self.nodes), dtype=torch.int64)
        for node in self.nodes:
            p_one = self._p_one_given_parents(node, x)
            uniform = torch.rand(n, generator=generator, dtype=torch.float64)
            x[:, self.index[node]] = (uniform < p_one).long()
        return x

    # ---------------------------------------------------------------------------- inference

    def probability_of_evidence(self, evidence: Mapping[str, int] | None = None) -> float:
        """P(evidence): the joint summed over every assignment that agrees with the evidence."""
        return float(self._joint_given(evidence).sum())

    def query(self, target: str, evidence: Mapping[str, int] | None = None) -> torch.Tensor:
        """[P(target = 0 | evidence), P(target = 1 | evidence)] by enumeration (Bayes' rule):
        keep the joint's entries that agree with the evidence, sum out everything but the
        target, divide by the total (which is P(evidence))."""
        self._check_node("target", target)
        table = self._joint_given(evidence)
        axes = [i for i in range(len(self.nodes)) if i != self.index[target]]
        unnormalized = table.sum(dim=axes) if axes else table
        return unnormalized / self._normalizer(unnormalized.sum(), evidence)

    def posterior_marginals(self, evidence: Mapping[str, int] | None = None) -> dict[str, float]:
        """{node: P(node = 1 | evidence)} for every node, from one pass over the joint."""
        table = self._joint_given(evidence)
        total = self._normalizer(table.sum(), evidence)
        result = {}
        for node, i in self.index.items():
            axes = [j for j in range(len(self.nodes)) if j != i]
            result[node] = float((table.sum(dim=axes) if axes else table)[1] / total)
        return result

    def _joint_given(self, evidence) -> torch.Tensor:
        """The joint with the entries that disagree with the evidence set to 0."""
        evidence = self._check_evidence(evidence)
        table = self.joint().clone()
        for node, value in evidence.items():
            index = [slice(None)] * len(self.nodes)
            index[self.index[node]] = 1 - value
            table[tuple(index)] = 0.0
        return table

    @staticmethod
    def _normalizer(total: torch.Tensor, evidence) -> torch.Tensor:
        if float(total) <= 0.0:
            raise ValueError(f"evidence {dict(evidence or {})} has probability 0 under this "
                             "network; nothing can be conditioned on it")
        return total

    # ------------------------------------------------------------------------------- checks

    def _check_node(self, name: str, node) -> None:
        if node not in self.index:
            raise ValueError(f"{name} must be one of the nodes {list(self.nodes)}; got {node!r}")

    def _check_evidence(self, evidence) -> dict[str, int]:
        if evidence is None:
            return {}
        if not isinstance(evidence, Mapping):
            raise TypeError("evidence must be a dict {node: 0 or 1}")
        for node, value in evidence.items():
            self._check_node("evidence", node)
            if isinstance(value, bool) or value not in (0, 1):
                raise ValueError(f"evidence[{node!r}] must be 0 or 1, got {value!r}")
        return {node: int(value) for node, value in evidence.items()}

    def _check_assignments(self, name: str, x) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of 0/1 values, got "
                            f"{type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != len(self.nodes):
            raise ValueError(f"{name} must have shape [N, {len(self.nodes)}] (columns "
                             f"{list(self.nodes)}), got {tuple(x.shape)}")
        if ((x != 0) & (x != 1)).any():
            raise ValueError(f"{name} must hold only 0 and 1")
        return x.long()


# --------------------------------------------------------------------------- the example net

def wet_grass_network() -> BayesNet:
    """The running example of notebook 05 (the wet-grass story, after Barber 2012, §3.1; the
    numbers are made up for teaching).

    rain and sprinkler are independent causes of wet grass on your lawn; rain also wets the
    neighbour's lawn; wet grass makes the path slippery.
    """
    parents = {"rain": [], "sprinkler": [], "wet": ["rain", "sprinkler"],
               "neighbour": ["rain"], "slippery": ["wet"]}
    cpts = {"rain": 0.2,
            "sprinkler": 0.3,
            "wet": [[0.05, 0.80],          # rain = 0: sprinkler = 0, 1
                    [0.90, 0.98]],         # rain = 1: sprinkler = 0, 1
            "neighbour": [0.10, 0.85],     # rain = 0, 1
            "slippery": [0.05, 0.60]}      # wet = 0, 1
    return BayesNet(parents, cpts)


WET_GRASS_POSITIONS = {"rain": (0.0, 2.0), "sprinkler": (2.0, 2.0), "wet": (1.0, 1.0),
                       "neighbour": (-1.0, 1.0), "slippery": (1.0, -0.2)}


def layered_positions(net: BayesNet) -> dict[str, tuple[float, float]]:
    """A simple top-down layout: a node's row is the length of the longest path from a root."""
    depth: dict[str, int] = {}
    for node in net.nodes:                      # parents come first, so their depth is known
        depth[node] = 1 + max((depth[p] for p in net.parents[node]), default=-1)
    rows: dict[int, list[str]] = {}
    for node in net.nodes:
        rows.setdefault(depth[node], []).append(node)
    top = max(rows)
    return {node: (i - (len(row) - 1) / 2, float(top - d))
            for d, row in rows.items() for i, node in enumerate(row)}


def node_color(value: float, cmap: str = "Blues"):
    """The colour of a node whose probability of being 1 is ``value`` (light = 0, dark = 1)."""
    import matplotlib

    return matplotlib.colormaps[cmap](0.1 + 0.8 * float(value))


def draw_network(net: BayesNet, ax=None, *, positions=None, values: Mapping[str, float] | None = None,
                 observed: Sequence[str] = (), radius: float = 0.32, cmap: str = "Blues",
                 fontsize: float = 11):
    """Draw the DAG with matplotlib: one circle per node, one arrow per edge.

    ``values`` (in [0, 1]) colour the circles, e.g. P(node = 1 | evidence); ``observed`` nodes get
    a thick outline.  Returns ``{"circles": {node: Circle}, "labels": {node: Text}}`` so a widget
    can recolour them without redrawing.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    positions = dict(positions or layered_positions(net))
    missing = [node for node in net.nodes if node not in positions]
    if missing:
        raise ValueError(f"positions has no entry for the node(s) {missing}")
    circles, labels = {}, {}
    for node in net.nodes:
        for parent in net.parents[node]:
            (x0, y0), (x1, y1) = positions[parent], positions[node]
            length = math.hypot(x1 - x0, y1 - y0)
            dx, dy = (x1 - x0) / length * radius, (y1 - y0) / length * radius
            ax.add_patch(FancyArrowPatch((x0 + dx, y0 + dy), (x1 - dx, y1 - dy),
                                         arrowstyle="-|>", mutation_scale=18, lw=1.6,
                                         color="0.25", zorder=1))
    for node in net.nodes:
        value = None if values is None else values[node]
        face = "white" if value is None else node_color(value, cmap)
        circle = Circle(positions[node], radius, facecolor=face, edgecolor="0.1",
                        lw=3.5 if node in observed else 1.2, zorder=2)
        ax.add_patch(circle)
        text = node if value is None else f"{node}\n{value:.2f}"
        labels[node] = ax.text(*positions[node], text, ha="center", va="center",
                               fontsize=fontsize, zorder=3,
                               color="white" if value is not None and value > 0.6 else "black")
        circles[node] = circle
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    ax.set_xlim(min(xs) - 2 * radius, max(xs) + 2 * radius)
    ax.set_ylim(min(ys) - 1.6 * radius, max(ys) + 1.6 * radius)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return {"circles": circles, "labels": labels}


def draw_latent_variable_model(ax=None, fontsize: float = 12):
    """The two-node network z -> x of a deep latent-variable model (a VAE's generative model),
    drawn in the usual convention: latent z open, observed x shaded.  Used in notebook 05."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    for (cx, cy), name, face in [((0, 1), "z", "white"), ((0, -1), "x", "0.75")]:
        ax.add_patch(Circle((cx, cy), 0.42, facecolor=face, edgecolor="k", lw=1.5))
        ax.text(cx, cy, f"${name}$", ha="center", va="center", fontsize=fontsize + 8)
    ax.add_patch(FancyArrowPatch((0, 0.58), (0, -0.58), arrowstyle="-|>", mutation_scale=20,
                                 lw=1.8, color="k"))
    ax.text(0.6, 1, "latent: $p(z) = \\mathcal{N}(0, I)$", va="center", fontsize=fontsize)
    ax.text(0.6, -1, "observed (shaded):\n$p_θ(x | z)$ = Bernoulli(σ(NN$_θ(z)$))", va="center",
            fontsize=fontsize)
    ax.set(xlim=(-0.6, 3.2), ylim=(-1.6, 1.6), aspect="equal")
    ax.set_axis_off()
    return ax
