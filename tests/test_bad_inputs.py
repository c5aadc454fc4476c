"""Every public function of the core meets bad input with a ValueError or TypeError that names
the argument (never a NaN, never an error from deep inside torch), and converts the inputs it
documents converting (NumPy arrays, lists, float64 and half-precision tensors).

One table, one case per row: (readable id, the call, the exception, a phrase of its message).
"""
import math

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from vae_teach import distributions as dist
from vae_teach import estimators, models, plots
from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import elbo, elbo_terms, iwae_bound
from vae_teach.train import History, cached_fit, evaluate, fit
from vae_teach.utils import seed_everything
from vae_teach.widgets import CourseWidget

GOOD = torch.zeros(4, 5)
NAN = torch.tensor([[0.0, float("nan")]])
INF = torch.tensor([[0.0, float("inf")]])
torch.manual_seed(0)
MODEL = BernoulliVAE(input_dim=5, hidden_dim=4, latent_dim=2)
X = torch.bernoulli(torch.full((4, 5), 0.5), generator=torch.Generator().manual_seed(0))
SOURCE_TEXT_VAE = models.SourceTextVAE


def widget():
    controls = {"p": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1),
                "seed": widgets.IntSlider(value=0, min=0, max=10),
                "kind": widgets.Dropdown(options=["a", "b"], value="a"),
                "show": widgets.Checkbox(value=False)}
    return CourseWidget(controls, lambda p, seed, kind, show: b"", title="test")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path / "cache"))


def no_cache_needed(**kwargs):
    """cached_fit with a folder that is never reached (the arguments fail first)."""
    return cached_fit(**kwargs)


CASES = [
    # --------------------------------------------------------------- distributions: Bernoulli
    ("bernoulli-logits-nan", lambda: dist.bernoulli_log_likelihood(NAN, torch.zeros(1, 2)), ValueError, "logits.*NaN"),
    ("bernoulli-logits-inf", lambda: dist.bernoulli_log_likelihood(INF, torch.zeros(1, 2)), ValueError, "logits.*infinite"),
    ("bernoulli-x-above-1", lambda: dist.bernoulli_log_likelihood(GOOD, GOOD + 2), ValueError, r"x.*\[0, 1\]"),
    ("bernoulli-x-negative", lambda: dist.bernoulli_log_likelihood(GOOD, GOOD - 0.5), ValueError, r"x.*\[0, 1\]"),
    ("bernoulli-shape-mismatch", lambda: dist.bernoulli_log_likelihood(GOOD, torch.zeros(4, 6)), ValueError, "logits and x.*shape"),
    ("bernoulli-integer-x", lambda: dist.bernoulli_log_likelihood(GOOD, torch.zeros(4, 5, dtype=torch.long)), TypeError, "x.*floating"),
    ("bernoulli-empty", lambda: dist.bernoulli_log_likelihood(torch.zeros(0, 5), torch.zeros(0, 5)), ValueError, "logits.*empty"),
    ("bernoulli-string", lambda: dist.bernoulli_log_likelihood("logits", GOOD), TypeError, "logits must be a tensor"),
    ("naive-bernoulli-probs-above-1", lambda: dist.naive_bernoulli_log_likelihood(torch.full((1, 3), 1.5), torch.ones(1, 3)), ValueError, r"probs must lie in \[0, 1\]"),
    ("naive-bernoulli-x-is-3", lambda: dist.naive_bernoulli_log_likelihood(torch.full((1, 3), 0.5), torch.full((1, 3), 3.0)), ValueError, r"x must lie in \[0, 1\]"),
    ("naive-bernoulli-shapes", lambda: dist.naive_bernoulli_log_likelihood(torch.full((1, 3), 0.5), torch.ones(1, 2)), ValueError, "probs and x.*shape"),
    # ---------------------------------------------------------------- distributions: Gaussian
    ("gaussian-kl-shape-mismatch", lambda: dist.gaussian_kl(GOOD, torch.zeros(4, 3)), ValueError, "mu and logvar.*shape"),
    ("gaussian-kl-nan", lambda: dist.gaussian_kl(NAN, NAN), ValueError, "mu.*NaN"),
    ("gaussian-kl-integer", lambda: dist.gaussian_kl(torch.zeros(2, 2, dtype=torch.int32), torch.zeros(2, 2)), TypeError, "mu.*floating"),
    ("gaussian-kl-empty", lambda: dist.gaussian_kl(torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, "mu.*empty"),
    ("gaussian-kl-logvar-overflows", lambda: dist.gaussian_kl(torch.zeros(1, 2), torch.full((1, 2), 100.0)), ValueError, "overflowed.*logvar"),
    ("gaussian-log-prob-nan-z", lambda: dist.gaussian_log_prob(NAN, torch.zeros(1, 2), torch.zeros(1, 2)), ValueError, "z.*NaN"),
    ("gaussian-log-prob-mu-broadcast", lambda: dist.gaussian_log_prob(torch.zeros(3, 4), torch.zeros(3, 1), torch.zeros(3, 4)), ValueError, "same last dimension"),
    ("gaussian-log-prob-unbroadcastable", lambda: dist.gaussian_log_prob(torch.zeros(3, 4), torch.zeros(2, 4), torch.zeros(2, 4)), ValueError, "cannot be broadcast"),
    ("standard-normal-nan", lambda: dist.standard_normal_log_prob(torch.tensor([float("nan")])), ValueError, "z.*NaN"),
    ("log-mean-exp-empty", lambda: dist.log_mean_exp(torch.zeros(0)), ValueError, "values.*empty"),
    ("log-mean-exp-dim-5", lambda: dist.log_mean_exp(torch.zeros(3), dim=5), ValueError, "dim must be an int in"),
    ("log-mean-exp-dim-float", lambda: dist.log_mean_exp(torch.zeros(3), dim=0.5), ValueError, "dim must be an int"),
    ("log-mean-exp-nan", lambda: dist.log_mean_exp(torch.tensor([float("nan"), 1.0])), ValueError, "NaN or \\+inf"),
    ("log-mean-exp-plus-inf", lambda: dist.log_mean_exp(torch.tensor([math.inf, 1.0])), ValueError, "NaN or \\+inf"),
    ("log-mean-exp-string", lambda: dist.log_mean_exp("1, 2"), TypeError, "values must be a tensor"),
    # ------------------------------------------------------------- distributions: categorical
    ("softmax-temperature-zero", lambda: dist.softmax(GOOD, temperature=0), ValueError, "temperature"),
    ("softmax-temperature-negative", lambda: dist.softmax(GOOD, temperature=-1.0), ValueError, "temperature"),
    ("softmax-temperature-nan", lambda: dist.softmax(GOOD, temperature=float("nan")), ValueError, "temperature"),
    ("softmax-logits-nan", lambda: dist.softmax(NAN), ValueError, "logits.*NaN"),
    ("categorical-float-outcomes", lambda: dist.categorical_log_prob(GOOD, torch.tensor([0.5])), TypeError, "outcomes.*integer"),
    ("categorical-outcome-out-of-range", lambda: dist.categorical_log_prob(GOOD, torch.tensor([0, 1, 2, 9])), ValueError, "outcomes.*0..4"),
    ("categorical-outcomes-column", lambda: dist.categorical_log_prob(GOOD, torch.zeros(4, 1, dtype=torch.long)), ValueError, r"outcomes must be \[N\].*squeeze"),
    ("categorical-rows-mismatch", lambda: dist.categorical_log_prob(GOOD, torch.zeros(3, dtype=torch.long)), ValueError, "4 rows but outcomes has 3"),
    ("categorical-logits-3d", lambda: dist.categorical_log_prob(torch.zeros(2, 2, 2), torch.zeros(2, dtype=torch.long)), ValueError, "logits must have 1 or 2 dimensions"),
    ("categorical-mle-empty", lambda: dist.categorical_mle(torch.tensor([], dtype=torch.long), 3), ValueError, "outcomes.*empty"),
    ("categorical-mle-k-zero", lambda: dist.categorical_mle(torch.tensor([0, 1]), 0), ValueError, "k must"),
    ("categorical-mle-k-float", lambda: dist.categorical_mle(torch.tensor([0, 1]), 2.5), ValueError, "k must be a positive int"),
    ("categorical-mle-k-huge", lambda: dist.categorical_mle(torch.tensor([0, 1]), 10**12), ValueError, "k=1000000000000.*smaller k"),
    ("categorical-mle-outcome-too-big", lambda: dist.categorical_mle(torch.tensor([0, 5]), 3), ValueError, r"outcomes must lie in 0..2"),
    ("entropy-negative", lambda: dist.entropy(torch.tensor([1.5, -0.5])), ValueError, r"probs must lie in \[0, 1\]"),
    ("entropy-unnormalized", lambda: dist.entropy(torch.tensor([0.2, 0.2])), ValueError, "sum to 1"),
    ("entropy-all-zero", lambda: dist.entropy(torch.zeros(3)), ValueError, "sum to 1"),
    ("entropy-nan", lambda: dist.entropy(torch.tensor([float("nan"), 1.0])), ValueError, "probs.*NaN"),
    # ------------------------------------------------------------------------------ models
    ("vae-latent-dim-zero", lambda: BernoulliVAE(latent_dim=0), ValueError, "latent_dim"),
    ("vae-hidden-dim-float", lambda: BernoulliVAE(hidden_dim=12.5), TypeError, "hidden_dim"),
    ("vae-activation-unknown", lambda: BernoulliVAE(activation="swish"), ValueError, "activation"),
    ("vae-hidden-dim-1e9", lambda: BernoulliVAE(hidden_dim=10**9), ValueError, "smaller hidden_dim"),
    ("vae-latent-dim-1e9", lambda: BernoulliVAE(latent_dim=10**9), ValueError, "weights.*GB"),
    ("vae-layers-1e6", lambda: BernoulliVAE(n_hidden_layers=10**6), ValueError, "smaller n_hidden_layers"),
    ("encode-wrong-columns", lambda: MODEL.encode(torch.zeros(3, 7)), ValueError, "x must have 5 columns"),
    ("encode-1d", lambda: MODEL.encode(torch.zeros(5)), ValueError, "x must have 2 dimensions"),
    ("encode-raw-pixels", lambda: MODEL.encode(X * 255), ValueError, r"pixels in \[0, 1\].*divide by 255"),
    ("encode-nan", lambda: MODEL.encode(torch.full((2, 5), float("nan"))), ValueError, "x.*NaN"),
    ("encode-string", lambda: MODEL.encode("digits"), TypeError, "x must be a tensor"),
    ("encode-integer-tensor", lambda: MODEL.encode(X.long()), TypeError, "x.*floating.*x.float"),
    ("decode-wrong-latent", lambda: MODEL.decode(torch.zeros(3, 4)), ValueError, "z must have 2 entries"),
    ("decode-nan", lambda: MODEL.decode(torch.full((3, 2), float("nan"))), ValueError, "z.*NaN"),
    ("sample-zero", lambda: MODEL.sample(0), ValueError, "n must be >= 1"),
    ("sample-1e12", lambda: MODEL.sample(10**12), ValueError, "n=1000000000000.*smaller n"),
    ("sample-float", lambda: MODEL.sample(2.5), TypeError, "n must be an int"),
    # -------------------------------------------------------------------------- objectives
    ("iwae-k-zero", lambda: iwae_bound(MODEL, X, 0), ValueError, "k must be >= 1"),
    ("iwae-k-float", lambda: iwae_bound(MODEL, X, 2.5), TypeError, "k must be an int"),
    ("iwae-k-1e12", lambda: iwae_bound(MODEL, X, 10**12), ValueError, "k=1000000000000.*smaller k"),
    ("iwae-wrong-columns", lambda: iwae_bound(MODEL, torch.zeros(4, 6), 5), ValueError, "x must have 5 columns"),
    ("iwae-model-history-pair", lambda: iwae_bound((MODEL, History()), X, 5), TypeError, "unpack"),
    ("elbo-n-samples-zero", lambda: elbo(MODEL, X, n_samples=0), ValueError, "n_samples"),
    ("elbo-n-samples-1e12", lambda: elbo(MODEL, X, n_samples=10**12), ValueError, "smaller n_samples"),
    ("elbo-targets-above-1", lambda: elbo(MODEL, X * 3, n_samples=1), ValueError, r"x.*\[0, 1\]"),
    ("elbo-empty", lambda: elbo(MODEL, torch.zeros(0, 5)), ValueError, "x.*empty"),
    ("elbo-integer-x", lambda: elbo(MODEL, X.long()), TypeError, "x.*floating"),
    ("elbo-nan-x", lambda: elbo(MODEL, torch.full((2, 5), float("nan"))), ValueError, "x.*NaN"),
    ("elbo-model-history-pair", lambda: elbo((MODEL, History()), X), TypeError, r"\(model, history\) pair.*unpack"),
    ("elbo-source-text-vae", lambda: elbo(SOURCE_TEXT_VAE(), torch.zeros(2, 784)), TypeError, "must be a VAE with encode.*got (SourceTextVAE|SeedBernoulliVAE)"),
    ("elbo-not-a-model", lambda: elbo("vae", X), TypeError, "model must be a VAE"),
    ("elbo-data-and-model-swapped", lambda: elbo(X, MODEL), TypeError, "model must be a VAE.*got Tensor"),
    ("elbo-terms-beta-negative", lambda: elbo_terms(MODEL, X, beta=-1.0), ValueError, "beta"),
    ("evaluate-model-history-pair", lambda: evaluate((MODEL, History()), X), TypeError, "unpack"),
    # ------------------------------------------------------------------------------- fit
    ("fit-epochs-zero", lambda: fit(MODEL, X, epochs=0, progress=False), ValueError, "epochs"),
    ("fit-epochs-none", lambda: fit(MODEL, X, epochs=None, progress=False), TypeError, "epochs.*fit_for_seconds"),
    ("fit-lr-negative", lambda: fit(MODEL, X, epochs=1, lr=-1.0, progress=False), ValueError, "lr"),
    ("fit-lr-string", lambda: fit(MODEL, X, epochs=1, lr="0.001", progress=False), TypeError, "lr must be a number"),
    ("fit-batch-size-zero", lambda: fit(MODEL, X, epochs=1, batch_size=0, progress=False), ValueError, "batch_size"),
    ("fit-schedule-unknown", lambda: fit(MODEL, X, epochs=1, lr_schedule="step", progress=False), ValueError, "lr_schedule"),
    ("fit-test-wrong-columns", lambda: fit(MODEL, X, epochs=1, x_test=torch.zeros(2, 4), progress=False), ValueError, "x must have 5 columns"),
    ("fit-max-seconds-moved", lambda: fit(MODEL, X, epochs=1, max_seconds=float("nan"), progress=False), TypeError, "max_seconds"),
    ("fit-beta-negative", lambda: fit(MODEL, X, epochs=1, beta=-1.0, progress=False), ValueError, "beta"),
    ("fit-seed-float", lambda: fit(MODEL, X, epochs=1, seed=1.5, progress=False), TypeError, "seed must be an int"),
    ("fit-seed-string", lambda: fit(MODEL, X, epochs=1, seed="0", progress=False), TypeError, "seed must be an int"),
    ("fit-binarization-string", lambda: fit(MODEL, X, epochs=1, dynamic_binarization="yes", progress=False), TypeError, "dynamic_binarization"),
    ("fit-source-text-vae", lambda: fit(SOURCE_TEXT_VAE(), torch.zeros(2, 784), epochs=1, progress=False), TypeError, "must be a VAE"),
    ("fit-model-history-pair", lambda: fit((MODEL, History()), X, epochs=1, progress=False), TypeError, "unpack"),
    ("fit-raw-pixels", lambda: fit(MODEL, X * 255, epochs=1, progress=False), ValueError, "divide by 255"),
    # ------------------------------------------------------------------------ cached_fit
    ("cached-fit-latent-dim-zero", lambda: no_cache_needed(x_train=X, model_kwargs={"input_dim": 5, "latent_dim": 0}, epochs=1), ValueError, "latent_dim"),
    ("cached-fit-hidden-dim-1e9", lambda: no_cache_needed(x_train=X, model_kwargs={"input_dim": 5, "hidden_dim": 10**9}, epochs=1), ValueError, "smaller hidden_dim"),
    ("cached-fit-string-data", lambda: no_cache_needed(x_train="mnist", epochs=1), TypeError, "x_train must be a tensor"),
    ("cached-fit-model-kwargs-string", lambda: no_cache_needed(x_train=X, model_kwargs="abc", epochs=1), TypeError, "model_kwargs must be a dict"),
    ("cached-fit-unknown-model-argument", lambda: no_cache_needed(x_train=X, model_kwargs={"latent": 2}, epochs=1), TypeError, "latent"),
    ("cached-fit-seed-float", lambda: no_cache_needed(x_train=X, seed=1.5, epochs=1), TypeError, "seed must be an int"),
    ("cached-fit-seed-string", lambda: no_cache_needed(x_train=X, seed="0", epochs=1), TypeError, "seed must be an int"),
    ("cached-fit-unknown-fit-argument", lambda: no_cache_needed(x_train=X, epochs=1, learning_rate=1e-3), TypeError, "unknown argument.*learning_rate"),
    ("cached-fit-model-history-pair-as-data", lambda: no_cache_needed(x_train=(MODEL, History())), TypeError, "x_train is a \\(model, history\\) pair"),
    ("cached-fit-raw-pixels", lambda: no_cache_needed(x_train=torch.full((4, 784), 255.0), epochs=1), ValueError, "divide by 255"),
    ("cached-fit-epochs-zero", lambda: no_cache_needed(x_train=X, model_kwargs={"input_dim": 5}, epochs=0), ValueError, "epochs must be >= 1"),
    ("cached-fit-lr-nan", lambda: no_cache_needed(x_train=X, model_kwargs={"input_dim": 5}, lr=float("nan")), ValueError, "lr must be > 0 and finite"),
    # ------------------------------------------------------------------------- estimators
    ("gradient-samples-1e12", lambda: estimators.gradient_samples(estimators.Quadratic(), torch.zeros(3), torch.ones(3), 10**12), ValueError, "smaller n_samples"),
    ("gradient-samples-sigma-zero", lambda: estimators.gradient_samples(estimators.Quadratic(), torch.zeros(3), torch.zeros(3), 5), ValueError, "sigma must be > 0"),
    ("gradient-samples-not-callable", lambda: estimators.gradient_samples(3, torch.zeros(3), torch.ones(3), 5), TypeError, "f must be a function"),
    ("gradient-samples-estimator", lambda: estimators.gradient_samples(estimators.Quadratic(), torch.zeros(3), torch.ones(3), 5, "magic"), ValueError, "estimator must be one of"),
    # ---------------------------------------------------------------------- data and utils
    ("load-mnist-split", lambda: load_mnist("valid"), ValueError, "split must be one of"),
    ("load-mnist-binarize", lambda: load_mnist("test", binarize="otsu"), ValueError, "binarize must be one of"),
    ("seed-negative", lambda: seed_everything(-1), ValueError, "seed"),
    ("seed-string", lambda: seed_everything("0"), TypeError, "seed"),
    ("seed-float", lambda: seed_everything(2.7), TypeError, "seed"),
    # -------------------------------------------------------------------------------- plots
    ("latent-scatter-3d-z", lambda: plots.latent_scatter(torch.zeros(5, 3), torch.zeros(5)), ValueError, r"z must be \[N, 2\]"),
    ("latent-scatter-labels", lambda: plots.latent_scatter(torch.zeros(5, 2), torch.zeros(4)), ValueError, "labels has 4"),
    ("array-to-png-3d", lambda: plots.array_to_png(torch.zeros(2, 2, 2)), ValueError, "image must be 2-D"),
    ("rgb-to-png-float", lambda: plots.rgb_to_png(np.zeros((2, 2, 3))), TypeError, "pixels must be uint8"),
    ("rgb-to-png-two-channels", lambda: plots.rgb_to_png(np.zeros((2, 2, 2), np.uint8)), ValueError, "pixels must be"),
    ("rgb-to-png-empty", lambda: plots.rgb_to_png(np.zeros((0, 2, 3), np.uint8)), ValueError, "pixels must be"),
    # ------------------------------------------------------------------------------ widgets
    ("widget-set-string", lambda: widget().set(p="abc"), TypeError, "p must be a number"),
    ("widget-set-nan", lambda: widget().set(p=float("nan")), ValueError, "p must be finite"),
    ("widget-set-inf", lambda: widget().set(p=math.inf), ValueError, "p must be finite"),
    ("widget-set-int-control-fraction", lambda: widget().set(seed=2.7), ValueError, "seed must be a whole number"),
    ("widget-set-int-control-bool", lambda: widget().set(seed=True), TypeError, "seed must be a number"),
    ("widget-set-menu-option", lambda: widget().set(kind="c"), ValueError, "kind must be one of"),
    ("widget-set-checkbox-string", lambda: widget().set(show="yes"), TypeError, "show must be True or False"),
    ("widget-set-unknown", lambda: widget().set(q=1), ValueError, "unknown control"),
]


@pytest.mark.parametrize("call, error, message", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_case_ids_are_unique_and_no_cached_fit_case_touches_the_cache(tmp_path):
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        if case[0].startswith("cached-fit"):
            with pytest.raises(case[2]):
                case[1]()
    assert not (tmp_path / "cache").exists()        # every cached_fit case failed before the cache


# ----------------------------------------------------------------- documented conversions

def test_arrays_lists_and_other_float_dtypes_give_the_float32_result():
    torch.manual_seed(1)
    reference = MODEL.encode(X)
    for variant in (X.double(), X.half(), X.bfloat16(), X.numpy(), X.numpy().astype(np.float64),
                    X.tolist()):
        mu, logvar = MODEL.encode(variant)
        assert mu.dtype == torch.float32
        assert torch.equal(mu, reference[0]) and torch.equal(logvar, reference[1])
    gen = torch.Generator()
    a = elbo(MODEL, torch.from_numpy(X.numpy() / 1.0), generator=gen.manual_seed(0))
    b = elbo(MODEL, X, generator=gen.manual_seed(0))
    assert torch.equal(a, b)
    assert torch.equal(MODEL.decode(np.zeros((1, 2))), MODEL.decode(torch.zeros(1, 2)))


def test_distributions_keep_float64_and_accept_arrays():
    logits = torch.randn(3, 4, dtype=torch.float64)
    x = torch.bernoulli(torch.full((3, 4), 0.5, dtype=torch.float64))
    direct = dist.bernoulli_log_likelihood(logits, x)
    assert direct.dtype == torch.float64
    assert torch.equal(dist.bernoulli_log_likelihood(logits.numpy(), x.numpy()), direct)
    assert dist.log_mean_exp([0.0, math.log(3.0)]).item() == pytest.approx(math.log(2.0))
    assert dist.log_mean_exp(torch.tensor([-math.inf, 0.0])).item() == pytest.approx(math.log(0.5))
    assert torch.equal(dist.categorical_mle(np.array([0, 1, 1]), np.int64(3)),
                       torch.tensor([1 / 3, 2 / 3, 0.0]))
    assert dist.categorical_log_prob(torch.zeros(4), [0, 3]).tolist() == pytest.approx([-math.log(4)] * 2)


def test_softmax_at_a_tiny_temperature_is_one_hot_not_nan():
    probs = dist.softmax(torch.tensor([1.0, 3.0, 2.0]), temperature=1e-40)
    assert probs.tolist() == [0.0, 1.0, 0.0]
    assert dist.entropy(probs).item() == 0.0


def test_widget_set_accepts_whole_floats_for_integer_controls_and_numpy_numbers():
    w = widget().set(seed=3.0, p=np.float64(0.3))
    assert w.controls["seed"].value == 3 and isinstance(w.controls["seed"].value, int)
    assert w.controls["p"].value == pytest.approx(0.3)


def test_iwae_bound_streams_z_for_a_huge_k():
    """k large enough that z alone would exceed the chunk: the bound is computed block by
    block, equals the log-mean-exp of all weights, and never holds more than a chunk."""
    torch.manual_seed(0)
    model = BernoulliVAE(input_dim=5, hidden_dim=4, latent_dim=2)
    x = X[:1]
    small = iwae_bound(model, x, 4000, generator=torch.Generator().manual_seed(0),
                       chunk_elements=1000)          # 4000 * 5 outputs > 1000: streamed
    whole = iwae_bound(model, x, 4000, generator=torch.Generator().manual_seed(0),
                       chunk_elements=10**6)         # all at once
    assert small.shape == (1,) and torch.isfinite(small).all()
    # different blocks draw different noise, so agreement is statistical (IWAE_4000 ~ log p(x))
    assert small.item() == pytest.approx(whole.item(), abs=0.05)
    assert elbo(model, x, n_samples=200).mean() <= small.item() + 0.05
