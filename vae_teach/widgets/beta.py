"""Widgets for the beta sweep of notebook 10: what a VAE's latent code holds as beta grows.

Everything a widget shows is precomputed once per beta by ``precompute_beta_views`` (posterior
means of the test images, reconstructions, a 2-D PCA projection, per-dimension activity and
rate).  Moving a control only swaps precomputed arrays or decodes a handful of latent codes
(a ~1 ms MLP pass), so an update is one cheap redraw; ``beta_explorer`` even draws its few
frames (one per beta) up front.

* ``beta_explorer``        choose beta -> reconstructions and the latent scatter (PCA of the means)
* ``latent_traversal``     choose beta, a latent dimension and a test digit -> decode one dim swept
* ``latent_interpolation`` choose beta, two test digits and a mixing weight -> decoded mix vs. pixel mix
"""
from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

from .. import plots
from ..distributions import gaussian_kl_unchecked
from ..information import active_units, encode_dataset
from ..latent import decode_probs
from ..objectives import elbo_terms
from ..utils import validate_positive_float, validate_positive_int, validate_tensor
from ._base import BlitFigure, CourseWidget, new_figure

TRAVERSAL_RANGE = 3.0          # traverse z_j over [-3, 3]: +-3 prior standard deviations
N_TRAVERSAL_STEPS = 9


@dataclass
class BetaView:
    """What the widgets show for one trained model (one beta), computed once."""
    beta: float
    model: torch.nn.Module
    mu: torch.Tensor               # [N, d] posterior means E_q[z | x_n]
    logvar: torch.Tensor           # [N, d]
    reconstructions: np.ndarray    # [n_show, 784] sigmoid(decode(mu)) of the first n_show images
    projection: np.ndarray         # [N, 2] the means projected on their 2 principal axes
    explained_variance: np.ndarray  # [2] fraction of the means' variance on each axis
    activity: np.ndarray           # [d] A_u = Var_x(E_q[z_u]) (Burda et al., 2016, section 5.2)
    rate_per_dimension: np.ndarray  # [d] mean KL(q(z_u|x) || N(0, 1)) over the images, nats
    distortion: float              # mean D over the images (one z sample each), nats
    rate: float                    # mean R over the images, nats

    @property
    def n_active(self) -> int:
        return int((self.activity > 0.01).sum())


@dataclass
class BetaViews:
    """The precomputed views of a beta sweep on one set of images (see ``precompute_beta_views``)."""
    x: torch.Tensor                # [N, 784] the images (binary test digits)
    labels: np.ndarray             # [N] their digit labels
    views: dict                    # beta -> BetaView, sorted by beta
    scatter_limit: float           # one axis range for every beta: the clouds are comparable

    @property
    def betas(self) -> list:
        return list(self.views)

    def __getitem__(self, beta) -> BetaView:
        return self.views[beta]


def pca_2d(mu: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``mu`` [N, d] on their first two principal axes (centred).

    Returns ``(projection [N, 2], explained [2])``, explained = fraction of the total variance on
    each axis.  The projection is a rotation, so its units are latent units.  Each axis's sign is
    fixed (largest loading positive) so the picture does not flip between runs.  With d = 1 the
    second coordinate is 0.
    """
    validate_tensor("mu", mu, ndim=2)
    centred = (mu - mu.mean(dim=0)).double()
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)
    projection = (centred @ axes.T).numpy()
    total = float((s ** 2).sum())
    explained = (s[:2] ** 2).numpy() / total if total > 0 else np.zeros(min(2, len(s)))
    if projection.shape[1] == 1:
        projection = np.concatenate([projection, np.zeros_like(projection)], axis=1)
        explained = np.concatenate([explained, [0.0]])
    return projection.astype(np.float32), explained.astype(np.float64)


@torch.no_grad()
def precompute_beta_views(models: dict, x: torch.Tensor, labels, *, n_show: int = 8,
                          seed: int = 0) -> BetaViews:
    """Encode ``x`` with every model of a beta sweep and keep what the widgets need.

    ``models`` maps beta -> trained ``BernoulliVAE``; ``x`` is [N, 784] binary images and
    ``labels`` their N digit labels.  ``n_show`` images (the first ones) get reconstructions.
    """
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {beta: trained model}")
    validate_tensor("x", x, ndim=2)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have one entry per image ({len(x)}), got shape "
                         f"{labels.shape}")
    n_show = validate_positive_int("n_show", n_show)
    if n_show > len(x):
        raise ValueError(f"n_show must be <= the number of images ({len(x)}), got {n_show}")
    generator = torch.Generator().manual_seed(seed)
    views, extent = {}, 1.0
    for beta in sorted(models):
        validate_positive_float("beta", beta, allow_zero=True)
        model = models[beta]
        model.eval()
        mu, logvar = encode_dataset(model, x)
        terms = elbo_terms(model, x, generator=generator)
        projection, explained = pca_2d(mu)
        recon = torch.sigmoid(model.decode(mu[:n_show])).numpy()
        per_dim_kl = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)).mean(dim=0)
        views[beta] = BetaView(
            beta=float(beta), model=model, mu=mu, logvar=logvar, reconstructions=recon,
            projection=projection, explained_variance=explained,
            activity=active_units(mu).activity.numpy(),
            rate_per_dimension=per_dim_kl.numpy(),
            distortion=float(terms.distortion.mean()), rate=float(gaussian_kl_unchecked(mu, logvar).mean()))
        extent = max(extent, float(np.quantile(np.abs(projection), 0.995)))
    return BetaViews(x=x, labels=labels, views=views, scatter_limit=1.1 * extent)


# ----------------------------------------------------------------------- pure helpers (tested)

def traversal_codes(mu_row: torch.Tensor, dimension: int, values) -> torch.Tensor:
    """Copies of one posterior mean ``mu_row`` [d] with coordinate ``dimension`` set to each of
    ``values`` in turn: [len(values), d]."""
    validate_tensor("mu_row", mu_row, ndim=1)
    if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)):
        raise TypeError(f"dimension must be an int, got {type(dimension).__name__}")
    if not 0 <= dimension < mu_row.shape[0]:
        raise ValueError(f"dimension must lie in 0..{mu_row.shape[0] - 1}, got {dimension}")
    values = torch.as_tensor(values, dtype=mu_row.dtype).reshape(-1)
    codes = mu_row.repeat(len(values), 1)
    codes[:, int(dimension)] = values
    return codes


def interpolation_code(mu_a: torch.Tensor, mu_b: torch.Tensor, mix: float) -> torch.Tensor:
    """(1 - mix) mu_a + mix mu_b, a straight line between two codes (mix in [0, 1])."""
    validate_tensor("mu_a", mu_a)
    validate_tensor("mu_b", mu_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"mu_a and mu_b must have the same shape, got {tuple(mu_a.shape)} "
                         f"and {tuple(mu_b.shape)}")
    mix = validate_positive_float("mix", mix, allow_zero=True)
    if mix > 1:
        raise ValueError(f"mix must lie in [0, 1], got {mix}")
    return (1.0 - mix) * mu_a + mix * mu_b


def traversal_images(views: BetaViews, beta, dimension: int, digit: int) -> np.ndarray:
    """[1 + N_TRAVERSAL_STEPS, 784]: the test digit, then the decoded traversal of ``dimension``
    over [-3, 3] with the other coordinates at the digit's posterior mean."""
    view = views[beta]
    values = np.linspace(-TRAVERSAL_RANGE, TRAVERSAL_RANGE, N_TRAVERSAL_STEPS)
    codes = traversal_codes(view.mu[digit], dimension, values)
    return np.concatenate([views.x[digit][None].numpy(), decode_probs(view.model, codes).numpy()])


def interpolation_images(views: BetaViews, beta, digit_a: int, digit_b: int,
                         mix: float) -> np.ndarray:
    """[6, 784]: row 1 = digit a, the decoded latent mix, digit b; row 2 = digit a, the
    pixel-space mix (1 - mix) x_a + mix x_b, digit b."""
    view = views[beta]
    x_a, x_b = views.x[digit_a].numpy(), views.x[digit_b].numpy()
    code = interpolation_code(view.mu[digit_a], view.mu[digit_b], mix)
    decoded = decode_probs(view.model, code).numpy()
    pixel_mix = (1.0 - mix) * x_a + mix * x_b
    return np.stack([x_a, decoded, x_b, x_a, pixel_mix, x_b])


# ------------------------------------------------------------------------------------ widgets

def _beta_control(views: BetaViews, value=None) -> widgets.SelectionSlider:
    options = [(f"{b:g}", b) for b in views.betas]
    default = value if value is not None else (1.0 if 1.0 in views.views else views.betas[0])
    return widgets.SelectionSlider(options=options, value=default, description="β (KL weight)",
                                   continuous_update=True,
                                   style={"description_width": "initial"})


def _check_views(views) -> None:
    if not isinstance(views, BetaViews):
        raise TypeError(f"views must be the BetaViews from precompute_beta_views, got "
                        f"{type(views).__name__}")


def _blit_renderer(fig, animated: list):
    """Draw ``fig`` once without its ``animated`` artists and keep that background; the returned
    function restores it, draws only the animated artists and returns PNG bytes.  Far cheaper than
    a full redraw (no tick labels, legend or layout to recompute)."""
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    # A fixed layout: without an engine set, saving would switch on the course style's
    # constrained layout and re-solve it at every frame.
    fig.set_layout_engine(PlaceHolderLayoutEngine(adjust_compatible=True, colorbar_gridspec=True))
    return BlitFigure(fig, animated).png


def beta_explorer(views: BetaViews, *, beta=None) -> CourseWidget:
    """Choose beta: the first test digits and their reconstructions (decoded posterior means),
    and all test images' posterior means projected on their two principal axes (PCA of
    E_q[z|x], done separately for each beta), coloured by digit.  Only the axis ranges are the
    same for every beta, so the cloud visibly shrinks as beta grows.  Every beta's picture
    is drawn when the widget is built, so moving the slider costs no drawing at all."""
    _check_views(views)
    first = views[views.betas[0]]
    n_show = len(first.reconstructions)
    fig = new_figure(figsize=(10.5, 4.4), dpi=90)
    ax_img = fig.add_axes((0.01, 0.08, 0.44, 0.78))
    ax_sc = fig.add_axes((0.55, 0.13, 0.30, 0.73))
    ax_img.set_axis_off()
    grid = np.concatenate([views.x[:n_show].numpy(), first.reconstructions])
    image = ax_img.imshow(plots.tile(grid, ncols=n_show), cmap="gray_r", vmin=0, vmax=1)
    ax_img.set_title("top: test digits · bottom: reconstructions", fontsize=11)
    colors = np.array(plots.label_colors(10))[views.labels.astype(int) % 10]
    scatter = ax_sc.scatter(first.projection[:, 0], first.projection[:, 1], s=5, c=colors,
                            linewidths=0, alpha=0.7)
    limit = views.scatter_limit
    ax_sc.set_xlim(-limit, limit)
    ax_sc.set_ylim(-limit, limit)
    ax_sc.set_aspect("equal")
    ax_sc.set_xlabel("PC 1 of E_q[z|x] (latent units)")
    ax_sc.set_ylabel("PC 2 (latent units)")
    sc_title = ax_sc.set_title("", fontsize=11)
    for digit in range(10):
        ax_sc.scatter([], [], s=30, color=plots.label_colors(10)[digit], label=str(digit))
    ax_sc.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    suptitle = fig.suptitle("", fontsize=13, fontweight="bold")
    to_png = _blit_renderer(fig, [image, scatter, sc_title, suptitle])

    def draw(beta):
        view = views[beta]
        image.set_data(plots.tile(np.concatenate([views.x[:n_show].numpy(),
                                                  view.reconstructions]), ncols=n_show))
        scatter.set_offsets(view.projection)
        sc_title.set_text(f"posterior means, PCA ({100 * view.explained_variance.sum():.0f}% "
                          "of variance)")
        suptitle.set_text(f"β = {beta:g}:  D = {view.distortion:.1f} nats,  "
                          f"R = {view.rate:.2f} nats,  active units {view.n_active}/"
                          f"{len(view.activity)}")
        text = (f"β = {beta:g}: distortion D = {view.distortion:.1f} nats, rate R = "
                f"{view.rate:.2f} nats, {view.n_active} of {len(view.activity)} latent "
                "dimensions active (A<sub>u</sub> &gt; 0.01)")
        return to_png(), text

    # Only beta moves, and a sweep has a handful of betas: draw every frame now (~35 ms each),
    # so that a move just sends stored PNG bytes.
    frames = {b: draw(b) for b in views.betas}

    def render(beta):
        return frames[beta]

    controls = {"beta": _beta_control(views, beta)}
    return CourseWidget(controls, render, title="β-VAE explorer: reconstructions and latent space")


def latent_traversal(views: BetaViews, *, beta=None, dimension: int = 0,
                     digit: int = 0) -> CourseWidget:
    """Choose beta, a latent dimension j and a test digit: the digit, then decode(z) with z_j
    swept over [-3, 3] and the other coordinates at the digit's posterior mean."""
    _check_views(views)
    d = views[views.betas[0]].mu.shape[1]
    values = np.linspace(-TRAVERSAL_RANGE, TRAVERSAL_RANGE, N_TRAVERSAL_STEPS)

    def render(beta, dimension, digit):
        view = views[beta]
        images = traversal_images(views, beta, dimension, digit)
        activity = float(view.activity[dimension])
        state = "active" if activity > 0.01 else "inactive: the code ignores it"
        text = (f"β = {beta:g}, test digit #{digit} (a {int(views.labels[digit])}), dimension "
                f"z<sub>{dimension}</sub>: activity A = {activity:.3f} ({state}), mean KL "
                f"{float(view.rate_per_dimension[dimension]):.2f} nats.  Left: the digit; then "
                f"z<sub>{dimension}</sub> = {values[0]:g} … {values[-1]:g}.")
        return plots.array_to_png(plots.tile(images, ncols=len(images)), scale=3), text

    controls = {
        "beta": _beta_control(views, beta),
        "dimension": widgets.IntSlider(value=dimension, min=0, max=d - 1,
                                       description="latent dimension",
                                       style={"description_width": "initial"}),
        "digit": widgets.IntSlider(value=digit, min=0, max=len(views.x) - 1,
                                   description="test digit #",
                                   style={"description_width": "initial"}),
    }
    return CourseWidget(controls, render, title="Latent traversal: vary one dimension of z")


def latent_interpolation(views: BetaViews, *, beta=None, digit_a: int = 0, digit_b: int = 1,
                         mix: float = 0.5) -> CourseWidget:
    """Choose beta, two test digits and a mixing weight t: top row decodes the straight line
    (1 - t) mu_a + t mu_b between their posterior means; bottom row mixes the pixels instead."""
    _check_views(views)
    n = len(views.x)

    def render(beta, digit_a, digit_b, mix):
        images = interpolation_images(views, beta, digit_a, digit_b, mix)
        text = (f"β = {beta:g}, t = {mix:.2f}.  Top: digit #{digit_a} (a "
                f"{int(views.labels[digit_a])}), decode((1−t)·μ<sub>a</sub> + t·μ<sub>b</sub>), "
                f"digit #{digit_b} (a {int(views.labels[digit_b])}).  Bottom: the same digits "
                "and the pixel mix (1−t)·x<sub>a</sub> + t·x<sub>b</sub>.")
        return plots.array_to_png(plots.tile(images, ncols=3), scale=5), text

    controls = {
        "beta": _beta_control(views, beta),
        "digit_a": widgets.IntSlider(value=digit_a, min=0, max=n - 1, description="digit a #",
                                     style={"description_width": "initial"}),
        "digit_b": widgets.IntSlider(value=digit_b, min=0, max=n - 1, description="digit b #",
                                     style={"description_width": "initial"}),
        "mix": widgets.FloatSlider(value=mix, min=0.0, max=1.0, step=0.05,
                                   description="mix t (0 = a, 1 = b)",
                                   style={"description_width": "initial"}),
    }
    return CourseWidget(controls, render, title="Interpolation: in latent space vs. in pixels")
