"""A 2-D playground for comparing a GAN and a VAE (notebook 02).

* ``ring_centres`` / ``ring_of_gaussians`` / ``ring_log_prob``: the data, a ring of K isotropic
  Gaussians (the benchmark of Metz et al. 2017 and Srivastava et al. 2017, "VEEGAN", §5.1).
* ``mode_coverage``: how many modes the samples cover and how many samples are far from every
  mode ("low-quality"), after VEEGAN §5.1.
* ``ToyVAE``: a VAE with a 2-D latent and a *Gaussian* decoder p(x|z) = N(mu(z), diag sigma^2(z)),
  the decoder noise learned per z, shared, or fixed; ``toy_elbo_terms`` and ``toy_iwae_bound``
  give the ELBO and the importance-weighted bound in nats.
* ``ToyGAN``: an MLP generator and discriminator trained with the non-saturating loss of
  Goodfellow et al. (2014, §3).
* Both hold several independent runs (one per seed) side by side in batched layers
  (``RunsLinear``): for networks this small, three runs cost little more than one.
* ``fit_toy_vae`` / ``fit_toy_gan`` train in a few seconds of CPU; ``cached_toy_fit`` trains once
  per configuration and loads afterwards (same cache as ``vae_teach.train.cached_fit``).
* ``parzen_log_likelihood``: the Parzen-window score, the only "likelihood" a GAN's samples get.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .distributions import gaussian_kl_unchecked, gaussian_log_prob, log_mean_exp, standard_normal_log_prob
from .models import ACTIVATIONS
from .objectives import ELBOTerms
from .utils import validate_choice, validate_positive_float, validate_positive_int, validate_tensor

# The chapter's data set: 8 modes on a circle of radius 2, each with standard deviation 0.05.
N_MODES, RADIUS, MODE_STD = 8, 2.0, 0.05
# The activations the toy networks may use (SiLU is smooth like tanh and several times cheaper).
TOY_ACTIVATIONS = {**ACTIVATIONS, "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU, "sigmoid": nn.Sigmoid}
# How the decoder's noise is modelled (see ``ToyVAE``).
DECODER_NOISE = ("per_z", "shared", "fixed")
# A decoder standard deviation below this is not allowed (keeps log p(x|z) bounded).
MIN_DECODER_STD = 1e-3


# ------------------------------------------------------------------------------------ the data

def ring_centres(n_modes: int = N_MODES, radius: float = RADIUS) -> torch.Tensor:
    """The K mode centres (radius cos(2 pi k/K), radius sin(2 pi k/K)), shape [K, 2]."""
    n_modes = validate_positive_int("n_modes", n_modes)
    radius = validate_positive_float("radius", radius)
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def ring_of_gaussians(n: int, *, n_modes: int = N_MODES, radius: float = RADIUS,
                      std: float = MODE_STD, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from an equal-weight mixture of ``n_modes`` isotropic Gaussians of standard
    deviation ``std`` centred on a circle of radius ``radius``.  Returns (x [n, 2], mode [n])."""
    n = validate_positive_int("n", n)
    std = validate_positive_float("std", std)
    centres = ring_centres(n_modes, radius)
    modes = torch.randint(0, len(centres), (n,), generator=generator)
    x = centres[modes] + std * torch.randn(n, 2, generator=generator)
    return x, modes


def ring_log_prob(x: torch.Tensor, *, n_modes: int = N_MODES, radius: float = RADIUS,
                  std: float = MODE_STD) -> torch.Tensor:
    """The true log-density log p_true(x) of the ring (nats), shape [N]: the yardstick that no
    model's average held-out log-likelihood can beat in expectation (Gibbs' inequality)."""
    _check_points(x)
    std = validate_positive_float("std", std)
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
    n_sigma = validate_positive_float("n_sigma", n_sigma)
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
    _check_points(samples, "samples")
    n_sigma = validate_positive_float("n_sigma", n_sigma)
    min_share = validate_positive_float("min_share", min_share)
    if min_share > 1:
        raise ValueError(f"min_share must be a fraction in (0, 1], got {min_share}")
    centres = ring_centres(n_modes, radius).to(samples.dtype)
    distances = torch.cdist(samples, centres)                      # [N, K]
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= n_sigma * validate_positive_float("std", std)
    counts = torch.bincount(nearest[good], minlength=len(centres)).double()
    share_per_mode = (counts / len(samples)).numpy()
    share_good = float(good.double().mean())
    return Coverage(int((share_per_mode >= min_share).sum()), int((counts > 0).sum()),
                    share_per_mode, share_good, 1.0 - share_good)


# --------------------------------------------------------------------- several runs side by side

class RunsLinear(nn.Module):
    """``n_runs`` independent linear layers applied side by side: [R, ..., n_in] -> [R, ..., n_out].

    Run r is initialised from its own generator like ``nn.Linear`` (uniform in +-1/sqrt(n_in)),
    so a run's initial weights depend on its seed alone.  The runs share no parameters and their
    gradients never mix; training them in one tensor is cheaper than one after the other,
    because small matrix products cost mostly overhead.  (They do share the data batches, and
    their noise is drawn from one stream, so a run's training is not identical to a solo run.)
    """

    def __init__(self, n_in: int, n_out: int, generators: list[torch.Generator]):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.stack(
            [(2 * torch.rand(n_in, n_out, generator=g) - 1) * bound for g in generators]))
        self.bias = nn.Parameter(torch.stack(
            [(2 * torch.rand(1, n_out, generator=g) - 1) * bound for g in generators]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_runs, n_in = self.weight.shape[0], self.weight.shape[1]
        flat = x.reshape(n_runs, -1, n_in)
        return torch.baddbmm(self.bias, flat, self.weight).reshape(*x.shape[:-1], -1)


def runs_mlp(sizes: list[int], activation: str, generators: list[torch.Generator]) -> nn.Sequential:
    """Like ``vae_teach.models.mlp`` but for several independent runs side by side."""
    validate_choice("activation", activation, sorted(TOY_ACTIVATIONS))
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(RunsLinear(n_in, n_out, generators))
        if i < len(sizes) - 2:
            layers.append(TOY_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = (int(seeds),)
    if not isinstance(seeds, (tuple, list)) or not seeds:
        raise TypeError(f"seeds must be an int or a non-empty tuple of ints, got {seeds!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seeds must hold ints >= 0, got {seeds!r}")
    return tuple(int(s) for s in seeds)


def _check_points(x: torch.Tensor, name: str = "x") -> None:
    validate_tensor(name, x, ndim=2)
    if x.shape[1] != 2:
        raise ValueError(f"{name} must be [N, 2] points, got shape {tuple(x.shape)}")


# ------------------------------------------------------------------------------------ the VAE

class ToyVAE(nn.Module):
    """VAEs for 2-D points with a 2-D latent, one per seed, trained side by side (notebook 02).

    p(z) = N(0, I);  p_theta(x|z) = N(mu_theta(z), diag sigma_theta^2(z));
    q_phi(z|x) = N(m_phi(x), diag s_phi^2(x)).

    The decoder's noise sigma_theta is chosen by ``decoder_noise``:
    ``"per_z"`` learns sigma_theta(z) (a second decoder head), ``"shared"`` learns one sigma per
    coordinate for all z, ``"fixed"`` keeps ``decoder_std``.  A learned sigma lies between
    ``MIN_DECODER_STD`` and ``max_decoder_std`` (a sigmoid of the raw output): without a cap,
    about one seed in three of the notebook's VAE got stuck explaining six of the eight modes as
    noise around a line through the other two.  Every output has a leading run dimension
    R = len(seeds).
    """

    def __init__(self, seeds=(0,), hidden_dim: int = 64, n_hidden_layers: int = 2,
                 latent_dim: int = 2, decoder_noise: str = "per_z", decoder_std: float = 0.1,
                 max_decoder_std: float = 1.0, activation: str = "tanh"):
        super().__init__()
        self.seeds = _check_seeds(seeds)
        validate_positive_int("hidden_dim", hidden_dim)
        validate_positive_int("n_hidden_layers", n_hidden_layers)
        validate_positive_int("latent_dim", latent_dim)
        validate_choice("decoder_noise", decoder_noise, DECODER_NOISE)
        decoder_std = validate_positive_float("decoder_std", decoder_std)
        max_decoder_std = validate_positive_float("max_decoder_std", max_decoder_std)
        if max_decoder_std <= MIN_DECODER_STD:
            raise ValueError(f"max_decoder_std must be > {MIN_DECODER_STD}, got {max_decoder_std}")
        if decoder_noise == "shared" and not MIN_DECODER_STD < decoder_std < max_decoder_std:
            raise ValueError(f"decoder_std (the starting sigma) must lie in ({MIN_DECODER_STD}, "
                             f"max_decoder_std={max_decoder_std}), got {decoder_std}")
        self.hidden_dim, self.n_hidden_layers, self.latent_dim = hidden_dim, n_hidden_layers, latent_dim
        self.decoder_noise, self.decoder_std, self.activation = decoder_noise, decoder_std, activation
        self.max_decoder_std = max_decoder_std
        generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        hidden = [hidden_dim] * n_hidden_layers
        self.encoder = runs_mlp([2, *hidden, 2 * latent_dim], activation, generators)
        self.decoder = runs_mlp([latent_dim, *hidden, 4 if decoder_noise == "per_z" else 2],
                                activation, generators)
        # for "shared", the raw parameter starts where sigma = decoder_std
        self.shared_raw_std = None
        if decoder_noise == "shared":
            fraction = (decoder_std - MIN_DECODER_STD) / (max_decoder_std - MIN_DECODER_STD)
            self.shared_raw_std = nn.Parameter(
                torch.full((self.n_runs, 1, 2), math.log(fraction / (1 - fraction))))

    @property
    def n_runs(self) -> int:
        return len(self.seeds)

    @property
    def config(self) -> dict:
        return dict(seeds=list(self.seeds), hidden_dim=self.hidden_dim,
                    n_hidden_layers=self.n_hidden_layers, latent_dim=self.latent_dim,
                    decoder_noise=self.decoder_noise, decoder_std=self.decoder_std,
                    activation=self.activation, max_decoder_std=self.max_decoder_std)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q_phi(z|x) for x [N, 2] (every run sees the same x):
        each [R, N, latent_dim]."""
        h = self.encoder(x.expand(self.n_runs, *x.shape))
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def decoder_std_of(self, raw: torch.Tensor) -> torch.Tensor:
        """sigma = MIN + (max - MIN) * sigmoid(raw): a learned noise level, kept in range."""
        return MIN_DECODER_STD + (self.max_decoder_std - MIN_DECODER_STD) * torch.sigmoid(raw)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p_theta(x|z) for z [R, ..., latent_dim]: each [R, ..., 2]."""
        out = self.decoder(z)
        if self.decoder_noise == "fixed":
            return out, torch.full_like(out, 2 * math.log(self.decoder_std))
        if self.decoder_noise == "shared":
            std = self.decoder_std_of(self.shared_raw_std)                 # [R, 1, 2]
            std = std.reshape(self.n_runs, *([1] * (out.dim() - 2)), 2)
            return out, (2 * torch.log(std)).expand_as(out)
        mean, raw = out.chunk(2, dim=-1)
        return mean, 2 * torch.log(self.decoder_std_of(raw))

    @torch.no_grad()
    def sample(self, n: int, *, decoder_noise: bool = True,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points per run from p_theta(x), [R, n, 2]: z ~ N(0, I), then
        x ~ N(mu(z), sigma^2(z)).  ``decoder_noise=False`` returns the decoder means mu(z)."""
        n = validate_positive_int("n", n)
        z = torch.randn(self.n_runs, n, self.latent_dim, generator=generator)
        mean, logvar = self.decode(z)
        if not decoder_noise:
            return mean
        return mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)


def toy_elbo_terms(model: ToyVAE, x: torch.Tensor, n_samples: int = 1,
                   generator: torch.Generator | None = None) -> ELBOTerms:
    """ELBO = -(D + R) per run and example ([R, N], nats) for the Gaussian decoder:
    D = -E_q log N(x; mu(z), sigma^2(z)) (``n_samples`` draws), R = KL(q(z|x) || N(0, I))."""
    _check_points(x)
    n_samples = validate_positive_int("n_samples", n_samples)
    return _toy_elbo_terms_unchecked(model, x, n_samples, generator)


# Not objectives' ELBO: the runs come first ([R, S, N, L]) because the run-batched layers need
# them there; objectives puts the samples first.
def _toy_elbo_terms_unchecked(model, x, n_samples=1, generator=None) -> ELBOTerms:
    mu, logvar = model.encode(x)                                          # [R, N, L]
    eps = torch.randn((n_samples, *mu.shape), generator=generator)
    z = (mu + torch.exp(0.5 * logvar) * eps).transpose(0, 1)              # [R, S, N, L]
    dec_mean, dec_logvar = model.decode(z)
    distortion = -gaussian_log_prob(x, dec_mean, dec_logvar).mean(dim=1)  # [R, N]
    rate = gaussian_kl_unchecked(mu.flatten(0, 1), logvar.flatten(0, 1)).view(mu.shape[:2])
    return ELBOTerms(-(distortion + rate), distortion, rate)


# Not objectives.iwae_bound, for the same reason: runs first, several models in one pass.
@torch.no_grad()
def toy_iwae_bound(model: ToyVAE, x: torch.Tensor, k: int = 500, *,
                   generator: torch.Generator | None = None, chunk: int | None = None) -> torch.Tensor:
    """IWAE_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x) with z_i ~ q(z|x) (Burda et al. 2016),
    per run and example, [R, N], in nats.  ELBO = IWAE_1 <= IWAE_k <= log p_theta(x).
    ``chunk`` points are done at a time (default: about 20,000 decoder rows per chunk, which
    keeps the memory small for any k)."""
    _check_points(x)
    k = validate_positive_int("k", k)
    chunk = max(1, 20_000 // (k * model.n_runs)) if chunk is None else validate_positive_int("chunk", chunk)
    out = []
    for start in range(0, len(x), chunk):
        xb = x[start:start + chunk]
        mu, logvar = model.encode(xb)                                     # [R, n, L]
        z = mu[:, None] + torch.exp(0.5 * logvar[:, None]) \
            * torch.randn((model.n_runs, k, *mu.shape[1:]), generator=generator)  # [R, k, n, L]
        dec_mean, dec_logvar = model.decode(z)
        log_w = gaussian_log_prob(xb, dec_mean, dec_logvar) + standard_normal_log_prob(z) \
            - gaussian_log_prob(z, mu[:, None], logvar[:, None])          # [R, k, n]
        out.append(log_mean_exp(log_w, dim=1))
    return torch.cat(out, dim=1)


# ------------------------------------------------------------------------------------ the GAN

class ToyGAN(nn.Module):
    """MLP generators G: R^noise_dim -> R^2 and discriminators D: R^2 -> logit, one pair per
    seed, trained side by side (notebook 02).

    The model is *implicit*: x = G(z) with z ~ N(0, I) is easy to sample, but no formula gives
    p_G(x), so there is no likelihood to report (see the notebook).
    """

    def __init__(self, seeds=(0,), noise_dim: int = 2, hidden_dim: int = 64,
                 n_hidden_layers: int = 2, activation: str = "relu"):
        super().__init__()
        self.seeds = _check_seeds(seeds)
        validate_positive_int("noise_dim", noise_dim)
        validate_positive_int("hidden_dim", hidden_dim)
        validate_positive_int("n_hidden_layers", n_hidden_layers)
        self.noise_dim, self.hidden_dim, self.n_hidden_layers = noise_dim, hidden_dim, n_hidden_layers
        self.activation = activation
        generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        hidden = [hidden_dim] * n_hidden_layers
        self.generator = runs_mlp([noise_dim, *hidden, 2], activation, generators)
        self.discriminator = runs_mlp([2, *hidden, 1], activation, generators)

    @property
    def n_runs(self) -> int:
        return len(self.seeds)

    @property
    def config(self) -> dict:
        return dict(seeds=list(self.seeds), noise_dim=self.noise_dim, hidden_dim=self.hidden_dim,
                    n_hidden_layers=self.n_hidden_layers, activation=self.activation)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points G(z), z ~ N(0, I), per run: [R, n, 2]."""
        n = validate_positive_int("n", n)
        return self.generator(torch.randn(self.n_runs, n, self.noise_dim, generator=generator))

    @torch.no_grad()
    def discriminator_probability(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) = sigmoid(logit) per run, [R, N]: the discriminator's belief that x is real."""
        _check_points(x)
        return torch.sigmoid(self.discriminator(x.expand(self.n_runs, *x.shape))).squeeze(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))] averaged over the last two dimensions (one value per run).
    With D = sigmoid(l): log D = -softplus(-l) and log(1 - D) = -softplus(l), finite for any l."""
    return F.softplus(-real_logits).mean(dim=(-2, -1)) + F.softplus(fake_logits).mean(dim=(-2, -1))


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) = softplus(-logit), averaged over the last two dimensions (one value per
    run).  Goodfellow et al. (2014, §3) use it instead of log(1 - D(G(z))), whose gradient
    vanishes early in training, when D rejects the fakes easily."""
    return F.softplus(-fake_logits).mean(dim=(-2, -1))


# ------------------------------------------------------------------------------------ training

# Not train.History: losses per run, CPU seconds and snapshots; cached toy models store this layout.
@dataclass
class ToyHistory:
    """Losses per run, averaged over ``log_every`` steps (``losses[name]`` is a list of [R]
    lists), and the CPU seconds the training took."""
    step: list = field(default_factory=list)
    losses: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0
    snapshot_steps: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)       # [R, n, 2] samples at snapshot_steps

    def curve(self, name: str) -> np.ndarray:
        """[n_logged, R] array of one loss."""
        if name not in self.losses:
            raise ValueError(f"name must be one of {sorted(self.losses)}, got {name!r}")
        return np.asarray(self.losses[name])


class _Logger:
    def __init__(self, names, n_runs, log_every):
        self.history, self.log_every = ToyHistory(), log_every
        self.sums = {name: torch.zeros(n_runs, dtype=torch.float64) for name in names}

    def add(self, step: int, **values: torch.Tensor) -> None:
        for name, value in values.items():
            self.sums[name] += value.detach().double()
        if step % self.log_every == 0:
            self.history.step.append(step)
            for name, total in self.sums.items():
                self.history.losses.setdefault(name, []).append((total / self.log_every).tolist())
                total.zero_()


def _check_schedule(x_train, n_steps, batch_size) -> tuple[int, int]:
    """The checked ``n_steps`` and ``batch_size`` of a toy fit on ``x_train`` ([N, 2] points)."""
    _check_points(x_train, "x_train")
    n_steps = validate_positive_int("n_steps", n_steps)
    batch_size = validate_positive_int("batch_size", batch_size)
    if batch_size > len(x_train):
        raise ValueError(f"batch_size must be <= len(x_train) = {len(x_train)}, got {batch_size}")
    return n_steps, batch_size


def minibatches(x_train: torch.Tensor, batch_size: int, generator: torch.Generator):
    """Endless mini-batches: a fresh random permutation of ``x_train`` each epoch (used by
    ``fit_toy_vae``, ``fit_toy_gan`` and notebook 02's own GAN loop)."""
    n = len(x_train)
    while True:
        order = torch.randperm(n, generator=generator)
        for position in range(0, n - batch_size + 1, batch_size):
            yield x_train[order[position:position + batch_size]]


# Not train.fit: steps instead of epochs, several runs at once and a KL warm-up; changing it would
# retrain every cached toy model and move notebook 02's numbers.
def fit_toy_vae(model: ToyVAE, x_train: torch.Tensor, *, n_steps: int = 1500,
                batch_size: int = 256, lr: float = 3e-3, kl_warmup_steps: int = 0,
                data_seed: int = 0, log_every: int = 50, progress: bool = True) -> ToyHistory:
    """Maximize the ELBO of every run with Adam on mini-batches of ``x_train`` (the learning
    rate decays along a cosine).  With ``kl_warmup_steps`` > 0 the loss is D + beta R with beta
    rising linearly from 0 to 1 over those first steps (Bowman et al. 2016, §3.1; Sønderby et
    al. 2016, §2.4), which keeps the latent code in use early on; the ELBO proper (beta = 1)
    is trained afterwards.  Returns the history of -ELBO, D and R per run, in nats."""
    import time

    from tqdm.auto import tqdm

    n_steps, batch_size = _check_schedule(x_train, n_steps, batch_size)
    lr = validate_positive_float("lr", lr)
    log_every = validate_positive_int("log_every", log_every)
    kl_warmup_steps = validate_positive_int("kl_warmup_steps", kl_warmup_steps, minimum=0)
    generator = torch.Generator().manual_seed(data_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps)
    logger, start, batches = _Logger(["-ELBO", "D", "R"], model.n_runs, log_every), \
        time.process_time(), minibatches(x_train, batch_size, generator)
    model.train()
    for step in tqdm(range(1, n_steps + 1), disable=not progress, desc="VAE", unit="step",
                     mininterval=0.5):
        terms = _toy_elbo_terms_unchecked(model, next(batches), 1, generator)
        beta = min(1.0, step / kl_warmup_steps) if kl_warmup_steps else 1.0
        distortion, rate = terms.distortion.mean(dim=1), terms.rate.mean(dim=1)   # [R]
        optimizer.zero_grad(set_to_none=True)
        (distortion + beta * rate).sum().backward()            # runs do not share parameters
        optimizer.step()
        schedule.step()
        logger.add(step, **{"-ELBO": distortion + rate, "D": distortion, "R": rate})
    logger.history.cpu_seconds = time.process_time() - start
    model.eval()
    return logger.history


# long: the GAN loop notebook 02 writes out and compares with, kept in one piece
def fit_toy_gan(model: ToyGAN, x_train: torch.Tensor, *, n_steps: int = 1500,
                batch_size: int = 256, lr: float = 2e-3, d_steps: int = 1, data_seed: int = 0,
                log_every: int = 50, snapshot_every: int | None = None,
                snapshot_size: int = 1000, progress: bool = True) -> ToyHistory:
    """Alternate ``d_steps`` discriminator steps and one generator step (non-saturating loss)
    for every run, with Adam(betas=(0.5, 0.999)) (the beta_1 of Radford et al. 2016, §4) and a
    learning rate that decays to 0 along a cosine, so the runs come to rest at the end.
    Notebook 02 writes this loop out (for ``d_steps=1``) and checks that it gives the same
    networks.  Returns the history of both losses per run, in nats (2 log 2 = 1.386 is the
    discriminator loss when D = 1/2 everywhere).  With ``snapshot_every``, the history also
    keeps ``snapshot_size`` samples per run every so many steps (always from the same noise z,
    so one sees the generator move)."""
    import time

    from tqdm.auto import tqdm

    n_steps, batch_size = _check_schedule(x_train, n_steps, batch_size)
    d_steps = validate_positive_int("d_steps", d_steps)
    lr = validate_positive_float("lr", lr)
    log_every = validate_positive_int("log_every", log_every)
    generator = torch.Generator().manual_seed(data_seed)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps) for opt in (opt_d, opt_g)]
    logger, start, batches = _Logger(["discriminator", "generator"], model.n_runs, log_every), \
        time.process_time(), minibatches(x_train, batch_size, generator)
    noise_shape = (model.n_runs, batch_size, model.noise_dim)
    if snapshot_every is not None:
        snapshot_every = validate_positive_int("snapshot_every", snapshot_every)
        snapshot_noise = torch.randn(model.n_runs, validate_positive_int("snapshot_size", snapshot_size),
                                     model.noise_dim, generator=torch.Generator().manual_seed(data_seed + 1))
    model.train()
    for step in tqdm(range(1, n_steps + 1), disable=not progress, desc="GAN", unit="step",
                     mininterval=0.5):
        for _ in range(d_steps):
            real = next(batches).expand(model.n_runs, batch_size, 2)
            with torch.no_grad():
                fake = model.generator(torch.randn(noise_shape, generator=generator))
            logits = model.discriminator(torch.cat([real, fake], dim=1))   # one pass for both
            d_loss = discriminator_loss(logits[:, :batch_size], logits[:, batch_size:])
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
        model.discriminator.requires_grad_(False)      # the generator step leaves D alone
        fake = model.generator(torch.randn(noise_shape, generator=generator))
        g_loss = generator_loss_non_saturating(model.discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        opt_g.step()
        model.discriminator.requires_grad_(True)
        for schedule in schedules:
            schedule.step()
        logger.add(step, discriminator=d_loss, generator=g_loss)
        if snapshot_every is not None and step % snapshot_every == 0:
            with torch.no_grad():
                logger.history.snapshots.append(model.generator(snapshot_noise))
            logger.history.snapshot_steps.append(step)
    logger.history.cpu_seconds = time.process_time() - start
    model.eval()
    return logger.history


# ------------------------------------------------------------------------------- train-or-load

def cached_toy_fit(kind: str, x_train: torch.Tensor, *, model_kwargs: dict | None = None,
                   progress: bool = True, verbose: bool = True, **fit_kwargs):
    """Train a ``ToyVAE`` (``kind="vae"``) or ``ToyGAN`` (``kind="gan"``) with ``fit_toy_vae`` /
    ``fit_toy_gan``, or load it if this exact configuration and data were trained before.

    Uses the course's model cache (``vae_teach.cache``, ``$VAE_TEACH_CACHE``), keyed by the model
    and fit arguments and a hash of ``x_train``.  Returns ``(model, history)``, model in eval
    mode.  ``fit_kwargs`` may include ``snapshot_every`` (GAN): see ``fit_toy_gan``.
    """
    from .cache import cache_config, train_or_load, with_defaults

    validate_choice("kind", kind, ("vae", "gan"))
    _check_points(x_train, "x_train")
    model_kwargs = dict(model_kwargs or {})
    builder, trainer = (ToyVAE, fit_toy_vae) if kind == "vae" else (ToyGAN, fit_toy_gan)
    config = cache_config(dict(with_defaults(builder.__init__, model_kwargs), kind=kind),
                          with_defaults(trainer, fit_kwargs, skip=("progress",)), x_train, None)

    def train_now():
        model = builder(**model_kwargs)
        return model, trainer(model, x_train, progress=progress, **fit_kwargs)

    return train_or_load(
        f"toy2d-{kind}", config, builder, model_kwargs, ToyHistory, train_now, verbose=verbose,
        loaded=lambda h: (f"loaded a trained {kind.upper()} from the cache; it "
                          f"took {h.cpu_seconds:.1f} s of CPU to train"),
        trained=lambda h: (f"trained {len(model_kwargs.get('seeds', (0,)))} {kind.upper()} "
                           f"run(s) in {h.cpu_seconds:.1f} s of CPU and cached them"))


# ------------------------------------------------------------------- a density from samples only

@torch.no_grad()
def parzen_log_likelihood(samples: torch.Tensor, x: torch.Tensor, bandwidth: float,
                          chunk: int = 500) -> torch.Tensor:
    """log of a Parzen-window (Gaussian kernel) density built on ``samples`` [M, 2], at ``x``
    [N, 2]: log (1/M) sum_j N(x; s_j, bandwidth^2 I), shape [N], nats.

    The only "likelihood" one can attach to a GAN's samples (Goodfellow et al. 2014, §5).  It is
    an estimate of the likelihood of *another* model (samples + Gaussian blur), biased, and
    unreliable in high dimensions (Theis, van den Oord & Bethge 2016, §3.5).
    """
    _check_points(samples, "samples")
    _check_points(x)
    bandwidth = validate_positive_float("bandwidth", bandwidth)
    logvar = torch.full((2,), 2 * math.log(bandwidth), dtype=x.dtype)
    out = [log_mean_exp(gaussian_log_prob(x[i:i + chunk, None, :], samples[None], logvar), dim=1)
           for i in range(0, len(x), validate_positive_int("chunk", chunk))]
    return torch.cat(out)
