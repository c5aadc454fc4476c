"""Interactive views of a trained VAE's latent space (notebook 07).

* ``decoder_explorer(model)``  sliders on z1, z2 -> the decoded digit (``array_to_png``, ~1 ms)
* ``latent_explorer(model, x, labels)``  the encoder means of the test digits coloured by label,
  the point (z1, z2) of the sliders marked on them and its decoded digit; plus a chosen test
  digit with the 2-sigma ellipse of its q(z|x) and its reconstruction.  The figure is drawn once;
  an update redraws only the marker and the ellipse and pastes three small images.

The computations behind them (encoding, decoding, ellipses, grids) are in ``vae_teach.latent``.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Ellipse

from ..distributions import standard_normal_log_prob
from ..latent import (IMAGE_SHAPE, _latent_dim, _require_2d, decode_probs, encode_dataset,
                      posterior_ellipse)
from ..plots import array_to_png, label_colors, rgb_to_png
from ..utils import validate_positive_float, validate_positive_int, validate_tensor
from ._base import BlitFigure, CourseWidget, new_figure

SLIDER_LIMIT = 4.0          # sliders on z run over [-4, 4]: beyond +-4 the prior has < 1e-4 mass
SLIDER_STYLE = {"description_width": "110px"}


# ------------------------------------------------------------------------------ widgets

def _z_slider(name: str, value: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(value=float(value), min=-SLIDER_LIMIT, max=SLIDER_LIMIT, step=0.05,
                               description=name, continuous_update=True, style=SLIDER_STYLE,
                               readout_format=".2f")


def decoder_explorer(model, *, z1: float = 0.0, z2: float = 0.0, base=None,
                     dims: tuple[int, int] = (0, 1), scale: int = 8) -> CourseWidget:
    """Sliders on two latent coordinates -> the decoded digit sigmoid(decode(z)).

    For a 2-D model, z = (z1, z2).  For a larger latent space, z = ``base`` (default 0) with
    coordinates ``dims`` replaced by the slider values.  ``widget.latest["probs"]`` holds the
    decoded pixel probabilities [784] behind the current picture.
    """
    latent_dim = _latent_dim(model)
    if len(dims) != 2 or len(set(dims)) != 2 or not all(0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be two different coordinates in 0..{latent_dim - 1}, "
                         f"got {dims}")
    base = torch.zeros(latent_dim) if base is None else torch.as_tensor(base, dtype=torch.float32)
    if base.shape != (latent_dim,):
        raise ValueError(f"base must hold latent_dim = {latent_dim} numbers, got shape "
                         f"{tuple(base.shape)}")
    scale = validate_positive_int("scale", scale)
    controls = {"z1": _z_slider(f"z{dims[0] + 1} (latent)", z1),
                "z2": _z_slider(f"z{dims[1] + 1} (latent)", z2)}
    latest: dict = {}

    def render(z1: float, z2: float):
        z = base.clone()
        z[dims[0]], z[dims[1]] = z1, z2
        probs = decode_probs(model, z)
        latest.update(z=z, probs=probs)
        text = (f"z = ({z1:+.2f}, {z2:+.2f}); log prior density log p(z) = "
                f"{float(standard_normal_log_prob(z)):.2f}")
        return array_to_png(probs.reshape(IMAGE_SHAPE), scale=scale), text

    return CourseWidget(controls, render, latest=latest,
                        title="Decode a latent point: p(x_j = 1 | z)")


class _PastingBlitter(BlitFigure):
    """A ``BlitFigure`` that also pastes images (enlarged by an integer factor with
    ``np.repeat``) into fixed pixel boxes of each frame before encoding PNG.  Pasting pixels is
    ~50x cheaper than letting matplotlib resample an ``imshow``."""

    def __init__(self, fig, moving, boxes: dict[str, tuple[int, int, int]]):
        super().__init__(fig, moving)
        self.boxes = dict(boxes)

    def png(self, images: dict[str, np.ndarray]) -> bytes:
        pixels = self.pixels()
        for name, image in images.items():
            top, left, scale = self.boxes[name]
            grey = np.clip(255.0 * (1.0 - np.asarray(image, dtype=np.float32)), 0, 255)
            big = np.repeat(np.repeat(grey.astype(np.uint8), scale, 0), scale, 1)
            pixels[top - 1:top + big.shape[0] + 1, left - 1:left + big.shape[1] + 1] = 150
            pixels[top:top + big.shape[0], left:left + big.shape[1]] = big[..., None]
        return rgb_to_png(pixels)


# long: the controls, the figure and the render function sharing them
def latent_explorer(model, x: torch.Tensor, labels: torch.Tensor, *, z1: float = 0.0,
                    z2: float = 0.0, digit: int = 0, n_std: float = 2.0) -> CourseWidget:
    """The latent plane of a 2-D VAE: encoder means of ``x`` coloured by ``labels``, the slider
    point (z1, z2) with its decoded digit, and test digit number ``digit`` with the
    ``n_std``-sigma ellipse of its q(z|x), the digit itself and its reconstruction
    sigmoid(decode(mu(x))).

    ``widget.latest`` holds the numbers behind the current picture: ``z``, ``decoded`` [784],
    ``ellipse`` (``EllipseParams``), ``reconstruction`` [784], ``label``;
    ``widget.image_boxes`` says where the three digits sit in the PNG.
    """
    _require_2d(model)
    validate_tensor("x", x, ndim=2)
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(x),):
        raise ValueError(f"labels must be a tensor of {len(x)} digit labels (one per row of x)")
    n_std = validate_positive_float("n_std", n_std)
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) \
            or not 0 <= digit < len(x):
        raise ValueError(f"digit must be an index in 0..{len(x) - 1}, got {digit!r}")
    means, logvars = encode_dataset(model, x)
    recon = decode_probs(model, means)                 # [N, 784], decoded at the posterior mean
    controls = {
        "z1": _z_slider("z₁ (latent)", z1),
        "z2": _z_slider("z₂ (latent)", z2),
        "digit": widgets.IntSlider(value=int(digit), min=0, max=len(x) - 1, step=1,
                                   description="test digit #", style=SLIDER_STYLE),
    }

    width_px, height_px, dpi = 800, 370, 80
    fig = new_figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_axes((0.07, 0.12, 0.45, 0.80))
    colors = label_colors(10)
    points = means.numpy()
    label_array = labels.numpy()
    for d in range(10):
        mask = label_array == d
        ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.8, color=colors[d],
                   linewidths=0, label=str(d))
    lim = max(SLIDER_LIMIT, float(np.abs(points).max()) * 1.05)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title("encoder means of the test digits")
    ax.legend(title="digit", markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False, fontsize=11, title_fontsize=11)
    ellipse = Ellipse((0, 0), 1, 1, fill=False, lw=2.5, color="black", ls="--")
    ax.add_patch(ellipse)
    (digit_mean,) = ax.plot([], [], "o", color="black", markersize=5)
    (marker,) = ax.plot([], [], marker="X", color="crimson", markersize=15,
                        markeredgecolor="white", markeredgewidth=1.5, ls="none")

    boxes = {}

    def image_box(name, left, top, scale, title):
        """Reserve a titled box of 28*scale pixels at (left, top) pixels for image ``name``."""
        size = 28 * scale
        image_ax = fig.add_axes((left / width_px, 1 - (top + size) / height_px,
                                 size / width_px, size / height_px))
        image_ax.set_axis_off()                # the blitter draws the picture and a grey frame
        image_ax.set_title(title, fontsize=11)
        boxes[name] = (top, left, scale)

    image_box("decoded", 560, 40, 6, "decoded at the ✕: $p_\\theta(x_j{=}1|z)$")
    image_box("digit", 560, 250, 3, "test digit x")
    image_box("reconstruction", 676, 250, 3, "reconstruction")
    blit = _PastingBlitter(fig, [ellipse, digit_mean, marker], boxes)
    latest: dict = {}

    def render(z1: float, z2: float, digit: int):
        z = torch.tensor([z1, z2], dtype=torch.float32)
        decoded = decode_probs(model, z)
        shape = posterior_ellipse(means[digit], logvars[digit], n_std)
        marker.set_data([z1], [z2])
        ellipse.set_center(shape.center)
        ellipse.width, ellipse.height = shape.width, shape.height
        ellipse.set_edgecolor(colors[int(labels[digit])])
        digit_mean.set_data([shape.center[0]], [shape.center[1]])
        png = blit.png({"decoded": decoded.reshape(IMAGE_SHAPE).numpy(),
                        "digit": x[digit].reshape(IMAGE_SHAPE).numpy(),
                        "reconstruction": recon[digit].reshape(IMAGE_SHAPE).numpy()})
        latest.update(z=z, decoded=decoded, ellipse=shape, reconstruction=recon[digit],
                      label=int(labels[digit]))
        sigma = torch.exp(0.5 * logvars[digit])
        text = (f"✕ at z = ({z1:+.2f}, {z2:+.2f})<br>test digit #{digit} (a {int(labels[digit])}): "
                f"q(z|x) = N(({shape.center[0]:+.2f}, {shape.center[1]:+.2f}), "
                f"diag({float(sigma[0]):.3f}², {float(sigma[1]):.3f}²))<br>dashed: its "
                f"{n_std:g}σ ellipse; black dot: its mean")
        return png, text

    widget = CourseWidget(controls, render, latest=latest, title="Latent-space explorer (2-D VAE)")
    widget.image_boxes = dict(boxes)       # name -> (top, left, scale) in PNG pixels (for tests)
    return widget
