"""Two ways to estimate the gradient of an expectation, grad_lambda E_{q_lambda(z)}[f(z)]
(notebook 07, "the reparameterization trick").

q_lambda(z) = N(mu, diag sigma^2), lambda = (mu, sigma), and f maps [S, D] samples to [S] values.

* **reparameterization** (pathwise; Kingma & Welling 2014, section 2.4; Rezende et al. 2014,
  section 3): write z = mu + sigma * eps with eps ~ N(0, I), so that
  grad E_q[f(z)] = E_eps[ grad_lambda f(mu + sigma * eps) ]; it needs f to be differentiable.
* **score function** (REINFORCE; Williams 1992): grad E_q[f(z)] = E_q[ f(z) grad_lambda log q(z) ];
  it needs only values of f, at the price of a much larger variance.
* **score function with a baseline**: f(z) - b instead of f(z), with b = f(mu) here; unbiased
  because E_q[grad log q] = 0, and usually far less noisy.

All three are unbiased; ``estimator_variance`` measures their spread and ``variance_table``
compares them across dimensions and numbers of samples.  For the quadratic
f(z) = ||z - c||^2 every mean and variance has a closed form (``Quadratic``), which the tests use.
See Mohamed, Rosca, Figurnov & Mnih (2020), sections 4-5, for a survey.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from .utils import as_tensor, validate_choice, validate_positive_int, validate_size

ESTIMATORS = ("reparameterization", "score function", "score function + baseline")


class GradientSamples(NamedTuple):
    """Single-sample gradient estimates, one row per draw: ``mu`` and ``sigma`` are [S, D]."""
    mu: torch.Tensor
    sigma: torch.Tensor


class EstimatorStats(NamedTuple):
    """Mean and variance (over repeats) of the S-sample estimate, per coordinate, [D] each."""
    mean_mu: torch.Tensor
    var_mu: torch.Tensor
    mean_sigma: torch.Tensor
    var_sigma: torch.Tensor


class Quadratic:
    """f(z) = sum_d (z_d - c_d)^2, whose Gaussian expectation, gradient and estimator variances
    are known exactly:

        E_q f = sum_d (mu_d - c_d)^2 + sigma_d^2,
        d/dmu_d = 2 (mu_d - c_d),   d/dsigma_d = 2 sigma_d.
    """

    def __init__(self, target: torch.Tensor | float = 0.0):
        self.target = torch.as_tensor(target, dtype=torch.float64)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.target.to(z.dtype)).pow(2).sum(-1)

    def expectation(self, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return ((mu - self.target).pow(2) + sigma.pow(2)).sum(-1)

    def gradient(self, mu: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact gradient (d/dmu, d/dsigma) of E_q f, each [D]."""
        return 2 * (mu - self.target), 2 * sigma

    def single_sample_variance_mu(self, mu: torch.Tensor, sigma: torch.Tensor,
                                  estimator: str) -> torch.Tensor:
        """Exact variance, per coordinate, of a ONE-sample estimate of d/dmu (divide by S for S
        samples).  Reparameterization: 4 sigma_d^2.  Score function (no baseline): from the
        Gaussian moments E e^2 = 1, E e^4 = 3, E e^6 = 15 (derivation in the notebook)."""
        validate_choice("estimator", estimator, ESTIMATORS[:2])
        a = (mu - self.target).to(torch.float64)
        s = sigma.to(torch.float64)
        if estimator == "reparameterization":
            return 4 * s.pow(2)
        mean_g = a.pow(2) + s.pow(2)                        # E g_j,   g_j = (a_j + s_j e_j)^2
        var_g = 4 * a.pow(2) * s.pow(2) + 2 * s.pow(4)      # Var g_j
        rest_mean = mean_g.sum() - mean_g                   # E G,  G = sum_{j != d} g_j
        rest_second = (var_g.sum() - var_g) + rest_mean.pow(2)
        second = (a.pow(4) + 18 * a.pow(2) * s.pow(2) + 15 * s.pow(4)   # E g_d^2 e_d^2
                  + 2 * (a.pow(2) + 3 * s.pow(2)) * rest_mean          # 2 E[g_d e_d^2] E G
                  + rest_second)                                       # E G^2 E e_d^2
        return second / s.pow(2) - 4 * a.pow(2)


def _check_mu_sigma(mu, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    mu = as_tensor("mu", mu, ndim=1, keep_float64=True)
    sigma = as_tensor("sigma", sigma, ndim=1, keep_float64=True)
    if mu.shape != sigma.shape:
        raise ValueError(f"mu and sigma must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(sigma.shape)}")
    if (sigma <= 0).any():
        raise ValueError("sigma must be > 0 in every coordinate (it is a standard deviation)")
    return mu.detach().to(torch.float64), sigma.detach().to(torch.float64)


def gradient_samples(f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor,
                     sigma: torch.Tensor, n_samples: int, estimator: str = "reparameterization",
                     *, generator: torch.Generator | None = None) -> GradientSamples:
    """``n_samples`` independent one-sample estimates of grad_(mu, sigma) E_{N(mu, sigma^2)} f(z).

    Both estimators use autograd, so the code reads like the formulas: the reparameterized one
    differentiates f(mu + sigma * eps) itself; the score-function one differentiates only
    log q(z) at a *fixed* (detached) z and multiplies by f(z).  Returns [S, D] tensors (float64).
    """
    if not callable(f):
        raise TypeError(f"f must be a function of z [S, D] -> [S], got {type(f).__name__}")
    mu, sigma = _check_mu_sigma(mu, sigma)
    n_samples = validate_size("n_samples", n_samples, per_item=8 * mu.shape[0])
    validate_choice("estimator", estimator, ESTIMATORS)
    eps = torch.randn((n_samples, mu.shape[0]), generator=generator, dtype=torch.float64)
    # one copy of (mu, sigma) per draw, so autograd returns per-draw gradients
    mu_s = mu.expand(n_samples, -1).clone().requires_grad_(True)
    sigma_s = sigma.expand(n_samples, -1).clone().requires_grad_(True)
    if estimator == "reparameterization":
        z = mu_s + sigma_s * eps                         # the trick: noise enters from outside
        f(z).sum().backward()
    else:
        z = (mu + sigma * eps).detach()                  # a plain sample: no path to lambda
        values = f(z).detach()
        if estimator == "score function + baseline":
            values = values - f(mu.unsqueeze(0)).detach()
        # log N(z; mu, sigma^2) up to a constant that has no gradient
        log_q = (-0.5 * ((z - mu_s) / sigma_s).pow(2) - torch.log(sigma_s)).sum(-1)
        (values * log_q).sum().backward()                # f(z) * grad log q(z)
    return GradientSamples(mu_s.grad.detach(), sigma_s.grad.detach())


def gradient_estimate(f, mu, sigma, n_samples: int, estimator: str = "reparameterization", *,
                      generator: torch.Generator | None = None) -> GradientSamples:
    """The S-sample estimate (average of ``n_samples`` one-sample estimates): two [D] tensors."""
    draws = gradient_samples(f, mu, sigma, n_samples, estimator, generator=generator)
    return GradientSamples(draws.mu.mean(0), draws.sigma.mean(0))


def estimator_variance(f, mu, sigma, n_samples: int, estimator: str = "reparameterization", *,
                       n_repeats: int = 500, generator: torch.Generator | None = None,
                       max_elements: int = 2 ** 18) -> EstimatorStats:
    """Mean and variance over ``n_repeats`` independent S-sample estimates (S = ``n_samples``).

    Draws are made in chunks of at most ``max_elements`` numbers (2 MB of float64 per tensor),
    so large S * D stays cheap in time and in memory.
    """
    n_samples = validate_positive_int("n_samples", n_samples)
    n_repeats = validate_positive_int("n_repeats", n_repeats, minimum=2)
    mu, sigma = _check_mu_sigma(mu, sigma)
    per_chunk = max(1, max_elements // (n_samples * mu.shape[0]))
    means_mu, means_sigma = [], []
    for start in range(0, n_repeats, per_chunk):
        reps = min(per_chunk, n_repeats - start)
        draws = gradient_samples(f, mu, sigma, reps * n_samples, estimator, generator=generator)
        means_mu.append(draws.mu.reshape(reps, n_samples, -1).mean(1))
        means_sigma.append(draws.sigma.reshape(reps, n_samples, -1).mean(1))
    est_mu, est_sigma = torch.cat(means_mu), torch.cat(means_sigma)
    return EstimatorStats(est_mu.mean(0), est_mu.var(0), est_sigma.mean(0), est_sigma.var(0))


def variance_table(dims=(1, 10, 100), sample_sizes=(1, 10, 100), *, mu_value: float = 1.0,
                   sigma_value: float = 1.0, n_repeats: int = 200,
                   estimators=ESTIMATORS, generator: torch.Generator | None = None):
    """Measured variance of each estimator of d/dmu E_q ||z||^2 (averaged over coordinates),
    for every dimension D and number of samples S, as a pandas DataFrame with one row per
    (D, S) and one column per estimator, the closed-form variances ("exact reparameterization",
    "exact score function"), and the measured ratio score function / reparameterization.

    Also reports the largest bias in units of its standard error ("max |z-score|"), which should
    stay below ~4 for unbiased estimators.
    """
    import pandas as pd

    for name in estimators:
        validate_choice("estimators", name, ESTIMATORS)
    f = Quadratic(0.0)
    rows = []
    for dim in dims:
        dim = validate_positive_int("dims", dim)
        mu = torch.full((dim,), float(mu_value), dtype=torch.float64)
        sigma = torch.full((dim,), float(sigma_value), dtype=torch.float64)
        exact_mu, _ = f.gradient(mu, sigma)
        for n in sample_sizes:
            row = {"D": dim, "S": int(n)}
            worst_z = 0.0
            for name in estimators:
                stats = estimator_variance(f, mu, sigma, int(n), name, n_repeats=n_repeats,
                                           generator=generator)
                row[name] = float(stats.var_mu.mean())
                z_scores = (stats.mean_mu - exact_mu) / (stats.var_mu / n_repeats).sqrt()
                worst_z = max(worst_z, float(z_scores.abs().max()))
            for name in ESTIMATORS[:2]:                  # closed forms exist for these two
                exact_var = f.single_sample_variance_mu(mu, sigma, name).mean() / n
                row[f"exact {name}"] = float(exact_var)
            if "score function" in row and "reparameterization" in row:
                row["ratio score / reparam"] = row["score function"] / row["reparameterization"]
            row["max |z-score| of the mean"] = worst_z
            rows.append(row)
    return pd.DataFrame(rows)


def plot_variance_table(table, *, ax=None, n_samples: int | None = None):
    """Variance of the d/dmu estimate against the dimension D (log-log), one line per estimator,
    for one number of samples S (the smallest in the table unless ``n_samples`` is given)."""
    import matplotlib.pyplot as plt

    from .plots import label_colors

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.2))
    n = int(table["S"].min()) if n_samples is None else int(n_samples)
    part = table[table["S"] == n]
    if part.empty:
        raise ValueError(f"n_samples={n} is not in the table's S column {sorted(set(table['S']))}")
    for color, (name, marker) in zip(label_colors(3), zip(ESTIMATORS, "osD")):
        if name in part:
            ax.plot(part["D"], part[name], marker=marker, color=color, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension D")
    ax.set_ylabel(f"variance of the {n}-sample\nestimate of ∂/∂μ₁ E[f]")
    ax.legend(frameon=False)
    return ax

