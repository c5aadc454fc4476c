"""Looking inside a trained VAE's latent space (notebook 07).

Pure computations:

* ``decode_probs(model, z)``       pixel probabilities sigmoid(decode(z)) of latent points
* ``posterior_ellipse(mu, logvar)`` the n-sigma ellipse of a diagonal Gaussian q(z|x) in 2-D
* ``encode_dataset(model, x)``     encoder means and log-variances of many images (batched)
* ``decoded_manifold(model, n)``   decoded images on an n x n grid of Gaussian quantiles
* ``interpolate(model, x_a, x_b)`` decoded images along the straight line between two codes

Figures: ``plot_decoded_manifold``, ``plot_vae_pipeline`` (one digit's trip through the VAE).

Widgets (``CourseWidget``):

* ``decoder_explorer(model)``  sliders on z1, z2 -> the decoded digit (``array_to_png``, ~1 ms)
* ``latent_explorer(model, x, labels)``  the encoder means of the test digits coloured by label,
  the point (z1, z2) of the sliders marked on them and its decoded digit; plus a chosen test
  digit with the 2-sigma ellipse of its q(z|x) and its reconstruction.  The figure is drawn once;
  an update redraws only the marker and the ellipse and pastes three small images.
"""
from __future__ import annotations

from typing import NamedTuple

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Ellipse

from ..plots import array_to_png, label_colors, rgb_to_png, tile
from ..utils import check_positive_float, check_positive_int, check_tensor
from ._base import CourseWidget, new_figure
from .categorical import BlitFigure

IMAGE_SHAPE = (28, 28)
SLIDER_LIMIT = 4.0          # sliders on z run over [-4, 4]: beyond +-4 the prior has < 1e-4 mass
SLIDER_STYLE = {"description_width": "110px"}


# ------------------------------------------------------------------------------ computation

def _latent_dim(model) -> int:
    latent_dim = getattr(model, "latent_dim", None)
    if latent_dim is None:
        raise TypeError(f"model must be a BernoulliVAE (with .latent_dim), got "
                        f"{type(model).__name__}")
    return int(latent_dim)


def _require_2d(model, name: str = "model") -> None:
    if _latent_dim(model) != 2:
        raise ValueError(f"{name} must have a 2-D latent space (latent_dim=2) to be drawn in the "
                         f"plane, got latent_dim={_latent_dim(model)}")


@torch.no_grad()
def decode_probs(model, z) -> torch.Tensor:
    """Pixel probabilities sigmoid(decode(z)) for latent points z [N, K] (or one point [K])."""
    z = torch.as_tensor(z, dtype=torch.float32)
    single = z.dim() == 1
    probs = torch.sigmoid(model.decode(z.reshape(-1, z.shape[-1])))
    return probs[0] if single else probs


@torch.no_grad()
def encode_dataset(model, x: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder means and log-variances of q(z|x) for every row of x: two [N, K] tensors."""
    check_tensor("x", x, ndim=2)
    batch_size = check_positive_int("batch_size", batch_size)
    parts = [model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


class EllipseParams(NamedTuple):
    """An axis-aligned ellipse: centre (z1, z2) and full width / height (matplotlib's)."""
    center: tuple[float, float]
    width: float
    height: float


def posterior_ellipse(mu, logvar, n_std: float = 2.0) -> EllipseParams:
    """The n_std-sigma ellipse of q(z|x) = N(mu, diag exp(logvar)) in 2-D.

    q is diagonal, so the ellipse is axis-aligned with half-axes n_std * sigma_i; for
    n_std = 2 it holds 1 - exp(-2) = 86.5% of q's mass (the squared Mahalanobis distance of a 2-D
    Gaussian is chi-square with 2 degrees of freedom).
    """
    mu = torch.as_tensor(mu, dtype=torch.float64).reshape(-1)
    logvar = torch.as_tensor(logvar, dtype=torch.float64).reshape(-1)
    if mu.shape != (2,) or logvar.shape != (2,):
        raise ValueError(f"mu and logvar must each hold 2 numbers (a 2-D latent), got shapes "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    n_std = check_positive_float("n_std", n_std)
    sigma = torch.exp(0.5 * logvar)
    return EllipseParams((float(mu[0]), float(mu[1])), float(2 * n_std * sigma[0]),
                         float(2 * n_std * sigma[1]))


def gaussian_grid(n: int = 15, tail: float = 0.03) -> torch.Tensor:
    """n values z with equal prior mass between them: Phi^{-1} of n points evenly spaced in
    [tail, 1 - tail] (Kingma & Welling 2014, figure 4 does the same)."""
    n = check_positive_int("n", n, minimum=2)
    if not 0 < tail < 0.5:
        raise ValueError(f"tail must lie in (0, 0.5), got {tail}")
    levels = torch.linspace(tail, 1 - tail, n, dtype=torch.float64)
    return torch.distributions.Normal(0.0, 1.0).icdf(levels).float()


@torch.no_grad()
def decoded_manifold(model, n: int = 15, tail: float = 0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded pixel probabilities on an n x n grid of Gaussian quantiles of a 2-D latent.

    Returns ``(images [n * n, 784], grid [n])``; row r of the image grid has z2 = grid[n-1-r]
    (top row = largest z2, as on a plot's y axis), column c has z1 = grid[c].
    """
    _require_2d(model)
    grid = gaussian_grid(n, tail)
    z2, z1 = torch.meshgrid(grid.flip(0), grid, indexing="ij")
    points = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)
    return decode_probs(model, points), grid


@torch.no_grad()
def interpolate(model, x_a: torch.Tensor, x_b: torch.Tensor, n_steps: int = 8) -> torch.Tensor:
    """Decoded images along z(t) = (1 - t) mu(x_a) + t mu(x_b), t = 0 .. 1: [n_steps, 784]."""
    n_steps = check_positive_int("n_steps", n_steps, minimum=2)
    x_a = check_tensor("x_a", x_a).reshape(1, -1)
    x_b = check_tensor("x_b", x_b).reshape(1, -1)
    mu_a, _ = model.encode(x_a)
    mu_b, _ = model.encode(x_b)
    t = torch.linspace(0, 1, n_steps).unsqueeze(1)
    return decode_probs(model, (1 - t) * mu_a + t * mu_b)


# ------------------------------------------------------------------------------ static figures

def plot_decoded_manifold(model, n: int = 15, *, ax=None, tail: float = 0.03):
    """The decoder's output over the latent plane: an n x n grid of decoded digits, with the
    latent coordinates on the axes.  Returns the axes."""
    import matplotlib.pyplot as plt

    images, grid = decoded_manifold(model, n, tail)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    canvas = tile(images, ncols=n, pad=0)
    ticks = np.linspace(0, n - 1, min(n, 5)).round().astype(int)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, extent=(0, 28 * n, 28 * n, 0))
    ax.set_xticks(28 * ticks + 14, [f"{grid[i].item():.2f}" for i in ticks])
    ax.set_yticks(28 * ticks + 14, [f"{grid.flip(0)[i].item():.2f}" for i in ticks])
    ax.set_xlabel("$z_1$ (Gaussian quantiles)")
    ax.set_ylabel("$z_2$ (Gaussian quantiles)")
    ax.grid(False)
    return ax


@torch.no_grad()
def plot_vae_pipeline(model, x: torch.Tensor, *, generator: torch.Generator | None = None,
                      axes=None):
    """One digit's trip through the VAE, in five panels: x -> q(z|x) (mean +- 2 sigma per latent
    coordinate, with the reparameterized sample z) -> decoder's pixel probabilities -> a binary
    draw x' ~ p(x|z).  Returns the axes."""
    import matplotlib.pyplot as plt

    x = check_tensor("x", x).reshape(1, -1)
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + sigma * eps
    probs = torch.sigmoid(model.decode(z))
    draw = torch.bernoulli(probs, generator=generator)
    if axes is None:
        fig = plt.figure(figsize=(13, 3.4))
        grid = fig.add_gridspec(1, 4, width_ratios=[1, 2.4, 1, 1])
        axes = [fig.add_subplot(grid[0, i]) for i in range(4)]
    ax_x, ax_q, ax_p, ax_draw = axes
    ax_x.imshow(x.reshape(IMAGE_SHAPE).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax_x.set_title("input x")
    k = mu.shape[1]
    index = np.arange(1, k + 1)
    ax_q.errorbar(index, mu[0].numpy(), yerr=2 * sigma[0].numpy(), fmt="o", capsize=3,
                  color=label_colors(1)[0], label="mean ± 2σ of $q_\\phi(z|x)$")
    ax_q.plot(index, z[0].numpy(), "x", color="black", markersize=8, label="sample z = μ + σ·ε")
    ax_q.axhspan(-2, 2, color="grey", alpha=0.12, label="prior ±2σ")
    ax_q.set_xlabel("latent coordinate")
    ax_q.set_ylabel("z")
    ax_q.set_xticks(index if k <= 16 else index[::max(1, k // 8)])
    ax_q.legend(fontsize=8, loc="lower right", ncol=1, frameon=True)
    ax_q.set_title("encoder $q_\\phi(z|x)$")
    ax_p.imshow(probs.reshape(IMAGE_SHAPE).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax_p.set_title("decoder: $p_\\theta(x_j{=}1|z)$")
    ax_draw.imshow(draw.reshape(IMAGE_SHAPE).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax_draw.set_title("a draw x' ~ $p_\\theta(x|z)$")
    for ax in (ax_x, ax_p, ax_draw):
        ax.set_axis_off()
    return axes


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
    scale = check_positive_int("scale", scale)
    controls = {"z1": _z_slider(f"z{dims[0] + 1} (latent)", z1),
                "z2": _z_slider(f"z{dims[1] + 1} (latent)", z2)}
    latest: dict = {}

    def render(z1: float, z2: float):
        z = base.clone()
        z[dims[0]], z[dims[1]] = z1, z2
        probs = decode_probs(model, z)
        latest.update(z=z, probs=probs)
        text = (f"z = ({z1:+.2f}, {z2:+.2f}); log prior density log p(z) = "
                f"{float(-0.5 * (z.pow(2).sum() + latent_dim * np.log(2 * np.pi))):.2f}")
        return array_to_png(probs.reshape(IMAGE_SHAPE), scale=scale), text

    widget = CourseWidget(controls, render, title="Decode a latent point: p(x_j = 1 | z)")
    widget.latest = latest
    return widget


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
    check_tensor("x", x, ndim=2)
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(x),):
        raise ValueError(f"labels must be a tensor of {len(x)} digit labels (one per row of x)")
    n_std = check_positive_float("n_std", n_std)
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
              frameon=False, fontsize=9, title_fontsize=9)
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
        image_ax.set_title(title, fontsize=10)
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

    widget = CourseWidget(controls, render, title="Latent-space explorer (2-D VAE)")
    widget.latest = latest
    widget.image_boxes = dict(boxes)       # name -> (top, left, scale) in PNG pixels (for tests)
    return widget
