"""The VAE models of the course.

``BernoulliVAE`` is the corrected model taught in notebook 07 and used by 01, 09, 10 and the
benchmark.  ``SourceTextVAE`` is the source text's model with its undefined names fixed and
its bug kept on purpose (notebooks 06 and 07 measure what the bug does).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from .distributions import RAW_PIXELS, check_unit_interval
from .utils import MAX_ELEMENTS, as_tensor, validate_positive_int, validate_size

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus,
               "gelu": nn.GELU}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ``activation`` between them (not after
    the last one)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class BernoulliVAE(nn.Module):
    """A VAE for binary images: p(z) = N(0, I), p_theta(x|z) = prod_j Bernoulli(x_j; sigmoid(l_j(z))),
    q_phi(z|x) = N(mu(x), diag exp(logvar(x))).

    * ``encode(x) -> (mu, logvar)``
    * ``decode(z) -> logits`` (no final sigmoid: the likelihood works on logits, notebook 06)
    * ``sample(n)`` draws x ~ p_theta(x) by ancestral sampling (z from the prior, then x | z).

    The defaults are the course's default recipe (see README, "Performance").
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 32,
                 n_hidden_layers: int = 1, activation: str = "relu"):
        super().__init__()
        self.check_kwargs(input_dim, hidden_dim, latent_dim, n_hidden_layers, activation)
        self.input_dim, self.hidden_dim, self.latent_dim = input_dim, hidden_dim, latent_dim
        self.n_hidden_layers, self.activation = n_hidden_layers, activation
        hidden = [hidden_dim] * n_hidden_layers
        self.encoder = mlp([input_dim, *hidden, 2 * latent_dim], activation)
        self.decoder = mlp([latent_dim, *hidden, input_dim], activation)

    @staticmethod
    def check_kwargs(input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 32,
                     n_hidden_layers: int = 1, activation: str = "relu") -> None:
        """Check the constructor's arguments, the model's size included, before allocating."""
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim),
                            ("latent_dim", latent_dim), ("n_hidden_layers", n_hidden_layers)):
            validate_positive_int(name, value)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        n_weights = 2 * (input_dim * hidden_dim + (n_hidden_layers - 1) * hidden_dim ** 2
                         + hidden_dim * (input_dim + 3 * latent_dim) + latent_dim * hidden_dim)
        if n_weights > MAX_ELEMENTS:
            largest = max((("hidden_dim", hidden_dim), ("input_dim", input_dim),
                           ("latent_dim", latent_dim), ("n_hidden_layers", n_hidden_layers)),
                          key=lambda item: item[1] if item[0] != "n_hidden_layers"
                          else item[1] * hidden_dim)
            raise ValueError(f"this BernoulliVAE would have about {n_weights:.2g} weights "
                             f"({n_weights * 4 / 2**30:.1f} GB): choose a smaller {largest[0]} "
                             f"(got {largest[1]})")

    @property
    def config(self) -> dict:
        """The constructor arguments, enough to rebuild the model (used by the cache)."""
        return dict(input_dim=self.input_dim, hidden_dim=self.hidden_dim,
                    latent_dim=self.latent_dim, n_hidden_layers=self.n_hidden_layers,
                    activation=self.activation)

    def _check_input(self, x) -> torch.Tensor:
        """``x`` as float32 [N, input_dim] with pixels in [0, 1] (arrays and float64 converted)."""
        x = as_tensor("x", x, ndim=2)
        if x.shape[1] != self.input_dim:
            raise ValueError(f"x must have {self.input_dim} columns (input_dim), got {x.shape[1]}")
        check_unit_interval("x", x, "hold pixels in [0, 1] (binary or grey levels)", RAW_PIXELS)
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q_phi(z|x): mean and log-variance, each [N, latent_dim].  ``x``: pixels
        in [0, 1]; NumPy arrays and other float dtypes are converted to float32."""
        return self._encode_unchecked(self._check_input(x))

    def _encode_unchecked(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of p_theta(x|z), [..., input_dim]; sigmoid(logits) are the pixel probabilities."""
        z = as_tensor("z", z)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} entries in its last dimension "
                             f"(latent_dim), got {z.shape[-1]}")
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): a sample of q that gradients flow through."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor):
        """(logits, mu, logvar, z) for one reparameterized sample z ~ q(z|x)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar, z

    @torch.no_grad()
    def sample(self, n: int, *, probs: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples x ~ p_theta(x): z ~ N(0, I), then x ~ Bernoulli(sigmoid(decode(z))).

        With ``probs=True`` return the pixel probabilities sigmoid(decode(z)) instead of a binary
        draw (the usual way to *show* samples: a binary draw looks speckled).
        """
        n = validate_size("n", n, per_item=self.input_dim + self.latent_dim)
        z = torch.randn(n, self.latent_dim, generator=generator)
        pixel_probs = torch.sigmoid(self.decoder(z))
        return pixel_probs if probs else torch.bernoulli(pixel_probs, generator=generator)


class SourceTextVAE(nn.Module):
    """The source text's ``BernoulliVAE``, with its undefined names fixed and its bug KEPT.

    The bug: the decoder ends in ``nn.Sigmoid()`` and the loss is
    ``binary_cross_entropy_with_logits``, which applies a sigmoid again.  The loss therefore
    scores x under Bernoulli(sigmoid(sigmoid(a))), whose pixel probabilities can only lie in
    (0.5, 0.731): a white background pixel can never get a probability below 1/2.
    Notebooks 06 and 07 measure the effect.  Do not use this class for anything else.
    """

    def __init__(self, input_size: int = 784, hidden_size: int = 256, latent_size: int = 32):
        super().__init__()
        self.latent_size = latent_size
        self.encoder = nn.Sequential(nn.Linear(input_size, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, latent_size * 2))
        self.decoder = nn.Sequential(nn.Linear(latent_size, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, input_size), nn.Sigmoid())

    def reparameterize(self, mu, log_var):
        std = torch.exp(0.5 * log_var)
        return mu + torch.randn_like(std) * std

    def forward(self, x):
        mu, log_var = torch.chunk(self.encoder(x), 2, dim=1)
        z = self.reparameterize(mu, log_var)
        return self.decoder(z), mu, log_var

    def loss_function(self, recon_x, x, mu, log_var):
        """The source text's loss, in meaning: BCE-with-logits applied to sigmoid outputs."""
        recon_loss = binary_cross_entropy_with_logits(recon_x, x, reduction="sum")
        kl_divergence = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
        return recon_loss + kl_divergence
