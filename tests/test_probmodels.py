"""Tests of vae_teach.probmodels (notebook 03) and its exercise checkers."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from vae_teach import probmodels as P


# ------------------------------------------------------------------------ p_true and its moments

def test_mixture_log_prob_matches_a_hand_sum_of_normals():
    dist = P.mixture_1d((0.2, 0.8), (-1.0, 2.0), (0.5, 1.5))
    x = torch.linspace(-4, 6, 11, dtype=torch.float64)
    by_hand = np.log(0.2 * stats.norm.pdf(x.numpy(), -1, 0.5) + 0.8 * stats.norm.pdf(x.numpy(), 2, 1.5))
    assert np.allclose(dist.log_prob(x).numpy(), by_hand, atol=1e-10)


def test_mixture_moments_match_numerical_integration_and_samples():
    mean, var = P.mixture_moments()
    dist = P.mixture_1d()
    density = lambda t: math.exp(float(dist.log_prob(torch.tensor(t, dtype=torch.float64))))
    m1 = integrate.quad(lambda t: t * density(t), -15, 15, limit=200)[0]
    m2 = integrate.quad(lambda t: t * t * density(t), -15, 15, limit=200)[0]
    assert mean == pytest.approx(m1, abs=1e-7)
    assert var == pytest.approx(m2 - m1 ** 2, abs=1e-6)
    torch.manual_seed(0)
    x = dist.sample((200_000,))
    assert float(x.mean()) == pytest.approx(mean, abs=0.02)
    assert float(x.var()) == pytest.approx(var, rel=0.02)


def test_entropy_by_quadrature_matches_the_gaussian_closed_form_and_scipy():
    gauss = torch.distributions.Normal(torch.tensor(0.3, dtype=torch.float64),
                                       torch.tensor(1.7, dtype=torch.float64))
    assert P.entropy_by_quadrature(gauss, -20, 20) == pytest.approx(
        0.5 * math.log(2 * math.pi * math.e * 1.7 ** 2), abs=1e-6)
    dist = P.mixture_1d()
    density = lambda t: math.exp(float(dist.log_prob(torch.tensor(t, dtype=torch.float64))))
    by_scipy = integrate.quad(lambda t: -density(t) * math.log(max(density(t), 1e-300)), -15, 15,
                              limit=200)[0]
    assert P.entropy_by_quadrature(dist, -12, 14) == pytest.approx(by_scipy, abs=1e-5)


def test_gaussian_cross_entropy_is_kl_plus_entropy_for_a_gaussian_p():
    # p = N(1, 2^2), q = N(-0.5, 1.2^2): KL closed form from torch.distributions
    p = torch.distributions.Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    q = torch.distributions.Normal(torch.tensor(-0.5, dtype=torch.float64), torch.tensor(1.2, dtype=torch.float64))
    kl = float(torch.distributions.kl_divergence(p, q))
    ce = P.gaussian_cross_entropy(1.0, 4.0, -0.5, 1.2)
    assert ce == pytest.approx(kl + float(p.entropy()), abs=1e-12)


def test_average_nll_on_samples_matches_torch_distributions_and_tends_to_cross_entropy():
    torch.manual_seed(1)
    x = P.mixture_1d().sample((50_000,))
    mu, sigma = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 2.0, 3.0])
    by_torch = [-float(torch.distributions.Normal(m, s).log_prob(x).mean()) for m, s in zip(mu, sigma)]
    assert np.allclose(P.gaussian_average_nll(x, mu, sigma), by_torch, atol=1e-9)
    mean, var = P.mixture_moments()
    assert np.allclose(P.gaussian_average_nll(x, mu, sigma),
                       P.gaussian_cross_entropy(mean, var, mu, sigma), atol=0.05)


def test_moment_matching_minimizes_the_cross_entropy_on_a_grid():
    mean, var = P.mixture_moments()
    mus, sigmas = np.meshgrid(np.linspace(-2, 2, 401), np.linspace(1, 3.5, 251), indexing="ij")
    ce = P.gaussian_cross_entropy(mean, var, mus, sigmas)
    i, j = np.unravel_index(ce.argmin(), ce.shape)
    assert mus[i, j] == pytest.approx(mean, abs=0.01)
    assert sigmas[i, j] == pytest.approx(math.sqrt(var), abs=0.01)


# --------------------------------------------------------------------- mixtures with K components

def test_fit_gaussian_mixtures_train_ll_rises_and_held_out_peaks_near_the_true_k():
    torch.manual_seed(0)
    dist = P.mixture_1d()
    fits = P.fit_gaussian_mixtures(dist.sample((150,)), dist.sample((3000,)), ks=range(1, 9), n_init=2)
    assert np.all(np.diff(fits.train_ll) > -0.02)                    # (almost) never falls
    assert fits.train_ll[-1] > fits.train_ll[0] + 0.3
    assert 2 <= fits.ks[fits.test_ll.argmax()] <= 5
    assert fits.test_ll[-1] < fits.test_ll.max() - 0.02              # K = 8 over-fits


def test_fit_gaussian_mixtures_k1_equals_the_closed_form_gaussian():
    torch.manual_seed(3)
    x_train, x_test = torch.randn(400, dtype=torch.float64) * 2 + 1, torch.randn(100, dtype=torch.float64)
    fits = P.fit_gaussian_mixtures(x_train, x_test, ks=[1])
    mu, sigma = float(x_train.mean()), float(x_train.std(unbiased=False))
    assert fits.train_ll[0] == pytest.approx(-P.gaussian_average_nll(x_train, mu, sigma), abs=1e-5)
    assert fits.test_ll[0] == pytest.approx(-P.gaussian_average_nll(x_test, mu, sigma), abs=1e-5)


# -------------------------------------------------------------------- conditional distributions

def test_gaussian_nll_matches_torch_distributions():
    y, mean, logvar = torch.randn(20, 1), torch.randn(20, 1), torch.randn(20, 1)
    expected = -torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(y)
    assert torch.allclose(P.gaussian_nll(y, mean, logvar), expected, atol=1e-5)


def test_interval_coverage_of_exact_predictions_is_the_nominal_level():
    g = torch.Generator().manual_seed(0)
    x, y = P.heteroscedastic_data(40_000, g)
    mean, std = P.true_mean(x), P.true_noise_std(x)
    for level in (0.5, 0.9, 0.99):
        assert P.interval_coverage(y, mean, std, level) == pytest.approx(level, abs=0.01)
    # intervals half as wide cover P(|Z| <= 1.645 / 2) only
    half = 2 * stats.norm.cdf(stats.norm.ppf(0.95) / 2) - 1
    assert P.interval_coverage(y, mean, std / 2, 0.9) == pytest.approx(half, abs=0.01)
    bins = P.coverage_by_bin(x, y, mean, std, [-3, -1, 1, 3])
    assert np.allclose(bins, 0.9, atol=0.015)


def test_heteroscedastic_fit_is_calibrated_per_bin_and_homoscedastic_is_not():
    g = torch.Generator().manual_seed(1)
    x, y = P.heteroscedastic_data(1000, g)
    x_test, y_test = P.heteroscedastic_data(4000, g)
    edges = [-3, -2, 2, 3]
    results = {}
    for het in (True, False):
        torch.manual_seed(0)
        model = P.MeanVarianceNet(heteroscedastic=het)
        curve = P.fit_conditional_gaussian(model, x, y, n_steps=600)
        assert curve[-1] < curve[0]
        mean, std = model.predict(x_test)
        results[het] = P.coverage_by_bin(x_test, y_test, mean, std, edges)
    assert np.all(np.abs(results[True] - 0.9) < 0.06)
    assert results[False][1] > 0.93 and results[False][0] < 0.85     # too wide inside, too narrow outside


def test_conditional_fit_rejects_bad_shapes():
    model = P.MeanVarianceNet()
    with pytest.raises(ValueError, match="x and y"):
        P.fit_conditional_gaussian(model, torch.zeros(5, 1), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="level"):
        P.interval_coverage(torch.zeros(3), torch.zeros(3), torch.ones(3), level=1.5)
    with pytest.raises(ValueError, match="no x"):
        P.coverage_by_bin(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.ones(3), [1, 2])


# ---------------------------------------------------------------------------------- the coin

def test_coin_expected_log_likelihood_matches_a_monte_carlo_simulation():
    rng = np.random.default_rng(0)
    p, n, a, b = 0.3, 6, 2.0, 3.0
    k = rng.binomial(n, p, size=400_000)
    p_hat = (k + a) / (n + a + b)
    mc = np.mean(p * np.log(p_hat) + (1 - p) * np.log1p(-p_hat))
    assert P.coin_expected_log_likelihood(p, n, a, b) == pytest.approx(mc, abs=2e-3)


def test_coin_maximum_likelihood_is_minus_infinity_and_priors_approach_the_entropy():
    assert P.coin_expected_log_likelihood(0.3, 10) == -math.inf
    best = -P.coin_entropy(0.3)
    assert best == pytest.approx(float(stats.bernoulli(0.3).entropy()) * -1, abs=1e-12)
    for n in (1, 5, 50):
        value = P.coin_expected_log_likelihood(0.3, n, 1, 1)
        assert best - 0.2 < value < best                          # Gibbs: never above -H
    # more data helps the uniform prior; the right prior is almost optimal at once
    assert P.coin_expected_log_likelihood(0.3, 50, 1, 1) > P.coin_expected_log_likelihood(0.3, 2, 1, 1)
    assert P.coin_expected_log_likelihood(0.3, 1, 6, 14) > best - 0.005
    assert math.isfinite(P.coin_expected_log_likelihood(0.3, 20000, 1, 1))


def test_coin_and_mixture_inputs_are_checked():
    with pytest.raises(ValueError, match="p_true"):
        P.coin_expected_log_likelihood(1.0, 5)
    with pytest.raises(ValueError, match="prior_a"):
        P.coin_expected_log_likelihood(0.3, 5, prior_a=1.0)
    with pytest.raises(TypeError, match="n_flips"):
        P.coin_expected_log_likelihood(0.3, 2.5)
    with pytest.raises(ValueError, match="weights"):
        P.mixture_1d((0.5, 0.6), (0, 1), (1, 1))
    with pytest.raises(ValueError, match="stds"):
        P.mixture_moments((0.5, 0.5), (0, 1), (1, -1))
    with pytest.raises(ValueError, match="same length"):
        P.mixture_1d((1.0,), (0, 1), (1, 1))
    with pytest.raises(TypeError, match="weights must be a 1-D sequence or tensor of numbers"):
        P.mixture_1d("abc", (0, 1), (1, 1))
    with pytest.raises(TypeError, match="means must be a 1-D sequence or tensor of numbers"):
        P.mixture_moments((0.5, 0.5), None, (1, 1))
    with pytest.raises(TypeError, match="stds must be a 1-D sequence or tensor of numbers"):
        P.mixture_1d((0.5, 0.5), (0, 1), {"a": 1})
    with pytest.raises(ValueError, match="lo < hi"):
        P.entropy_by_quadrature(P.mixture_1d(), 3, 1)
