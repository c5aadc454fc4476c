"""One look for the whole course: style, image grids, training curves, latent scatters.

``use_style()`` is called once per notebook (by ``vae_teach.setup``).  Figures are sized to be
readable on a projector: tick labels and legends are at least ``MIN_FONTSIZE`` points, and the
qualitative colours come from a palette chosen for colour-vision deficiencies.
"""
from __future__ import annotations

import struct
import zlib

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

#: The course's ten qualitative colours (the ten digit classes, and ``"C0"``..``"C9"``): the
#: 10-colour sequence of M. A. Petroff (2021), "Accessible Color Sequences for Data
#: Visualization", arXiv:2107.02270, chosen so that every pair stays distinguishable under
#: simulated protanopia, deuteranopia and tritanopia (matplotlib ships it as ``"petroff10"``
#: from version 3.10; the values are written out here so older matplotlib works too).
#: ``tests/test_plots.py`` checks the pairwise distances under simulated colour-vision
#: deficiencies.  (matplotlib's ``tab10`` and seaborn's ``"colorblind"`` each contain pairs that
#: nearly merge for a red-green colour-blind reader.)
PALETTE = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6",
           "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd"]

#: Smallest font size (points) of tick labels and legends in the course's figures.
MIN_FONTSIZE = 11


# seaborn's "whitegrid" look at its "notebook" scale times 1.1, written out as plain matplotlib
# settings: importing seaborn (which pulls in scipy and pandas) would add about 100 MB to every
# kernel, for nothing but these numbers.
_STYLE = {
    "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.facecolor": "white", "axes.grid": True,
    "axes.labelcolor": ".15", "axes.labelsize": 13.2, "axes.linewidth": 1.25,
    "axes.titlesize": 13.2, "axes.titleweight": "bold", "figure.facecolor": "white",
    "font.size": 13.2, "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans",
                                           "Bitstream Vera Sans", "sans-serif"],
    "grid.color": ".8", "grid.linestyle": "-", "grid.linewidth": 1.0,
    "legend.fontsize": 12, "legend.title_fontsize": 12,
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "text.color": ".15",
    "xtick.bottom": False, "xtick.color": ".15", "xtick.labelsize": 12, "xtick.major.size": 6.0,
    "xtick.major.width": 1.25, "xtick.minor.size": 4.0, "xtick.minor.width": 1.0,
    "ytick.left": False, "ytick.color": ".15", "ytick.labelsize": 12, "ytick.major.size": 6.0,
    "ytick.major.width": 1.25, "ytick.minor.size": 4.0, "ytick.minor.width": 1.0,
    "image.cmap": "magma", "image.interpolation": "nearest",
    "figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7, 4),
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """The course's plot style: a white background with a light grid (seaborn's "whitegrid"
    look), the colour-blind-safe ``PALETTE``, tick labels and legends of at least
    ``MIN_FONTSIZE`` points."""
    matplotlib.rcParams.update(_STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=PALETTE)


def label_colors(n: int = 10) -> list:
    """n colours of the course's colour-blind-safe ``PALETTE`` as RGB tuples (for the ten digit
    classes); beyond ten they repeat."""
    return [matplotlib.colors.to_rgb(PALETTE[i % len(PALETTE)]) for i in range(n)]


def _as_images(images, image_shape=(28, 28)) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 1:
        images = images[None]
    if images.ndim == 2:
        images = images.reshape(len(images), *image_shape)
    if images.ndim != 3:
        raise ValueError(f"images must be [N, H*W] or [N, H, W], got shape {images.shape}")
    return images


def tile(images, ncols: int | None = None, pad: int = 1, image_shape=(28, 28),
         pad_value: float = 0.12) -> np.ndarray:
    """Arrange N images in a grid with ``pad`` pixels of padding (a light grey line in the
    course's dark-on-white colour map), as one 2-D array."""
    images = _as_images(images, image_shape)
    n, h, w = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), pad_value, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h,
               pad + c * (w + pad): pad + c * (w + pad) + w] = image
    return canvas


def image_grid(images, ncols: int | None = None, *, ax=None, title: str | None = None,
               cmap: str = "gray_r", vmin: float = 0.0, vmax: float = 1.0, image_shape=(28, 28)):
    """Show images (tensor or array, [N, 784] or [N, 28, 28], values in [0, 1]) as one grid.

    Digits are drawn dark on white (``gray_r``), which projects better than white on black.
    Returns the axes.
    """
    if ax is None:
        n = len(_as_images(images, image_shape))
        ncols = ncols or int(np.ceil(np.sqrt(n)))
        nrows = int(np.ceil(n / ncols))
        _, ax = plt.subplots(figsize=(min(0.6 * ncols + 0.5, 12), min(0.6 * nrows + 0.6, 12)))
    ax.imshow(tile(images, ncols, image_shape=image_shape), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, *, axes=None, title: str | None = None):
    """Three panels: -ELBO, distortion D and rate R per epoch, train and test, in nats."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [("loss", "−ELBO (nats)"), ("distortion", "distortion D (nats)"),
              ("rate", "rate R (nats)")]
    for ax, (name, label) in zip(axes, panels):
        ax.plot(history.epoch, getattr(history, f"train_{name}"), label="train", marker=".")
        test = getattr(history, f"test_{name}")
        if test:
            ax.plot(history.epoch, test, label="test", marker=".")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].legend()
    if title:
        axes[0].figure.suptitle(title)
    return axes


def class_medians(z, labels) -> dict:
    """{label: median point} of 2-D points ``z`` [N, 2] grouped by ``labels`` [N] (the
    coordinate-wise median, which a few far-flung points of a class do not drag away)."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return {int(c): np.median(z[labels == c], axis=0) for c in np.unique(labels)}


def _relative_luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black .. 1 white)."""
    c = np.asarray(matplotlib.colors.to_rgb(rgb), dtype=float)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(c @ [0.2126, 0.7152, 0.0722])


def contrast_ratio(a, b) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (same) .. 21 (black on white); text needs >= 4.5."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _spread(anchors: np.ndarray, min_dist: float, n_iter: int = 300) -> np.ndarray:
    """Positions near ``anchors`` [n, 2] that are at least about ``min_dist`` apart: overlapping
    pairs are pushed apart symmetrically, a little at a time, until none overlap."""
    pos = anchors.astype(float).copy()
    for _ in range(n_iter):
        moved = False
        for i in range(len(pos)):
            for j in range(i + 1, len(pos)):
                delta = pos[j] - pos[i]
                dist = float(np.hypot(*delta))
                if dist < min_dist:
                    direction = delta / dist if dist > 1e-12 else np.array([np.cos(j), np.sin(j)])
                    push = 0.5 * (min_dist - dist) + 1e-9 * min_dist
                    pos[i] -= push * direction
                    pos[j] += push * direction
                    moved = True
        if not moved:
            break
    return pos


def label_class_medians(ax, z, labels, *, fontsize: float = 14, min_gap: float = 0.1) -> dict:
    """Write each class's label as a bold digit on a round badge of the class's colour (white or
    black digit, whichever contrasts more) at the median of its points (marked by a small black
    dot), so that a class can be found by its digit: colour alone does not survive a washed-out
    projector or a colour-vision deficiency when ten classes overlap.  Badges whose medians lie
    closer than ``min_gap`` times the spread of the points are pushed apart, each joined to its
    median by a thin line.  Returns {label: matplotlib Text}."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    medians = class_medians(z, labels)
    if not medians:
        return {}
    anchors = np.array(list(medians.values()), dtype=float)
    low, high = np.percentile(z, [2, 98], axis=0)
    spread = float(max(high - low)) or 1.0
    positions = _spread(anchors, min_gap * spread)
    colors = label_colors(10)
    ax.scatter(anchors[:, 0], anchors[:, 1], s=12, color="black", zorder=4, linewidths=0)
    texts = {}
    for c, anchor, pos in zip(medians, anchors, positions):
        face = colors[c % 10]
        ink = max(("white", "black"), key=lambda k: contrast_ratio(k, face))
        if np.hypot(*(pos - anchor)) > 1e-9:
            ax.plot([anchor[0], pos[0]], [anchor[1], pos[1]], color="black", lw=1, zorder=4)
        texts[c] = ax.text(*pos, str(c), color=ink, fontsize=fontsize, fontweight="bold",
                           ha="center", va="center", zorder=5,
                           bbox=dict(boxstyle="circle,pad=0.2", facecolor=face,
                                     edgecolor=ink, linewidth=1.2))
    return texts


def latent_scatter(z, labels, *, ax=None, title: str | None = None, s: float = 6, alpha=0.7,
                   annotate: bool = True):
    """Scatter of 2-D latent codes coloured by digit label, with a legend; with ``annotate``
    each digit is also written on a badge at (or, where badges would overlap, beside) its class's
    median point (``label_class_medians``)."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must be [N, 2] latent codes, got shape {z.shape}")
    if len(labels) != len(z):
        raise ValueError(f"labels has {len(labels)} entries but z has {len(z)} rows")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    colors = label_colors(10)
    for digit in np.unique(labels):
        mask = labels == digit
        ax.scatter(z[mask, 0], z[mask, 1], s=s, alpha=alpha, color=colors[int(digit) % 10],
                   label=str(digit), linewidths=0)
    if annotate:
        label_class_medians(ax, z, labels)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(title="digit", markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False)
    if title:
        ax.set_title(title)
    return ax


def rgb_to_png(pixels) -> bytes:
    """Encode an image held as uint8 pixels, [H, W, 3] (RGB), [H, W, 4] (RGBA) or [H, W] (grey),
    as PNG bytes.

    Widgets encode one picture per slider move, so this is written for speed: no per-row PNG
    filters and zlib level 1, about 3x faster than PIL's encoder on a widget frame (3 ms for
    950 x 400 pixels) for a file 5-10% larger.  Any PNG reader decodes it.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"pixels must be uint8, got dtype {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4) or 0 in pixels.shape:
        raise ValueError(f"pixels must be [H, W], [H, W, 3] or [H, W, 4], got shape {pixels.shape}")
    height, width, channels = pixels.shape
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)   # filter byte 0 per row
    rows[:, 1:] = pixels.reshape(height, width * channels)
    colour_type = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))


def array_to_png(image, *, scale: int = 8, cmap: str = "gray_r", vmin: float = 0.0,
                 vmax: float = 1.0) -> bytes:
    """Turn a 2-D array into PNG bytes, each pixel enlarged ``scale`` times (about 1 ms for a
    28x28 digit: far faster than drawing a matplotlib figure)."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {array.shape}")
    normed = np.clip((array - vmin) / (vmax - vmin), 0, 1)
    rgb = matplotlib.colormaps[cmap](normed, bytes=True)[..., :3]
    return rgb_to_png(rgb.repeat(scale, axis=0).repeat(scale, axis=1))
