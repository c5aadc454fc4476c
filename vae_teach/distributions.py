"""Log-probabilities and KL divergences, written out so the formulas can be read.

Each function is checked against ``torch.distributions`` in ``tests/test_distributions.py``.
Taught in: 04 (categorical), 06 (Bernoulli log-likelihood), 07 (Gaussian KL, log-mean-exp).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .utils import as_tensor, validate_positive_float, validate_positive_int, validate_same_shape, validate_tensor

LOG_2PI = math.log(2 * math.pi)


def _checked(name: str, value, ndim=None) -> torch.Tensor:
    """A finite, non-empty floating tensor (float64 kept; arrays, lists, half precision converted)."""
    return as_tensor(name, value, ndim=ndim, keep_float64=True)


def _indices(outcomes) -> torch.Tensor:
    """Category indices as an integer tensor (lists, NumPy integer arrays accepted)."""
    if not isinstance(outcomes, torch.Tensor):
        try:
            outcomes = torch.as_tensor(outcomes)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError("outcomes must be an integer tensor of category indices, got "
                            f"{type(outcomes).__name__}") from None
    if torch.is_floating_point(outcomes) or outcomes.is_complex() or outcomes.dtype == torch.bool:
        raise TypeError("outcomes must be an integer tensor of category indices, got dtype "
                        f"{outcomes.dtype} (convert with outcomes.long() if they are whole numbers)")
    return outcomes


def _finite(what: str, result: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``result``, or a ValueError if it overflowed (a log-variance too large for its dtype)."""
    if not torch.isfinite(result).all():
        raise ValueError(f"{what} overflowed: logvar reaches {float(logvar.max()):.3g} and "
                         f"exp(logvar) is not representable in {logvar.dtype}; use smaller "
                         "log-variances (or float64)")
    return result


RAW_PIXELS = " (raw 0-255 pixels? divide by 255)"      # the hint when images are not in [0, 1]


def check_unit_interval(name: str, value: torch.Tensor, holds: str = "lie in [0, 1]",
                        hint: str = "") -> None:
    """The course's one check of probabilities, pixels and Bernoulli targets: a ValueError
    "<name> must <holds>; got values in [min, max]<hint>" when an entry lies outside [0, 1]."""
    if value.min() < 0 or value.max() > 1:
        raise ValueError(f"{name} must {holds}; got values in "
                         f"[{float(value.min()):.3g}, {float(value.max()):.3g}]{hint}")


def _per_example_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first (a [N] result for a batch of N examples)."""
    return values.reshape(values.shape[0], -1).sum(dim=1) if values.dim() > 1 else values


# --------------------------------------------------------------------------------- Bernoulli (06)

def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) of a factorized Bernoulli, summed over dimensions: shape [N].

    With p = sigmoid(l), ``x log p + (1 - x) log(1 - p) = x l - softplus(l)``, which never
    takes the log of 0: it is exact and finite for every finite logit (try |l| = 100).
    ``x`` may hold grey levels in [0, 1] too (then it is the negative binary cross-entropy).
    """
    logits, x = _checked("logits", logits), _checked("x", x)
    validate_same_shape("logits", logits, "x", x)
    check_unit_interval("x", x, "hold Bernoulli targets in [0, 1]")
    return _per_example_sum(bernoulli_log_prob_unchecked(logits, x))


def bernoulli_log_prob_unchecked(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(l)) = x l - softplus(l) per entry, without input checks (hot
    loops, and the checked functions here)."""
    return x * logits - F.softplus(logits)


def pixel_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-pixel ``log Bernoulli(x_j; sigmoid(l_j)) = x_j l_j - softplus(l_j)`` (same shape as
    ``x``, nats) and their sum over all entries, the log-likelihood of the image (a float).

    Exact and finite for every finite logit.  ``x`` holds targets in [0, 1] (binary pixels; grey
    levels give the negative binary cross-entropy, which is not a normalized log-likelihood).
    Notebook 06 and its explorer widget use it.
    """
    validate_tensor("x", x)
    validate_tensor("logits", logits)
    validate_same_shape("x", x, "logits", logits)
    check_unit_interval("x", x, "hold pixel values in [0, 1]")
    per_pixel = bernoulli_log_prob_unchecked(logits, x)
    return per_pixel, float(per_pixel.double().sum())


def naive_bernoulli_log_likelihood(probs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The textbook formula ``sum x log p + (1 - x) log(1 - p)`` evaluated literally.

    Kept only to *show* its failure (notebook 06): it returns -inf or NaN once p rounds to 1
    (logit > ~16.6) or to 0 (logit < ~-88.7) in float32.  Never train with it.  ``probs`` and ``x``
    must lie in [0, 1] (the failure shown is rounding, not a bad argument).
    """
    probs = _checked("probs", probs)
    x = _checked("x", x)
    validate_same_shape("probs", probs, "x", x)
    check_unit_interval("probs", probs)
    check_unit_interval("x", x)
    return _per_example_sum(x * torch.log(probs) + (1 - x) * torch.log(1 - probs))


# ---------------------------------------------------------------------------------- Gaussian (07)

def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag exp(logvar)) || N(0, I) ) per example, shape [N], in nats.

    Closed form: 0.5 * sum( mu^2 + sigma^2 - log sigma^2 - 1 ).
    """
    mu, logvar = _checked("mu", mu), _checked("logvar", logvar)
    validate_same_shape("mu", mu, "logvar", logvar)
    return _finite("gaussian_kl", gaussian_kl_unchecked(mu, logvar), logvar)


def gaussian_kl_unchecked(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``gaussian_kl`` without input checks, for hot loops whose inputs are known to be good."""
    return _per_example_sum(0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0))


def gaussian_kl_full(mean_q: torch.Tensor, cov_q: torch.Tensor, mean_p: torch.Tensor,
                     cov_p: torch.Tensor) -> torch.Tensor:
    """KL( N(mean_q, cov_q) || N(mean_p, cov_p) ) in nats, full covariances (08, and the
    linear-Gaussian model of 07).

    Means are [..., K], covariances [..., K, K] (leading dimensions broadcast), symmetric and
    positive definite.  Closed form, computed through Cholesky factors (no inverse, no logdet of
    a possibly ill-conditioned matrix):
    0.5 * ( tr(P^-1 Q) + (m_p - m_q)^T P^-1 (m_p - m_q) - K + log det P - log det Q ).
    """
    mean_q, mean_p = _checked("mean_q", mean_q), _checked("mean_p", mean_p)
    cov_q, cov_p = _checked("cov_q", cov_q), _checked("cov_p", cov_p)
    k = mean_q.shape[-1]
    if mean_p.shape[-1] != k:
        raise ValueError(f"mean_q and mean_p must have the same length, got {k} and "
                         f"{mean_p.shape[-1]}")
    chol_q, chol_p = _cholesky("cov_q", cov_q, k), _cholesky("cov_p", cov_p, k)
    p_inv_q = torch.cholesky_solve(cov_q, chol_p)
    diff = (mean_p - mean_q).unsqueeze(-1)
    maha = (diff * torch.cholesky_solve(diff, chol_p)).sum((-2, -1))
    log_det_p = 2 * torch.log(torch.diagonal(chol_p, dim1=-2, dim2=-1)).sum(-1)
    log_det_q = 2 * torch.log(torch.diagonal(chol_q, dim1=-2, dim2=-1)).sum(-1)
    trace = torch.diagonal(p_inv_q, dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + maha - k + log_det_p - log_det_q)


def gaussian_log_prob_full_unchecked(x: torch.Tensor, mean, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, cov) for x [..., d], ``mean`` broadcastable to it, one covariance [d, d],
    through its Cholesky factor L: log det cov = 2 sum log diag L, the Mahalanobis term is
    |L^-1 (x - mean)|^2.  No input checks (the callers check: 07's linear-Gaussian model, 08)."""
    chol = torch.linalg.cholesky(cov)
    diff = (x - mean).unsqueeze(-1)
    solved = torch.linalg.solve_triangular(chol.expand(*diff.shape[:-2], *chol.shape), diff,
                                           upper=False).squeeze(-1)
    log_det = 2 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (x.shape[-1] * LOG_2PI + log_det + solved.pow(2).sum(-1))


def _cholesky(name: str, cov: torch.Tensor, k: int) -> torch.Tensor:
    """The lower Cholesky factor of a [..., k, k] covariance, or a ValueError naming it."""
    if cov.dim() < 2 or cov.shape[-2:] != (k, k):
        raise ValueError(f"{name} must be [..., {k}, {k}] to match the means, got shape "
                         f"{tuple(cov.shape)}")
    tol = 1e-8 if cov.dtype == torch.float64 else 1e-5
    if not torch.allclose(cov, cov.mT, rtol=tol, atol=tol * 1e-4):
        raise ValueError(f"{name} must be symmetric")
    chol, info = torch.linalg.cholesky_ex(cov)
    if (info != 0).any():
        raise ValueError(f"{name} must be positive definite (all eigenvalues > 0)")
    return chol


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dimension.  ``z``, ``mu`` and
    ``logvar`` must have the same last dimension; the others broadcast (e.g. z [k, N, d] against
    mu [N, d])."""
    z, mu, logvar = _checked("z", z), _checked("mu", mu), _checked("logvar", logvar)
    if not z.shape[-1:] == mu.shape[-1:] == logvar.shape[-1:]:
        raise ValueError("z, mu and logvar must have the same last dimension, got shapes "
                         f"{tuple(z.shape)}, {tuple(mu.shape)} and {tuple(logvar.shape)}")
    try:
        torch.broadcast_shapes(z.shape, mu.shape, logvar.shape)
    except RuntimeError:
        raise ValueError(f"z, mu and logvar cannot be broadcast together: shapes {tuple(z.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}") from None
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    z = _checked("z", z)
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log( mean_i exp(values_i) ) along ``dim``, computed stably (max subtracted first).

    ``values`` may hold -inf (a weight of 0), not NaN or +inf; lists and arrays are converted.
    """
    values = as_tensor("values", values, keep_float64=True, finite=False)
    if torch.isnan(values).any() or (values == math.inf).any():
        raise ValueError("values must not contain NaN or +inf (-inf, a weight of 0, is allowed)")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -values.dim() <= dim < values.dim():
        raise ValueError(f"dim must be an int in [{-values.dim()}, {values.dim() - 1}] for values "
                         f"of shape {tuple(values.shape)}, got {dim!r}")
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


# ------------------------------------------------------------------------------ Categorical (04)

def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities p_i = exp(l_i / T) / sum_j exp(l_j / T) along the last dimension.

    Subtracting max(l) first changes nothing mathematically (softmax is shift-invariant) and
    keeps exp() from overflowing.
    """
    logits = _checked("logits", logits)
    temperature = validate_positive_float("temperature", temperature)
    # shift first, then divide: the largest logit becomes exactly 0, whatever the temperature,
    # so a tiny temperature gives the one-hot limit instead of inf - inf = NaN
    scaled = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
    weights = scaled.exp()
    return weights / weights.sum(dim=-1, keepdim=True)


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log p_i = l_i - logsumexp(l) along the last dimension."""
    logits = _checked("logits", logits)
    return logits - torch.logsumexp(logits, dim=-1, keepdim=True)


def categorical_log_prob(logits: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
    """log Cat(outcome | softmax(logits)) for integer outcomes in {0, ..., k-1}.

    ``logits`` is [k] or [N, k]; ``outcomes`` is an integer tensor of shape [N] (or scalar).
    """
    logits = _checked("logits", logits, ndim=(1, 2))
    outcomes = _indices(outcomes)
    if outcomes.dim() > 1:
        raise ValueError(f"outcomes must be [N] (or a scalar), got shape {tuple(outcomes.shape)}"
                         " (an [N, 1] column? use outcomes.squeeze(1))")
    k = logits.shape[-1]
    if outcomes.numel() and (outcomes.min() < 0 or outcomes.max() >= k):
        raise ValueError(f"outcomes must lie in 0..{k - 1} for {k} categories; got values in "
                         f"[{int(outcomes.min())}, {int(outcomes.max())}]")
    log_p = log_softmax(logits)
    if log_p.dim() == 1:
        return log_p[outcomes]
    if log_p.shape[0] != outcomes.shape[0]:
        raise ValueError(f"logits has {log_p.shape[0]} rows but outcomes has "
                         f"{outcomes.shape[0]} entries")
    return log_p.gather(1, outcomes.long().unsqueeze(1)).squeeze(1)


def categorical_mle(outcomes: torch.Tensor, k: int) -> torch.Tensor:
    """Maximum-likelihood probabilities of Cat(p_1..p_k) from samples: the empirical frequencies.

    (Derived in notebook 04 with a Lagrange multiplier: p_i = n_i / n.)
    """
    outcomes = _indices(outcomes)
    if outcomes.numel() == 0:
        raise ValueError("outcomes is empty; maximum likelihood needs at least one sample")
    try:
        k = validate_positive_int("k", k)
    except TypeError as error:
        raise ValueError(f"k must be a positive int, got {k!r}") from error
    if k > 10**8:
        raise ValueError(f"k={k} categories would need {k * 8 / 2**30:.1f} GB of counts; "
                         "choose a smaller k")
    if outcomes.min() < 0 or outcomes.max() >= k:
        raise ValueError(f"outcomes must lie in 0..{k - 1}")
    counts = torch.bincount(outcomes.reshape(-1).long(), minlength=k).to(torch.float64)
    return (counts / counts.sum()).to(torch.float32)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy -sum p log p (nats) along the last dimension, with 0 log 0 = 0.
    ``probs`` must be a distribution: entries in [0, 1] summing to 1 (within 1e-3)."""
    probs = _checked("probs", probs)
    check_unit_interval("probs", probs)
    totals = probs.sum(dim=-1)
    if ((totals - 1).abs() > 1e-3).any():
        raise ValueError("probs must sum to 1 along the last dimension; got sums in "
                         f"[{float(totals.min()):.4g}, {float(totals.max()):.4g}] "
                         "(normalize with probs / probs.sum(-1, keepdim=True))")
    return -(torch.special.xlogy(probs, probs)).sum(dim=-1)
