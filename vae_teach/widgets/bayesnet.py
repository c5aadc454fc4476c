"""The Bayes-net explorer of notebook 05: table entries and evidence -> marginals and posterior.

One slider per table entry P(node = 1 | parents), one selector per node to observe it (?, 0 or
1).  The picture shows the DAG with every node coloured by P(node = 1 | evidence), and bars of
the prior marginals P(node = 1) beside the posterior ones.  Everything is recomputed by
enumeration (``BayesNet.posterior_marginals``) at each move, which for 5 binary nodes costs
well under a millisecond; drawing is the expensive part, so only the moving artists are redrawn.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..bayesnet import WET_GRASS_POSITIONS, BayesNet, draw_network, node_color, wet_grass_network
from ..plots import label_colors
from ._base import BlitFigure, CourseWidget, new_figure

EVIDENCE_OPTIONS = ("?", "0", "1")


def _row_label(net: BayesNet, node: str, setting: tuple[int, ...]) -> str:
    given = ", ".join(f"{p}={v}" for p, v in zip(net.parents[node], setting))
    return f"P({node}=1 | {given})" if given else f"P({node}=1)"


def table_controls(net: BayesNet) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Control name -> (node, parent setting) for every table entry, e.g.
    ``"p_wet_01" -> ("wet", (0, 1))`` is P(wet = 1 | rain = 0, sprinkler = 1)."""
    names = {}
    for node in net.nodes:
        for setting in np.ndindex(*net.cpts[node].shape):
            suffix = "_" + "".join(map(str, setting)) if setting else ""
            names[f"p_{node}{suffix}"] = (node, tuple(setting))
    return names


def net_from_values(net: BayesNet, values: dict) -> BayesNet:
    """The network whose table entries are the slider values (same graph as ``net``)."""
    tables = {node: net.cpts[node].clone() for node in net.nodes}
    for name, (node, setting) in table_controls(net).items():
        tables[node][setting] = float(values[name])
    return BayesNet(net.parents, tables)


def evidence_from_values(net: BayesNet, values: dict) -> dict[str, int]:
    """{node: 0 or 1} for the nodes whose selector is not '?'."""
    return {node: int(values[f"observe_{node}"]) for node in net.nodes
            if values[f"observe_{node}"] != "?"}


# long: the controls, the figure and the render function sharing them
def bayesnet_explorer(net: BayesNet | None = None, *, positions=None,
                      evidence: dict[str, int] | None = None) -> CourseWidget:
    """Sliders on the tables and evidence selectors of ``net`` (default: the wet-grass network
    of notebook 05).  ``widget.latest`` holds the numbers behind the current picture: ``prior``
    and ``posterior`` ({node: P(node = 1)}, posterior ``None`` if the evidence is impossible),
    ``p_evidence`` and the ``net`` built from the sliders."""
    if net is None:
        net = wet_grass_network()
        positions = positions or WET_GRASS_POSITIONS
    if not isinstance(net, BayesNet):
        raise TypeError(f"net must be a BayesNet, got {type(net).__name__}")
    evidence = net._check_evidence(evidence)
    style = {"description_width": "190px"}
    controls: dict[str, widgets.Widget] = {}
    for name, (node, setting) in table_controls(net).items():
        controls[name] = widgets.FloatSlider(
            value=float(net.cpts[node][setting]), min=0.0, max=1.0, step=0.01,
            description=_row_label(net, node, setting), style=style,
            layout=widgets.Layout(width="430px"))
    for node in net.nodes:
        controls[f"observe_{node}"] = widgets.ToggleButtons(
            options=list(EVIDENCE_OPTIONS), value=str(evidence[node]) if node in evidence else "?",
            description=f"observe {node}", style={**style, "button_width": "42px"})

    fig = new_figure(figsize=(9.6, 4.8), dpi=90)
    ax_graph = fig.add_axes((0.0, 0.02, 0.45, 0.78))
    ax_bars = fig.add_axes((0.6, 0.15, 0.37, 0.63))
    artists = draw_network(net, ax_graph, positions=positions, values={n: 0.0 for n in net.nodes},
                           radius=0.5, fontsize=10.5)
    rows = np.arange(len(net.nodes))[::-1]
    prior_color, posterior_color = label_colors(2)
    prior_bars = ax_bars.barh(rows + 0.2, np.zeros(len(rows)), height=0.38, color=prior_color,
                              alpha=0.55, label="prior P(node=1)")
    posterior_bars = ax_bars.barh(rows - 0.2, np.zeros(len(rows)), height=0.38,
                                  color=posterior_color, label="posterior P(node=1 | evidence)")
    ax_bars.set_yticks(rows, net.nodes)
    ax_bars.set_xlim(0, 1)
    ax_bars.set_xlabel("probability that the node is 1")
    ax_bars.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=11, frameon=False)
    fig.text(0.2, 0.84, "node colour = P(node = 1 | evidence)\nthick outline = observed",
             ha="center", va="center", fontsize=11)
    title = fig.text(0.5, 0.975, "", ha="center", va="top", fontsize=12, weight="bold")
    moving = [*artists["circles"].values(), *artists["labels"].values(), *prior_bars,
              *posterior_bars, title]
    blit = BlitFigure(fig, moving)
    latest: dict = {}

    def render(**values) -> tuple[bytes, str]:
        current = net_from_values(net, values)
        observed = evidence_from_values(net, values)
        prior = current.posterior_marginals()
        p_evidence = current.probability_of_evidence(observed)
        posterior = current.posterior_marginals(observed) if p_evidence > 0 else None
        for node, bar in zip(current.nodes, prior_bars):
            bar.set_width(prior[node])
        for node, bar in zip(current.nodes, posterior_bars):
            bar.set_width(posterior[node] if posterior else 0.0)
        for node in current.nodes:
            shown = posterior[node] if posterior else None
            circle = artists["circles"][node]
            circle.set_facecolor("0.85" if shown is None else node_color(shown))
            circle.set_linewidth(3.5 if node in observed else 1.2)
            artists["labels"][node].set_text(node if shown is None else f"{node}\n{shown:.2f}")
            artists["labels"][node].set_color("white" if shown is not None and shown > 0.6
                                              else "black")
        given = ", ".join(f"{k}={v}" for k, v in observed.items()) or "nothing observed"
        title.set_text(f"evidence: {given};  P(evidence) = {p_evidence:.4f}" if posterior else
                       f"evidence {given} is impossible: P(evidence) = 0")
        latest.update(prior=prior, posterior=posterior, p_evidence=p_evidence, net=current,
                      evidence=observed)
        if posterior is None:
            text = "<b>This evidence has probability 0 under the tables: no posterior.</b>"
        else:
            text = "<br>".join(f"P({node}=1 | evidence) = {posterior[node]:.3f} "
                               f"(prior {prior[node]:.3f})" for node in current.nodes)
        return blit.png(), text

    return CourseWidget(controls, render, latest=latest,
                        title="Bayesian network: move the tables, observe nodes")

