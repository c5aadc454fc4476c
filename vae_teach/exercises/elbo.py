"""Checkers for the exercises of notebook 07 (training a VAE by maximizing the ELBO).

Each checker returns one message (a ``Feedback``): "not answered yet" for ``None``, a message
starting with "correct" for a right answer, or what is off.  A wrong answer never raises (the
notebook runs unchanged in CI); only an answer of the wrong *kind* is explained.
"""
from __future__ import annotations

import math

import torch

from ..linear_gaussian import LinearGaussianModel
from ..utils import validate_tensor
from . import NOT_ANSWERED, Feedback, close, number_or_feedback, say


# ------------------------------------------------------------------------------ exercise 1

def check_gaussian_kl(answer, mu: torch.Tensor, logvar: torch.Tensor) -> Feedback:
    """Exercise 1: KL( N(mu, diag exp(logvar)) || N(0, I) ) in nats, one number.

    Correct: 0.5 * sum(mu^2 + exp(logvar) - logvar - 1).  Recognized slips: the missing "- 1",
    the missing factor 0.5, logvar read as log sigma, the opposite sign.
    """
    validate_tensor("mu", mu, ndim=1)
    validate_tensor("logvar", logvar, ndim=1)
    value = number_or_feedback(answer, "one number (a KL in nats)", "sum over the latent coordinates")
    if isinstance(value, Feedback):
        return value
    mu, logvar = mu.double(), logvar.double()
    terms = mu.pow(2) + logvar.exp() - logvar - 1
    expected = float(0.5 * terms.sum())
    tol = 1e-4 + 1e-4 * abs(expected)
    if close(value, expected, atol=tol):
        return say(f"correct: KL = 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1) = {expected:.4f} "
                    "nats (vae_teach.distributions.gaussian_kl gives the same)")
    slips = {
        "you dropped the '- 1' inside the sum (it makes the KL 0 when q = p)":
            float(0.5 * (mu.pow(2) + logvar.exp() - logvar).sum()),
        "you forgot the factor 1/2": float(terms.sum()),
        "you used logvar as log sigma; logvar is log sigma^2, so sigma^2 = exp(logvar)":
            float(0.5 * (mu.pow(2) + (2 * logvar).exp() - 2 * logvar - 1).sum()),
        "the sign is flipped: a KL divergence is never negative": -expected,
    }
    for hint, wrong in slips.items():
        if close(value, wrong, atol=tol):
            return say(f"not quite: {hint}")
    return say(f"not quite: got {value:.4f}. Per coordinate, KL = 0.5 (mu^2 + sigma^2 - log "
                "sigma^2 - 1) with sigma^2 = exp(logvar); add the coordinates up")


# ------------------------------------------------------------------------------ exercise 2

def check_elbo_estimate(answer, model: LinearGaussianModel, x: torch.Tensor, q_mean: torch.Tensor,
                        q_std: torch.Tensor) -> Feedback:
    """Exercise 2: a Monte Carlo estimate of the ELBO of q(z) = N(q_mean, diag q_std^2) for one
    observation x of the linear-Gaussian ``model`` (use a few thousand samples).

    Judged against the exact ELBO with a tolerance of 4 Monte Carlo standard errors for 2,000
    samples (plus 0.01 nats); the message then compares it to the exact log p(x).
    """
    if not isinstance(model, LinearGaussianModel):
        raise TypeError(f"model must be a LinearGaussianModel, got {type(model).__name__}")
    validate_tensor("q_std", q_std, ndim=1)
    value = number_or_feedback(answer, "one number (the ELBO in nats)", "average log p(x, z) - log q(z) over your samples")
    if isinstance(value, Feedback):
        return value
    x = x.reshape(1, -1).double()
    q_mean = q_mean.reshape(1, -1).double()
    q_cov = torch.diag(q_std.double().pow(2))
    exact = float(model.elbo(x, q_mean, q_cov))
    log_px = float(model.log_marginal(x))
    # the spread of one log-weight, to set the tolerance
    q = torch.distributions.Normal(q_mean, q_std.double())
    eps = torch.randn((20_000, *q_mean.shape), generator=torch.Generator().manual_seed(5),
                      dtype=torch.float64)
    z = q_mean + q_std.double() * eps            # [S, 1, K], a private stream of noise
    log_w = model.log_joint(x, z) - q.log_prob(z).sum(-1)
    tol = 0.01 + 4 * float(log_w.std()) / math.sqrt(2000)
    if close(value, exact, atol=tol):
        return say(f"correct: your estimate {value:.3f} matches the exact ELBO {exact:.3f} "
                    f"(within Monte Carlo error). log p(x) = {log_px:.3f}, so the gap is "
                    f"{log_px - exact:.3f} nats = KL(q || p(z|x)) >= 0: the ELBO is a lower bound")
    if close(value, log_px, atol=1e-3):
        return say("that is log p(x) itself; the exercise asks for the ELBO of the given q")
    expected_log_lik = float(model.log_likelihood(x, z).mean())
    if close(value, expected_log_lik, atol=tol):
        return say("that is E_q[log p(x|z)] alone: subtract KL(q || p(z)), i.e. average "
                    "log p(x, z) - log q(z), not just log p(x|z)")
    if value > log_px + tol:
        return say(f"not quite: {value:.3f} is above log p(x) = {log_px:.3f}, which no ELBO can "
                    "be. Check the sign of log q(z) (it is subtracted)")
    return say(f"not quite: got {value:.3f}. Draw z = q_mean + q_std * eps, then average "
                "model.log_joint(x, z) - log q(z) over the draws")


# ------------------------------------------------------------------------------ exercise 3

def check_reparameterize(answer) -> Feedback:
    """Exercise 3: a function ``(mu, logvar, eps) -> z`` that turns standard normal noise into
    a sample of N(mu, diag exp(logvar)) through which gradients flow to mu and logvar."""
    if answer is None:
        return say(NOT_ANSWERED)
    if not callable(answer):
        return say(f"answer must be a function (mu, logvar, eps) -> z, got "
                    f"{type(answer).__name__}")
    gen = torch.Generator().manual_seed(11)
    mu = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    logvar = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    eps = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    try:
        z = answer(mu, logvar, eps)
    except Exception as error:  # the student's code: report, do not crash the notebook
        return say(f"your function raised {type(error).__name__}: {error}")
    if not isinstance(z, torch.Tensor) or z.shape != mu.shape:
        return say(f"your function must return a tensor shaped like mu {tuple(mu.shape)}, got "
                    f"{getattr(z, 'shape', type(z).__name__)}")
    expected = mu + torch.exp(0.5 * logvar) * eps
    if not torch.allclose(z.detach().double(), expected.detach(), atol=1e-6):
        wrong = {"you multiplied eps by the variance exp(logvar); use the standard deviation "
                 "exp(0.5 * logvar)": mu + torch.exp(logvar) * eps,
                 "you multiplied eps by logvar itself; the standard deviation is "
                 "exp(0.5 * logvar)": mu + logvar * eps,
                 "you forgot to add mu": torch.exp(0.5 * logvar) * eps}
        for hint, candidate in wrong.items():
            if torch.allclose(z.detach().double(), candidate.detach(), atol=1e-6):
                return say(f"not quite: {hint}")
        return say("not quite: z should be mu + sigma * eps with sigma = exp(0.5 * logvar)")
    if not z.requires_grad:
        return say("the values are right, but no gradient flows back to mu and logvar (did you "
                    "detach, or build a new tensor?); the trick exists to keep that path")
    z.sum().backward()
    grads_ok = torch.allclose(mu.grad, torch.ones_like(mu)) and \
        torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    if not grads_ok:
        return say("the values are right but the gradients are not: dz/dmu should be 1 and "
                    "dz/dlogvar should be 0.5 * sigma * eps")
    return say("correct: z = mu + exp(0.5 logvar) * eps, with dz/dmu = 1 and dz/dlogvar = "
                "0.5 sigma eps; the randomness sits in eps, outside the parameters")
