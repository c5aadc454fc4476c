"""The course style of ``vae_teach.plots``: readable sizes and a colour-blind-safe palette.

The palette check simulates the three dichromacies with the matrices of Machado, Oliveira &
Fernandes (2009), "A physiologically-based model for simulation of color vision deficiency",
IEEE TVCG 15(6) (severity 1.0, applied in linear RGB), and measures every pair of colours in
CIELAB (CIE76 distance).  Two colours closer than about 10 units are hard to tell apart in a
small legend marker; the course's palette keeps every pair above 15 for all three simulated
readers, which matplotlib's ``tab10`` does not (one pair falls below 5 under protanopia).
"""
import itertools

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from vae_teach import plots

MACHADO_2009 = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _srgb_to_linear(c):
    c = np.asarray(c, dtype=float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_lab(rgb):
    xyz = rgb @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]]).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def smallest_distance(colours, deficiency=None) -> float:
    rgb = _srgb_to_linear([matplotlib.colors.to_rgb(c) for c in colours])
    if deficiency is not None:
        rgb = np.clip(rgb @ np.array(MACHADO_2009[deficiency]).T, 0, 1)
    lab = _linear_to_lab(rgb)
    return min(float(np.linalg.norm(lab[i] - lab[j]))
               for i, j in itertools.combinations(range(len(lab)), 2))


@pytest.mark.parametrize("deficiency", [None, *MACHADO_2009])
def test_palette_pairs_stay_apart_for_colour_blind_readers(deficiency):
    assert len(plots.PALETTE) == 10 and len(set(plots.PALETTE)) == 10
    assert smallest_distance(plots.PALETTE, deficiency) > 15


def test_the_check_rejects_tab10():
    tab10 = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab10").colors]
    assert smallest_distance(tab10, "protanopia") < 10


def test_label_colors_are_the_palette():
    assert [matplotlib.colors.to_hex(c) for c in plots.label_colors(10)] == plots.PALETTE
    assert [matplotlib.colors.to_hex(c) for c in plots.label_colors(3)] == plots.PALETTE[:3]


def test_style_sets_palette_and_readable_sizes():
    with matplotlib.rc_context():
        plots.use_style()
        cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
        assert [matplotlib.colors.to_hex(c) for c in cycle] == plots.PALETTE
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="a line")
        legend = ax.legend()
        fig.canvas.draw()
        sizes = [t.get_fontsize() for t in legend.get_texts()]
        sizes += [t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        assert min(sizes) >= plots.MIN_FONTSIZE
        plt.close(fig)
