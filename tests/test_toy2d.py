"""Tests of vae_teach.toy2d (notebook 02: a GAN and a VAE on a ring of Gaussians) and of its
exercise checkers."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from vae_teach import toy2d as T
from vae_teach.exercises import toy2d as ex


# ----------------------------------------------------------------------------------- the data

def test_ring_centres_lie_on_the_circle_at_equal_angles():
    centres = T.ring_centres(8, 2.0)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    angles = torch.atan2(centres[:, 1], centres[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles, torch.arange(8) * math.pi / 4, atol=1e-6)


def test_ring_samples_have_the_right_mode_shares_and_spread():
    x, modes = T.ring_of_gaussians(40_000, generator=torch.Generator().manual_seed(0))
    shares = torch.bincount(modes, minlength=8).double() / len(x)
    assert torch.allclose(shares, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.01)
    offsets = x - T.ring_centres()[modes]
    assert offsets.mean(dim=0).abs().max() < 0.002
    assert offsets.std(dim=0) == pytest.approx([T.MODE_STD] * 2, rel=0.02)


def test_ring_log_prob_matches_torch_distributions():
    centres = T.ring_centres()
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.full((8,), 1 / 8)),
        torch.distributions.Independent(torch.distributions.Normal(centres, T.MODE_STD), 1))
    x = torch.randn(50, 2) * 2
    x[:10] = centres[:5].repeat(2, 1) + 0.03
    assert torch.allclose(T.ring_log_prob(x), mixture.log_prob(x), atol=1e-4)


def test_true_average_log_likelihood_is_minus_the_entropy():
    # modes barely overlap: H ~ log 8 + log(2 pi e sigma^2)
    x, _ = T.ring_of_gaussians(40_000, generator=torch.Generator().manual_seed(1))
    entropy = math.log(8) + math.log(2 * math.pi * math.e * T.MODE_STD ** 2)
    assert float(T.ring_log_prob(x).mean()) == pytest.approx(-entropy, abs=0.02)


# ------------------------------------------------------------------------------ mode coverage

def test_within_radius_probability_is_the_chi_square_2_cdf():
    for n_sigma in (1.0, 2.0, 3.0):
        assert T.within_radius_probability(n_sigma) == pytest.approx(stats.chi2(2).cdf(n_sigma ** 2))


def test_mode_coverage_of_true_samples():
    x, _ = T.ring_of_gaussians(20_000, generator=torch.Generator().manual_seed(2))
    coverage = T.mode_coverage(x)
    assert coverage.n_modes_covered == coverage.n_modes_hit == 8
    assert coverage.share_high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert coverage.share_per_mode.sum() == pytest.approx(coverage.share_high_quality)
    assert coverage.share_low_quality == pytest.approx(1 - coverage.share_high_quality)


def test_mode_coverage_counts_dropped_sparse_and_blurred_modes():
    g = torch.Generator().manual_seed(3)
    x, modes = T.ring_of_gaussians(8000, generator=g)
    assert T.mode_coverage(x[modes < 5]).n_modes_covered == 5
    sparse = torch.cat([x[modes != 0], T.ring_centres()[:1].repeat(5, 1)])   # 5 points at mode 0
    coverage = T.mode_coverage(sparse)
    assert coverage.n_modes_covered == 7 and coverage.n_modes_hit == 8
    # a blob at the origin: everything is low quality
    blob = 0.1 * torch.randn(1000, 2, generator=g)
    assert T.mode_coverage(blob).share_low_quality == 1.0
    assert T.mode_coverage(blob).n_modes_covered == 0
    # samples exactly between two modes are low quality
    between = (T.ring_centres()[0] + T.ring_centres()[1]) / 2
    assert T.mode_coverage(between.repeat(10, 1)).share_low_quality == 1.0


def test_mode_coverage_rejects_bad_input():
    with pytest.raises(ValueError, match="samples"):
        T.mode_coverage(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="min_share"):
        T.mode_coverage(torch.zeros(5, 2), min_share=1.5)
    with pytest.raises(TypeError, match="samples"):
        T.mode_coverage(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="std"):
        T.ring_of_gaussians(10, std=-1.0)


# ------------------------------------------------------------------- several runs side by side

def test_runs_linear_applies_one_independent_layer_per_run():
    layer = T.RunsLinear(3, 4, [torch.Generator().manual_seed(s) for s in (0, 1)])
    x = torch.randn(2, 5, 7, 3)
    out = layer(x)
    assert out.shape == (2, 5, 7, 4)
    for r in range(2):
        assert torch.allclose(out[r], x[r] @ layer.weight[r] + layer.bias[r, 0], atol=1e-6)
    bound = 1 / math.sqrt(3)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    # gradients do not mix: a loss on run 0 leaves run 1 untouched
    layer(x)[0].sum().backward()
    assert layer.weight.grad[1].abs().max() == 0 and layer.weight.grad[0].abs().max() > 0


def test_a_run_is_determined_by_its_seed_alone():
    together = T.ToyVAE(seeds=(4, 9))
    alone = T.ToyVAE(seeds=(9,))
    z = torch.randn(1, 6, 2)
    mean_together, _ = together.decode(z.expand(2, 6, 2))
    mean_alone, _ = alone.decode(z)
    assert torch.allclose(mean_together[1], mean_alone[0], atol=1e-6)
    assert not torch.allclose(mean_together[0], mean_together[1])


def test_seeds_are_checked():
    with pytest.raises(TypeError, match="seeds"):
        T.ToyGAN(seeds=())
    with pytest.raises(ValueError, match="seeds"):
        T.ToyGAN(seeds=(1, -2))
    with pytest.raises(ValueError, match="activation"):
        T.ToyVAE(activation="swish-ish")


# -------------------------------------------------------------------------------- the VAE

def _zeroed_vae(decoder_mean, decoder_raw_std):
    """A ToyVAE whose encoder outputs q = N(0, I) = p(z) and whose decoder ignores z."""
    vae = T.ToyVAE(seeds=(0,))
    with torch.no_grad():
        for last in (vae.encoder[-1], vae.decoder[-1]):
            last.weight.zero_()
            last.bias.zero_()
        vae.decoder[-1].bias[0, 0] = torch.tensor([*decoder_mean, *decoder_raw_std])
    return vae


def test_elbo_and_iwae_are_exact_when_q_is_the_true_posterior():
    vae = _zeroed_vae((0.5, -1.0), (0.2, -0.4))
    x = torch.randn(30, 2)
    std = T.MIN_DECODER_STD + (1.0 - T.MIN_DECODER_STD) * torch.sigmoid(torch.tensor([0.2, -0.4]))
    exact = torch.distributions.Normal(torch.tensor([0.5, -1.0]), std).log_prob(x).sum(-1)
    terms = T.toy_elbo_terms(vae, x, n_samples=3)
    assert torch.allclose(terms.rate, torch.zeros(1, 30), atol=1e-6)
    assert torch.allclose(terms.elbo[0], exact, atol=1e-5)
    assert torch.allclose(T.toy_iwae_bound(vae, x, k=7)[0], exact, atol=1e-5)


def test_rate_and_distortion_match_torch_distributions():
    torch.manual_seed(0)
    vae = T.ToyVAE(seeds=(5,), decoder_noise="fixed", decoder_std=0.3)
    x = torch.randn(20, 2)
    terms = T.toy_elbo_terms(vae, x, n_samples=4000, generator=torch.Generator().manual_seed(1))
    mu, logvar = vae.encode(x)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(terms.rate, kl, atol=1e-5)
    z = q.sample((4000,))                                             # [S, 1, N, 2]
    mean, logvar_x = vae.decode(z[:, 0].reshape(1, -1, 2))      # run dimension first
    log_px = torch.distributions.Normal(mean, torch.exp(0.5 * logvar_x)).log_prob(
        x.repeat(4000, 1)[None]).sum(-1).reshape(4000, 20)
    assert torch.allclose(terms.distortion[0], -log_px.mean(0), rtol=0.03, atol=0.03)


def test_iwae_approaches_log_p_x_from_below_computed_by_quadrature():
    torch.manual_seed(1)
    vae = T.ToyVAE(seeds=(2,), decoder_noise="fixed", decoder_std=0.6)
    x = torch.tensor([[0.3, -0.2], [1.5, 0.5], [-1.0, 1.0]])
    # log p(x) = log int N(x; mu(z), 0.36 I) N(z; 0, I) dz on a fine grid of z
    axis = torch.linspace(-7, 7, 401, dtype=torch.float64)
    z1, z2 = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).float()
    mean, _ = vae.decode(z[None])
    log_joint = (torch.distributions.Normal(mean[0, :, None, :].double(), 0.6).log_prob(x.double()).sum(-1)
                 + torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum(-1, keepdim=True))
    cell = float((axis[1] - axis[0]) ** 2)
    log_px = torch.logsumexp(log_joint, dim=0) + math.log(cell)
    g = torch.Generator().manual_seed(0)
    elbo = T.toy_elbo_terms(vae, x, n_samples=2000, generator=g).elbo[0].double()
    # E[IWAE_10], averaged over 4000 independent estimates per point (standard error ~0.005)
    iwae_10 = T.toy_iwae_bound(vae, x.repeat(4000, 1), k=10, generator=g)[0].reshape(4000, 3).mean(0)
    iwae_big = T.toy_iwae_bound(vae, x, k=20_000, generator=g)[0].double()
    assert torch.all(elbo < iwae_10.double() - 0.02)                 # IWAE_10 is tighter ...
    assert torch.all(iwae_10.double() < log_px + 0.015)              # ... and still a lower bound
    assert torch.allclose(iwae_big, log_px, atol=0.03)               # IWAE_k -> log p(x)


def test_vae_sample_shapes_and_decoder_noise():
    vae = T.ToyVAE(seeds=(0, 1, 2), decoder_noise="fixed", decoder_std=0.5)
    means = vae.sample(400, decoder_noise=False, generator=torch.Generator().manual_seed(3))
    noisy = vae.sample(400, generator=torch.Generator().manual_seed(3))
    assert means.shape == noisy.shape == (3, 400, 2)
    assert (noisy - means).std() == pytest.approx(0.5, rel=0.1)


def test_learned_decoder_noise_stays_in_its_range_and_shared_noise_is_one_number():
    z = 30 * torch.randn(2, 500, 2)                                  # far outside the prior
    _, logvar = T.ToyVAE(seeds=(0, 1), max_decoder_std=0.7).decode(z)
    std = torch.exp(0.5 * logvar)
    assert std.min() >= T.MIN_DECODER_STD and std.max() <= 0.7 + 1e-6
    shared = T.ToyVAE(seeds=(0, 1), decoder_noise="shared", decoder_std=0.2)
    _, logvar = shared.decode(torch.randn(2, 50, 2))
    assert torch.allclose(torch.exp(0.5 * logvar), torch.full((2, 50, 2), 0.2), atol=1e-5)
    with pytest.raises(ValueError, match="decoder_noise"):
        T.ToyVAE(decoder_noise="learned")
    with pytest.raises(ValueError, match="decoder_std"):
        T.ToyVAE(decoder_noise="shared", decoder_std=2.0)
    with pytest.raises(ValueError, match="max_decoder_std"):
        T.ToyVAE(max_decoder_std=1e-4)


def test_fit_toy_vae_lowers_the_loss_and_logs_every_run():
    x, _ = T.ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))
    vae = T.ToyVAE(seeds=(0, 1))
    history = T.fit_toy_vae(vae, x, n_steps=200, batch_size=128, log_every=20, progress=False)
    curve = history.curve("-ELBO")
    assert curve.shape == (10, 2)
    assert np.all(curve[-1] < curve[0] - 0.5)
    assert np.allclose(curve, history.curve("D") + history.curve("R"), atol=1e-5)
    assert history.cpu_seconds > 0
    # with a KL warm-up the logged -ELBO is still the ELBO proper (beta = 1), D + R
    warm = T.fit_toy_vae(T.ToyVAE(seeds=(3,)), x, n_steps=40, batch_size=128, log_every=10,
                         kl_warmup_steps=30, progress=False)
    assert np.allclose(warm.curve("-ELBO"), warm.curve("D") + warm.curve("R"), atol=1e-5)
    with pytest.raises(ValueError, match="kl_warmup_steps"):
        T.fit_toy_vae(vae, x, n_steps=5, kl_warmup_steps=-1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        T.fit_toy_vae(vae, x[:10], n_steps=5, batch_size=64, progress=False)
    with pytest.raises(ValueError, match="name"):
        history.curve("loss")


# -------------------------------------------------------------------------------- the GAN

def test_gan_losses_match_binary_cross_entropy_and_stay_finite():
    real, fake = torch.randn(2, 50, 1) * 3, torch.randn(2, 50, 1) * 3
    expected = torch.stack([
        F.binary_cross_entropy_with_logits(real[r], torch.ones_like(real[r]))
        + F.binary_cross_entropy_with_logits(fake[r], torch.zeros_like(fake[r])) for r in range(2)])
    assert torch.allclose(T.discriminator_loss(real, fake), expected, atol=1e-6)
    g_expected = torch.stack([-torch.log(torch.sigmoid(fake[r])).mean() for r in range(2)])
    assert torch.allclose(T.generator_loss_non_saturating(fake), g_expected, atol=1e-5)
    extreme = torch.tensor([[[-200.0], [200.0]]])
    assert torch.isfinite(T.generator_loss_non_saturating(extreme)).all()
    assert torch.isfinite(T.discriminator_loss(extreme, extreme)).all()
    # at D = 1/2 everywhere the discriminator loss is 2 log 2
    zeros = torch.zeros(1, 10, 1)
    assert float(T.discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))


def test_fit_toy_gan_moves_the_generator_towards_the_ring_and_keeps_snapshots():
    x, _ = T.ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))
    gan = T.ToyGAN(seeds=(0, 1))
    before = gan.sample(500, generator=torch.Generator().manual_seed(0))
    history = T.fit_toy_gan(gan, x, n_steps=300, batch_size=128, lr=2e-3, log_every=50,
                            snapshot_every=100, snapshot_size=64, progress=False)
    after = gan.sample(500, generator=torch.Generator().manual_seed(0))
    ring_distance = lambda s: (s.norm(dim=-1) - T.RADIUS).abs().mean(dim=-1)   # [R]
    assert torch.all(ring_distance(after) < ring_distance(before) - 0.3)
    assert history.snapshot_steps == [100, 200, 300]
    assert [tuple(s.shape) for s in history.snapshots] == [(2, 64, 2)] * 3
    assert history.curve("discriminator").shape == (6, 2)
    probabilities = gan.discriminator_probability(x[:100])
    assert probabilities.shape == (2, 100) and torch.all((probabilities > 0) & (probabilities < 1))


def test_cached_toy_fit_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path))
    x, _ = T.ring_of_gaussians(1000, generator=torch.Generator().manual_seed(0))
    kwargs = dict(model_kwargs={"seeds": (0, 1), "hidden_dim": 16}, n_steps=30, batch_size=64,
                  progress=False, verbose=False)
    first, history = T.cached_toy_fit("gan", x, **kwargs)
    assert len(list(tmp_path.glob("toy2d-gan-*.pt"))) == 1
    second, history_again = T.cached_toy_fit("gan", x, **kwargs)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert history_again.losses == history.losses and second.seeds == (0, 1)
    vae, _ = T.cached_toy_fit("vae", x, model_kwargs={"seeds": (0,)}, n_steps=10, batch_size=64,
                              progress=False, verbose=False)
    assert isinstance(vae, T.ToyVAE) and len(list(tmp_path.glob("toy2d-*.pt"))) == 2
    with pytest.raises(ValueError, match="kind"):
        T.cached_toy_fit("flow", x)


# ------------------------------------------------------------------------------ Parzen windows

def test_parzen_log_likelihood_matches_a_hand_computation_and_integrates_to_one():
    samples = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-1.0, 2.0]])
    x = torch.tensor([[0.2, 0.1], [3.0, 3.0]])
    h = 0.4
    by_hand = torch.log(torch.stack([
        torch.distributions.Normal(s, h).log_prob(x).sum(-1).exp() for s in samples]).mean(0))
    assert torch.allclose(T.parzen_log_likelihood(samples, x, h, chunk=1), by_hand, atol=1e-5)
    axis = torch.linspace(-4, 5, 301)
    g1, g2 = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)
    mass = T.parzen_log_likelihood(samples, grid, h).exp().sum() * (axis[1] - axis[0]) ** 2
    assert float(mass) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="bandwidth"):
        T.parzen_log_likelihood(samples, x, 0.0)



def test_generator_loss_checker_names_the_saturating_loss_and_survives_a_crash():
    saturating = lambda l: -F.softplus(l).mean()
    assert "saturating" in ex.check_generator_loss(saturating)
    assert "raised" in ex.check_generator_loss(lambda l: 1 / 0)
    assert "function" in ex.check_generator_loss(3.0)
    assert "1-D" in ex.check_within_three_sigma(math.erf(3 / math.sqrt(2)))


def test_saturation_gradient_checker_against_the_closed_form():
    sig = 1 / (1 + math.exp(6.0))                     # sigmoid(-6)
    right = (-sig, -(1 - sig))
    assert ex.check_saturation_gradients(right).correct
    assert not ex.check_saturation_gradients(None).correct
    assert "swapped" in ex.check_saturation_gradients(right[::-1])
    assert "sign" in ex.check_saturation_gradients((sig, 1 - sig))
    assert not ex.check_saturation_gradients((0.1, -0.9)).correct
    assert "pair" in ex.check_saturation_gradients(0.5)
