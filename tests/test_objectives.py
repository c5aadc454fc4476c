"""ELBO and IWAE bound: checked on a linear-Gaussian model whose log p(x) is exact, and against
torch.distributions on the Bernoulli VAE."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_teach.distributions import gaussian_kl
from vae_teach.linear_gaussian import LinearGaussianModel
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import elbo, elbo_terms, iwae_bound


class GaussianEncoderModel(torch.nn.Module):
    """Adapter: a linear-Gaussian generative model with a chosen diagonal Gaussian q(z|x), in the
    interface the objectives use (``encode`` and ``log_px_given_z``)."""

    def __init__(self, lg: LinearGaussianModel, mean_shift=0.0, logvar_shift=0.0):
        super().__init__()
        self.lg, self.mean_shift, self.logvar_shift = lg, mean_shift, logvar_shift

    def encode(self, x):
        mean, cov = self.lg.posterior(x)
        logvar = torch.log(torch.diagonal(cov)).expand_as(mean)
        return mean + self.mean_shift, logvar + self.logvar_shift

    def log_px_given_z(self, z, x):
        return self.lg.log_likelihood(x, z)


@pytest.fixture(scope="module")
def linear_gaussian():
    """W with orthogonal columns, so the exact posterior covariance is diagonal."""
    gen = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(6, 3, generator=gen, dtype=torch.float64))
    W = q * torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    lg = LinearGaussianModel(W, b, noise_std=0.7)
    x = lg.sample(200, generator=gen)
    return lg, x


def test_exact_posterior_makes_iwae_equal_log_px_for_every_k(linear_gaussian):
    lg, x = linear_gaussian
    model = GaussianEncoderModel(lg)
    exact = lg.log_marginal(x)
    for k in (1, 7, 50):
        torch.testing.assert_close(iwae_bound(model, x, k), exact, rtol=0, atol=1e-8)


def test_elbo_equals_log_px_at_the_exact_posterior(linear_gaussian):
    lg, x = linear_gaussian
    model = GaussianEncoderModel(lg)
    gen = torch.Generator().manual_seed(0)
    estimate = elbo(model, x[:20], n_samples=20_000, generator=gen)
    torch.testing.assert_close(estimate, lg.log_marginal(x[:20]), rtol=0, atol=0.05)


def test_elbo_is_below_log_px_and_matches_the_closed_form(linear_gaussian):
    lg, x = linear_gaussian
    model = GaussianEncoderModel(lg, mean_shift=0.4, logvar_shift=0.8)
    mu, logvar = model.encode(x)
    closed_form = lg.elbo(x, mu, torch.diag_embed(logvar.exp()))
    gap = lg.log_marginal(x) - closed_form
    assert (gap > 0.1).all()                                  # a worse q, a strictly lower bound
    # ... and the gap is exactly KL(q || p(z|x))
    torch.testing.assert_close(gap, lg.kl_to_posterior(x, mu, torch.diag_embed(logvar.exp())))
    estimate = elbo(model, x, n_samples=5000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(estimate, closed_form, rtol=0, atol=0.25)
    assert estimate.mean().item() == pytest.approx(closed_form.mean().item(), abs=0.02)


def test_iwae_rises_with_k_and_stays_below_log_px(linear_gaussian):
    lg, x = linear_gaussian
    x = x[:40]
    model = GaussianEncoderModel(lg, mean_shift=0.5, logvar_shift=1.0)
    log_px = lg.log_marginal(x).mean().item()
    gen = torch.Generator().manual_seed(2)
    draws = {k: torch.stack([iwae_bound(model, x, k, generator=gen).mean() for _ in range(reps)])
             for k, reps in ((1, 200), (10, 50), (100, 10), (1000, 3))}
    means = [d.mean().item() for d in draws.values()]
    mu, logvar = model.encode(x)
    exact_elbo = lg.elbo(x, mu, torch.diag_embed(logvar.exp())).mean().item()
    standard_error = draws[1].std().item() / math.sqrt(len(draws[1]))
    assert abs(means[0] - exact_elbo) < 4 * standard_error       # IWAE_1 is the ELBO
    assert all(a < b for a, b in zip(means, means[1:]))
    assert means[-1] <= log_px + 1e-3
    assert log_px - means[-1] < 0.25 * (log_px - means[0])       # and closes most of the gap


def test_elbo_terms_add_up_and_rate_is_the_closed_form_kl():
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=20, hidden_dim=16, latent_dim=3)
    x = torch.bernoulli(torch.full((10, 20), 0.3))
    terms = elbo_terms(model, x, n_samples=4)
    torch.testing.assert_close(terms.elbo, -(terms.distortion + terms.rate))
    mu, logvar = model.encode(x)
    torch.testing.assert_close(terms.rate, gaussian_kl(mu, logvar))
    beta_terms = elbo_terms(model, x, beta=3.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(beta_terms.elbo, -(beta_terms.distortion + 3.0 * beta_terms.rate))
    assert terms.elbo.requires_grad                           # it is a training objective


def test_bernoulli_vae_elbo_matches_torch_distributions():
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=30, hidden_dim=16, latent_dim=4)
    x = torch.bernoulli(torch.full((8, 30), 0.4))
    ours = elbo(model, x, generator=torch.Generator().manual_seed(5))
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    reference = Bernoulli(logits=model.decode(z)).log_prob(x).sum(1) \
        - kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)


def test_many_sample_elbo_decodes_in_blocks_and_matches_torch_distributions(monkeypatch):
    """With more samples than one block holds, the decoder runs block by block: the result is
    still the mean over all S samples of the reference log-likelihood, minus the KL."""
    import vae_teach.objectives as objectives

    monkeypatch.setattr(objectives, "IWAE_BLOCK_ELEMENTS", 3 * 8 * 30)     # 3 samples per block
    calls = []
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=30, hidden_dim=16, latent_dim=4)
    model.decoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    x = torch.bernoulli(torch.full((8, 30), 0.4))
    n_samples = 10
    with torch.no_grad():
        ours = elbo(model, x, n_samples=n_samples, generator=torch.Generator().manual_seed(5))
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((n_samples, *mu.shape), generator=torch.Generator().manual_seed(5))
        log_lik = Bernoulli(logits=model.decode(mu + std * eps)).log_prob(x).sum(-1).mean(0)
    reference = log_lik - kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
    assert calls[:4] == [3, 3, 3, 1]                          # four blocks of samples, in order
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)


def test_bernoulli_vae_iwae_is_above_the_elbo_and_chunking_is_harmless():
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=30, hidden_dim=16, latent_dim=4)
    x = torch.bernoulli(torch.full((50, 30), 0.4))
    elbo_mean = elbo(model, x, n_samples=2000).mean().item()
    small = iwae_bound(model, x, 200, chunk_elements=30 * 200 * 3)      # 3 examples per chunk
    large = iwae_bound(model, x, 200)
    assert small.shape == (50,)
    assert small.mean().item() > elbo_mean
    assert small.mean().item() == pytest.approx(large.mean().item(), abs=0.05)


def test_sample_shapes_and_values():
    model = BernoulliVAE(input_dim=12, hidden_dim=8, latent_dim=2)
    binary = model.sample(5, generator=torch.Generator().manual_seed(0))
    probs = model.sample(5, probs=True)
    assert binary.shape == probs.shape == (5, 12)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert ((probs > 0) & (probs < 1)).all()
    last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():                  # a last layer that outputs +-5 whatever z is
        last.weight.zero_()
        last.bias.copy_(torch.tensor([5.0, -5.0] * 6))
    logits = model.decode(torch.zeros(3, 2))
    assert logits.shape == (3, 12) and logits.max() == 5 and logits.min() == -5   # not squashed
    assert not torch.allclose(torch.sigmoid(logits), logits)      # decode gives logits, not probs
