"""vae_teach.regression (notebook 08) against closed forms and torch.distributions.

Least squares vs numpy; Gaussian log-likelihoods and KLs vs torch.distributions; the exact
Bayesian linear-regression posterior vs Bayes' rule; the diagonal-Gaussian KL fits vs their
closed forms (and the gradient fit converging to them); bad inputs rejected by name; the
exercise checkers of notebook 08.
"""
import math

import numpy as np
import pytest
import torch
from torch.distributions import (Categorical, MixtureSameFamily, MultivariateNormal, Normal,
                                 kl_divergence)

from vae_teach import regression as reg
from vae_teach.exercises import regression as ex

F64 = torch.float64


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def line_data(gen):
    """Fifteen points from y = 1.5 x - 1 + N(0, 0.8^2), x in [0, 5] (as in notebook 08)."""
    x = 5 * torch.rand(15, generator=gen, dtype=F64)
    y = 1.5 * x - 1.0 + 0.8 * torch.randn(15, generator=gen, dtype=F64)
    return x, y


def random_spd(k, gen, scale=1.0):
    a = torch.randn(k, k, generator=gen, dtype=F64)
    return scale * (a @ a.T + 0.5 * torch.eye(k, dtype=F64))


# ------------------------------------------------------------------------------ least squares

def test_design_matrix_has_columns_x_and_one():
    x = torch.tensor([0.5, 2.0, -1.0], dtype=F64)
    torch.testing.assert_close(reg.design_matrix(x),
                               torch.tensor([[0.5, 1.0], [2.0, 1.0], [-1.0, 1.0]], dtype=F64))


def test_normal_equations_match_numpy_lstsq_and_exact_line(line_data):
    x, y = line_data
    ours = reg.fit_line_normal_equations(x, y).numpy()
    reference = np.linalg.lstsq(reg.design_matrix(x).numpy(), y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(ours, reference, atol=1e-12)
    # noise-free points lie on a line: it is recovered exactly
    exact = reg.fit_line_normal_equations(x, 2.0 * x + 3.0)
    torch.testing.assert_close(exact, torch.tensor([2.0, 3.0], dtype=F64))


def test_gradient_descent_converges_to_normal_equations(line_data):
    x, y = line_data
    fit = reg.fit_line_gradient_descent(x, y, n_steps=2000)
    torch.testing.assert_close(fit.params, reg.fit_line_normal_equations(x, y), atol=1e-8, rtol=0)
    assert fit.sse_history.shape == (2001,)
    assert (fit.sse_history[1:] <= fit.sse_history[:-1] + 1e-12).all()   # SSE never increases


def test_gradient_descent_rate_matches_condition_number(line_data):
    x, y = line_data
    fit = reg.fit_line_gradient_descent(x, y, n_steps=600)
    sse_min = reg.sse(x, y, *reg.fit_line_normal_equations(x, y))
    eigenvalues = torch.linalg.eigvalsh(reg.design_matrix(x).T @ reg.design_matrix(x))
    kappa = float(eigenvalues.max() / eigenvalues.min())
    excess = fit.sse_history - sse_min
    start, stop = math.ceil(2 * kappa), math.ceil(5 * kappa)   # slow direction dominates, above rounding
    observed = float((excess[stop] / excess[start]) ** (1 / (stop - start)))
    assert observed == pytest.approx((1 - 1 / kappa) ** 2, abs=1e-6)


def test_max_stable_step_separates_convergence_from_divergence(line_data):
    x, y = line_data
    lr_max = reg.max_stable_step(x)
    design = reg.design_matrix(x)
    assert lr_max == pytest.approx(len(x) / float(torch.linalg.eigvalsh(design.T @ design).max()))
    fit = reg.fit_line_gradient_descent(x, y, lr=0.98 * lr_max, n_steps=6000)
    torch.testing.assert_close(fit.params, reg.fit_line_normal_equations(x, y), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="diverged"):
        reg.fit_line_gradient_descent(x, y, lr=1.02 * lr_max, n_steps=2000)


def test_sse_broadcasts_over_grids(line_data):
    x, y = line_data
    slopes = torch.linspace(0, 3, 7, dtype=F64)
    intercepts = torch.linspace(-2, 1, 5, dtype=F64)
    a, b = torch.meshgrid(slopes, intercepts, indexing="ij")
    grid = reg.sse(x, y, a, b)
    assert grid.shape == (7, 5)
    for i in range(7):
        for j in range(5):
            direct = float(((y - slopes[i] * x - intercepts[j]) ** 2).sum())
            assert grid[i, j].item() == pytest.approx(direct, rel=1e-12)


# ---------------------------------------------------------------- likelihood and KL (section 2)

def test_log_likelihood_matches_torch_normal_and_sse_identity(line_data):
    x, y = line_data
    for slope, intercept, noise_std in [(1.5, -1.0, 0.8), (0.3, 2.0, 2.5)]:
        ours = reg.gaussian_line_log_likelihood(x, y, slope, intercept, noise_std)
        reference = Normal(slope * x + intercept, noise_std).log_prob(y).sum()
        torch.testing.assert_close(ours, reference)
        identity = (-reg.sse(x, y, slope, intercept) / (2 * noise_std ** 2)
                    - len(x) / 2 * math.log(2 * math.pi * noise_std ** 2))
        torch.testing.assert_close(ours, identity)


def test_sse_loglik_and_kl_estimate_share_the_minimizer(line_data):
    x, y = line_data
    a, b = torch.meshgrid(torch.linspace(1, 2.2, 121, dtype=F64),
                          torch.linspace(-3, 0.5, 141, dtype=F64), indexing="ij")
    truth = dict(true_slope=1.5, true_intercept=-1.0, true_noise_std=0.8)
    sse = reg.sse(x, y, a, b)
    nll = -reg.gaussian_line_log_likelihood(x, y, a, b, 0.8)
    kl = reg.line_kl_estimate(x, y, a, b, 0.8, **truth)
    assert int(sse.argmin()) == int(nll.argmin()) == int(kl.argmin())
    offset = kl - sse / (2 * len(x) * 0.8 ** 2)
    assert float(offset.max() - offset.min()) < 1e-12


def test_line_kl_closed_form_matches_torch_kl_divergence(line_data):
    x, _ = line_data
    ours = reg.line_kl_closed_form(x, 1.2, 0.4, 1.1, true_slope=1.5, true_intercept=-1.0,
                                   true_noise_std=0.8)
    reference = kl_divergence(Normal(1.5 * x - 1.0, 0.8), Normal(1.2 * x + 0.4, 1.1)).mean()
    torch.testing.assert_close(ours, reference)
    at_truth = reg.line_kl_closed_form(x, 1.5, -1.0, 0.8, true_slope=1.5, true_intercept=-1.0,
                                       true_noise_std=0.8)
    assert float(at_truth) == 0.0


def test_line_kl_estimate_is_unbiased_for_the_closed_form(line_data, gen):
    x, _ = line_data
    truth = dict(true_slope=1.5, true_intercept=-1.0, true_noise_std=0.8)
    y_repeats = 1.5 * x - 1.0 + 0.8 * torch.randn(1000, len(x), generator=gen, dtype=F64)
    estimates = torch.stack([reg.line_kl_estimate(x, y_r, 1.3, -0.5, 0.8, **truth)
                             for y_r in y_repeats])
    closed = reg.line_kl_closed_form(x, 1.3, -0.5, 0.8, **truth)
    assert abs(float(estimates.mean() - closed)) < 4 * float(estimates.std()) / 1000 ** 0.5


# ---------------------------------------------------------- Bayesian linear regression (3)

def test_posterior_satisfies_bayes_rule(line_data, gen):
    x, y = line_data
    posterior = reg.bayes_linear_posterior(x, y, 0.7, 0.8)
    w = posterior.mean + torch.randn(50, 2, generator=gen, dtype=F64)
    bayes = reg.log_joint(w, x, y, 0.7, 0.8) - reg.log_evidence(x, y, 0.7, 0.8)
    exact = MultivariateNormal(posterior.mean, posterior.cov).log_prob(w)
    torch.testing.assert_close(bayes, exact, atol=1e-9, rtol=0)


def test_log_evidence_matches_torch_multivariate_normal(line_data):
    x, y = line_data
    design = reg.design_matrix(x)
    cov = 0.64 * torch.eye(len(x), dtype=F64) + design @ design.T / 0.7
    reference = MultivariateNormal(torch.zeros(len(x), dtype=F64), cov).log_prob(y)
    torch.testing.assert_close(reg.log_evidence(x, y, 0.7, 0.8), reference)


def test_make_log_joint_equals_log_joint(line_data, gen):
    x, y = line_data
    w = torch.randn(7, 2, generator=gen, dtype=F64)
    torch.testing.assert_close(reg.make_log_joint(x, y, 0.7, 0.8)(w), reg.log_joint(w, x, y, 0.7, 0.8))


def test_posterior_tends_to_least_squares_for_a_flat_prior(line_data):
    x, y = line_data
    posterior = reg.bayes_linear_posterior(x, y, 1e-9, 0.8)
    torch.testing.assert_close(posterior.mean, reg.fit_line_normal_equations(x, y), atol=1e-6,
                               rtol=0)


def test_elbo_plus_kl_equals_log_evidence_for_any_gaussian_q(line_data, gen):
    x, y = line_data
    posterior = reg.bayes_linear_posterior(x, y, 1.0, 0.8)
    log_evidence = reg.log_evidence(x, y, 1.0, 0.8)
    for _ in range(5):
        q_mean = posterior.mean + 0.3 * torch.randn(2, generator=gen, dtype=F64)
        q_cov = random_spd(2, gen, scale=0.05)
        elbo = reg.gaussian_elbo(q_mean, q_cov, x, y, 1.0, 0.8)
        kl = reg.gaussian_kl_full(q_mean, q_cov, *posterior)
        assert float(elbo + kl) == pytest.approx(float(log_evidence), abs=1e-9)
        assert float(elbo) < float(log_evidence)


def test_closed_form_elbo_matches_monte_carlo(line_data, gen):
    x, y = line_data
    q_mean, q_cov = torch.tensor([1.4, -0.9], dtype=F64), random_spd(2, gen, scale=0.02)
    q = MultivariateNormal(q_mean, q_cov)
    w = q_mean + torch.randn(200_000, 2, generator=gen, dtype=F64) @ torch.linalg.cholesky(q_cov).T
    mc = (reg.log_joint(w, x, y, 1.0, 0.8) - q.log_prob(w))
    closed = reg.gaussian_elbo(q_mean, q_cov, x, y, 1.0, 0.8)
    assert abs(float(mc.mean() - closed)) < 4 * float(mc.std()) / 200_000 ** 0.5


# ------------------------------------------------------- diagonal Gaussian approximations

@pytest.mark.parametrize("k", [2, 3])
def test_gaussian_kl_full_matches_torch(k, gen):
    for _ in range(3):
        m_q, m_p = torch.randn(k, generator=gen, dtype=F64), torch.randn(k, generator=gen, dtype=F64)
        c_q, c_p = random_spd(k, gen), random_spd(k, gen)
        reference = kl_divergence(MultivariateNormal(m_q, c_q), MultivariateNormal(m_p, c_p))
        torch.testing.assert_close(reg.gaussian_kl_full(m_q, c_q, m_p, c_p), reference)


def test_reverse_and_forward_diagonal_fits_closed_forms(gen):
    mean, cov = torch.tensor([1.0, -2.0, 0.5], dtype=F64), random_spd(3, gen)
    reverse = reg.reverse_kl_diagonal_fit(mean, cov)
    forward = reg.forward_kl_diagonal_fit(mean, cov)
    torch.testing.assert_close(reverse.cov.diagonal(), 1 / torch.linalg.inv(cov).diagonal())
    torch.testing.assert_close(forward.cov.diagonal(), cov.diagonal())
    assert (reverse.cov.diagonal() <= cov.diagonal() + 1e-12).all()
    torch.testing.assert_close(reverse.mean, mean)
    torch.testing.assert_close(forward.mean, mean)


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.0, 0.6])
def test_reverse_kl_shrinks_by_one_minus_rho_squared_in_2d(rho):
    cov = torch.tensor([[2.0, rho * math.sqrt(2 * 0.5)], [rho * math.sqrt(2 * 0.5), 0.5]], dtype=F64)
    reverse = reg.reverse_kl_diagonal_fit(torch.zeros(2, dtype=F64), cov)
    torch.testing.assert_close(reverse.cov.diagonal() / cov.diagonal(),
                               torch.full((2,), 1 - rho ** 2, dtype=F64))
    # in 2-D both optimal KLs equal -1/2 log(1 - rho^2)
    forward = reg.forward_kl_diagonal_fit(torch.zeros(2, dtype=F64), cov)
    expected = -0.5 * math.log(1 - rho ** 2)
    zero = torch.zeros(2, dtype=F64)
    assert float(reg.gaussian_kl_full(zero, reverse.cov, zero, cov)) == pytest.approx(expected, abs=1e-12)
    assert float(reg.gaussian_kl_full(zero, cov, zero, forward.cov)) == pytest.approx(expected, abs=1e-12)


def test_closed_form_fits_are_minimizers(gen):
    """Perturbing the optimal variances increases the KL each fit minimizes."""
    mean, cov = torch.zeros(2, dtype=F64), random_spd(2, gen)
    reverse, forward = reg.reverse_kl_diagonal_fit(mean, cov), reg.forward_kl_diagonal_fit(mean, cov)
    kl_rev = float(reg.gaussian_kl_full(mean, reverse.cov, mean, cov))
    kl_fwd = float(reg.gaussian_kl_full(mean, cov, mean, forward.cov))
    for factor in ([1.1, 1.0], [0.9, 1.0], [1.0, 1.2], [0.8, 0.85]):
        scale = torch.diag(torch.tensor(factor, dtype=F64))
        assert float(reg.gaussian_kl_full(mean, reverse.cov @ scale, mean, cov)) > kl_rev
        assert float(reg.gaussian_kl_full(mean, cov, mean, forward.cov @ scale)) > kl_fwd


def test_gradient_reverse_kl_fit_converges_to_closed_form_on_regression(line_data, gen):
    x, y = line_data
    posterior = reg.bayes_linear_posterior(x, y, 1.0, 0.8)
    closed = reg.reverse_kl_diagonal_fit(*posterior)
    fit = reg.fit_diagonal_gaussian_reverse_kl(reg.make_log_joint(x, y, 1.0, 0.8), [0.0, 0.0],
                                               [1.0, 1.0], n_steps=1000, n_samples=32, lr=0.1,
                                               generator=gen)
    torch.testing.assert_close(fit.std ** 2, closed.cov.diagonal(), rtol=0.10, atol=0)
    assert ((fit.mean - closed.mean).abs() < 0.1 * posterior.cov.diagonal().sqrt()).all()
    # its final ELBO estimates average to the closed-form ELBO of the optimal diagonal q
    best = reg.gaussian_elbo(*closed, x, y, 1.0, 0.8)
    assert float(fit.elbo_history[-200:].mean()) == pytest.approx(float(best), abs=0.1)


def test_gradient_reverse_kl_fit_on_a_normalized_gaussian_target(gen):
    mean, cov = torch.tensor([2.0, -1.0], dtype=F64), torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=F64)
    precision = torch.linalg.inv(cov)
    log_norm = -0.5 * (2 * math.log(2 * math.pi) + torch.logdet(cov))

    def log_target(z):                           # the normalized density N(mean, cov)
        diff = z - mean
        return log_norm - 0.5 * ((diff @ precision) * diff).sum(-1)

    z_check = torch.randn(5, 2, generator=gen, dtype=F64)
    torch.testing.assert_close(log_target(z_check), MultivariateNormal(mean, cov).log_prob(z_check))
    fit = reg.fit_diagonal_gaussian_reverse_kl(log_target, [0.0, 0.0], [1.0, 1.0],
                                               n_steps=800, lr=0.05, generator=gen)
    torch.testing.assert_close(fit.std ** 2, torch.full((2,), 0.36, dtype=F64), rtol=0.1, atol=0)
    torch.testing.assert_close(fit.mean, mean, atol=0.1, rtol=0)
    # target normalized: ELBO = -KL(q || p), here -1/2 log(1 - 0.8^2)
    assert float(fit.elbo_history[-200:].mean()) == pytest.approx(0.5 * math.log(0.36), abs=0.05)


# ------------------------------------------------------------------ two-mode target (4)

WEIGHTS = torch.tensor([0.3, 0.7], dtype=F64)
MEANS = torch.tensor([-2.5, 2.5], dtype=F64)
STDS = torch.tensor([0.7, 0.7], dtype=F64)
GRID = torch.linspace(-12, 12, 4801, dtype=F64)


def log_p(z):
    return reg.mixture_log_density(z, WEIGHTS, MEANS, STDS)


def test_mixture_log_density_matches_torch_mixture(gen):
    z = 4 * torch.randn(100, generator=gen, dtype=F64)
    torch_mixture = MixtureSameFamily(Categorical(probs=WEIGHTS), Normal(MEANS, STDS))
    torch.testing.assert_close(log_p(z), torch_mixture.log_prob(z))
    assert float(torch.trapezoid(log_p(GRID).exp(), GRID)) == pytest.approx(1.0, abs=1e-10)


def test_moment_matching_is_the_mixture_mean_and_variance_and_minimizes_forward_kl():
    mean, std = reg.moment_match_mixture(WEIGHTS, MEANS, STDS)
    p = log_p(GRID).exp()
    assert mean == pytest.approx(float(torch.trapezoid(p * GRID, GRID)), abs=1e-8)
    assert std ** 2 == pytest.approx(float(torch.trapezoid(p * (GRID - mean) ** 2, GRID)), abs=1e-8)
    best = float(reg.kl_density_to_gaussian(log_p, mean, std, grid=GRID))
    for d_mean, d_std in [(0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1)]:
        assert float(reg.kl_density_to_gaussian(log_p, mean + d_mean, std + d_std, grid=GRID)) > best


def test_numerical_kls_match_torch_for_a_gaussian_density():
    log_gauss = Normal(torch.tensor(0.5, dtype=F64), torch.tensor(1.3, dtype=F64)).log_prob
    mu, s = torch.tensor([-1.0, 0.0, 2.0], dtype=F64), torch.tensor([0.4, 1.0, 3.0], dtype=F64)
    reference_rev = kl_divergence(Normal(mu, s), Normal(torch.tensor(0.5, dtype=F64), 1.3))
    reference_fwd = kl_divergence(Normal(torch.tensor(0.5, dtype=F64), 1.3), Normal(mu, s))
    torch.testing.assert_close(reg.kl_gaussian_to_density(mu, s, log_gauss), reference_rev,
                               atol=1e-8, rtol=0)
    torch.testing.assert_close(reg.kl_density_to_gaussian(log_gauss, mu, s, grid=GRID),
                               reference_fwd, atol=1e-8, rtol=0)


def test_reverse_kl_on_mixture_matches_brute_force_integration():
    z = torch.linspace(-40, 40, 40001, dtype=F64)
    for mu, s in [(0.0, 2.2), (1.0, 2.0), (-2.5, 0.7), (3.0, 5.0)]:
        log_q = Normal(torch.tensor(mu, dtype=F64), s).log_prob(z)
        brute = torch.trapezoid(log_q.exp() * (log_q - log_p(z)), z)
        assert float(reg.kl_gaussian_to_density(mu, s, log_p)) == pytest.approx(float(brute), abs=1e-4)


@pytest.mark.parametrize("start, mode, weight", [(-1.5, -2.5, 0.3), (1.0, 2.5, 0.7)])
def test_reverse_kl_fit_locks_onto_the_nearest_mode(start, mode, weight, gen):
    fit = reg.fit_diagonal_gaussian_reverse_kl(lambda z: log_p(z.squeeze(-1)), [start], [0.5],
                                               n_steps=500, n_samples=64, lr=0.05, generator=gen)
    assert float(fit.mean) == pytest.approx(mode, abs=0.1)
    assert float(fit.std) == pytest.approx(0.7, abs=0.07)
    kl = float(reg.kl_gaussian_to_density(fit.mean[0], fit.std[0], log_p))
    assert kl == pytest.approx(-math.log(weight), abs=0.01)


# ------------------------------------------------------------------------- ellipse helper

def test_covariance_ellipse_lies_on_the_mahalanobis_contour(gen):
    mean, cov = torch.tensor([1.0, -1.0], dtype=F64), random_spd(2, gen)
    points = torch.as_tensor(reg.covariance_ellipse(mean, cov, n_std=2.0, n_points=50))
    assert points.shape == (50, 2)
    diff = points - mean
    mahalanobis = (diff @ torch.linalg.inv(cov) * diff).sum(1)
    torch.testing.assert_close(mahalanobis, torch.full((50,), 4.0, dtype=F64))


# ----------------------------------------------------------------------------- bad inputs

X_OK = torch.linspace(0, 1, 5, dtype=F64)
MEAN_OK, COV_OK = torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)


@pytest.mark.parametrize("call, error, name", [
    (lambda: reg.fit_line_normal_equations([1.0, 2.0], X_OK), TypeError, "x"),
    (lambda: reg.fit_line_normal_equations(X_OK, X_OK[:3]), ValueError, "same length"),
    (lambda: reg.fit_line_normal_equations(torch.ones(4, dtype=F64), X_OK[:4]), ValueError, "distinct"),
    (lambda: reg.fit_line_normal_equations(X_OK, torch.arange(5)), TypeError, "y"),
    (lambda: reg.fit_line_normal_equations(X_OK.reshape(5, 1), X_OK), ValueError, "x"),
    (lambda: reg.fit_line_normal_equations(X_OK, X_OK * float("nan")), ValueError, "y"),
    (lambda: reg.fit_line_gradient_descent(X_OK, X_OK, lr=-1.0), ValueError, "lr"),
    (lambda: reg.fit_line_gradient_descent(X_OK, X_OK, n_steps=0), ValueError, "n_steps"),
    (lambda: reg.sse(X_OK, X_OK, "1", 0.0), TypeError, "slope"),
    (lambda: reg.sse(X_OK, X_OK, 1.0, float("inf")), ValueError, "intercept"),
    (lambda: reg.gaussian_line_log_likelihood(X_OK, X_OK, 1.0, 0.0, 0.0), ValueError, "noise_std"),
    (lambda: reg.line_kl_closed_form(X_OK, 1.0, 0.0, 1.0, true_slope=1.0, true_intercept=0.0,
                                     true_noise_std=-1.0), ValueError, "true_noise_std"),
    (lambda: reg.bayes_linear_posterior(X_OK, X_OK, 0.0, 1.0), ValueError, "prior_precision"),
    (lambda: reg.log_joint(torch.zeros(3, dtype=F64), X_OK, X_OK, 1.0, 1.0), ValueError, "w"),
    (lambda: reg.gaussian_kl_full(MEAN_OK, -COV_OK, MEAN_OK, COV_OK), ValueError, "cov_q"),
    (lambda: reg.gaussian_kl_full(MEAN_OK, COV_OK, torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)),
     ValueError, "mean_q and mean_p"),
    (lambda: reg.reverse_kl_diagonal_fit(MEAN_OK, torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64)),
     ValueError, "symmetric"),
    (lambda: reg.forward_kl_diagonal_fit(MEAN_OK, torch.eye(3, dtype=F64)), ValueError, "cov"),
    (lambda: reg.fit_diagonal_gaussian_reverse_kl("log p", [0.0], [1.0]), TypeError, "log_target"),
    (lambda: reg.fit_diagonal_gaussian_reverse_kl(log_p, [0.0], [-1.0]), ValueError, "init_std"),
    (lambda: reg.fit_diagonal_gaussian_reverse_kl(log_p, [0.0, 1.0], [1.0]), ValueError, "init_std"),
    (lambda: reg.mixture_log_density(X_OK, torch.tensor([0.5, 0.6], dtype=F64), MEANS, STDS),
     ValueError, "weights"),
    (lambda: reg.mixture_log_density(X_OK, WEIGHTS, MEANS, -STDS), ValueError, "stds"),
    (lambda: reg.kl_gaussian_to_density(0.0, 0.0, log_p), ValueError, "std"),
    (lambda: reg.kl_gaussian_to_density(0.0, 1.0, None), TypeError, "log_density"),
    (lambda: reg.kl_density_to_gaussian(log_p, 0.0, 1.0, grid=torch.linspace(-1, 1, 50, dtype=F64)),
     ValueError, "grid"),
    (lambda: reg.covariance_ellipse(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)), ValueError, "mean"),
    (lambda: reg.covariance_ellipse(MEAN_OK, COV_OK, n_std=0), ValueError, "n_std"),
], ids=[
    "normal-eq-x-list",
    "normal-eq-lengths",
    "normal-eq-one-x-value",
    "normal-eq-y-integer",
    "normal-eq-x-2d",
    "normal-eq-y-nan",
    "gd-lr-negative",
    "gd-n-steps-zero",
    "sse-slope-string",
    "sse-intercept-inf",
    "line-ll-noise-zero",
    "line-kl-true-noise-negative",
    "posterior-prior-zero",
    "log-joint-w-length",
    "kl-full-cov-q-negative",
    "kl-full-mean-lengths",
    "reverse-fit-not-symmetric",
    "forward-fit-cov-size",
    "reverse-kl-fit-target-string",
    "reverse-kl-fit-std-negative",
    "reverse-kl-fit-std-length",
    "mixture-weights-sum",
    "mixture-stds-negative",
    "kl-to-density-std-zero",
    "kl-to-density-not-callable",
    "kl-from-density-narrow-grid",
    "ellipse-3d-mean",
    "ellipse-n-std-zero",
])
def test_bad_inputs_are_rejected_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ------------------------------------------------------------------------ exercise checkers

def test_exercise_checkers_say_not_answered_for_none(line_data):
    x, y = line_data
    for message in (ex.check_noise_variance_mle(None, x, y), ex.check_shrink_factor(None),
                    ex.check_lighter_mode_kl(None, 0.1), ex.check_max_step(None, x)):
        assert message.startswith("not answered")


def test_noise_variance_checker(line_data):
    x, y = line_data
    sse_min = float(reg.sse(x, y, *reg.fit_line_normal_equations(x, y)))
    assert ex.check_noise_variance_mle(sse_min / len(x), x, y).startswith("correct")
    assert ex.check_noise_variance_mle(torch.tensor(sse_min / len(x)), x, y).startswith("correct")
    assert "unbiased" in ex.check_noise_variance_mle(sse_min / (len(x) - 2), x, y)
    assert "standard deviation" in ex.check_noise_variance_mle(math.sqrt(sse_min / len(x)), x, y)
    assert ex.check_noise_variance_mle(0.64, x, y).startswith("not quite")
    assert ex.check_noise_variance_mle("0.3", x, y).startswith("answer must be")


def test_shrink_factor_checker():
    assert ex.check_shrink_factor(lambda rho: 1 - rho ** 2).startswith("correct")
    assert ex.check_shrink_factor(lambda rho: 1 / (1 - rho ** 2)).startswith("inverted")
    assert "standard deviations" in ex.check_shrink_factor(lambda rho: math.sqrt(1 - rho ** 2))
    assert ex.check_shrink_factor(lambda rho: 1.0).startswith("not quite")
    assert ex.check_shrink_factor(lambda rho: 1 / 0).startswith("calling answer")
    assert ex.check_shrink_factor(0.19).startswith("answer must be a function")


def test_lighter_mode_checker():
    assert ex.check_lighter_mode_kl(-math.log(0.1), 0.1).startswith("correct")
    assert ex.check_lighter_mode_kl(2.30, 0.1).startswith("correct")
    assert "other" in ex.check_lighter_mode_kl(-math.log(0.9), 0.1)
    assert "sign" in ex.check_lighter_mode_kl(math.log(0.1), 0.1)
    assert ex.check_lighter_mode_kl(1.0, 0.1).startswith("not quite")


def test_max_step_checker(line_data):
    x, _ = line_data
    lr_max = reg.max_stable_step(x)
    assert ex.check_max_step(lr_max, x).startswith("correct")
    assert "twice" in ex.check_max_step(lr_max / 2, x)
    assert "*sum*" in ex.check_max_step(lr_max / len(x), x)
    assert ex.check_max_step(1.0, x).startswith("not quite")
