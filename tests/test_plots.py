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


def test_latent_scatter_writes_each_digit_at_its_class_median():
    # Three well-separated classes around known centres, plus one far outlier per class that
    # would drag a mean but not the median: each badge must sit at its class's median point.
    rng = np.random.default_rng(0)
    centres = {2: (-3.0, 0.0), 5: (0.0, 3.0), 7: (3.0, -1.0)}
    z, labels = [], []
    for digit, centre in centres.items():
        z += [np.asarray(centre) + 0.1 * rng.standard_normal((51, 2)), [[40.0, 40.0]]]
        labels += [digit] * 52
    z, labels = np.concatenate(z), np.asarray(labels)
    fig, ax = plt.subplots()
    plots.latent_scatter(z, labels, ax=ax)
    badges = {t.get_text(): t for t in ax.texts}
    assert sorted(badges) == ["2", "5", "7"]
    colours = plots.label_colors(10)
    for digit, centre in centres.items():
        badge = badges[str(digit)]
        expected = np.median(z[labels == digit], axis=0)
        np.testing.assert_allclose(badge.get_position(), expected)
        assert np.linalg.norm(np.subtract(badge.get_position(), centre)) < 0.1
        face = badge.get_bbox_patch().get_facecolor()
        assert matplotlib.colors.to_hex(face) == matplotlib.colors.to_hex(colours[digit])
        # the digit is legible on its badge (WCAG: text needs a contrast ratio of at least 4.5)
        assert plots.contrast_ratio(badge.get_color(), face) >= 4.5
        assert badge.get_fontweight() == "bold" and badge.get_fontsize() >= plots.MIN_FONTSIZE
    plt.close(fig)

    fig, ax = plt.subplots()
    plots.latent_scatter(z, labels, ax=ax, annotate=False)
    assert len(ax.texts) == 0
    plt.close(fig)


def test_contrast_ratio_matches_wcag():
    assert plots.contrast_ratio("white", "black") == pytest.approx(21.0)
    assert plots.contrast_ratio("#777777", "white") == pytest.approx(4.48, abs=0.01)
    assert plots.contrast_ratio("#3f90da", "#3f90da") == pytest.approx(1.0)


def test_badges_of_classes_with_nearby_medians_do_not_overlap():
    # Two classes with the same median: their badges are pushed apart (symmetrically about the
    # median) and their boxes on the drawn figure do not overlap; a far class stays in place.
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.standard_normal((200, 2)), rng.standard_normal((200, 2)),
                        [8.0, 8.0] + 0.1 * rng.standard_normal((50, 2))])
    labels = np.repeat([3, 8, 1], [200, 200, 50])
    fig, ax = plt.subplots(figsize=(6, 5.5))
    badges = plots.label_class_medians(ax, z, labels)
    ax.set(xlim=(-4, 10), ylim=(-4, 10), aspect="equal")
    fig.canvas.draw()
    p3, p8 = (np.asarray(badges[c].get_position()) for c in (3, 8))
    mid = 0.5 * (np.median(z[labels == 3], 0) + np.median(z[labels == 8], 0))
    np.testing.assert_allclose(0.5 * (p3 + p8), mid, atol=1e-6)
    boxes = {c: t.get_bbox_patch().get_window_extent() for c, t in badges.items()}
    assert not boxes[3].overlaps(boxes[8])
    np.testing.assert_allclose(badges[1].get_position(), np.median(z[labels == 1], 0))
    plt.close(fig)
