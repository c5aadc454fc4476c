"""fit and cached_fit: training lowers the test -ELBO, stopping rules, train-or-load."""
import functools
import re
import subprocess
import sys

import pytest
import torch

from vae_teach import train
from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.objectives import elbo_terms
from vae_teach.cache import inspect_entry
from vae_teach.train import History, cached_fit, evaluate, fit


def train_or_load_ok(entry) -> bool:
    return inspect_entry(entry)[0]


@pytest.fixture(scope="module")
def small_data():
    x_train, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    return x_train[:1500], x_test[:500]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path))
    return tmp_path


def test_fit_lowers_the_test_negative_elbo(small_data):
    x_train, x_test = small_data
    torch.manual_seed(0)
    model = BernoulliVAE(hidden_dim=64, latent_dim=4)
    before = evaluate(model, x_test)[0]
    history = fit(model, x_train, epochs=4, x_test=x_test, progress=False)
    assert len(history.epoch) == 4 and len(history.test_loss) == 4
    assert history.test_loss[-1] < before - 100          # from ~545 nats at init to ~230
    assert history.test_loss[-1] < history.test_loss[0]
    for name in ("loss", "distortion", "rate"):
        assert all(v > 0 for v in getattr(history, f"train_{name}"))
    # -ELBO = D + R, on both splits
    assert history.test_loss[-1] == pytest.approx(
        history.test_distortion[-1] + history.test_rate[-1], rel=1e-6)
    assert history.images_seen == 4 * len(x_train)
    assert history.seconds == sorted(history.seconds)


def test_fit_takes_epochs_and_leaves_the_global_random_state_alone(small_data):
    x_train, _ = small_data
    model = BernoulliVAE(hidden_dim=16, latent_dim=2)
    state = torch.random.get_rng_state()
    fit(model, x_train[:200], epochs=1, progress=False, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(TypeError, match="fit_for_seconds"):
        fit(model, x_train, epochs=None, progress=False)
    with pytest.raises(TypeError, match="max_seconds"):
        fit(model, x_train, epochs=1, max_seconds=3, progress=False)


@pytest.mark.parametrize("lr", [1e4, 1e8])
def test_fit_stops_loudly_when_training_diverges(small_data, lr):
    x_train, _ = small_data
    torch.manual_seed(0)
    model = BernoulliVAE(hidden_dim=64, latent_dim=4)
    with pytest.raises(FloatingPointError, match=re.escape(f"lr={lr:g} and batch_size=64")):
        fit(model, x_train[:300], epochs=1, lr=lr, progress=False)


def test_cached_fit_never_stores_a_diverged_model(small_data, cache):
    x_train, _ = small_data
    with pytest.raises(FloatingPointError, match="lr=10000"):
        cached_fit(x_train[:300], model_kwargs=dict(hidden_dim=64, latent_dim=4), epochs=1,
                   lr=1e4, progress=False, verbose=False)
    assert not list(cache.glob("*.pt")) and not list(cache.glob("*.tmp"))


def test_fit_is_reproducible_with_a_seed(small_data):
    x_train, _ = small_data
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        model = BernoulliVAE(hidden_dim=32, latent_dim=2)
        results.append(fit(model, x_train[:300], epochs=2, seed=11, progress=False).train_loss)
    assert results[0] == results[1]


def test_fit_follows_the_cosine_schedule_and_redraws_grey_images(small_data, monkeypatch):
    grey, _ = load_mnist("train", binarize=None)
    rates, batches = [], []
    real_step = train.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.lr)
        return real_step(self, *args, **kwargs)

    real_elbo_terms = train._elbo_terms_unchecked

    def recording_terms(model, batch, *args, **kwargs):
        batches.append(batch.clone())
        return real_elbo_terms(model, batch, *args, **kwargs)

    monkeypatch.setattr(train.Adam, "step", recording_step)
    monkeypatch.setattr(train, "_elbo_terms_unchecked", recording_terms)
    model = BernoulliVAE(hidden_dim=32, latent_dim=2)
    fit(model, grey[:500], epochs=2, batch_size=500, lr=1e-3, progress=False,
        dynamic_binarization=True, lr_schedule="cosine")
    # one step per epoch: the cosine is at 0 and at half of the steps
    assert rates == pytest.approx([1e-3, 0.5e-3])
    # each epoch trains on a new binary draw of the grey levels
    assert all(set(b.unique().tolist()) == {0.0, 1.0} for b in batches)
    first, second = (b[b.sum(1).argsort()] for b in batches)
    assert not torch.equal(batches[0].sort(0).values, batches[1].sort(0).values)
    mean_ink = torch.stack(batches).mean((1, 2))
    assert torch.allclose(mean_ink, grey[:500].mean().expand(2), atol=0.01)
    with pytest.warns(UserWarning, match="already binary"):
        fit(model, small_data[0][:200], epochs=1, progress=False, dynamic_binarization=True)


def test_fits_adam_is_torch_optim_adam_bit_for_bit(small_data):
    torch.manual_seed(0)
    ours, theirs = BernoulliVAE(hidden_dim=32, latent_dim=3), BernoulliVAE(hidden_dim=32, latent_dim=3)
    theirs.load_state_dict(ours.state_dict())
    for model in (ours, theirs):                    # a parameter without a gradient is left alone
        model.decoder[0].bias.requires_grad_(False)
    ours_opt = train.Adam([p for p in ours.parameters() if p.requires_grad], lr=3e-3)
    theirs_opt = torch.optim.Adam([p for p in theirs.parameters() if p.requires_grad], lr=3e-3)
    for step in range(40):
        ours_opt.lr = theirs_opt.param_groups[0]["lr"] = 3e-3 * train.lr_factor("cosine", step / 40)
        batch = small_data[0][step % 10 * 50:(step % 10 + 1) * 50]
        for model, optimizer in ((ours, ours_opt), (theirs, theirs_opt)):
            model.zero_grad(set_to_none=True)
            elbo_terms(model, batch, generator=torch.Generator().manual_seed(step)).elbo.mean().neg().backward()
            optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    assert not torch.equal(ours.encoder[0].weight, BernoulliVAE(hidden_dim=32, latent_dim=3).encoder[0].weight)


def test_fit_does_not_load_torch_dynamo(small_data):
    # torch.optim's first optimizer imports torch._dynamo and SymPy: ~70 MB per kernel
    code = ("import sys, torch; from vae_teach.models import BernoulliVAE; from vae_teach.train import fit; "
            "fit(BernoulliVAE(hidden_dim=8, latent_dim=2), torch.zeros(64, 784), epochs=1, progress=False); "
            "print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_history_images_per_second():
    history = History(epoch=[1], train_loss=[2.0], seconds=[0.5], images_seen=10)
    assert history.images_per_second == 20.0
    assert History().images_per_second == 0.0


def test_cached_fit_trains_once_then_loads(small_data, cache, monkeypatch):
    x_train, x_test = small_data
    kwargs = dict(model_kwargs=dict(hidden_dim=32, latent_dim=2), x_test=x_test, epochs=1,
                  progress=False, verbose=False)
    model, history = cached_fit(x_train, **kwargs)
    entries = list(cache.glob("vae-*.pt"))
    assert len(entries) == 1 and not list(cache.glob("*.tmp"))

    def no_training(*args, **kw):
        raise AssertionError("cached_fit retrained although the entry exists")

    loads = []
    real_load = torch.load

    def recording_load(*args, **kw):
        loads.append(kw.get("weights_only"))
        return real_load(*args, **kw)

    monkeypatch.setattr(train, "fit", functools.wraps(train.fit)(no_training))  # same signature
    monkeypatch.setattr(torch, "load", recording_load)
    again, history_again = cached_fit(x_train, **kwargs)
    assert loads == [True]
    assert history_again == history
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert not again.training
    # a different configuration is a different entry (and would train)
    with pytest.raises(AssertionError, match="retrained"):
        cached_fit(x_train, **dict(kwargs, epochs=2))


def test_cached_fit_retrains_a_corrupt_entry(small_data, cache):
    x_train, _ = small_data
    kwargs = dict(model_kwargs=dict(hidden_dim=16, latent_dim=2), epochs=1, progress=False,
                  verbose=False)
    cached_fit(x_train[:200], **kwargs)
    (entry,) = cache.glob("vae-*.pt")
    entry.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="training the model again"):
        model, history = cached_fit(x_train[:200], **kwargs)
    assert len(history.epoch) == 1
    assert train_or_load_ok(entry)                      # the entry was rewritten, readable again


def test_cache_key_depends_on_data_and_config(small_data):
    x_train, x_test = small_data
    base = train.cache_key({"latent_dim": 2}, {"epochs": 1}, x_train, x_test)
    assert base == train.cache_key({"latent_dim": 2}, {"epochs": 1, "progress": False},
                                   x_train, x_test)
    assert base != train.cache_key({"latent_dim": 3}, {"epochs": 1}, x_train, x_test)
    assert base != train.cache_key({"latent_dim": 2}, {"epochs": 2}, x_train, x_test)
    changed = x_train.clone()
    changed[0, 0] = 1 - changed[0, 0]
    assert base != train.cache_key({"latent_dim": 2}, {"epochs": 1}, changed, x_test)


def test_cache_key_follows_a_changed_default(monkeypatch, tmp_path):
    """A new default in fit (a new course recipe) must not load a model trained the old way."""
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path))
    x, _ = load_mnist("train", "fixed")
    kwargs = dict(model_kwargs=dict(hidden_dim=16, latent_dim=2), epochs=1, progress=False,
                  verbose=False)
    cached_fit(x[:256], **kwargs)
    cached_fit(x[:256], **kwargs)                        # same defaults: loaded, not retrained
    assert len(list(tmp_path.glob("vae-*.pt"))) == 1
    monkeypatch.setitem(train.fit.__kwdefaults__, "lr", 7e-3)
    cached_fit(x[:256], **kwargs)                        # a new default: trained again
    assert len(list(tmp_path.glob("vae-*.pt"))) == 2
