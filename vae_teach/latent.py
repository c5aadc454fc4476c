"""Looking inside a trained VAE's latent space (notebook 07): computations and static figures.

* ``decode_probs(model, z)``        pixel probabilities sigmoid(decode(z)) of latent points
* ``encode_dataset(model, x)``      encoder means and log-variances of many images (batched;
  defined in ``vae_teach.information``)
* ``posterior_ellipse(mu, logvar)`` the n-sigma ellipse of a diagonal Gaussian q(z|x) in 2-D
* ``gaussian_grid(n)``, ``decoded_manifold(model, n)``  decoded images on an n x n grid of
  Gaussian quantiles of a 2-D latent
* ``interpolate(model, x_a, x_b)``  decoded images along the straight line between two codes
* ``plot_decoded_manifold``, ``plot_vae_pipeline`` (one digit's trip through the VAE)

The interactive views of the same latent space are in ``vae_teach.widgets.latent``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .information import encode_dataset  # noqa: F401  (the course's one batched encoder)
from .plots import label_colors, tile
from .utils import validate_positive_float, validate_positive_int, validate_tensor

IMAGE_SHAPE = (28, 28)


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
    n_std = validate_positive_float("n_std", n_std)
    sigma = torch.exp(0.5 * logvar)
    return EllipseParams((float(mu[0]), float(mu[1])), float(2 * n_std * sigma[0]),
                         float(2 * n_std * sigma[1]))


def gaussian_grid(n: int = 15, tail: float = 0.03) -> torch.Tensor:
    """n values z with equal prior mass between them: Phi^{-1} of n points evenly spaced in
    [tail, 1 - tail] (Kingma & Welling 2014, figure 4 does the same)."""
    n = validate_positive_int("n", n, minimum=2)
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
    n_steps = validate_positive_int("n_steps", n_steps, minimum=2)
    x_a = validate_tensor("x_a", x_a).reshape(1, -1)
    x_b = validate_tensor("x_b", x_b).reshape(1, -1)
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

    x = validate_tensor("x", x).reshape(1, -1)
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
    ax_q.legend(fontsize=11, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax_q.set_title("encoder $q_\\phi(z|x)$")
    ax_p.imshow(probs.reshape(IMAGE_SHAPE).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax_p.set_title("decoder: $p_\\theta(x_j{=}1|z)$")
    ax_draw.imshow(draw.reshape(IMAGE_SHAPE).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax_draw.set_title("a draw x' ~ $p_\\theta(x|z)$")
    for ax in (ax_x, ax_p, ax_draw):
        ax.set_axis_off()
    return axes
