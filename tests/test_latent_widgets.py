"""The latent-space machinery (``vae_teach.latent``) and widgets (``vae_teach.widgets.latent``)
of notebook 07.

Models here are untrained (seeded) BernoulliVAEs: the tests check that the pictures show the
model's numbers, not that the model is good.

Update cost (median of 20 slider moves on an idle 2-core machine): ``latent_explorer`` 6 ms for
a z move or a digit move (11 ms when PIL encoded the 800x370 PNG; ``plots.rgb_to_png`` now does);
``decoder_explorer`` 2 ms.
"""
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.latent import (EllipseParams, decode_probs, decoded_manifold, encode_dataset,
                              gaussian_grid, interpolate, plot_decoded_manifold, plot_vae_pipeline,
                              posterior_ellipse)
from vae_teach.widgets.latent import decoder_explorer, latent_explorer


@pytest.fixture(scope="module")
def model2():
    torch.manual_seed(0)
    return BernoulliVAE(hidden_dim=64, latent_dim=2).eval()


@pytest.fixture(scope="module")
def model16():
    torch.manual_seed(1)
    return BernoulliVAE(hidden_dim=64, latent_dim=16).eval()


@pytest.fixture(scope="module")
def data():
    x, labels = load_mnist("test")
    return x[:300], labels[:300]


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def box_image(png: bytes, box) -> np.ndarray:
    """The 28x28 grey levels the widget pasted into ``box`` = (top, left, scale), read back as
    probabilities (the widget draws p as 255 * (1 - p): dark ink on white)."""
    top, left, scale = box
    region = pixels(png)[top:top + 28 * scale:scale, left:left + 28 * scale:scale, 0]
    return 1.0 - region.astype(np.float64) / 255.0


# ------------------------------------------------------------------------------ computations

def test_posterior_ellipse_has_two_sigma_half_axes_and_holds_86_percent():
    mu, logvar = torch.tensor([0.3, -1.2]), torch.tensor([-1.0, 0.5])
    shape = posterior_ellipse(mu, logvar, n_std=2.0)
    sigma = torch.exp(0.5 * logvar)
    assert isinstance(shape, EllipseParams)
    assert shape.center == pytest.approx((0.3, -1.2))
    assert shape.width == pytest.approx(4 * sigma[0].item())
    assert shape.height == pytest.approx(4 * sigma[1].item())
    # the fraction of q's samples inside the ellipse is 1 - exp(-n^2 / 2) (chi-square, 2 dof)
    z = mu + sigma * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    inside = ((z[:, 0] - mu[0]) / (shape.width / 2)) ** 2 + ((z[:, 1] - mu[1]) / (shape.height / 2)) ** 2 <= 1
    assert inside.float().mean().item() == pytest.approx(1 - math.exp(-2), abs=0.005)


def test_gaussian_grid_is_symmetric_quantiles():
    grid = gaussian_grid(15, tail=0.03)
    assert grid.shape == (15,)
    assert torch.allclose(grid, -grid.flip(0), atol=1e-6)
    assert grid[7].item() == pytest.approx(0.0, abs=1e-6)
    assert grid[0].item() == pytest.approx(torch.distributions.Normal(0, 1).icdf(torch.tensor(0.03)).item(), abs=1e-5)
    assert (grid.diff() > 0).all()


def test_decoded_manifold_places_z2_top_down_and_z1_left_right(model2):
    images, grid = decoded_manifold(model2, n=5)
    assert images.shape == (25, 784)
    top_left = decode_probs(model2, torch.tensor([grid[0], grid[-1]]))
    bottom_right = decode_probs(model2, torch.tensor([grid[-1], grid[0]]))
    assert torch.allclose(images[0], top_left, atol=1e-6)
    assert torch.allclose(images[-1], bottom_right, atol=1e-6)


def test_encode_dataset_matches_one_batch_and_interpolation_endpoints(model16, data):
    x, _ = data
    means, logvars = encode_dataset(model16, x, batch_size=64)
    direct_mu, direct_logvar = model16.encode(x)
    assert torch.allclose(means, direct_mu, atol=1e-5) and torch.allclose(logvars, direct_logvar, atol=1e-5)
    path = interpolate(model16, x[0], x[1], n_steps=6)
    assert path.shape == (6, 784)
    assert torch.allclose(path[0], decode_probs(model16, means[0]), atol=1e-6)
    assert torch.allclose(path[-1], decode_probs(model16, means[1]), atol=1e-6)
    middle = decode_probs(model16, 0.4 * means[0] + 0.6 * means[1])
    assert torch.allclose(interpolate(model16, x[0], x[1], n_steps=6)[3], middle, atol=1e-6)


def test_static_figures_draw(model2, model16, data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_decoded_manifold(model2, n=6)
    assert ax.get_xlabel().startswith("$z_1$") and len(ax.images) == 1
    axes = plot_vae_pipeline(model16, data[0][0], generator=torch.Generator().manual_seed(0))
    assert len(axes) == 4 and axes[1].get_xlabel() == "latent coordinate"
    plt.close("all")


# ------------------------------------------------------------------------------ widgets

def test_latent_explorer_shows_the_decoded_point_and_the_chosen_digit(model2, data):
    x, labels = data
    w = latent_explorer(model2, x, labels, z1=0.0, z2=0.0, digit=0)
    first = w.png
    assert first.startswith(b"\x89PNG")
    w.set(z1=1.5)
    assert w.png != first
    with torch.no_grad():
        expected = torch.sigmoid(model2.decode(torch.tensor([[1.5, 0.0]])))[0]
    assert torch.allclose(w.latest["decoded"], expected, atol=1e-6)
    shown = box_image(w.png, w.image_boxes["decoded"])
    assert np.abs(shown - expected.reshape(28, 28).numpy()).max() < 1.5 / 255   # the PNG holds it
    # a different test digit: new ellipse, new reconstruction, same decoded point
    before = w.png
    w.set(digit=7)
    with torch.no_grad():
        mu, logvar = model2.encode(x[7:8])
    shape = w.latest["ellipse"]
    assert shape.center == pytest.approx(tuple(mu[0].tolist()), abs=1e-5)
    assert shape.width == pytest.approx(4 * torch.exp(0.5 * logvar[0, 0]).item(), rel=1e-5)
    assert torch.allclose(w.latest["reconstruction"], torch.sigmoid(model2.decode(mu))[0], atol=1e-6)
    assert w.latest["label"] == int(labels[7])
    assert w.png != before
    assert np.abs(box_image(w.png, w.image_boxes["digit"]) - x[7].reshape(28, 28).numpy()).max() < 1.5 / 255
    assert np.abs(box_image(w.png, w.image_boxes["reconstruction"])
                  - w.latest["reconstruction"].reshape(28, 28).numpy()).max() < 1.5 / 255
    assert f"test digit #7 (a {int(labels[7])})" in w.status.value


def test_latent_explorer_redraws_the_marker_where_the_sliders_point(model2, data):
    x, labels = data
    w = latent_explorer(model2, x, labels, z1=-3.0, z2=-3.0, digit=0)
    low = pixels(w.png)
    w.set(z1=3.0, z2=3.0)
    high = pixels(w.png)
    changed = np.argwhere(np.abs(low.astype(int) - high.astype(int)).sum(-1) > 0)
    scatter_part = changed[changed[:, 1] < 450]          # the scatter axes are the left 45 %
    assert len(scatter_part) > 50                        # the marker moved ...
    rows, cols = scatter_part[:, 0], scatter_part[:, 1]
    assert rows.max() - rows.min() > 150 and cols.max() - cols.min() > 150   # ... across the plane


def test_decoder_explorer_decodes_the_slider_point(model2, model16):
    w = decoder_explorer(model2, z1=0.0, z2=0.0)
    first = w.png
    w.set(z2=-2.0)
    assert w.png != first
    assert torch.allclose(w.latest["probs"], decode_probs(model2, torch.tensor([0.0, -2.0])), atol=1e-6)
    image = pixels(w.png)[::8, ::8, 0]                   # array_to_png with scale 8, gray_r
    assert np.abs((1 - image / 255.0) - w.latest["probs"].reshape(28, 28).numpy()).max() < 0.01
    # a 16-D model: two chosen coordinates move, the others stay at base
    base = torch.linspace(-1, 1, 16)
    w16 = decoder_explorer(model16, base=base, dims=(3, 9))
    w16.set(z1=2.5, z2=-0.5)
    expected_z = base.clone()
    expected_z[3], expected_z[9] = 2.5, -0.5
    assert torch.allclose(w16.latest["z"], expected_z)
    assert torch.allclose(w16.latest["probs"], decode_probs(model16, expected_z), atol=1e-6)


def test_every_control_has_a_description(model2, data):
    for w in (latent_explorer(model2, *data), decoder_explorer(model2)):
        for control in w.controls.values():
            assert control.description.strip()


def test_bad_inputs_raise_with_the_arguments_name(model2, model16, data):
    x, labels = data
    with pytest.raises(ValueError, match="latent_dim"):
        latent_explorer(model16, x, labels)
    with pytest.raises(ValueError, match="labels"):
        latent_explorer(model2, x, labels[:10])
    with pytest.raises(ValueError, match="digit"):
        latent_explorer(model2, x, labels, digit=len(x))
    with pytest.raises(ValueError, match="n_std"):
        latent_explorer(model2, x, labels, n_std=0)
    with pytest.raises(TypeError, match="x"):
        latent_explorer(model2, x.numpy(), labels)
    with pytest.raises(ValueError, match="dims"):
        decoder_explorer(model16, dims=(0, 0))
    with pytest.raises(ValueError, match="base"):
        decoder_explorer(model16, base=torch.zeros(3))
    with pytest.raises(ValueError, match="latent_dim"):
        decoded_manifold(model16)
    with pytest.raises(ValueError, match="mu and logvar"):
        posterior_ellipse(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="n_std"):
        posterior_ellipse(torch.zeros(2), torch.zeros(2), n_std=-1.0)
    with pytest.raises(ValueError, match="tail"):
        gaussian_grid(5, tail=0.7)
    with pytest.raises(TypeError, match="model"):
        decoder_explorer(object())
