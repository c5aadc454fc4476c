"""A latent-variable model whose log p(x) and posterior are exact: the linear-Gaussian model.

    z ~ N(0, I_K),    x | z ~ N(W z + b, sigma^2 I_D)        (W is [D, K], b is [D])

Everything is Gaussian, so (Bishop 2006, section 2.3.3; this is probabilistic PCA, Tipping &
Bishop 1999):

    p(x)       = N(x; b, W W^T + sigma^2 I)
    p(z | x)   = N(z; S W^T (x - b) / sigma^2, S),   S = (I + W^T W / sigma^2)^{-1}

and, for any Gaussian q(z) = N(m, C), the ELBO and KL(q || p(z|x)) have closed forms.  That makes
the identity  log p(x) = ELBO(q) + KL(q || p(z|x))  checkable to rounding error (notebook 07;
tests/test_objectives.py).  Computations run in the dtype of ``W`` (pass float64 for checks).
"""
from __future__ import annotations

import math

import torch

from .distributions import LOG_2PI, gaussian_kl_full, gaussian_log_prob_full_unchecked
from .utils import validate_positive_float, validate_positive_int, validate_tensor


def _as_batch(name: str, value: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """Check a [size] or [N, size] float tensor and return it as [N, size] in ``dtype``."""
    validate_tensor(name, value, ndim=(1, 2))
    if value.shape[-1] != size:
        raise ValueError(f"{name} must have {size} entries in its last dimension, "
                         f"got shape {tuple(value.shape)}")
    return value.to(dtype).reshape(-1, size)


class LinearGaussianModel:
    """z ~ N(0, I_K), x | z ~ N(W z + b, noise_std^2 I_D): a model with exact log p(x).

    * ``log_marginal(x)``         exact log p(x), [N]
    * ``posterior(x)``            exact p(z|x) as ``(mean [N, K], cov [K, K])`` (the covariance
                                  does not depend on x)
    * ``log_joint(x, z)``         log p(x, z) = log p(z) + log p(x|z), broadcasting over leading
                                  sample dimensions of z ([N, K] or [S, N, K])
    * ``sample(n)``               x ~ p(x), [n, D] (``return_z=True`` gives ``(x, z)``)
    * ``elbo(x, q_mean, q_cov)``  exact ELBO of a Gaussian q(z|x) = N(q_mean, q_cov), [N]
    * ``kl_to_posterior(x, q_mean, q_cov)``  exact KL(q || p(z|x)), [N]

    ``x`` may be one example [D] or a batch [N, D].  Taught in notebook 07.
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, noise_std: float):
        validate_tensor("W", W, ndim=2)
        validate_tensor("b", b, ndim=1)
        if b.shape[0] != W.shape[0]:
            raise ValueError(f"b must have {W.shape[0]} entries (the rows of W), got {b.shape[0]}")
        self.noise_std = validate_positive_float("noise_std", noise_std)
        self.W = W.detach().clone()
        self.b = b.detach().to(W.dtype).clone()
        self.data_dim, self.latent_dim = W.shape

    @classmethod
    def random(cls, data_dim: int, latent_dim: int, noise_std: float = 0.5, *,
               generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> "LinearGaussianModel":
        """A model with W, b drawn from N(0, 1) (reproducible with ``generator``)."""
        data_dim = validate_positive_int("data_dim", data_dim)
        latent_dim = validate_positive_int("latent_dim", latent_dim)
        W = torch.randn(data_dim, latent_dim, generator=generator, dtype=dtype)
        b = torch.randn(data_dim, generator=generator, dtype=dtype)
        return cls(W, b, noise_std)

    @property
    def variance(self) -> float:
        return self.noise_std ** 2

    def __repr__(self) -> str:
        return (f"LinearGaussianModel(data_dim={self.data_dim}, latent_dim={self.latent_dim}, "
                f"noise_std={self.noise_std:g})")

    # ------------------------------------------------------------------------- exact quantities
    def marginal_cov(self) -> torch.Tensor:
        """Covariance of p(x): W W^T + sigma^2 I, [D, D]."""
        eye = torch.eye(self.data_dim, dtype=self.W.dtype)
        return self.W @ self.W.T + self.variance * eye

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + sigma^2 I), shape [N] (nats)."""
        x = _as_batch("x", x, self.data_dim, self.W.dtype)
        return gaussian_log_prob_full_unchecked(x, self.b, self.marginal_cov())

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z|x) = N(mean, cov): mean [N, K], cov [K, K] (the same for every x)."""
        x = _as_batch("x", x, self.data_dim, self.W.dtype)
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        precision = eye + self.W.T @ self.W / self.variance
        cov = torch.linalg.inv(precision)
        cov = 0.5 * (cov + cov.T)                      # exactly symmetric for Cholesky
        mean = (x - self.b) @ self.W @ cov / self.variance   # cov is symmetric
        return mean, cov

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) = log N(x; W z + b, sigma^2 I); z is [N, K] or [S, N, K]."""
        x = _as_batch("x", x, self.data_dim, self.W.dtype)
        validate_tensor("z", z, ndim=(1, 2, 3))
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} entries in its last dimension, "
                             f"got shape {tuple(z.shape)}")
        z = z.to(self.W.dtype)
        residual = x - (z @ self.W.T + self.b)
        return -0.5 * (self.data_dim * (LOG_2PI + math.log(self.variance))
                       + residual.pow(2).sum(-1) / self.variance)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log N(z; 0, I) + log p(x|z); z is [N, K] or [S, N, K] -> [N] or [S, N]."""
        log_lik = self.log_likelihood(x, z)
        z = z.to(self.W.dtype)
        log_prior = -0.5 * (self.latent_dim * LOG_2PI + z.pow(2).sum(-1))
        return log_prior + log_lik

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None,
               return_z: bool = False):
        """Ancestral samples: z ~ N(0, I), then x = W z + b + sigma * noise.  [n, D]."""
        n = validate_positive_int("n", n)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.W.dtype)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=self.W.dtype)
        x = z @ self.W.T + self.b + self.noise_std * noise
        return (x, z) if return_z else x

    # ---------------------------------------------------------------- Gaussian q: closed forms
    def _check_q(self, x, q_mean, q_cov):
        x = _as_batch("x", x, self.data_dim, self.W.dtype)
        q_mean = _as_batch("q_mean", q_mean, self.latent_dim, self.W.dtype)
        validate_tensor("q_cov", q_cov, ndim=(2, 3))
        k = self.latent_dim
        if q_cov.shape[-2:] != (k, k):
            raise ValueError(f"q_cov must be [{k}, {k}] or [N, {k}, {k}], got {tuple(q_cov.shape)}")
        if q_mean.shape[0] != x.shape[0]:
            raise ValueError(f"q_mean has {q_mean.shape[0]} rows but x has {x.shape[0]}")
        return x, q_mean, q_cov.to(self.W.dtype)

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor) -> torch.Tensor:
        """Exact ELBO of q(z|x) = N(q_mean, q_cov):  E_q[log p(x|z)] - KL(q || N(0, I)), [N].

        E_q ||x - W z - b||^2 = ||x - W m - b||^2 + tr(W^T W C), so no sampling is needed.
        """
        x, q_mean, q_cov = self._check_q(x, q_mean, q_cov)
        residual = x - (q_mean @ self.W.T + self.b)
        trace = torch.einsum("ij,...ji->...", self.W.T @ self.W, q_cov)
        expected_log_lik = -0.5 * (self.data_dim * (LOG_2PI + math.log(self.variance))
                                   + (residual.pow(2).sum(-1) + trace) / self.variance)
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        kl_prior = gaussian_kl_full(q_mean, q_cov, torch.zeros_like(q_mean), eye)
        return expected_log_lik - kl_prior

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor,
                        q_cov: torch.Tensor) -> torch.Tensor:
        """Exact KL( N(q_mean, q_cov) || p(z|x) ), [N], in nats."""
        x, q_mean, q_cov = self._check_q(x, q_mean, q_cov)
        post_mean, post_cov = self.posterior(x)
        return gaussian_kl_full(q_mean, q_cov, post_mean, post_cov)
