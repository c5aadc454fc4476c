"""Learning p_theta ~ p_true: the machinery of notebook 03 (probabilistic models).

* ``mixture_1d`` / ``mixture_moments`` / ``entropy_by_quadrature``: a known 1-D "true"
  distribution, its mean and variance in closed form, and its entropy H(p_true) in nats.
* ``gaussian_cross_entropy`` / ``gaussian_average_nll``: E_p[-log N(x; mu, sigma^2)] exactly
  (from the moments of p) and its Monte Carlo estimate on samples; maximum likelihood and
  minimum KL(p_true || p_theta) differ by H(p_true) only (Kingma & Welling 2019, §1.6.2).
* ``fit_gaussian_mixtures``: train and held-out log-likelihood of mixtures with K components
  (EM, scikit-learn), to see a too-simple and a too-flexible model.
* ``MeanVarianceNet`` / ``fit_conditional_gaussian`` / ``interval_coverage``: a network that
  outputs p_theta(y|x) = N(mean(x), var(x)), and a check that its 90 % intervals hold 90 %.
* ``coin_expected_log_likelihood``: held-out log-likelihood of a coin model fitted by maximum
  likelihood or with a Beta prior, averaged exactly over all data sets of n flips.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import distributions as D
from torch import nn

from .distributions import LOG_2PI
from .utils import validate_mixture, validate_positive_float, validate_positive_int, validate_tensor

# The chapter's p_true: a mixture of three Gaussians on the real line.
TRUE_WEIGHTS = (0.5, 0.3, 0.2)
TRUE_MEANS = (-2.0, 0.5, 3.0)
TRUE_STDS = (0.6, 0.4, 1.0)


def mixture_1d(weights=TRUE_WEIGHTS, means=TRUE_MEANS, stds=TRUE_STDS) -> D.MixtureSameFamily:
    """A 1-D Gaussian mixture as a ``torch.distributions`` object (float64): ``.sample``,
    ``.log_prob`` come from the library."""
    weights, means, stds = validate_mixture(weights, means, stds)
    return D.MixtureSameFamily(D.Categorical(probs=weights), D.Normal(means, stds))


def mixture_moments(weights=TRUE_WEIGHTS, means=TRUE_MEANS, stds=TRUE_STDS) -> tuple[float, float]:
    """Mean and variance of a 1-D Gaussian mixture in closed form:
    E[x] = sum w_k m_k,  Var[x] = sum w_k (s_k^2 + m_k^2) - E[x]^2."""
    weights, means, stds = validate_mixture(weights, means, stds)
    mean = float((weights * means).sum())
    second = float((weights * (stds ** 2 + means ** 2)).sum())
    return mean, second - mean ** 2


def entropy_by_quadrature(dist, lo: float, hi: float, n_points: int = 20001) -> float:
    """H(p) = -int p(x) log p(x) dx in nats, by the trapezoid rule on [lo, hi] (the density must
    be negligible outside).  Any object with ``.log_prob`` works."""
    n_points = validate_positive_int("n_points", n_points, minimum=3)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need finite lo < hi, got lo={lo}, hi={hi}")
    grid = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    log_p = dist.log_prob(grid).double()
    return float(-torch.trapezoid(log_p.exp() * log_p, grid))


def gaussian_cross_entropy(mean_p: float, var_p: float, mu, sigma) -> np.ndarray:
    """E_{x~p}[-log N(x; mu, sigma^2)] in nats, exactly, from the mean and variance of p alone:
    0.5 log(2 pi sigma^2) + (var_p + (mean_p - mu)^2) / (2 sigma^2).  ``mu`` and ``sigma``
    broadcast (e.g. a grid).  Minus H(p), this is KL(p || N(mu, sigma^2))."""
    var_p = validate_positive_float("var_p", var_p)
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if (sigma <= 0).any():
        raise ValueError("sigma must be > 0")
    return 0.5 * np.log(2 * np.pi * sigma ** 2) + (var_p + (mean_p - mu) ** 2) / (2 * sigma ** 2)


def gaussian_average_nll(x: torch.Tensor, mu, sigma) -> np.ndarray:
    """(1/N) sum_i -log N(x_i; mu, sigma^2) in nats for samples ``x`` [N]; ``mu`` and ``sigma``
    broadcast.  Only the sample mean and the mean square of x are needed."""
    validate_tensor("x", x, ndim=1)
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if (sigma <= 0).any():
        raise ValueError("sigma must be > 0")
    values = x.double().numpy()
    mean_sq_dev = values.var() + (values.mean() - mu) ** 2          # (1/N) sum (x_i - mu)^2
    return 0.5 * np.log(2 * np.pi * sigma ** 2) + mean_sq_dev / (2 * sigma ** 2)


# --------------------------------------------------------------------- too simple, too flexible

class MixtureFits(NamedTuple):
    """Average log-likelihood per point (nats) of mixtures with ``ks`` components, and the fitted
    scikit-learn models (``models[i].score_samples(x[:, None])`` is log p(x))."""
    ks: np.ndarray
    train_ll: np.ndarray
    test_ll: np.ndarray
    models: list


def fit_gaussian_mixtures(x_train: torch.Tensor, x_test: torch.Tensor, ks=range(1, 11), *,
                          seed: int = 0, n_init: int = 3) -> MixtureFits:
    """Fit a 1-D Gaussian mixture with K components by EM (scikit-learn's ``GaussianMixture``)
    for every K in ``ks``; return the average train and held-out log-likelihood per point."""
    from sklearn.mixture import GaussianMixture

    validate_tensor("x_train", x_train, ndim=1)
    validate_tensor("x_test", x_test, ndim=1)
    ks = np.asarray(list(ks), dtype=int)
    if ks.size == 0 or (ks < 1).any():
        raise ValueError(f"ks must hold component counts >= 1, got {ks.tolist()}")
    train = x_train.double().numpy()[:, None]
    test = x_test.double().numpy()[:, None]
    n_init = validate_positive_int("n_init", n_init)
    train_ll, test_ll, models = [], [], []
    for k in ks:
        gmm = GaussianMixture(n_components=int(k), n_init=n_init, random_state=seed,
                              reg_covar=1e-6).fit(train)
        train_ll.append(gmm.score(train))
        test_ll.append(gmm.score(test))
        models.append(gmm)
    return MixtureFits(ks, np.array(train_ll), np.array(test_ll), models)


# ---------------------------------------------------------------- conditional distributions

def heteroscedastic_data(n: int, generator: torch.Generator | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs with x ~ Uniform(-3, 3), y | x ~ N(sin(x) + 0.3 x, noise_std(x)^2): the
    noise grows with |x|.  Returns (x [n, 1], y [n, 1])."""
    n = validate_positive_int("n", n)
    x = 6 * torch.rand(n, 1, generator=generator) - 3
    y = true_mean(x) + true_noise_std(x) * torch.randn(n, 1, generator=generator)
    return x, y


def true_mean(x: torch.Tensor) -> torch.Tensor:
    """E[y | x] of ``heteroscedastic_data``."""
    return torch.sin(x) + 0.3 * x


def true_noise_std(x: torch.Tensor) -> torch.Tensor:
    """The standard deviation of y | x in ``heteroscedastic_data``: 0.05 + 0.2 |x|."""
    return 0.05 + 0.2 * x.abs()


class MeanVarianceNet(nn.Module):
    """p_theta(y|x) = N(mean(x), var(x)): one MLP with two outputs, the mean and the
    log-variance (``heteroscedastic=True``), or an MLP mean with one learned variance for all
    x (``heteroscedastic=False``, what least squares assumes)."""

    def __init__(self, hidden_dim: int = 32, heteroscedastic: bool = True):
        super().__init__()
        validate_positive_int("hidden_dim", hidden_dim)
        self.heteroscedastic = bool(heteroscedastic)
        self.net = nn.Sequential(nn.Linear(1, hidden_dim), nn.SiLU(),
                                 nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
                                 nn.Linear(hidden_dim, 2 if heteroscedastic else 1))
        self.shared_logvar = nn.Parameter(torch.zeros(1)) if not heteroscedastic else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of y | x, each [N, 1]."""
        out = self.net(x)
        if self.heteroscedastic:
            return out[:, :1], out[:, 1:]
        return out, self.shared_logvar.expand_as(out)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, standard deviation) of y | x, each [N, 1], without gradients."""
        validate_tensor("x", x, ndim=2)
        mean, logvar = self(x)
        return mean, torch.exp(0.5 * logvar)


def gaussian_nll(y: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """-log N(y; mean, exp(logvar)) per element, in nats."""
    return 0.5 * (LOG_2PI + logvar + (y - mean) ** 2 * torch.exp(-logvar))


def fit_conditional_gaussian(model: MeanVarianceNet, x: torch.Tensor, y: torch.Tensor, *,
                             n_steps: int = 1500, lr: float = 1e-2, seed: int = 0) -> list:
    """Maximize sum_i log p_theta(y_i | x_i) with full-batch Adam (cosine-decayed learning
    rate); returns the average negative log-likelihood (nats) every 10 steps.  Notebook 03
    writes the same loop out and checks that both give the same network."""
    validate_tensor("x", x, ndim=2)
    validate_tensor("y", y, ndim=2)
    if x.shape != y.shape or x.shape[1] != 1:
        raise ValueError(f"x and y must both be [N, 1], got {tuple(x.shape)} and {tuple(y.shape)}")
    n_steps = validate_positive_int("n_steps", n_steps)
    lr = validate_positive_float("lr", lr)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps)
    curve = []
    model.train()
    for step in range(n_steps):
        mean, logvar = model(x)
        loss = gaussian_nll(y, mean, logvar).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0:
            curve.append(loss.item())
    model.eval()
    return curve


def interval_coverage(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                      level: float = 0.9) -> float:
    """Share of ``y`` inside the central ``level`` interval mean +- z std of N(mean, std^2),
    z = Phi^{-1}((1 + level) / 2) (1.645 for 90 %).  Calibrated intervals give ~``level``."""
    for name, value in (("y", y), ("mean", mean), ("std", std)):
        validate_tensor(name, value)
    if not (y.shape == mean.shape == std.shape):
        raise ValueError(f"y, mean and std must have the same shape, got {tuple(y.shape)}, "
                         f"{tuple(mean.shape)}, {tuple(std.shape)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    z = float(D.Normal(0.0, 1.0).icdf(torch.tensor((1 + level) / 2, dtype=torch.float64)))
    return float(((y - mean).abs() <= z * std).double().mean())


def coverage_by_bin(x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                    edges, level: float = 0.9) -> np.ndarray:
    """``interval_coverage`` separately in each bin of x between consecutive ``edges``."""
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or (np.diff(edges) <= 0).any():
        raise ValueError("edges must be an increasing 1-D sequence of at least 2 values")
    flat = x.reshape(-1).double().numpy()
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = torch.from_numpy((flat >= lo) & (flat < hi))
        if not mask.any():
            raise ValueError(f"no x falls in the bin [{lo}, {hi})")
        out.append(interval_coverage(y.reshape(-1)[mask], mean.reshape(-1)[mask],
                                     std.reshape(-1)[mask], level))
    return np.array(out)


# ------------------------------------------------------------------- prior knowledge: a coin

def coin_expected_log_likelihood(p_true: float, n_flips: int, prior_a: float | None = None,
                                 prior_b: float | None = None) -> float:
    """Expected held-out log-likelihood per new flip (nats) of a coin model fitted to n flips.

    The model predicts P(heads) = k / n (maximum likelihood, ``prior_a`` = ``prior_b`` = None)
    or the Beta(a, b) posterior predictive (k + a) / (n + a + b).  The average is exact: over
    k ~ Binomial(n, p_true) *and* over the new flip, E[p_true log p + (1 - p_true) log(1 - p)].
    Maximum likelihood gives -inf as soon as some data set has k = 0 or k = n (a never-seen
    outcome gets probability zero).  The best possible value is -H(p_true).
    """
    if not 0 < p_true < 1:
        raise ValueError(f"p_true must be in (0, 1), got {p_true}")
    n_flips = validate_positive_int("n_flips", n_flips)
    if (prior_a is None) != (prior_b is None):
        raise ValueError("give both prior_a and prior_b, or neither (maximum likelihood)")
    k = np.arange(n_flips + 1)
    log_pmf = (math.lgamma(n_flips + 1) - np.array([math.lgamma(i + 1) + math.lgamma(n_flips - i + 1)
                                                    for i in k])
               + k * math.log(p_true) + (n_flips - k) * math.log1p(-p_true))
    if prior_a is None:
        p_heads = k / n_flips
    else:
        a = validate_positive_float("prior_a", prior_a)
        b = validate_positive_float("prior_b", prior_b)
        p_heads = (k + a) / (n_flips + a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_k = p_true * np.log(p_heads) + (1 - p_true) * np.log1p(-p_heads)
    pmf = np.exp(log_pmf)
    keep = pmf > 0                        # 0 * (-inf) would be NaN; such data sets never occur
    return float(np.sum(pmf[keep] * per_k[keep]))


def coin_entropy(p: float) -> float:
    """H(p) = -p log p - (1 - p) log(1 - p) in nats."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    return -(p * math.log(p) + (1 - p) * math.log1p(-p))
