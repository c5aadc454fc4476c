"""Every public function of the core rejects bad input with a ValueError or TypeError that names
the argument, instead of returning NaN."""
import numpy as np
import pytest
import torch

from vae_teach import distributions as dist
from vae_teach import plots
from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import elbo, iwae_bound
from vae_teach.train import cached_fit, fit
from vae_teach.utils import seed_everything

GOOD = torch.zeros(4, 5)
NAN = torch.tensor([[0.0, float("nan")]])
INF = torch.tensor([[0.0, float("inf")]])
MODEL = BernoulliVAE(input_dim=5, hidden_dim=4, latent_dim=2)
X = torch.bernoulli(torch.full((4, 5), 0.5))

CASES = [
    # (call, exception, words the message must contain)
    (lambda: dist.bernoulli_log_likelihood(NAN, torch.zeros(1, 2)), ValueError, "logits.*NaN"),
    (lambda: dist.bernoulli_log_likelihood(INF, torch.zeros(1, 2)), ValueError, "logits.*infinite"),
    (lambda: dist.bernoulli_log_likelihood(GOOD, GOOD + 2), ValueError, "x.*\\[0, 1\\]"),
    (lambda: dist.bernoulli_log_likelihood(GOOD, GOOD - 0.5), ValueError, "x.*\\[0, 1\\]"),
    (lambda: dist.bernoulli_log_likelihood(GOOD, torch.zeros(4, 6)), ValueError, "logits and x.*shape"),
    (lambda: dist.bernoulli_log_likelihood(GOOD, torch.zeros(4, 5, dtype=torch.long)), TypeError, "x.*floating"),
    (lambda: dist.bernoulli_log_likelihood(torch.zeros(0, 5), torch.zeros(0, 5)), ValueError, "logits.*empty"),
    (lambda: dist.bernoulli_log_likelihood([[0.0]], GOOD), TypeError, "logits.*torch.Tensor"),
    (lambda: dist.gaussian_kl(GOOD, torch.zeros(4, 3)), ValueError, "mu and logvar.*shape"),
    (lambda: dist.gaussian_kl(NAN, NAN), ValueError, "mu.*NaN"),
    (lambda: dist.gaussian_kl(torch.zeros(2, 2, dtype=torch.int32), torch.zeros(2, 2)), TypeError, "mu.*floating"),
    (lambda: dist.gaussian_kl(torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, "mu.*empty"),
    (lambda: dist.softmax(GOOD, temperature=0), ValueError, "temperature"),
    (lambda: dist.softmax(GOOD, temperature=-1.0), ValueError, "temperature"),
    (lambda: dist.categorical_log_prob(GOOD, torch.tensor([0.5])), TypeError, "outcomes.*integer"),
    (lambda: dist.categorical_log_prob(GOOD, torch.tensor([0, 1, 2, 9])), ValueError, "outcomes.*0..4"),
    (lambda: dist.categorical_mle(torch.tensor([], dtype=torch.long), 3), ValueError, "outcomes.*empty"),
    (lambda: dist.categorical_mle(torch.tensor([0, 1]), 0), ValueError, "k must"),
    (lambda: iwae_bound(MODEL, X, 0), ValueError, "k must be >= 1"),
    (lambda: iwae_bound(MODEL, X, 2.5), TypeError, "k must be an int"),
    (lambda: iwae_bound(MODEL, torch.zeros(4, 6), 5), ValueError, "x must have 5 columns"),
    (lambda: elbo(MODEL, X, n_samples=0), ValueError, "n_samples"),
    (lambda: elbo(MODEL, X * 3, n_samples=1), ValueError, "x.*\\[0, 1\\]"),
    (lambda: elbo(MODEL, torch.zeros(0, 5)), ValueError, "x.*empty"),
    (lambda: elbo(MODEL, X.long()), TypeError, "x.*floating"),
    (lambda: elbo(MODEL, torch.full((2, 5), float("nan"))), ValueError, "x.*NaN"),
    (lambda: MODEL.encode(torch.zeros(3, 7)), ValueError, "x must have 5 columns"),
    (lambda: MODEL.encode(torch.zeros(5)), ValueError, "x must have 2 dimensions"),
    (lambda: MODEL.decode(torch.zeros(3, 4)), ValueError, "z must have 2 entries"),
    (lambda: MODEL.sample(0), ValueError, "n must be >= 1"),
    (lambda: BernoulliVAE(latent_dim=0), ValueError, "latent_dim"),
    (lambda: BernoulliVAE(hidden_dim=12.5), TypeError, "hidden_dim"),
    (lambda: BernoulliVAE(activation="swish"), ValueError, "activation"),
    (lambda: fit(MODEL, X, epochs=0, progress=False), ValueError, "epochs"),
    (lambda: fit(MODEL, X, epochs=1, lr=-1.0, progress=False), ValueError, "lr"),
    (lambda: fit(MODEL, X, epochs=1, batch_size=0, progress=False), ValueError, "batch_size"),
    (lambda: fit(MODEL, X, epochs=1, lr_schedule="step", progress=False), ValueError, "lr_schedule"),
    (lambda: fit(MODEL, X, epochs=1, x_test=torch.zeros(2, 4), progress=False), ValueError, "x must have 5 columns"),
    (lambda: fit(MODEL, X, epochs=1, max_seconds=float("nan"), progress=False), ValueError, "max_seconds"),
    (lambda: fit(MODEL, X, epochs=1, beta=-1.0, progress=False), ValueError, "beta"),
    (lambda: cached_fit(X, model_kwargs={"input_dim": 5, "latent_dim": 0}, epochs=1), ValueError, "latent_dim"),
    (lambda: load_mnist("valid"), ValueError, "split must be one of"),
    (lambda: load_mnist("test", binarize="otsu"), ValueError, "binarize must be one of"),
    (lambda: seed_everything(-1), ValueError, "seed"),
    (lambda: seed_everything("0"), TypeError, "seed"),
    (lambda: plots.latent_scatter(torch.zeros(5, 3), torch.zeros(5)), ValueError, "z must be \\[N, 2\\]"),
    (lambda: plots.latent_scatter(torch.zeros(5, 2), torch.zeros(4)), ValueError, "labels has 4"),
    (lambda: plots.array_to_png(torch.zeros(2, 2, 2)), ValueError, "image must be 2-D"),
    (lambda: plots.rgb_to_png(np.zeros((2, 2, 3))), TypeError, "pixels must be uint8"),
    (lambda: plots.rgb_to_png(np.zeros((2, 2, 2), np.uint8)), ValueError, "pixels must be"),
    (lambda: plots.rgb_to_png(np.zeros((0, 2, 3), np.uint8)), ValueError, "pixels must be"),
]


@pytest.mark.parametrize("call, error, message", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()
