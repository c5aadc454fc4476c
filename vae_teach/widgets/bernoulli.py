"""The log-likelihood explorer of notebook 06: a binary digit x, a map of pixel probabilities p,
and what each pixel costs, log p(x_j | p_j) in nats.

The per-pixel computation is ``vae_teach.distributions.pixel_log_likelihood``: per pixel
``x_j l_j - softplus(l_j)`` (the stable form of ``x_j log p_j + (1 - x_j) log(1 - p_j)``,
p_j = sigmoid(l_j)) and its sum over the pixels, the log-likelihood of the whole image.
``map_logits`` builds the maps the explorer offers (uniform 1/2, the mean training image,
the mean image of a class, a VAE reconstruction) as logits, and ``explorer_numbers`` tempers
them (l -> l / T: sharper for T < 1, flatter for T > 1) and scores the digit.  ``likelihood_explorer`` wraps them in a ``CourseWidget`` whose figure is
created once; an update swaps the three images' data and redraws only the moving artists.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch

from ..data import load_mnist
from ..distributions import pixel_log_likelihood
from ..plots import rgb_to_png
from ..utils import validate_choice, validate_positive_float, validate_tensor
from ._base import BlitFigure, CourseWidget, new_figure

MAP_CHOICES = ("uniform 0.5", "mean training image", "mean of the same class",
               "mean of another class", "VAE reconstruction")
LAPLACE_PSEUDOCOUNT = 1.0   # add-one smoothing: a mean image never holds an exact 0 or 1
COLOUR_FLOOR_NATS = -8.0    # the per-pixel map is drawn from this value (and below) up to 0
FRAME_GREY = 170


# ------------------------------------------------------------------------------ computation

def smoothed_mean_image(x: torch.Tensor, pseudocount: float = LAPLACE_PSEUDOCOUNT) -> torch.Tensor:
    """The fraction of images with pixel j on, with add-``pseudocount`` smoothing:
    ``(sum_i x_ij + a) / (n + 2a)``.  Without smoothing a pixel that is never on in ``x`` gets
    p = 0, and one test digit inked there would have log-likelihood -inf."""
    validate_tensor("x", x, ndim=2)
    pseudocount = validate_positive_float("pseudocount", pseudocount)
    return (x.sum(dim=0) + pseudocount) / (x.shape[0] + 2 * pseudocount)


class ProbabilityMaps:
    """The mean training image and the ten class means (smoothed), and their logits, computed
    once."""

    def __init__(self, x_train: torch.Tensor, labels_train: torch.Tensor,
                 pseudocount: float = LAPLACE_PSEUDOCOUNT):
        validate_tensor("x_train", x_train, ndim=2)
        if not isinstance(labels_train, torch.Tensor) or torch.is_floating_point(labels_train):
            raise TypeError("labels_train must be an integer tensor of digit labels")
        if labels_train.shape != (x_train.shape[0],):
            raise ValueError(f"labels_train must have one label per row of x_train "
                             f"({x_train.shape[0]}), got shape {tuple(labels_train.shape)}")
        self.overall = smoothed_mean_image(x_train, pseudocount)
        self.classes = sorted(int(c) for c in labels_train.unique())
        self.per_class = {c: smoothed_mean_image(x_train[labels_train == c], pseudocount)
                          for c in self.classes}
        # their logits, in float64, computed once (the explorer asks for them at every move)
        self.overall_logits = torch.logit(self.overall.double())
        self.per_class_logits = {c: torch.logit(p.double()) for c, p in self.per_class.items()}


def map_logits(choice: str, maps: ProbabilityMaps, *, x: torch.Tensor | None = None,
               label: int | None = None, other_class: int | None = None,
               model=None) -> torch.Tensor:
    """The logits l = logit(p) (a float64 [784] tensor) of one of the pixel-probability maps in
    ``MAP_CHOICES``.  "mean of the same class" needs ``label``, "mean of another class" needs
    ``other_class``, "VAE reconstruction" needs ``model`` and the digit ``x``: it is
    decode(mu(x)), the decoder's logits at the encoder's mean.  (Working with logits keeps a
    confident decoder's values exact where float32 probabilities would round to 1 (l > ~16.6) or
    to 0 (l < ~-88.7).)"""
    validate_choice("choice", choice, MAP_CHOICES)
    if choice == "uniform 0.5":
        return torch.zeros_like(maps.overall, dtype=torch.float64)
    if choice == "mean training image":
        return maps.overall_logits
    if choice in ("mean of the same class", "mean of another class"):
        name, digit = ("label", label) if choice == "mean of the same class" \
            else ("other_class", other_class)
        if digit not in maps.per_class:
            raise ValueError(f"{name} must be one of the classes {maps.classes}, got {digit!r}")
        return maps.per_class_logits[digit]
    if model is None:
        raise ValueError("choice 'VAE reconstruction' needs a model (pass model=...)")
    validate_tensor("x", x, ndim=1)
    with torch.no_grad():
        mu, _ = model.encode(x[None].float())
        return model.decode(mu)[0].double()


def explorer_numbers(x: torch.Tensor, logits: torch.Tensor, temperature: float = 1.0) -> dict:
    """Everything the explorer shows for one digit ``x`` and one map of ``logits``, tempered
    as l / T (T < 1 pushes every p_j towards 0 or 1, T > 1 towards 1/2): the probabilities
    sigmoid(l / T), the per-pixel log-likelihood, its total (nats and bits), and its split into
    ink (x_j = 1) and background (x_j = 0) pixels."""
    temperature = validate_positive_float("temperature", temperature)
    validate_tensor("logits", logits)
    tempered = logits.double() / temperature
    per_pixel, total = pixel_log_likelihood(x.double(), tempered)
    ink = x > 0.5
    return {"probs": torch.sigmoid(tempered), "per_pixel": per_pixel, "total_nats": total,
            "total_bits": total / math.log(2), "ink_nats": float(per_pixel[ink].sum()),
            "background_nats": float(per_pixel[~ink].sum()), "n_ink": int(ink.sum()),
            "worst_pixel_nats": float(per_pixel.min())}


class PanelFigure:
    """A row of 28x28 images drawn as enlarged pixels, with titles and one colour bar for the
    last panel.  The frame (axes, colour bar) is drawn once by matplotlib; an update redraws
    only the titles and pastes the colour-mapped pixels into the frame, then encodes the PNG
    (a few ms, about 10x cheaper than letting matplotlib resample three images)."""

    def __init__(self, n_panels: int, cmaps, ranges, colorbar_label: str, *, scale: int = 8,
                 gap: int = 64, dpi: int = 100):
        import matplotlib
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        self.scale, self.size = scale, 28 * scale
        self.cmaps = [matplotlib.colormaps[name] for name in cmaps]
        self.ranges = list(ranges)
        left, top, bottom, right = 24, 44, 10, 130
        width = left + n_panels * self.size + (n_panels - 1) * gap + right
        height = top + self.size + bottom
        self.fig = new_figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        self.corners = []                     # (row, column) of each panel's top-left pixel
        self.titles = []
        for i in range(n_panels):
            x0 = left + i * (self.size + gap)
            ax = self.fig.add_axes((x0 / width, bottom / height, self.size / width,
                                    self.size / height))
            ax.set_axis_off()
            self.titles.append(ax.set_title("", fontsize=11.5, fontweight="normal", pad=6))
            self.corners.append((top, x0))
        bar_x = left + n_panels * self.size + (n_panels - 1) * gap + 10
        bar_ax = self.fig.add_axes((bar_x / width, bottom / height, 14 / width,
                                    self.size / height))
        low, high = self.ranges[-1]
        bar = self.fig.colorbar(ScalarMappable(Normalize(low, high), self.cmaps[-1]), cax=bar_ax)
        bar.set_label(colorbar_label, fontsize=11)
        bar.ax.tick_params(labelsize=11)
        self.blit = BlitFigure(self.fig, self.titles)

    def _rgb(self, i: int, image: np.ndarray) -> np.ndarray:
        low, high = self.ranges[i]
        normed = np.clip((np.asarray(image, dtype=np.float64) - low) / (high - low), 0, 1)
        rgb = self.cmaps[i](normed, bytes=True)[..., :3]
        return rgb.repeat(self.scale, axis=0).repeat(self.scale, axis=1)

    def png(self, images, titles) -> bytes:
        for title, text in zip(self.titles, titles):
            title.set_text(text)
        pixels = self.blit.pixels()
        for i, ((row, col), image) in enumerate(zip(self.corners, images)):
            pixels[row:row + self.size, col:col + self.size] = self._rgb(i, image)
            frame = (slice(row - 1, row + self.size + 1), slice(col - 1, col + self.size + 1))
            pixels[frame][[0, -1], :] = FRAME_GREY        # a thin frame shows where the
            pixels[frame][:, [0, -1]] = FRAME_GREY        # 28 x 28 image ends on white
        return rgb_to_png(pixels)


# ---------------------------------------------------------------------------------- widget

# long: the controls, the figure and the render function sharing them
def likelihood_explorer(model=None, *, x: torch.Tensor | None = None,
                        labels: torch.Tensor | None = None, maps: ProbabilityMaps | None = None,
                        index: int = 0, choice: str = "mean of the same class",
                        other_class: int | None = None, temperature: float = 1.0) -> CourseWidget:
    """Pick a binary digit (``x[index]``, default: the fixed-binarized test split) and a map of
    pixel probabilities; see the per-pixel log-likelihood and its total in nats.

    ``maps`` defaults to the means of the fixed-binarized training split.  With a trained
    ``model`` (a ``BernoulliVAE``) the choice "VAE reconstruction" is offered too.
    ``widget.latest`` holds the numbers behind the picture (see ``explorer_numbers``) plus
    ``label`` and ``map_name``.
    """
    if x is None:
        x, labels = load_mnist("test", "fixed")
    validate_tensor("x", x, ndim=2)
    if labels is None or not isinstance(labels, torch.Tensor) or labels.shape != (x.shape[0],):
        raise ValueError("labels must be a tensor with one digit label per row of x")
    if maps is None:
        maps = ProbabilityMaps(*load_mnist("train", "fixed"))
    choices = MAP_CHOICES if model is not None else MAP_CHOICES[:-1]
    validate_choice("choice", choice, choices)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < x.shape[0]:
        raise ValueError(f"index must be an int in [0, {x.shape[0] - 1}], got {index!r}")
    temperature = validate_positive_float("temperature", temperature)
    if other_class is None:
        other_class = 1 if int(labels[index]) == 0 else 0
    if other_class not in maps.per_class:
        raise ValueError(f"other_class must be one of {maps.classes}, got {other_class!r}")

    style = {"description_width": "120px"}
    controls = {
        "index": widgets.IntSlider(value=index, min=0, max=x.shape[0] - 1,
                                   description="test image", style=style),
        "choice": widgets.Dropdown(options=list(choices), value=choice,
                                   description="probability map", style=style),
        "other_class": widgets.Dropdown(options=maps.classes, value=other_class,
                                        description="other class", style=style),
        "temperature": widgets.FloatLogSlider(value=temperature, base=10, min=-1, max=1,
                                              step=0.05, description="temperature T",
                                              readout_format=".2f", style=style),
    }

    panels = PanelFigure(n_panels=3, cmaps=("gray_r", "gray_r", "magma"),
                         ranges=((0.0, 1.0), (0.0, 1.0), (COLOUR_FLOOR_NATS, 0.0)),
                         colorbar_label=f"nats per pixel (≤ {COLOUR_FLOOR_NATS:g}: black)")
    latest: dict = {}

    def render(index, choice, other_class, temperature) -> tuple[bytes, str]:
        digit, label = x[index], int(labels[index])
        logits = map_logits(choice, maps, x=digit, label=label, other_class=other_class,
                            model=model)
        numbers = explorer_numbers(digit, logits, temperature)
        map_name = {"mean of the same class": f"mean of class {label}",
                    "mean of another class": f"mean of class {other_class}"}.get(choice, choice)
        png = panels.png(
            [digit.reshape(28, 28).numpy(), numbers["probs"].reshape(28, 28).numpy(),
             numbers["per_pixel"].reshape(28, 28).numpy()],
            [f"binary digit x (a {label})", f"p = {map_name}, T = {temperature:.2f}",
             f"log p(x_j | p_j): sum {numbers['total_nats']:.1f} nats"])
        latest.update(numbers, label=label, map_name=map_name)
        text = (f"<b>log p(x) = {numbers['total_nats']:.2f} nats</b> "
                f"(= {numbers['total_bits']:.1f} bits)<br>"
                f"ink pixels ({numbers['n_ink']}): {numbers['ink_nats']:.1f} nats; "
                f"background ({x.shape[1] - numbers['n_ink']}): "
                f"{numbers['background_nats']:.1f} nats<br>"
                f"worst pixel: {numbers['worst_pixel_nats']:.2f} nats")
        return png, text

    return CourseWidget(controls, render, latest=latest, title="What does each pixel cost? "
                        "log p(x | p) = Σ_j x_j log p_j + (1 − x_j) log(1 − p_j)")
