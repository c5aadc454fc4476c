"""The beta-sweep widgets of notebook 10 (vae_teach.widgets.beta): controls move, the PNG
changes, and the numbers behind each picture are the right ones.

Measured cost of one update (median of 20 updates on an idle 2-core machine; default models
and the 2,000 test digits of notebook 10): beta_explorer ~0.1 ms (every beta's frame, a blit of
the 2,000-point scatter and the digit grid over a cached background, ~35 ms each, is drawn when
the widget is built), latent_traversal ~3 ms, latent_interpolation ~3 ms.
"""
import numpy as np
import pytest
import torch

from vae_teach.data import load_mnist
from vae_teach.information import active_units
from vae_teach.models import BernoulliVAE
from vae_teach.widgets import CourseWidget
from vae_teach.widgets import beta as bw

N_IMAGES = 60


@pytest.fixture(scope="module")
def views():
    x, labels = load_mnist("test")
    models = {}
    for seed, beta in enumerate((0.5, 1.0, 4.0)):
        torch.manual_seed(seed)
        models[beta] = BernoulliVAE(hidden_dim=32, latent_dim=3).eval()
    return bw.precompute_beta_views(models, x[:N_IMAGES], labels[:N_IMAGES], n_show=5)


def test_precomputed_views_hold_the_models_numbers(views):
    assert views.betas == [0.5, 1.0, 4.0]
    for beta in views.betas:
        view = views[beta]
        with torch.no_grad():
            mu, logvar = view.model.encode(views.x)
            recon = torch.sigmoid(view.model.decode(mu[:5])).numpy()
        assert torch.allclose(view.mu, mu, atol=1e-6) and torch.allclose(view.logvar, logvar)
        assert np.allclose(view.reconstructions, recon, atol=1e-6)
        assert np.allclose(view.activity, active_units(mu).activity.numpy(), rtol=1e-5)
        kl = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=1).mean()
        assert view.rate == pytest.approx(float(kl), rel=1e-5)
        assert view.rate_per_dimension.sum() == pytest.approx(view.rate, rel=1e-5)
        assert view.distortion > 0
        assert views.scatter_limit >= np.abs(view.projection).max() * 0.5


def test_pca_projection_is_a_rotation_onto_the_top_variance_axes():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 4, generator=g) * torch.tensor([3.0, 1.0, 0.5, 0.1])
    projection, explained = bw.pca_2d(mu)
    eigenvalues = torch.linalg.eigvalsh(torch.cov(mu.T, correction=0).double()).flip(0)
    assert np.allclose(projection.var(axis=0), eigenvalues[:2].numpy(), rtol=1e-3)
    assert np.allclose(explained, (eigenvalues[:2] / eigenvalues.sum()).numpy(), rtol=1e-3)
    assert abs(np.corrcoef(projection.T)[0, 1]) < 1e-3
    one_dim, explained_1 = bw.pca_2d(mu[:, :1])
    assert one_dim.shape == (500, 2) and np.all(one_dim[:, 1] == 0) and explained_1[0] == 1


def test_traversal_and_interpolation_codes():
    mu_row = torch.tensor([0.5, -1.0, 2.0])
    codes = bw.traversal_codes(mu_row, 1, [-3.0, 0.0, 3.0])
    assert codes[:, 1].tolist() == [-3.0, 0.0, 3.0]
    assert torch.equal(codes[:, [0, 2]], mu_row[[0, 2]].repeat(3, 1))
    a, b = torch.zeros(3), torch.ones(3)
    assert torch.equal(bw.interpolation_code(a, b, 0.0), a)
    assert torch.equal(bw.interpolation_code(a, b, 1.0), b)
    assert torch.allclose(bw.interpolation_code(a, b, 0.25), torch.full((3,), 0.25))
    with pytest.raises(ValueError, match="dimension"):
        bw.traversal_codes(mu_row, 3, [0.0])
    with pytest.raises(TypeError, match="dimension"):
        bw.traversal_codes(mu_row, 1.0, [0.0])
    with pytest.raises(ValueError, match="mix"):
        bw.interpolation_code(a, b, 1.5)
    with pytest.raises(ValueError, match="mu_a and mu_b"):
        bw.interpolation_code(a, torch.ones(2), 0.5)


def test_bad_inputs_to_precompute_and_widgets():
    x = torch.zeros(4, 784)
    with pytest.raises(TypeError, match="models"):
        bw.precompute_beta_views([], x, np.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        bw.precompute_beta_views({1.0: BernoulliVAE(hidden_dim=8, latent_dim=2)}, x, np.zeros(3))
    with pytest.raises(ValueError, match="n_show"):
        bw.precompute_beta_views({1.0: BernoulliVAE(hidden_dim=8, latent_dim=2)}, x,
                                 np.zeros(4), n_show=5)
    with pytest.raises(TypeError, match="views"):
        bw.beta_explorer({1.0: None})


def test_every_control_has_a_description(views):
    for make in (bw.beta_explorer, bw.latent_traversal, bw.latent_interpolation):
        w = make(views)
        assert isinstance(w, CourseWidget)
        assert all(control.description for control in w.controls.values())


def test_beta_explorer_swaps_reconstructions_and_scatter(views):
    w = bw.beta_explorer(views)
    assert w.values == {"beta": 1.0} and w.png.startswith(b"\x89PNG")
    first, renders = w.png, w.n_renders
    w.set(beta=4.0)
    assert w.png != first and w.n_renders == renders + 1
    view = views[4.0]
    assert f"R = {view.rate:.2f} nats" in w.status.value
    assert f"{view.n_active} of 3" in w.status.value
    w.set(beta=1.0)
    assert w.png == first                       # a pure render: same values, same picture


def test_latent_traversal_decodes_the_swept_codes(views):
    w = bw.latent_traversal(views, digit=2)
    first = w.png
    for change in ({"dimension": 2}, {"digit": 7}, {"beta": 0.5}):
        before = w.png
        w.set(**change)
        assert w.png != before
    assert w.png != first
    images = bw.traversal_images(views, 0.5, 2, 7)
    view = views[0.5]
    assert images.shape == (1 + bw.N_TRAVERSAL_STEPS, 784)
    assert np.array_equal(images[0], views.x[7].numpy())
    codes = view.mu[7].repeat(bw.N_TRAVERSAL_STEPS, 1)
    codes[:, 2] = torch.linspace(-3, 3, bw.N_TRAVERSAL_STEPS)
    with torch.no_grad():
        expected = torch.sigmoid(view.model.decode(codes)).numpy()
    assert np.allclose(images[1:], expected, atol=1e-6)
    assert "z<sub>2</sub>" in w.status.value and f"a {int(views.labels[7])}" in w.status.value


def test_latent_interpolation_endpoints_and_pixel_mix(views):
    w = bw.latent_interpolation(views, digit_a=3, digit_b=9, mix=0.0)
    first = w.png
    w.set(mix=0.6)
    assert w.png != first
    before = w.png
    w.set(digit_b=11)
    assert w.png != before
    view = views[1.0]
    start = bw.interpolation_images(views, 1.0, 3, 9, 0.0)
    end = bw.interpolation_images(views, 1.0, 3, 9, 1.0)
    with torch.no_grad():
        decoded_a = torch.sigmoid(view.model.decode(view.mu[3][None]))[0].numpy()
        decoded_b = torch.sigmoid(view.model.decode(view.mu[9][None]))[0].numpy()
    assert np.allclose(start[1], decoded_a, atol=1e-6) and np.allclose(end[1], decoded_b, atol=1e-6)
    assert np.array_equal(start[4], views.x[3].numpy()) and np.array_equal(end[4], views.x[9].numpy())
    assert np.array_equal(start[0], views.x[3].numpy()) and np.array_equal(start[2], views.x[9].numpy())
    half = bw.interpolation_images(views, 1.0, 3, 9, 0.5)
    assert np.allclose(half[4], 0.5 * (views.x[3] + views.x[9]).numpy())
