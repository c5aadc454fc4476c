"""The formulas of vae_teach.distributions against torch.distributions and closed forms."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, MultivariateNormal, Normal, kl_divergence

from vae_teach import distributions as dist


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def test_bernoulli_log_likelihood_matches_torch_on_binary_and_grey_targets(gen):
    logits = 6 * torch.randn(64, 50, generator=gen)
    for x in (torch.bernoulli(torch.full((64, 50), 0.3), generator=gen),
              torch.rand(64, 50, generator=gen)):
        ours = dist.bernoulli_log_likelihood(logits, x)
        reference = Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(dim=1)
        assert ours.shape == (64,)
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-4)


def test_bernoulli_log_likelihood_closed_form_values():
    # logit 0 means p = 1/2 for every pixel: log p(x) = D log(1/2) whatever x is.
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    assert dist.bernoulli_log_likelihood(torch.zeros(1, 4), x).item() == pytest.approx(4 * math.log(0.5))
    # p = sigmoid(2): x=1 scores log sigmoid(2), x=0 scores log sigmoid(-2).
    value = dist.bernoulli_log_likelihood(torch.tensor([[2.0, 2.0]]), torch.tensor([[1.0, 0.0]]))
    expected = math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(2)))
    assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("logit", [100.0, -100.0, 30.0, -30.0])
def test_bernoulli_log_likelihood_is_stable_at_large_logits(logit):
    logits = torch.full((2, 3), logit)
    x = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    ours = dist.bernoulli_log_likelihood(logits, x)
    assert torch.isfinite(ours).all()
    # the exact values: log sigmoid(l) = -softplus(-l), log(1 - sigmoid(l)) = -softplus(l)
    expected = torch.tensor([-3 * math.log1p(math.exp(-logit)) if logit > -50 else 3 * logit,
                             -3 * math.log1p(math.exp(logit)) if logit < 50 else -3 * logit])
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    # ... where the literal textbook formula breaks down once sigmoid(l) rounds to 1 in float32
    if logit >= 30:
        naive = dist.naive_bernoulli_log_likelihood(torch.sigmoid(logits), x)
        assert not torch.isfinite(naive).all()


def test_bernoulli_log_likelihood_works_on_image_shaped_batches(gen):
    logits = torch.randn(5, 28, 28, generator=gen)
    x = torch.bernoulli(torch.full((5, 28, 28), 0.5), generator=gen)
    flat = dist.bernoulli_log_likelihood(logits.reshape(5, -1), x.reshape(5, -1))
    torch.testing.assert_close(dist.bernoulli_log_likelihood(logits, x), flat)


def test_gaussian_kl_matches_torch_kl_divergence(gen):
    mu = 2 * torch.randn(40, 7, generator=gen)
    logvar = 3 * torch.randn(40, 7, generator=gen)
    ours = dist.gaussian_kl(mu, logvar)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(dim=1)
    assert ours.shape == (40,)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_gaussian_kl_closed_form_cases():
    assert dist.gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() == 0
    # 1-D: KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1)/2 - log s
    m, s = 1.5, 0.4
    value = dist.gaussian_kl(torch.tensor([[m]]), torch.tensor([[2 * math.log(s)]])).item()
    assert value == pytest.approx((m * m + s * s - 1) / 2 - math.log(s), rel=1e-6)


def test_monte_carlo_kl_converges_to_the_analytic_value(gen):
    mu = torch.tensor([[0.7, -1.2, 0.1]])
    logvar = torch.tensor([[-1.0, 0.5, -2.0]])
    analytic = dist.gaussian_kl(mu, logvar).item()
    errors = []
    for n in (100, 10_000, 1_000_000):
        z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 3, generator=gen)
        log_ratio = dist.gaussian_log_prob(z, mu, logvar) - dist.standard_normal_log_prob(z)
        estimate, standard_error = log_ratio.mean().item(), log_ratio.std().item() / math.sqrt(n)
        assert abs(estimate - analytic) < 5 * standard_error
        errors.append(standard_error)
    assert errors[-1] < 0.01 and errors[0] > 10 * errors[-1]


def test_gaussian_kl_full_matches_torch_batched_and_ill_conditioned(gen):
    a = torch.randn(5, 3, 3, generator=gen, dtype=torch.float64)
    cov_q = a @ a.mT + 0.1 * torch.eye(3, dtype=torch.float64)
    cov_p = torch.diag(torch.tensor([1e-6, 1.0, 1e6], dtype=torch.float64))   # condition 1e12
    mean_q = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    mean_p = torch.zeros(3, dtype=torch.float64)
    ours = dist.gaussian_kl_full(mean_q, cov_q, mean_p, cov_p)
    theirs = kl_divergence(MultivariateNormal(mean_q, cov_q), MultivariateNormal(mean_p, cov_p))
    assert ours.shape == (5,)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)
    assert dist.gaussian_kl_full(mean_p, cov_p, mean_p, cov_p).abs().item() < 1e-12


@pytest.mark.parametrize("cov_q, message", [
    pytest.param(torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64), "symmetric", id="not-symmetric"),
    pytest.param(-torch.eye(2, dtype=torch.float64), "positive definite", id="negative-definite"),
    pytest.param(torch.eye(3, dtype=torch.float64), r"\[\.\.\., 2, 2\]", id="wrong-size"),
])
def test_gaussian_kl_full_rejects_bad_covariances(cov_q, message):
    zero, eye = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match=message):
        dist.gaussian_kl_full(zero, cov_q, zero, eye)


def test_gaussian_log_probs_match_normal(gen):
    z, mu, logvar = torch.randn(3, 10, 5, generator=gen).unbind(0)
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(dist.gaussian_log_prob(z, mu, logvar), expected)
    torch.testing.assert_close(dist.standard_normal_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_log_mean_exp_is_stable_and_exact():
    values = torch.tensor([[-1000.0, -1001.0, -1002.0]])
    expected = -1000 + math.log((1 + math.exp(-1) + math.exp(-2)) / 3)
    assert dist.log_mean_exp(values, dim=1).item() == pytest.approx(expected, abs=1e-4)
    assert dist.log_mean_exp(torch.full((4,), 800.0)).item() == pytest.approx(800.0)


def test_softmax_matches_torch_and_is_shift_invariant(gen):
    logits = 5 * torch.randn(8, 6, generator=gen)
    torch.testing.assert_close(dist.softmax(logits), torch.softmax(logits, dim=-1))
    torch.testing.assert_close(dist.softmax(logits + 123.0), dist.softmax(logits))
    assert torch.isfinite(dist.softmax(torch.tensor([1000.0, 0.0]))).all()


def test_softmax_temperature_limits():
    logits = torch.tensor([1.0, 2.0, 4.0])
    cold, hot = dist.softmax(logits, temperature=0.01), dist.softmax(logits, temperature=1e4)
    torch.testing.assert_close(cold, torch.tensor([0.0, 0.0, 1.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(hot, torch.full((3,), 1 / 3), atol=1e-3, rtol=0)


def test_categorical_log_prob_matches_torch(gen):
    logits = torch.randn(20, 6, generator=gen)
    outcomes = torch.randint(0, 6, (20,), generator=gen)
    torch.testing.assert_close(dist.categorical_log_prob(logits, outcomes),
                               Categorical(logits=logits).log_prob(outcomes))
    single = torch.randn(6, generator=gen)
    torch.testing.assert_close(dist.categorical_log_prob(single, outcomes),
                               Categorical(logits=single).log_prob(outcomes))


def test_categorical_mle_is_the_empirical_frequency(gen):
    outcomes = torch.tensor([0, 2, 2, 3, 3, 3])
    torch.testing.assert_close(dist.categorical_mle(outcomes, k=5),
                               torch.tensor([1 / 6, 0.0, 2 / 6, 3 / 6, 0.0]))
    samples = Categorical(probs=torch.tensor([0.1, 0.6, 0.3])).sample((200_000,))
    torch.testing.assert_close(dist.categorical_mle(samples, 3), torch.tensor([0.1, 0.6, 0.3]),
                               atol=5e-3, rtol=0)


def test_entropy_matches_torch():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    torch.testing.assert_close(dist.entropy(probs), Categorical(probs=probs).entropy())


def test_unit_interval_check_names_the_argument_and_the_range():
    dist.check_unit_interval("p", torch.tensor([0.0, 0.5, 1.0]))          # both ends allowed
    with pytest.raises(ValueError, match=r"^p must lie in \[0, 1\]; got values in \[-0.5, 2\] \(a hint\)$"):
        dist.check_unit_interval("p", torch.tensor([-0.5, 2.0]), hint=" (a hint)")
    with pytest.raises(ValueError, match=r"^x must hold pixels in \[0, 1\];"):
        dist.check_unit_interval("x", torch.tensor([1.5]), "hold pixels in [0, 1]")


def test_full_covariance_log_prob_matches_torch():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(4, dtype=torch.float64)
    mean = torch.randn(4, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64)          # leading dims broadcast
    expected = MultivariateNormal(mean, covariance_matrix=cov).log_prob(x)
    got = dist.gaussian_log_prob_full_unchecked(x, mean, cov)
    assert got.shape == (2, 5) and torch.allclose(got, expected, atol=1e-10)
    assert torch.allclose(dist.gaussian_log_prob_full_unchecked(x[0, 0], 0.0, cov),
                          MultivariateNormal(torch.zeros(4, dtype=torch.float64), cov).log_prob(x[0, 0]))
