"""Gradient estimators (``vae_teach.estimators``), the linear-Gaussian model
(``vae_teach.linear_gaussian``) and the exercise checkers of notebook 07
(``vae_teach.exercises.elbo``), each checked against closed forms or torch.distributions."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vae_teach.distributions import gaussian_kl_full
from vae_teach.estimators import (ESTIMATORS, Quadratic, estimator_variance, gradient_estimate,
                                  gradient_samples, plot_variance_table, variance_table)
from vae_teach.exercises.elbo import (NOT_ANSWERED, check_elbo_estimate, check_gaussian_kl,
                                      check_reparameterize)
from vae_teach.linear_gaussian import LinearGaussianModel

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def cosine_sum(z):
    """f(z) = sum_d cos(z_d): E_q f = sum cos(mu) exp(-sigma^2 / 2)."""
    return torch.cos(z).sum(-1)


def cosine_gradient(mu, sigma):
    damp = torch.exp(-sigma ** 2 / 2)
    return -torch.sin(mu) * damp, -sigma * torch.cos(mu) * damp


# ------------------------------------------------------------------------------ estimators

def test_quadratic_closed_forms_match_autograd_of_the_expectation():
    f = Quadratic(torch.tensor([0.5, -1.0, 0.0], dtype=F64))
    mu = torch.tensor([1.0, 0.2, -0.7], dtype=F64, requires_grad=True)
    sigma = torch.tensor([0.3, 1.5, 0.8], dtype=F64, requires_grad=True)
    f.expectation(mu, sigma).backward()
    exact_mu, exact_sigma = f.gradient(mu.detach(), sigma.detach())
    assert torch.allclose(mu.grad, exact_mu) and torch.allclose(sigma.grad, exact_sigma)
    # and the expectation itself against a large Monte Carlo average
    z = mu.detach() + sigma.detach() * torch.randn(400_000, 3, generator=gen(), dtype=F64)
    assert f(z).mean().item() == pytest.approx(f.expectation(mu, sigma).item(), rel=3e-3)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("case", ["quadratic", "cosine"])
def test_every_estimator_is_unbiased(estimator, case):
    mu = torch.tensor([0.8, -0.4, 1.3, 0.0], dtype=F64)
    sigma = torch.tensor([0.5, 1.2, 0.9, 2.0], dtype=F64)
    if case == "quadratic":
        f = Quadratic(torch.tensor([0.1, 0.0, -0.5, 1.0], dtype=F64))
        exact_mu, exact_sigma = f.gradient(mu, sigma)
    else:
        f = cosine_sum
        exact_mu, exact_sigma = cosine_gradient(mu, sigma)
    n = 100_000
    draws = gradient_samples(f, mu, sigma, n, estimator, generator=gen(3))
    assert draws.mu.shape == draws.sigma.shape == (n, 4)
    for part, exact in ((draws.mu, exact_mu), (draws.sigma, exact_sigma)):
        z_scores = (part.mean(0) - exact) / (part.std(0) / math.sqrt(n))
        assert z_scores.abs().max() < 4.5, z_scores


def test_per_draw_formulas_of_both_estimators():
    """Reparameterization: f'(z) and f'(z) eps.  Score function: f(z) eps / sigma and
    f(z) (eps^2 - 1) / sigma.  Same generator -> same eps."""
    mu = torch.tensor([0.3, -1.0], dtype=F64)
    sigma = torch.tensor([0.7, 1.4], dtype=F64)
    f = Quadratic(0.0)
    eps = torch.randn((6, 2), generator=gen(9), dtype=F64)
    z = mu + sigma * eps
    reparam = gradient_samples(f, mu, sigma, 6, "reparameterization", generator=gen(9))
    assert torch.allclose(reparam.mu, 2 * z) and torch.allclose(reparam.sigma, 2 * z * eps)
    score = gradient_samples(f, mu, sigma, 6, "score function", generator=gen(9))
    values = f(z).unsqueeze(1)
    assert torch.allclose(score.mu, values * eps / sigma)
    assert torch.allclose(score.sigma, values * (eps ** 2 - 1) / sigma)
    baseline = gradient_samples(f, mu, sigma, 6, "score function + baseline", generator=gen(9))
    assert torch.allclose(baseline.mu, (values - f(mu.unsqueeze(0))) * eps / sigma)


@pytest.mark.parametrize("estimator", ESTIMATORS[:2])
def test_single_sample_variance_closed_form_matches_measurement(estimator):
    f = Quadratic(torch.tensor([0.3, -0.2, 0.0], dtype=F64))
    mu = torch.tensor([1.0, 0.5, -1.0], dtype=F64)
    sigma = torch.tensor([0.7, 1.2, 0.4], dtype=F64)
    draws = gradient_samples(f, mu, sigma, 400_000, estimator, generator=gen(5))
    exact = f.single_sample_variance_mu(mu, sigma, estimator)
    assert torch.allclose(draws.mu.var(0), exact, rtol=0.03)


def test_variance_of_the_s_sample_mean_falls_like_one_over_s():
    f = Quadratic(0.0)
    mu, sigma = torch.ones(5, dtype=F64), torch.ones(5, dtype=F64)
    for name in ESTIMATORS[:2]:
        one = f.single_sample_variance_mu(mu, sigma, name)
        stats = estimator_variance(f, mu, sigma, 20, name, n_repeats=3000, generator=gen(2),
                                   max_elements=10_000)          # forces several chunks
        assert torch.allclose(stats.var_mu.mean(), (one / 20).mean(), rtol=0.12)
        assert stats.mean_mu.shape == stats.var_sigma.shape == (5,)


def test_gradient_estimate_is_the_mean_of_the_draws():
    mu, sigma = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    est = gradient_estimate(cosine_sum, mu, sigma, 50, "score function", generator=gen(4))
    draws = gradient_samples(cosine_sum, mu, sigma, 50, "score function", generator=gen(4))
    assert torch.allclose(est.mu, draws.mu.mean(0)) and torch.allclose(est.sigma, draws.sigma.mean(0))


def test_variance_table_shows_the_score_function_growing_with_dimension():
    table = variance_table(dims=(1, 10, 50), sample_sizes=(1, 10), n_repeats=300, generator=gen(1))
    assert list(table["D"]) == [1, 1, 10, 10, 50, 50]
    for name in ESTIMATORS[:2]:
        ratio = table[name] / table[f"exact {name}"]
        assert ratio.between(0.6, 1.5).all(), (name, ratio.tolist())
    ratio = table.set_index(["D", "S"])["ratio score / reparam"]
    assert ratio[(1, 1)] < 30 < ratio[(10, 1)] < 500 < ratio[(50, 1)]
    assert (table["reparameterization"] * table["S"]).between(3.0, 5.2).all()   # 4 sigma^2 / S
    assert table["max |z-score| of the mean"].max() < 5


def test_plot_variance_table_draws_one_line_per_estimator():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = variance_table(dims=(1, 4), sample_sizes=(1, 3), n_repeats=50, generator=gen())
    ax = plot_variance_table(table, n_samples=3)
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="n_samples"):
        plot_variance_table(table, n_samples=7)
    plt.close("all")


def test_estimators_reject_bad_input():
    mu, sigma = torch.zeros(2), torch.ones(2)
    with pytest.raises(ValueError, match="estimator"):
        gradient_samples(cosine_sum, mu, sigma, 5, "finite differences")
    with pytest.raises(ValueError, match="sigma"):
        gradient_samples(cosine_sum, mu, torch.tensor([1.0, -1.0]), 5)
    with pytest.raises(ValueError, match="same shape"):
        gradient_samples(cosine_sum, mu, torch.ones(3), 5)
    with pytest.raises(TypeError, match="f must be"):
        gradient_samples("cos", mu, sigma, 5)
    with pytest.raises(ValueError, match="n_samples"):
        gradient_samples(cosine_sum, mu, sigma, 0)
    with pytest.raises(TypeError, match="mu"):
        gradient_samples(cosine_sum, "0, 0", sigma, 5)         # lists and arrays are converted
    with pytest.raises(ValueError, match="n_repeats"):
        estimator_variance(cosine_sum, mu, sigma, 5, n_repeats=1)
    with pytest.raises(ValueError, match="estimators"):
        variance_table(dims=(1,), sample_sizes=(1,), estimators=("nope",))


# ------------------------------------------------------------------------------ linear-Gaussian

@pytest.fixture(scope="module")
def lg_model():
    model = LinearGaussianModel.random(6, 3, noise_std=0.6, generator=gen(11))
    x = model.sample(8, generator=gen(12))
    return model, x


def test_linear_gaussian_marginal_and_posterior_match_torch(lg_model):
    model, x = lg_model
    reference = MultivariateNormal(model.b, model.W @ model.W.T + 0.36 * torch.eye(6, dtype=F64))
    assert torch.allclose(model.log_marginal(x), reference.log_prob(x), atol=1e-10)
    mean, cov = model.posterior(x)
    assert mean.shape == (8, 3) and cov.shape == (3, 3)
    # Bayes: log p(x, z) - log p(z|x) = log p(x) for any z
    z = torch.randn(8, 3, generator=gen(13), dtype=F64)
    bayes = model.log_joint(x, z) - MultivariateNormal(mean, cov).log_prob(z)
    assert torch.allclose(bayes, model.log_marginal(x), atol=1e-9)
    # log_joint broadcasts over a leading sample dimension
    assert model.log_joint(x, z.expand(5, 8, 3)).shape == (5, 8)
    assert model.log_marginal(x[0]).shape == (1,)


def test_linear_gaussian_elbo_identity_and_monte_carlo(lg_model):
    model, x = lg_model
    x = x[:2]
    q_mean = torch.tensor([[0.5, -0.3, 1.0], [0.0, 0.2, -0.4]], dtype=F64)
    a = torch.randn(3, 3, generator=gen(14), dtype=F64)
    q_cov = a @ a.T + 0.2 * torch.eye(3, dtype=F64)
    elbo_q = model.elbo(x, q_mean, q_cov)
    kl_q = model.kl_to_posterior(x, q_mean, q_cov)
    assert torch.allclose(elbo_q + kl_q, model.log_marginal(x), atol=1e-9)
    post_mean, post_cov = model.posterior(x)
    assert torch.allclose(kl_q, kl_divergence(MultivariateNormal(q_mean, q_cov),
                                              MultivariateNormal(post_mean, post_cov)), atol=1e-9)
    q = MultivariateNormal(q_mean, q_cov)
    z = q.sample((200_000,))
    log_w = model.log_joint(x, z) - q.log_prob(z)
    se = log_w.std(0) / math.sqrt(len(z))
    assert ((log_w.mean(0) - elbo_q).abs() < 5 * se).all()


def test_gaussian_kl_full_matches_torch_and_is_zero_for_equal_arguments():
    a = torch.randn(2, 2, generator=gen(15), dtype=F64)
    cov_p = a @ a.T + 0.5 * torch.eye(2, dtype=F64)
    mean_p, mean_q = torch.tensor([0.1, 2.0], dtype=F64), torch.tensor([-1.0, 0.5], dtype=F64)
    cov_q = torch.diag(torch.tensor([0.3, 2.0], dtype=F64))
    ours = gaussian_kl_full(mean_q, cov_q, mean_p, cov_p)
    theirs = kl_divergence(MultivariateNormal(mean_q, cov_q), MultivariateNormal(mean_p, cov_p))
    assert torch.allclose(ours, theirs, atol=1e-10)
    assert gaussian_kl_full(mean_p, cov_p, mean_p, cov_p).abs().item() < 1e-12


def test_linear_gaussian_rejects_bad_input():
    W, b = torch.randn(4, 2, dtype=F64), torch.zeros(4, dtype=F64)
    with pytest.raises(ValueError, match="b must have 4"):
        LinearGaussianModel(W, torch.zeros(3, dtype=F64), 0.5)
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussianModel(W, b, 0.0)
    with pytest.raises(TypeError, match="W"):
        LinearGaussianModel(W.numpy(), b, 0.5)
    model = LinearGaussianModel(W, b, 0.5)
    with pytest.raises(ValueError, match="x must have 4"):
        model.log_marginal(torch.zeros(2, 5, dtype=F64))
    with pytest.raises(ValueError, match="z must have 2"):
        model.log_joint(torch.zeros(1, 4, dtype=F64), torch.zeros(1, 3, dtype=F64))
    with pytest.raises(ValueError, match="q_cov"):
        model.elbo(torch.zeros(1, 4, dtype=F64), torch.zeros(1, 2, dtype=F64), torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)


# ------------------------------------------------------------------------------ exercise checkers

def test_check_gaussian_kl_accepts_the_formula_and_names_the_slips(capsys):
    mu, logvar = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.0, -0.7, 0.4])
    right = 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum()
    assert check_gaussian_kl(None, mu, logvar) == NOT_ANSWERED
    assert check_gaussian_kl(right, mu, logvar).startswith("correct")
    assert check_gaussian_kl(right.item(), mu, logvar).startswith("correct")
    from torch.distributions import Normal as N
    assert check_gaussian_kl(kl_divergence(N(mu, (0.5 * logvar).exp()), N(0.0, 1.0)).sum(),
                             mu, logvar).startswith("correct")
    assert "- 1" in check_gaussian_kl(0.5 * (mu ** 2 + logvar.exp() - logvar).sum(), mu, logvar)
    assert "1/2" in check_gaussian_kl(2 * right, mu, logvar)
    assert "log sigma" in check_gaussian_kl(0.5 * (mu ** 2 + (2 * logvar).exp() - 2 * logvar - 1).sum(),
                                            mu, logvar)
    assert "sign" in check_gaussian_kl(-right, mu, logvar)
    assert check_gaussian_kl(1.0, mu, logvar).startswith("not quite")
    assert "one number" in check_gaussian_kl("2.77", mu, logvar)
    assert capsys.readouterr().out == ""                  # the message is returned, not printed


def test_check_elbo_estimate_judges_within_monte_carlo_error():
    model = LinearGaussianModel.random(4, 2, noise_std=0.5, generator=gen(3))
    x = model.sample(1, generator=gen(4))
    q_mean, q_std = torch.tensor([0.3, -0.2]), torch.tensor([0.8, 0.5])
    exact = model.elbo(x, q_mean.double().unsqueeze(0), torch.diag(q_std.double() ** 2)).item()
    for seed in range(3):                                 # honest estimates pass, whatever the seed
        eps = torch.randn(5000, 2, generator=gen(100 + seed), dtype=F64)
        z = q_mean.double() + q_std.double() * eps
        log_q = Normal(q_mean.double(), q_std.double()).log_prob(z).sum(-1)
        estimate = (model.log_joint(x, z) - log_q).mean()
        assert check_elbo_estimate(estimate, model, x, q_mean, q_std).startswith("correct")
    assert check_elbo_estimate(exact, model, x, q_mean, q_std).startswith("correct")
    assert check_elbo_estimate(None, model, x, q_mean, q_std) == NOT_ANSWERED
    assert "log p(x) itself" in check_elbo_estimate(model.log_marginal(x), model, x, q_mean, q_std)
    assert "above log p(x)" in check_elbo_estimate(model.log_marginal(x).item() + 3, model, x, q_mean, q_std)
    assert check_elbo_estimate(exact - 5, model, x, q_mean, q_std).startswith("not quite")
    with pytest.raises(TypeError, match="LinearGaussianModel"):
        check_elbo_estimate(1.0, "model", x, q_mean, q_std)


def test_check_reparameterize_checks_values_and_gradients():
    assert check_reparameterize(None) == NOT_ANSWERED
    assert check_reparameterize(lambda m, l, e: m + torch.exp(0.5 * l) * e).startswith("correct")
    assert check_reparameterize(lambda m, l, e: m + torch.sqrt(l.exp()) * e).startswith("correct")
    assert "variance" in check_reparameterize(lambda m, l, e: m + torch.exp(l) * e)
    assert "add mu" in check_reparameterize(lambda m, l, e: torch.exp(0.5 * l) * e)
    assert "no gradient" in check_reparameterize(lambda m, l, e: (m + torch.exp(0.5 * l) * e).detach())
    assert "raised" in check_reparameterize(lambda m, l, e: 1 / 0)
    assert "shaped like mu" in check_reparameterize(lambda m, l, e: 3.0)
    assert "must be a function" in check_reparameterize(42)
