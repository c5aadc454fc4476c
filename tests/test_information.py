"""ELBO surgery, mutual information, marginal KL, total correlation and active units
(vae_teach.information, notebook 10), checked against torch.distributions and closed forms;
and the exercise checkers of notebook 10."""
import math

import pytest
import torch
from torch import distributions as td

from vae_teach import information as info
from vae_teach.distributions import gaussian_kl
from vae_teach.exercises import information as ex
from vae_teach.models import BernoulliVAE


def random_encoder(n=40, d=3, seed=0, spread=1.5, logvar_shift=-1.0):
    g = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(n, d, generator=g)
    logvar = 0.5 * torch.randn(n, d, generator=g) + logvar_shift
    return mu, logvar


def torch_mixture(mu, logvar):
    components = td.Independent(td.Normal(mu.double(), torch.exp(0.5 * logvar.double())), 1)
    weights = td.Categorical(torch.ones(mu.shape[0], dtype=torch.float64))
    return td.MixtureSameFamily(weights, components)


# --------------------------------------------------------------------- the mixture density

def test_aggregate_log_density_matches_torch_mixture():
    mu, logvar = random_encoder(n=7, d=3)
    z = torch.randn(11, 3, generator=torch.Generator().manual_seed(1)) * 2
    expected = torch_mixture(mu, logvar).log_prob(z.double())
    got = info.aggregate_log_density(z, mu, logvar)
    assert got.shape == (11,)
    assert torch.allclose(got, expected, atol=1e-9)
    # one point gives a scalar; tiny chunks give the same numbers
    assert torch.allclose(info.aggregate_log_density(z[0], mu, logvar), expected[0], atol=1e-9)
    assert torch.allclose(info.aggregate_log_density(z, mu, logvar, chunk_elements=5), expected,
                          atol=1e-9)


def test_per_dimension_mixtures_match_one_dimensional_torch_mixtures():
    mu, logvar = random_encoder(n=9, d=4, seed=2)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    got = info.aggregate_log_density(z, mu, logvar, per_dimension=True)
    assert got.shape == (6, 4)
    for j in range(4):
        mix = torch_mixture(mu[:, j:j + 1], logvar[:, j:j + 1])
        assert torch.allclose(got[:, j], mix.log_prob(z[:, j:j + 1].double()), atol=1e-9)


def test_mixture_is_exact_for_tiny_variances_far_in_the_tails():
    # sigma = 1e-4: log-densities down to -1e8; exp() would underflow, float32 would cancel.
    mu = torch.tensor([[0.0], [1.0], [2.5]])
    logvar = torch.full_like(mu, 2 * math.log(1e-4))
    z = torch.tensor([[1.0 + 2e-4], [0.7]])
    log_components = -0.5 * (math.log(2 * math.pi) + logvar.double().T
                             + (z.double() - mu.double().T) ** 2 / torch.exp(logvar.double().T))
    expected = torch.logsumexp(log_components, dim=1) - math.log(3)
    assert torch.allclose(info.aggregate_log_density(z, mu, logvar), expected, rtol=1e-9)
    assert float(expected[1]) < -1e6                       # really far out in the tail


# ------------------------------------------------------------------ mutual information

def test_discrete_x_toy_with_separated_codes_reaches_log_n_exactly():
    n = 5
    mu = torch.arange(n, dtype=torch.float32)[:, None] * 100.0       # codes 100 sigmas apart
    logvar = torch.zeros(n, 1)
    est = info.mutual_information(mu, logvar, 8, generator=torch.Generator().manual_seed(0))
    assert est.value == pytest.approx(math.log(n), abs=1e-9)


def test_two_point_toy_matches_numerical_integration():
    # x in {-m, +m} with probability 1/2 each, q(z|x) = N(x, 1):  I = H(z) - H(z|x),
    # with H(z) of the two-component mixture computed on a fine grid.
    m = 1.0
    mu = torch.tensor([[-m], [m]])
    logvar = torch.zeros(2, 1)
    grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    log_q = info.aggregate_log_density(grid[:, None], mu, logvar)
    entropy_z = float(-(log_q.exp() * log_q).sum() * (grid[1] - grid[0]))
    truth = entropy_z - 0.5 * math.log(2 * math.pi * math.e)
    est = info.mutual_information(mu, logvar, 20_000, generator=torch.Generator().manual_seed(1))
    assert 0.2 < truth < math.log(2)
    assert abs(est.value - truth) < 4 * est.stderr + 1e-3
    assert est.stderr < 0.01


def test_gaussian_channel_matches_closed_form():
    # x ~ N(0, 1), q(z|x) = N(0.8 x, 0.36): q(z) = N(0, 1) = p(z), so I = rate = -0.5 log 0.36.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 1, generator=g)
    mu, logvar = 0.8 * x, torch.full_like(x, math.log(0.36))
    truth = info.gaussian_channel_information(1.0, 0.36, gain=0.8)
    assert truth == pytest.approx(-0.5 * math.log(0.36))
    result = info.rate_decomposition(mu, logvar, 4, generator=g)
    assert result.mutual_information == pytest.approx(truth, abs=0.03)
    assert result.marginal_kl_direct == pytest.approx(0.0, abs=0.02)
    assert result.rate == pytest.approx(truth, abs=0.03)
    assert result.log_n == pytest.approx(math.log(3000))


def test_information_never_exceeds_log_n_and_sharp_codes_approach_it():
    for seed in range(5):
        for shift in (-12.0, -2.0, 0.0):
            mu, logvar = random_encoder(n=30, d=2, seed=seed, logvar_shift=shift)
            est = info.mutual_information(mu, logvar, 3, generator=torch.Generator().manual_seed(seed))
            # every term log q(z|x_n) - log q(z) <= log N because q(z) >= q(z|x_n) / N
            assert est.value <= math.log(30) + 1e-9
            if shift == -12.0:
                assert est.value == pytest.approx(math.log(30), abs=1e-3)


def test_encoder_equal_to_prior_carries_no_information():
    mu, logvar = torch.zeros(500, 4), torch.zeros(500, 4)
    result = info.rate_decomposition(mu, logvar, 2, generator=torch.Generator().manual_seed(0))
    assert result.rate == 0.0
    assert abs(result.mutual_information) < 1e-9
    assert abs(result.marginal_kl_direct) < 1e-9


def test_encoder_ignoring_x_has_zero_information_but_positive_rate():
    # every q(z|x_n) is N(1, e^-1): I_q = 0, and all the rate is the marginal KL
    mu, logvar = torch.ones(200, 2), torch.full((200, 2), -1.0)
    result = info.rate_decomposition(mu, logvar, 2, generator=torch.Generator().manual_seed(0))
    expected_rate = float(gaussian_kl(mu[:1], logvar[:1]))
    assert result.rate == pytest.approx(expected_rate, rel=1e-6)
    assert abs(result.mutual_information) < 1e-9
    assert result.marginal_kl == pytest.approx(expected_rate, rel=1e-6)
    assert result.marginal_kl_direct == pytest.approx(expected_rate, abs=0.1)


def test_elbo_surgery_identity_holds_up_to_monte_carlo_error():
    for seed in range(3):
        mu, logvar = random_encoder(n=300, d=3, seed=seed)
        r = info.rate_decomposition(mu, logvar, 8, generator=torch.Generator().manual_seed(seed))
        assert r.rate == pytest.approx(float(gaussian_kl(mu, logvar).mean()), rel=1e-6)
        assert r.marginal_kl == pytest.approx(r.rate - r.mutual_information)
        assert abs(r.identity_gap) < 4 * r.identity_stderr + 1e-3
        assert 0 < r.mutual_information <= r.log_n and r.marginal_kl_direct > 0


def test_average_rate_matches_torch_distributions():
    mu, logvar = random_encoder(n=20, d=3, seed=4)
    q = td.Normal(mu.double(), torch.exp(0.5 * logvar.double()))
    p = td.Normal(torch.zeros(()), torch.ones(()))
    expected = float(td.kl_divergence(q, p).sum(dim=1).mean())
    assert info.average_rate(mu, logvar) == pytest.approx(expected, rel=1e-9)


def test_moment_matched_marginal_kl_is_the_kl_of_the_moment_matched_gaussian():
    mu, logvar = random_encoder(n=500, d=3, seed=5)
    mean = mu.double().mean(0)
    cov = torch.cov(mu.double().T, correction=0) + torch.diag(logvar.double().exp().mean(0))
    expected = td.kl_divergence(td.MultivariateNormal(mean, cov),
                                td.MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                      torch.eye(3, dtype=torch.float64)))
    assert info.moment_matched_marginal_kl(mu, logvar) == pytest.approx(float(expected), rel=1e-9)


def test_moment_matched_marginal_kl_bounds_the_marginal_kl_from_below():
    # Codes in two tight clumps at +-2: q(z) is bimodal, far from N(0, 1); the bound is positive
    # and below the (direct Monte Carlo) marginal KL.
    g = torch.Generator().manual_seed(0)
    mu = torch.cat([torch.full((300, 1), -2.0), torch.full((300, 1), 2.0)])
    logvar = torch.full_like(mu, math.log(0.05))
    bound = info.moment_matched_marginal_kl(mu, logvar)
    direct = info.marginal_kl(mu, logvar, 8, generator=g)
    assert 0.1 < bound < direct.value - 5 * direct.stderr
    # Gaussian channel x ~ N(0, 1), q(z|x) = N(0.8 x, 0.36): q(z) = N(0, 1) = p(z), the bound ~ 0.
    x = torch.randn(20000, 1, generator=g)
    assert abs(info.moment_matched_marginal_kl(0.8 * x, torch.full_like(x, math.log(0.36)))) < 2e-3


def test_total_correlation_of_a_correlated_gaussian_channel():
    # x ~ N(0, [[1, rho], [rho, 1]]), q(z|x) = N(x, s2 I): q(z) = N(0, C) with C = Sigma + s2 I.
    rho, s2, n = 0.8, 0.5, 2000
    g = torch.Generator().manual_seed(0)
    cov = torch.tensor([[1.0, rho], [rho, 1.0]])
    x = torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(cov).T
    mu, logvar = x, torch.full_like(x, math.log(s2))
    split = info.marginal_kl_split(mu, logvar, 2, generator=g)
    c = cov + s2 * torch.eye(2)
    r = rho / (1 + s2)
    assert split.total_correlation.value == pytest.approx(-0.5 * math.log(1 - r * r), abs=0.04)
    per_dim = 0.5 * (1 + s2 - 1 - math.log(1 + s2))
    assert split.per_dimension_kl.tolist() == pytest.approx([per_dim, per_dim], abs=0.04)
    kl = 0.5 * (float(torch.trace(c)) - 2 - math.log(float(torch.det(c))))
    assert split.marginal_kl.value == pytest.approx(kl, abs=0.05)
    # same samples for all parts: they add up exactly
    assert split.marginal_kl.value == pytest.approx(
        split.total_correlation.value + split.dimensionwise_kl.value, abs=1e-9)


# ------------------------------------------------------------------------- active units

def test_active_units_counts_dimensions_whose_means_vary():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5000, 4, generator=g) * torch.tensor([1.0, 0.05, 0.2, 0.0])
    result = info.active_units(mu)
    assert torch.allclose(result.activity, mu.var(dim=0, unbiased=False), rtol=1e-5)
    assert result.n_active == 2 and result.active.tolist() == [True, False, True, False]
    assert info.active_units(mu, threshold=1e-3).n_active == 3


def test_encode_dataset_matches_the_model_in_any_batch_size():
    torch.manual_seed(0)
    model = BernoulliVAE(hidden_dim=16, latent_dim=3)
    x = torch.rand(25, 784)
    mu, logvar = info.encode_dataset(model, x, batch_size=7)
    with torch.no_grad():
        mu_all, logvar_all = model.encode(x)
    assert torch.allclose(mu, mu_all, atol=1e-6) and torch.allclose(logvar, logvar_all, atol=1e-6)


# --------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, error, name", [
    (lambda: info.mutual_information(torch.zeros(5), torch.zeros(5)), ValueError, "mu"),
    (lambda: info.mutual_information(torch.zeros(5, 2), torch.zeros(5, 3)), ValueError, "logvar"),
    (lambda: info.mutual_information(torch.zeros(5, 2, dtype=torch.int64), torch.zeros(5, 2)),
     TypeError, "mu"),
    (lambda: info.mutual_information(torch.full((5, 2), float("nan")), torch.zeros(5, 2)),
     ValueError, "mu"),
    (lambda: info.mutual_information(torch.zeros(5, 2), torch.zeros(5, 2), 0), ValueError,
     "n_samples"),
    (lambda: info.mutual_information(torch.zeros(5, 2), torch.zeros(5, 2), 1.5), TypeError,
     "n_samples"),
    (lambda: info.marginal_kl(torch.zeros(5, 2), torch.zeros(5, 2), generator=0), TypeError,
     "generator"),
    (lambda: info.aggregate_log_density(torch.zeros(3, 4), torch.zeros(5, 2), torch.zeros(5, 2)),
     ValueError, "z"),
    (lambda: info.aggregate_log_density(torch.zeros(3, 2), torch.zeros(5, 2), torch.zeros(5, 2),
                                        chunk_elements=0), ValueError, "chunk_elements"),
    (lambda: info.rate_decomposition([[0.0]], torch.zeros(1, 1)), TypeError, "mu"),
    (lambda: info.average_rate(torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, "mu"),
    (lambda: info.active_units(torch.zeros(1, 3)), ValueError, "mu"),
    (lambda: info.moment_matched_marginal_kl(torch.zeros(1, 3), torch.zeros(1, 3)), ValueError, "mu"),
    (lambda: info.moment_matched_marginal_kl(torch.zeros(4, 3), torch.zeros(4, 2)), ValueError,
     "logvar"),
    (lambda: info.active_units(torch.zeros(4, 3), threshold=-1.0), ValueError, "threshold"),
    (lambda: info.gaussian_channel_information(1.0, 0.0), ValueError, "noise_variance"),
    (lambda: info.gaussian_channel_information(1.0, 1.0, gain="2"), TypeError, "gain"),
    (lambda: info.encode_dataset(object(), torch.zeros(3, 784)), TypeError, "model"),
    (lambda: info.marginal_kl_split(torch.zeros(5, 2), torch.zeros(5, 2), -1), ValueError,
     "n_samples"),
], ids=[
    "mi-mu-1d",
    "mi-logvar-other-width",
    "mi-mu-integer",
    "mi-mu-nan",
    "mi-n-samples-zero",
    "mi-n-samples-float",
    "marginal-kl-generator-int",
    "aggregate-z-width",
    "aggregate-chunk-zero",
    "rate-decomposition-mu-list",
    "average-rate-empty",
    "active-units-one-row",
    "moment-matched-one-row",
    "moment-matched-logvar-width",
    "active-units-threshold-negative",
    "channel-noise-zero",
    "channel-gain-string",
    "encode-not-a-model",
    "marginal-kl-split-negative",
])
def test_bad_inputs_are_rejected_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ------------------------------------------------------------------- exercise checkers

def test_checkers_say_not_answered_for_none(capsys):
    for check in (ex.check_gaussian_channel, ex.check_log_aggregate_posterior,
                  ex.check_information_ceiling):
        feedback = check(None)
        assert feedback.startswith("not answered yet") and not feedback.correct
    assert capsys.readouterr().out == ""          # returned for Jupyter to show, not printed


def test_gaussian_channel_checker():
    info_true, kl_true = ex.exercise_1_solution()
    assert info_true == pytest.approx(-0.5 * math.log(0.36)) and kl_true == pytest.approx(0.0)
    assert ex.check_gaussian_channel((info_true, 0.0)).startswith("correct")
    assert "factor 1/2" in ex.check_gaussian_channel((2 * info_true, 0.0))
    assert "bits" in ex.check_gaussian_channel((info_true / math.log(2), 0.0))
    assert "variance of q(z)" in ex.check_gaussian_channel((info_true, 0.3))
    assert "pair" in ex.check_gaussian_channel(0.5)


def test_log_aggregate_checker_accepts_the_right_function_and_diagnoses_wrong_ones():
    def good(z, mu, logvar):
        return info.aggregate_log_density(z, mu, logvar)

    def naive(z, mu, logvar):   # averages densities: underflows in 40 dimensions
        dens = torch.exp(-0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None])
                                 ** 2 / logvar.exp()[None]).sum(-1))
        return torch.log(dens.mean(dim=1))

    def forgot_log_n(z, mu, logvar):
        return info.aggregate_log_density(z, mu, logvar) + math.log(len(mu))

    assert ex.check_log_aggregate_posterior(good).startswith("correct")
    assert "logsumexp" in ex.check_log_aggregate_posterior(naive)
    assert "log N" in ex.check_log_aggregate_posterior(forgot_log_n)
    assert "shape" in ex.check_log_aggregate_posterior(lambda z, mu, lv: torch.zeros(3))
    assert "raised" in ex.check_log_aggregate_posterior(lambda z, mu, lv: 1 / 0)
    assert "function" in ex.check_log_aggregate_posterior(3.0)


def test_information_ceiling_checker():
    log_n = math.log(1000)
    assert ex.exercise_3_solution() == pytest.approx((3.0, log_n))
    assert ex.check_information_ceiling((3.0, log_n)).startswith("correct")
    assert "log N" in ex.check_information_ceiling((3.0, 25.0))
    assert "KL(q(z)||p(z)) >= 0" in ex.check_information_ceiling((log_n, log_n))
    assert "bits" in ex.check_information_ceiling((3.0, math.log2(1000)))
