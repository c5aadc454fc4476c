"""The ELBO and the importance-weighted bound (notebook 07; used by 01, 09, 10 and the benchmark).

For one example x, with q = q_phi(z|x):

    ELBO(x) = E_q[ log p_theta(x|z) ] - KL(q || p(z)) = -(D + R)
    D (distortion) = -E_q[ log p_theta(x|z) ]      (Monte Carlo, ``n_samples`` draws)
    R (rate)       =  KL(q || p(z))                 (closed form, Gaussian)

    IWAE_k(x) = E[ log (1/k) sum_i p_theta(x, z_i) / q(z_i|x) ],  z_i ~ q  (Burda et al., 2016)

ELBO = IWAE_1 <= IWAE_k <= IWAE_{k+1} <= log p_theta(x).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .distributions import RAW_PIXELS, bernoulli_log_prob_unchecked, check_unit_interval, gaussian_kl_unchecked, \
    gaussian_log_prob, log_mean_exp, standard_normal_log_prob
from .utils import as_tensor, validate_positive_float, validate_positive_int, validate_size

# How many decoder outputs (examples x samples x pixels) one IWAE chunk may hold: ~64 MB of floats.
IWAE_CHUNK_ELEMENTS = 2 ** 24
# Within a chunk, the decoder runs on blocks of samples of at most this many outputs (~2 MB of
# floats each).  A many-sample ELBO decodes the same blocks, so without autograd its working
# memory is a few such tensors, whatever n_samples is.  Measured on 400 test digits, k = 1000:
# as fast as blocks four times larger, which need ~45 MB more for a 10-sample ELBO of 250 digits.
# The noise is drawn per chunk, so the result does not depend on the block size.
IWAE_BLOCK_ELEMENTS = 2 ** 19


class ELBOTerms(NamedTuple):
    """Per-example ELBO and its two parts, each [N], in nats: elbo = -(distortion + rate)."""
    elbo: torch.Tensor
    distortion: torch.Tensor
    rate: torch.Tensor


def log_px_given_z(model, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p_theta(x|z) summed over pixels, for z of shape [..., N, latent] and x [N, D].

    A model may define its own ``log_px_given_z(z, x)`` (e.g. a Gaussian likelihood); otherwise
    the factorized Bernoulli with ``model.decoder(z)`` as logits is used (``BernoulliVAE``).
    """
    if hasattr(model, "log_px_given_z"):
        return model.log_px_given_z(z, x)
    return bernoulli_log_prob_unchecked(model.decoder(z), x).sum(dim=-1)


def validate_vae(model) -> None:
    """A TypeError naming what was passed unless ``model`` is a VAE of the course's interface:
    ``encode(x) -> (mu, logvar)`` and ``decoder(z) -> logits`` (or its own ``log_px_given_z``)."""
    if isinstance(model, tuple):
        raise TypeError("model is a tuple (a (model, history) pair?): unpack it first, "
                        "model, history = cached_fit(...)")
    if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "encode", None)) \
            or not (hasattr(model, "decoder") or hasattr(model, "log_px_given_z")):
        raise TypeError("model must be a VAE with encode(x) -> (mu, logvar) and a decoder giving "
                        f"logits, such as vae_teach.models.BernoulliVAE; got {type(model).__name__}")


def _check_model_input(model, x) -> torch.Tensor:
    """Check ``model`` and return ``x`` as [N, input_dim] in the model's dtype (arrays and other
    float dtypes converted), with Bernoulli targets in [0, 1] for a Bernoulli model."""
    validate_vae(model)
    x = as_tensor("x", x, ndim=2, keep_float64=True)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if dtype is not None and x.dtype != dtype:
        x = x.to(dtype)                          # the model's precision (float32 for the course's)
    input_dim = getattr(model, "input_dim", x.shape[1])
    if x.shape[1] != input_dim:
        raise ValueError(f"x must have {input_dim} columns (the model's input_dim), got {x.shape[1]}")
    if hasattr(model, "log_px_given_z"):
        return x                                 # not a Bernoulli model: any finite x is data
    check_unit_interval("x", x, "hold Bernoulli targets in [0, 1]", RAW_PIXELS)
    return x


def elbo_terms(model, x: torch.Tensor, n_samples: int = 1, beta: float = 1.0,
               generator: torch.Generator | None = None) -> ELBOTerms:
    """The per-example ELBO with its distortion D and rate R (all [N]); gradients flow through.

    D is averaged over ``n_samples`` reparameterized draws z ~ q(z|x); R is exact.  With
    ``beta`` != 1 the first field is the beta-VAE objective -(D + beta R) instead of the ELBO.
    """
    x = _check_model_input(model, x)
    n_samples = validate_size("n_samples", n_samples, per_item=x.shape[0] * x.shape[1])
    beta = validate_positive_float("beta", beta, allow_zero=True)
    return _elbo_terms_unchecked(model, x, n_samples, beta, generator)


def _elbo_terms_unchecked(model, x: torch.Tensor, n_samples: int = 1, beta: float = 1.0,
                          generator: torch.Generator | None = None) -> ELBOTerms:
    """``elbo_terms`` without the input checks, for the training loop (x is checked once)."""
    mu, logvar = model._encode_unchecked(x) if hasattr(model, "_encode_unchecked") else model.encode(x)
    std = torch.exp(0.5 * logvar)
    if n_samples == 1:
        z = mu + std * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        distortion = -log_px_given_z(model, z, x)
    else:
        eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype)
        z = mu + std * eps                                   # [S, N, latent]
        # Decode a block of samples at a time: without autograd only one block of decoder
        # outputs [block, N, D] exists at once (the same blocks as iwae_bound).
        per_block = max(1, IWAE_BLOCK_ELEMENTS // x.numel())
        distortion = -sum(log_px_given_z(model, z[s:s + per_block], x).sum(dim=0)
                          for s in range(0, n_samples, per_block)) / n_samples
    rate = gaussian_kl_unchecked(mu, logvar)
    return ELBOTerms(-(distortion + beta * rate), distortion, rate)


def elbo(model, x: torch.Tensor, n_samples: int = 1, *, return_terms: bool = False,
         generator: torch.Generator | None = None):
    """The per-example ELBO, shape [N], in nats.  ``return_terms=True`` gives ``ELBOTerms``
    (elbo, distortion, rate) instead."""
    terms = elbo_terms(model, x, n_samples, generator=generator)
    return terms if return_terms else terms.elbo


def iwae_bound(model, x: torch.Tensor, k: int, *, generator: torch.Generator | None = None,
               chunk_elements: int = IWAE_CHUNK_ELEMENTS) -> torch.Tensor:
    """The importance-weighted bound IWAE_k per example, shape [N], in nats (no gradients).

    Batched over examples so that at most ``chunk_elements`` decoder outputs live at once (the
    decoder itself runs on cache-sized blocks of samples), and combined with log-mean-exp so
    that k = 1000 importance weights never under- or overflow.
    """
    x = _check_model_input(model, x)
    k = validate_size("k", k, limit=10**8)
    chunk_elements = validate_positive_int("chunk_elements", chunk_elements)
    input_dim = x.shape[1]
    per_chunk = max(1, chunk_elements // (k * input_dim))
    bounds = []
    with torch.no_grad():
        for start in range(0, x.shape[0], per_chunk):
            xb = x[start:start + per_chunk]
            mu, logvar = model.encode(xb)
            if k * xb.shape[0] * input_dim <= chunk_elements:
                bounds.append(log_mean_exp(_log_weights(model, xb, mu, logvar, k, generator), dim=0))
                continue
            # k too large for one chunk (one or a few images): stream over blocks of samples,
            # so that neither z nor the decoder outputs ever hold more than a chunk
            per_samples = max(1, chunk_elements // (xb.shape[0] * input_dim))
            total = None
            for first in range(0, k, per_samples):
                block = _log_weights(model, xb, mu, logvar, min(per_samples, k - first), generator)
                block = torch.logsumexp(block, dim=0)
                total = block if total is None else torch.logaddexp(total, block)
            bounds.append(total - math.log(k))
    return torch.cat(bounds)


def _log_weights(model, xb, mu, logvar, k, generator):
    """log p(x, z_i) - log q(z_i | x) for k fresh draws z_i ~ q: [k, n]."""
    input_dim = xb.shape[1]
    eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps          # [k, n, latent]
    per_block = max(1, IWAE_BLOCK_ELEMENTS // (xb.shape[0] * input_dim))
    log_px = torch.cat([log_px_given_z(model, z[i:i + per_block], xb)
                        for i in range(0, k, per_block)])            # [k, n]
    return log_px + standard_normal_log_prob(z) - gaussian_log_prob(z, mu, logvar)
