"""A 2-D playground for comparing a GAN and a VAE (notebook 02).

* ``ring_centres`` / ``ring_of_gaussians`` / ``ring_log_prob``: the data, a ring of K isotropic
  Gaussians (the benchmark of Metz et al. 2017 and Srivastava et al. 2017, "VEEGAN", §5.1).
* ``ToyVAE``: a VAE with a 2-D latent and a *Gaussian* decoder p(x|z) = N(mu(z), diag sigma^2(z)),
  with the decoder variance learned (per z) or fixed.  ``elbo_terms`` / ``iwae_bound`` in nats.
* ``ToyGAN``: an MLP generator and discriminator trained with the non-saturating loss of
  Goodfellow et al. (2014, §3).
* ``fit_toy_vae`` / ``fit_toy_gan`` train in a few seconds of CPU; ``cached_toy_fit`` trains once
  per configuration and loads afterwards (same cache as ``vae_teach.train.cached_fit``).
* ``mode_coverage``: how many modes the samples cover and how many samples are far from every
  mode ("low-quality"), after VEEGAN §5.1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .distributions import LOG_2PI, gaussian_log_prob, log_mean_exp, standard_normal_log_prob
from .models import mlp
from .utils import check_choice, check_positive_float, check_positive_int, check_tensor

# The chapter's data set: 8 modes on a circle of radius 2, each with standard deviation 0.05.
N_MODES, RADIUS, MODE_STD = 8, 2.0, 0.05
# A decoder standard deviation below this is not allowed (keeps log p(x|z) bounded).
MIN_DECODER_STD = 1e-3


# ------------------------------------------------------------------------------------ the data

def ring_centres(n_modes: int = N_MODES, radius: float = RADIUS) -> torch.Tensor:
    """The K mode centres (radius cos(2 pi k/K), radius sin(2 pi k/K)), shape [K, 2]."""
    n_modes = check_positive_int("n_modes", n_modes)
    radius = check_positive_float("radius", radius)
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def ring_of_gaussians(n: int, *, n_modes: int = N_MODES, radius: float = RADIUS,
                      std: float = MODE_STD, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from an equal-weight mixture of ``n_modes`` isotropic Gaussians of standard
    deviation ``std`` centred on a circle of radius ``radius``.  Returns (x [n, 2], mode [n])."""
    n = check_positive_int("n", n)
    std = check_positive_float("std", std)
    centres = ring_centres(n_modes, radius)
    modes = torch.randint(0, len(centres), (n,), generator=generator)
    x = centres[modes] + std * torch.randn(n, 2, generator=generator)
    return x, modes


def ring_log_prob(x: torch.Tensor, *, n_modes: int = N_MODES, radius: float = RADIUS,
                  std: float = MODE_STD) -> torch.Tensor:
    """The true log-density log p_true(x) of the ring (nats), shape [N]: the yardstick that no
    model's average held-out log-likelihood can beat in expectation (Gibbs' inequality)."""
    check_tensor("x", x, ndim=2)
    if x.shape[1] != 2:
        raise ValueError(f"x must be [N, 2] points, got shape {tuple(x.shape)}")
    std = check_positive_float("std", std)
    centres = ring_centres(n_modes, radius).to(x.dtype)
    logvar = torch.full((2,), 2 * math.log(std), dtype=x.dtype)
    per_mode = gaussian_log_prob(x[:, None, :], centres[None], logvar)          # [N, K]
    return torch.logsumexp(per_mode, dim=1) - math.log(len(centres))


# ------------------------------------------------------------------------------ mode coverage

class Coverage(NamedTuple):
    """What ``mode_coverage`` measures.  Shares are fractions of all samples in [0, 1]."""
    n_modes_covered: int          # modes with at least ``min_share`` of the samples near them
    n_modes_hit: int              # modes with at least one sample near them (VEEGAN's count)
    share_per_mode: np.ndarray    # [K] share of samples within n_sigma*std of each centre
    share_high_quality: float     # share within n_sigma*std of the nearest centre
    share_low_quality: float      # share far from every centre (1 - share_high_quality)


def within_radius_probability(n_sigma: float = 3.0) -> float:
    """P(|x - c| <= n_sigma * std) for x ~ N(c, std^2 I) in 2-D: 1 - exp(-n_sigma^2 / 2)
    (the distance over std has a Rayleigh distribution).  For n_sigma = 3 it is 0.9889."""
    n_sigma = check_positive_float("n_sigma", n_sigma)
    return 1.0 - math.exp(-n_sigma ** 2 / 2)


def mode_coverage(samples: torch.Tensor, *, n_modes: int = N_MODES, radius: float = RADIUS,
                  std: float = MODE_STD, n_sigma: float = 3.0, min_share: float = 0.02
                  ) -> Coverage:
    """Mode coverage and sample quality of 2-D ``samples`` against the ring.

    A sample is *high quality* if it lies within ``n_sigma * std`` of its nearest centre and
    *low quality* otherwise (Srivastava et al. 2017, §5.1, use n_sigma = 3).  A mode is *covered*
    if at least ``min_share`` of all samples are high-quality samples of that mode (a fair share
    is 1/K = 0.125 for K = 8); ``n_modes_hit`` is the lenient count of VEEGAN (at least one).
    """
    check_tensor("samples", samples, ndim=2)
    if samples.shape[1] != 2:
        raise ValueError(f"samples must be [N, 2] points, got shape {tuple(samples.shape)}")
    n_sigma = check_positive_float("n_sigma", n_sigma)
    min_share = check_positive_float("min_share", min_share)
    if min_share > 1:
        raise ValueError(f"min_share must be a fraction in (0, 1], got {min_share}")
    centres = ring_centres(n_modes, radius).to(samples.dtype)
    distances = torch.cdist(samples, centres)                      # [N, K]
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= n_sigma * check_positive_float("std", std)
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    share_per_mode = (counts / len(samples)).numpy()
    share_good = float(good.double().mean())
    return Coverage(int((share_per_mode >= min_share).sum()), int((counts > 0).sum()),
                    share_per_mode, share_good, 1.0 - share_good)


# ------------------------------------------------------------------------------------ the VAE

class ToyVAE(nn.Module):
    """A VAE for 2-D points with a 2-D latent (notebook 02).

    p(z) = N(0, I);  p_theta(x|z) = N(mu_theta(z), diag sigma_theta^2(z));
    q_phi(z|x) = N(m_phi(x), diag s_phi^2(x)).

    ``decoder_std=None`` learns sigma_theta(z) (a second decoder head, floored at
    ``MIN_DECODER_STD``); a number fixes it, so that only the mean is learned.
    """

    def __init__(self, hidden_dim: int = 64, n_hidden_layers: int = 2, latent_dim: int = 2,
                 decoder_std: float | None = None, activation: str = "tanh"):
        super().__init__()
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("n_hidden_layers", n_hidden_layers)
        check_positive_int("latent_dim", latent_dim)
        if decoder_std is not None:
            decoder_std = check_positive_float("decoder_std", decoder_std)
        self.hidden_dim, self.n_hidden_layers, self.latent_dim = hidden_dim, n_hidden_layers, latent_dim
        self.decoder_std, self.activation = decoder_std, activation
        hidden = [hidden_dim] * n_hidden_layers
        self.encoder = mlp([2, *hidden, 2 * latent_dim], activation)
        self.decoder = mlp([latent_dim, *hidden, 2 if decoder_std else 4], activation)

    @property
    def config(self) -> dict:
        return dict(hidden_dim=self.hidden_dim, n_hidden_layers=self.n_hidden_layers,
                    latent_dim=self.latent_dim, decoder_std=self.decoder_std,
                    activation=self.activation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q_phi(z|x), each [N, latent_dim]."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p_theta(x|z), each [..., 2]."""
        out = self.decoder(z)
        if self.decoder_std is not None:
            return out, torch.full_like(out, 2 * math.log(self.decoder_std))
        mean, raw = out.chunk(2, dim=-1)
        std = MIN_DECODER_STD + F.softplus(raw)
        return mean, 2 * torch.log(std)

    @torch.no_grad()
    def sample(self, n: int, *, decoder_noise: bool = True,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points from p_theta(x): z ~ N(0, I), then x ~ N(mu(z), sigma^2(z)).  With
        ``decoder_noise=False`` return the decoder means mu(z) only."""
        n = check_positive_int("n", n)
        z = torch.randn(n, self.latent_dim, generator=generator)
        mean, logvar = self.decode(z)
        if not decoder_noise:
            return mean
        return mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)


def _check_points(x: torch.Tensor) -> None:
    check_tensor("x", x, ndim=2)
    if x.shape[1] != 2:
        raise ValueError(f"x must be [N, 2] points, got shape {tuple(x.shape)}")


def toy_elbo_terms(model: ToyVAE, x: torch.Tensor, n_samples: int = 1,
                   generator: torch.Generator | None = None):
    """Per-example (elbo, distortion D, rate R), each [N], in nats, for the Gaussian decoder:
    D = -E_q log N(x; mu(z), sigma^2(z)) (Monte Carlo), R = KL(q(z|x) || N(0, I)) (closed form)."""
    _check_points(x)
    n_samples = check_positive_int("n_samples", n_samples)
    return _toy_elbo_terms(model, x, n_samples, generator)


def _toy_elbo_terms(model, x, n_samples=1, generator=None):
    mu, logvar = model.encode(x)
    eps = torch.randn((n_samples, *mu.shape), generator=generator)
    z = mu + torch.exp(0.5 * logvar) * eps                               # [S, N, latent]
    dec_mean, dec_logvar = model.decode(z)
    distortion = -gaussian_log_prob(x, dec_mean, dec_logvar).mean(dim=0)
    rate = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=-1)
    return -(distortion + rate), distortion, rate


@torch.no_grad()
def toy_iwae_bound(model: ToyVAE, x: torch.Tensor, k: int = 1000, *,
                   generator: torch.Generator | None = None, chunk: int = 500) -> torch.Tensor:
    """IWAE_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x) (Burda et al. 2016), per
    example, [N], in nats.  ELBO = IWAE_1 <= IWAE_k <= log p_theta(x)."""
    _check_points(x)
    k = check_positive_int("k", k)
    chunk = check_positive_int("chunk", chunk)
    out = []
    for start in range(0, len(x), chunk):
        xb = x[start:start + chunk]
        mu, logvar = model.encode(xb)
        z = mu + torch.exp(0.5 * logvar) * torch.randn((k, *mu.shape), generator=generator)
        dec_mean, dec_logvar = model.decode(z)
        log_w = gaussian_log_prob(xb, dec_mean, dec_logvar) + standard_normal_log_prob(z) \
            - gaussian_log_prob(z, mu, logvar)                                  # [k, n]
        out.append(log_mean_exp(log_w, dim=0))
    return torch.cat(out)


# ------------------------------------------------------------------------------------ the GAN

class ToyGAN(nn.Module):
    """An MLP generator G: R^noise_dim -> R^2 and discriminator D: R^2 -> logit (notebook 02).

    The model is *implicit*: x = G(z) with z ~ N(0, I) can be sampled, but no formula gives
    p_G(x), so there is no likelihood to report (see the notebook).
    """

    def __init__(self, noise_dim: int = 2, hidden_dim: int = 64, n_hidden_layers: int = 2,
                 activation: str = "relu"):
        super().__init__()
        check_positive_int("noise_dim", noise_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("n_hidden_layers", n_hidden_layers)
        self.noise_dim, self.hidden_dim, self.n_hidden_layers = noise_dim, hidden_dim, n_hidden_layers
        self.activation = activation
        hidden = [hidden_dim] * n_hidden_layers
        self.generator = mlp([noise_dim, *hidden, 2], activation)
        self.discriminator = mlp([2, *hidden, 1], activation)

    @property
    def config(self) -> dict:
        return dict(noise_dim=self.noise_dim, hidden_dim=self.hidden_dim,
                    n_hidden_layers=self.n_hidden_layers, activation=self.activation)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points G(z), z ~ N(0, I)."""
        n = check_positive_int("n", n)
        return self.generator(torch.randn(n, self.noise_dim, generator=generator))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], averaged; with D = sigmoid(logit), log D = -softplus(-l)
    and log(1 - D) = -softplus(l), which stay finite for any logit."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)) = softplus(-logit), averaged
    (Goodfellow et al. 2014, §3: strong gradients early on, when D rejects fakes easily)."""
    return F.softplus(-fake_logits).mean()


# ------------------------------------------------------------------------------------ training

@dataclass
class ToyHistory:
    """Per-step losses (averaged over ``log_every`` steps) and total training seconds."""
    step: list = field(default_factory=list)
    losses: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ToyHistory":
        return cls(**data)


def _batches(x_train: torch.Tensor, batch_size: int, n_steps: int, generator: torch.Generator):
    n = len(x_train)
    order, position = torch.randperm(n, generator=generator), 0
    for _ in range(n_steps):
        if position + batch_size > n:
            order, position = torch.randperm(n, generator=generator), 0
        yield x_train[order[position:position + batch_size]]
        position += batch_size


def _log(history: ToyHistory, step: int, sums: dict, count: int) -> None:
    history.step.append(step)
    for name, value in sums.items():
        history.losses.setdefault(name, []).append(value / count)
        sums[name] = 0.0


def fit_toy_vae(model: ToyVAE, x_train: torch.Tensor, *, n_steps: int = 3000,
                batch_size: int = 256, lr: float = 3e-3, seed: int = 0, log_every: int = 50,
                progress: bool = True) -> ToyHistory:
    """Maximize the ELBO with Adam on mini-batches of ``x_train``; the learning rate decays
    along a cosine over ``n_steps``.  Returns the history of -ELBO, D and R (nats)."""
    import time

    from tqdm.auto import tqdm

    _check_points(x_train)
    n_steps = check_positive_int("n_steps", n_steps)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps)
    history, sums, start = ToyHistory(), {"-ELBO": 0.0, "D": 0.0, "R": 0.0}, time.process_time()
    model.train()
    for step, batch in enumerate(tqdm(_batches(x_train, batch_size, n_steps, generator),
                                      total=n_steps, disable=not progress, desc="VAE",
                                      unit="step", mininterval=0.5), start=1):
        elbo, distortion, rate = _toy_elbo_terms(model, batch, 1, generator)
        loss = -elbo.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        sums["-ELBO"] += float(loss)
        sums["D"] += float(distortion.mean())
        sums["R"] += float(rate.mean())
        if step % log_every == 0:
            _log(history, step, sums, log_every)
    history.seconds = time.process_time() - start
    model.eval()
    return history


def fit_toy_gan(model: ToyGAN, x_train: torch.Tensor, *, n_steps: int = 3000,
                batch_size: int = 256, lr: float = 1e-3, d_steps: int = 1, seed: int = 0,
                log_every: int = 50, progress: bool = True) -> ToyHistory:
    """Alternate ``d_steps`` discriminator steps and one generator step (non-saturating loss),
    Adam with betas (0.5, 0.999) as in Radford et al. (2016).  Returns the history of both
    losses (nats; log 4 = 1.386 is the discriminator loss when D = 1/2 everywhere)."""
    import time

    from tqdm.auto import tqdm

    _check_points(x_train)
    n_steps = check_positive_int("n_steps", n_steps)
    batch_size = check_positive_int("batch_size", batch_size)
    d_steps = check_positive_int("d_steps", d_steps)
    lr = check_positive_float("lr", lr)
    generator = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    history, sums, start = ToyHistory(), {"discriminator": 0.0, "generator": 0.0}, time.process_time()
    batches = _batches(x_train, batch_size, n_steps * d_steps, generator)
    model.train()
    for step in tqdm(range(1, n_steps + 1), disable=not progress, desc="GAN", unit="step",
                     mininterval=0.5):
        for _ in range(d_steps):
            real = next(batches)
            with torch.no_grad():
                fake = model.generator(torch.randn(batch_size, model.noise_dim, generator=generator))
            d_loss = discriminator_loss(model.discriminator(real), model.discriminator(fake))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        fake = model.generator(torch.randn(batch_size, model.noise_dim, generator=generator))
        g_loss = generator_loss_non_saturating(model.discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        sums["discriminator"] += float(d_loss)
        sums["generator"] += float(g_loss)
        if step % log_every == 0:
            _log(history, step, sums, log_every)
    history.seconds = time.process_time() - start
    model.eval()
    return history
