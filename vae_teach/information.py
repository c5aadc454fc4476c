"""How much the encoder tells about x: ELBO surgery, mutual information, active units (notebook 10).

Everything here works on the encoder's outputs for a *finite* data set x_1..x_N, each
q(z|x_n) = N(mu_n, diag exp(logvar_n)), and treats the data distribution as uniform over
those N points.  Then the **aggregate posterior** is an exact, finite mixture

    q(z) = (1/N) sum_n q(z|x_n),

and the average rate splits exactly (Hoffman & Johnson, 2016, "ELBO surgery"):

    (1/N) sum_n KL(q(z|x_n) || p(z))  =  I_q(x; z)  +  KL(q(z) || p(z))
         average rate R                   information    marginal KL

with I_q(x; z) = E_n E_{q(z|x_n)}[ log q(z|x_n) - log q(z) ].  Because x is uniform over N
points, 0 <= I_q <= H(x) = log N.  Both sides are estimated by Monte Carlo over z only: the
mixture log q(z) is computed exactly over all N components with log-sum-exp, in float64 and
in chunks so that N = 2000 with a few samples per point takes well under a second.

``moment_matched_marginal_kl`` bounds KL(q(z) || p(z)) from below by the Gaussian with q(z)'s
mean and covariance: a bound that, unlike the N-point split, does not rise with N.

Chen et al. (2018, section 3) split the marginal KL further into a total correlation and one
KL per latent dimension; ``marginal_kl_split`` estimates those two parts.
Burda et al. (2016, section 5.2) count *active units*: ``active_units``.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch

from .distributions import LOG_2PI, gaussian_kl_unchecked, standard_normal_log_prob
from .utils import validate_positive_float, validate_positive_int, validate_same_shape, validate_tensor

# How many float64 numbers one chunk of the mixture computation may hold (~32 MB).
MIXTURE_CHUNK_ELEMENTS = 2 ** 22


class Estimate(NamedTuple):
    """A Monte Carlo estimate in nats and its standard error (conservative: it counts the
    spread across data points as well as across z samples)."""
    value: float
    stderr: float


class RateDecomposition(NamedTuple):
    """The ELBO-surgery split of the average rate, all in nats (see ``rate_decomposition``).

    ``rate`` is exact (closed-form Gaussian KL averaged over the N points);
    ``mutual_information`` is I_q(x; z) by Monte Carlo; ``marginal_kl`` = rate - I_q (the
    identity); ``marginal_kl_direct`` is an *independent* Monte Carlo estimate of
    KL(q(z) || p(z)) from fresh samples, so ``rate - mutual_information - marginal_kl_direct``
    is zero up to Monte Carlo error.  ``log_n`` = log N is the ceiling on I_q.
    """
    rate: float
    mutual_information: float
    marginal_kl: float
    marginal_kl_direct: float
    log_n: float
    mutual_information_stderr: float
    marginal_kl_direct_stderr: float
    n_data: int
    n_samples: int

    @property
    def identity_gap(self) -> float:
        """rate - (I_q + KL_direct): zero up to Monte Carlo error."""
        return self.rate - self.mutual_information - self.marginal_kl_direct

    @property
    def identity_stderr(self) -> float:
        """Standard error of ``identity_gap`` (the two estimates use independent samples)."""
        return math.hypot(self.mutual_information_stderr, self.marginal_kl_direct_stderr)


class MarginalKLSplit(NamedTuple):
    """Chen et al. (2018, section 3): KL(q(z)||p(z)) = total correlation + sum_j KL(q(z_j)||p(z_j)).

    ``total_correlation`` = KL(q(z) || prod_j q(z_j)) measures dependence between latent
    dimensions; ``dimensionwise_kl`` is the sum over dimensions of the 1-D marginal KLs, and
    ``per_dimension_kl`` lists them.  Same samples for all parts, so they add up exactly.
    """
    marginal_kl: Estimate
    total_correlation: Estimate
    dimensionwise_kl: Estimate
    per_dimension_kl: torch.Tensor


class ActiveUnits(NamedTuple):
    """Burda et al. (2016, section 5.2): unit u is active if A_u = Cov_x(E_q[z_u]) > threshold."""
    activity: torch.Tensor     # [d]: the variance over the data of the posterior mean
    n_active: int
    threshold: float

    @property
    def active(self) -> torch.Tensor:
        """Boolean mask [d] of the active units."""
        return self.activity > self.threshold


# --------------------------------------------------------------------------------- input checks

def _check_encoder_outputs(mu, logvar) -> None:
    validate_tensor("mu", mu, ndim=2)
    validate_tensor("logvar", logvar, ndim=2)
    validate_same_shape("mu", mu, "logvar", logvar)


def _check_samples_and_generator(n_samples, generator) -> int:
    n_samples = validate_positive_int("n_samples", n_samples)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__}")
    return n_samples


# ------------------------------------------------------------------------------------ encoding

@torch.no_grad()
def encode_dataset(model, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's (mu, logvar) for every row of ``x`` ([N, d] each), without gradients."""
    validate_tensor("x", x, ndim=2)
    batch_size = validate_positive_int("batch_size", batch_size)
    if not hasattr(model, "encode"):
        raise TypeError(f"model must have an encode(x) method, got {type(model).__name__}")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    parts = [model.encode(x[start:start + batch_size]) for start in range(0, len(x), batch_size)]
    if was_training:
        model.train()
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def average_rate(mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """The average rate (1/N) sum_n KL(q(z|x_n) || N(0, I)) in nats, in closed form."""
    _check_encoder_outputs(mu, logvar)
    return float(gaussian_kl_unchecked(mu.double(), logvar.double()).mean())


def sample_encoder(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 1, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n_samples`` draws z ~ q(z|x_n) for every n: shape [n_samples, N, d]."""
    _check_encoder_outputs(mu, logvar)
    n_samples = _check_samples_and_generator(n_samples, generator)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


# ---------------------------------------------------------------------------- mixture densities

def _mixture_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                         chunk_elements: int, own_component: torch.Tensor | None = None):
    """log (1/N) sum_n N(z_m; mu_n, diag exp(logvar_n)) for z [M, d]: [M], float64.

    Expanding the square, with precisions w = exp(-logvar),
        log N(z; mu_n, .) = -1/2 sum_j w_nj z_j^2 + sum_j mu_nj w_nj z_j + c_n,
    so the log-densities of all (m, n) pairs are ONE matrix product [z^2, z, 1] @ [-w/2, mu w, c].T.
    float64 keeps the cancellation small even for tiny variances.  With ``own_component`` (an
    index [M] of the component each z was drawn from) it also returns that component's
    log-density, taken from the same matrix: then log q(z|x_n) - log q(z) <= log N holds exactly,
    whatever the rounding.
    """
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    n, d = mu.shape
    w = torch.exp(-logvar)                                    # [N, d] precisions
    mu_w = mu * w
    const = -0.5 * (d * LOG_2PI + logvar.sum(dim=1) + (mu * mu_w).sum(dim=1))   # [N]
    weights = torch.cat([-0.5 * w, mu_w, const[:, None]], dim=1).T            # [2d + 1, N]
    rows = max(1, chunk_elements // n)
    mixture, own = [], []
    for start in range(0, z.shape[0], rows):
        zc = z[start:start + rows]
        features = torch.cat([zc * zc, zc, torch.ones(len(zc), 1, dtype=zc.dtype)], dim=1)
        log_components = features @ weights                   # [rows, N]
        mixture.append(torch.logsumexp(log_components, dim=1) - math.log(n))
        if own_component is not None:
            index = own_component[start:start + rows, None]
            own.append(log_components.gather(1, index)[:, 0])
    if own_component is None:
        return torch.cat(mixture)
    return torch.cat(mixture), torch.cat(own)


def _mixture_log_density_per_dim(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                                 chunk_elements: int) -> torch.Tensor:
    """log q(z_j) = log (1/N) sum_n N(z_j; mu_nj, exp(logvar_nj)) for every j: [M, d], float64."""
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    n, d = mu.shape
    w = torch.exp(-logvar)
    rows = max(1, chunk_elements // (n * d))
    out = []
    for start in range(0, z.shape[0], rows):
        diff = z[start:start + rows, None, :] - mu[None]       # [rows, N, d]
        log_components = -0.5 * (LOG_2PI + logvar[None] + diff * diff * w[None])
        out.append(torch.logsumexp(log_components, dim=1) - math.log(n))
    return torch.cat(out)


def aggregate_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *,
                          per_dimension: bool = False,
                          chunk_elements: int = MIXTURE_CHUNK_ELEMENTS) -> torch.Tensor:
    """log q(z) of the aggregate posterior q(z) = (1/N) sum_n N(z; mu_n, diag exp(logvar_n)).

    ``z`` is [M, d] (or [d] for one point); ``mu`` and ``logvar`` are the encoder outputs [N, d]
    of the N data points.  Returns [M] (float64) in nats.  The mixture is exact: every one of the
    N components is summed, with log-sum-exp so that densities of 1e-300 do not round to zero.
    With ``per_dimension=True`` returns the 1-D marginal mixtures log q(z_j) instead, [M, d].
    Cost: O(M N d), in chunks of at most ``chunk_elements`` numbers.
    """
    _check_encoder_outputs(mu, logvar)
    validate_tensor("z", z, ndim=(1, 2))
    if z.shape[-1] != mu.shape[1]:
        raise ValueError(f"z must have {mu.shape[1]} entries in its last dimension (the latent "
                         f"size of mu), got {z.shape[-1]}")
    chunk_elements = validate_positive_int("chunk_elements", chunk_elements)
    single = z.dim() == 1
    z2 = z[None] if single else z
    if per_dimension:
        result = _mixture_log_density_per_dim(z2, mu, logvar, chunk_elements)
    else:
        result = _mixture_log_density(z2, mu, logvar, chunk_elements)
    return result[0] if single else result


def _estimate(values: torch.Tensor) -> Estimate:
    values = values.reshape(-1)
    stderr = float(values.std() / math.sqrt(values.numel())) if values.numel() > 1 else 0.0
    return Estimate(float(values.mean()), stderr)


# -------------------------------------------------------------------------------- estimators

def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 4, *,
                       generator: torch.Generator | None = None,
                       chunk_elements: int = MIXTURE_CHUNK_ELEMENTS) -> Estimate:
    """I_q(x; z) = E_n E_{z ~ q(z|x_n)}[ log q(z|x_n) - log q(z) ] in nats, x uniform over N.

    ``n_samples`` draws of z per data point; log q(z) is the exact N-component mixture.
    The result lies in [0, log N] up to Monte Carlo error (exactly 0 if every q(z|x_n) is the
    same distribution, since then log q(z|x_n) = log q(z) for every z).
    """
    z = sample_encoder(mu, logvar, n_samples, generator=generator)   # checks all its arguments
    n_samples, n, d = z.shape
    z = z.reshape(-1, d)                                              # [S N, d]
    chunk_elements = validate_positive_int("chunk_elements", chunk_elements)
    own = torch.arange(n).repeat(n_samples)                   # row s N + n was drawn from q(z|x_n)
    log_mix, log_own = _mixture_log_density(z, mu, logvar, chunk_elements, own_component=own)
    return _estimate(log_own - log_mix)


def marginal_kl(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 4, *,
                generator: torch.Generator | None = None,
                chunk_elements: int = MIXTURE_CHUNK_ELEMENTS) -> Estimate:
    """KL(q(z) || p(z)) = E_{z ~ q(z)}[ log q(z) - log N(z; 0, I) ] in nats, by Monte Carlo.

    Samples of the aggregate posterior are drawn stratified: ``n_samples`` draws from each
    q(z|x_n), which is an unbiased way of sampling the mixture.
    """
    z = sample_encoder(mu, logvar, n_samples, generator=generator).reshape(-1, mu.shape[1])
    log_mix = aggregate_log_density(z, mu, logvar, chunk_elements=chunk_elements)
    return _estimate(log_mix - standard_normal_log_prob(z.double()))


def rate_decomposition(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 4, *,
                       generator: torch.Generator | None = None,
                       chunk_elements: int = MIXTURE_CHUNK_ELEMENTS) -> RateDecomposition:
    """ELBO surgery (Hoffman & Johnson, 2016): average rate = I_q(x; z) + KL(q(z) || p(z)).

    The rate is exact; I_q and the marginal KL are estimated from *independent* samples, so the
    identity is a genuine check (``identity_gap`` is zero up to ``identity_stderr``).
    """
    _check_encoder_outputs(mu, logvar)
    n_samples = _check_samples_and_generator(n_samples, generator)
    rate = average_rate(mu, logvar)
    info = mutual_information(mu, logvar, n_samples, generator=generator,
                              chunk_elements=chunk_elements)
    kl_direct = marginal_kl(mu, logvar, n_samples, generator=generator,
                            chunk_elements=chunk_elements)
    return RateDecomposition(rate=rate, mutual_information=info.value,
                             marginal_kl=rate - info.value, marginal_kl_direct=kl_direct.value,
                             log_n=math.log(mu.shape[0]),
                             mutual_information_stderr=info.stderr,
                             marginal_kl_direct_stderr=kl_direct.stderr,
                             n_data=int(mu.shape[0]), n_samples=n_samples)


def marginal_kl_split(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 2, *,
                      generator: torch.Generator | None = None,
                      chunk_elements: int = MIXTURE_CHUNK_ELEMENTS) -> MarginalKLSplit:
    """Chen et al. (2018, section 3): KL(q(z)||p(z)) = TC + sum_j KL(q(z_j)||N(0, 1)).

    TC = E_{q(z)}[ log q(z) - sum_j log q(z_j) ] (total correlation, >= 0) and the 1-D marginal
    q(z_j) is itself an exact N-component mixture.  Costs O(N^2 d n_samples) memory traffic,
    about d times more than ``marginal_kl``.
    """
    z = sample_encoder(mu, logvar, n_samples, generator=generator).reshape(-1, mu.shape[1])
    chunk_elements = validate_positive_int("chunk_elements", chunk_elements)
    log_joint = aggregate_log_density(z, mu, logvar, chunk_elements=chunk_elements)
    log_dims = aggregate_log_density(z, mu, logvar, per_dimension=True,
                                     chunk_elements=chunk_elements)            # [M, d]
    log_prior_dims = -0.5 * (LOG_2PI + z.double().pow(2))                     # [M, d]
    tc = log_joint - log_dims.sum(dim=1)
    per_dim = log_dims - log_prior_dims
    return MarginalKLSplit(marginal_kl=_estimate(log_joint - log_prior_dims.sum(dim=1)),
                           total_correlation=_estimate(tc),
                           dimensionwise_kl=_estimate(per_dim.sum(dim=1)),
                           per_dimension_kl=per_dim.mean(dim=0).float())


def moment_matched_marginal_kl(mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """A lower bound on KL(q(z) || N(0, I)) that does not depend on N being large, in nats.

    The aggregate posterior q(z) has mean m = mean_n mu_n and covariance
    S = Cov_n(mu_n) + mean_n diag exp(logvar_n).  E_q[log N(z; 0, I)] depends on m and S only, and
    among all densities with that mean and covariance the Gaussian has the largest entropy
    (Cover & Thomas 2006, Theorem 8.6.5), so

        KL(q(z) || N(0, I))  >=  KL(N(m, S) || N(0, I)) = 1/2 (tr S + |m|^2 - d - log det S).

    Unlike ``rate - mutual_information`` on N points (which grows as I_q meets its ceiling
    log N), the moments settle quickly as N grows: the bound says how far the codes are from
    filling the prior *at least*.  Population covariance (divide by N); float64.
    """
    _check_encoder_outputs(mu, logvar)
    mu, logvar = mu.double(), logvar.double()
    if mu.shape[0] < 2:
        raise ValueError(f"mu must hold at least 2 data points to have a covariance, got "
                         f"{mu.shape[0]}")
    mean = mu.mean(dim=0)
    centred = mu - mean
    cov = centred.T @ centred / mu.shape[0] + torch.diag(logvar.exp().mean(dim=0))
    d = mu.shape[1]
    return float(0.5 * (torch.trace(cov) + mean @ mean - d - torch.linalg.slogdet(cov)[1]))


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> ActiveUnits:
    """Burda et al. (2016, section 5.2): A_u = Cov_x(E_{q(z|x)}[z_u]), active if A_u > threshold.

    ``mu`` holds the posterior means E_q[z] = mu(x_n) of N data points, [N, d] (N >= 2).  The
    variance over the data is the population variance (divide by N).
    """
    validate_tensor("mu", mu, ndim=2)
    if mu.shape[0] < 2:
        raise ValueError(f"mu must hold at least 2 data points to have a variance, got "
                         f"{mu.shape[0]}")
    threshold = validate_positive_float("threshold", threshold)
    activity = mu.double().var(dim=0, unbiased=False).float()
    return ActiveUnits(activity, int((activity > threshold).sum()), threshold)


def gaussian_channel_information(signal_variance: float, noise_variance: float,
                                 gain: float = 1.0) -> float:
    """Closed-form I(x; z) in nats for x ~ N(0, s^2), z | x ~ N(gain x, sigma^2):
    0.5 log(1 + gain^2 s^2 / sigma^2).  The continuous reference curve of notebook 10."""
    s2 = validate_positive_float("signal_variance", signal_variance)
    n2 = validate_positive_float("noise_variance", noise_variance)
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not math.isfinite(gain):
        raise TypeError(f"gain must be a finite number, got {gain!r}")
    return 0.5 * math.log1p(gain * gain * s2 / n2)
