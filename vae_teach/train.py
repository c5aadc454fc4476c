"""Training by maximizing the ELBO, and train-or-load with the model cache (notebooks 01, 07, 09, 10).

``fit`` is a plain in-memory loop: the whole training set is one tensor, each epoch is a random
permutation sliced into batches, so there is no per-sample DataLoader overhead.
``cached_fit`` trains once per configuration and loads the result afterwards (``vae_teach.cache``).
Training for a wall-clock budget, as the benchmark does, lives in ``vae_teach_tools.budget``.
"""
from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import torch

from .cache import CACHE_FORMAT, cache_config, cache_dir, cache_dirs, cache_key, train_or_load, \
    with_defaults  # noqa: F401  (re-exported: the cache's home is vae_teach.cache)
from .distributions import RAW_PIXELS, check_unit_interval
from .models import BernoulliVAE
from .objectives import _check_model_input, _elbo_terms_unchecked, elbo_terms
from .utils import all_finite, as_tensor, validate_choice, validate_positive_float, validate_positive_int, \
    validate_seed

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class History:
    """Per-epoch training record.  ``train_*`` are averages over the epoch's mini-batches;
    ``test_*`` are computed on the whole ``x_test`` after the epoch (one sample of z per image).
    All in nats per image.  ``seconds`` is the cumulative training time (test evaluation
    excluded)."""
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)       # -ELBO (or -(D + beta R))
    train_distortion: list = field(default_factory=list)
    train_rate: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_distortion: list = field(default_factory=list)
    test_rate: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    images_seen: int = 0
    stopped_early: bool = False

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.seconds[-1] if self.seconds and self.seconds[-1] > 0 else 0.0

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(empty)"
        last = f"train -ELBO {self.train_loss[-1]:.2f}"
        if self.test_loss:
            last += f", test -ELBO {self.test_loss[-1]:.2f} (D {self.test_distortion[-1]:.2f}, " \
                    f"R {self.test_rate[-1]:.2f})"
        n = len(self.epoch)
        return (f"History({n} epoch{'s' if n != 1 else ''} in {self.seconds[-1]:.1f} s, {last}, "
                f"{self.images_per_second:.0f} images/s)")


def lr_factor(schedule: str, progress: float) -> float:
    """Multiplier of the base learning rate at ``progress`` in [0, 1] of the training."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


def _as_data(name: str, x) -> torch.Tensor:
    """Training data as float32 [N, D] (NumPy arrays, lists and other float dtypes converted)."""
    return as_tensor(name, x, ndim=2)


def validate_training_options(epochs, batch_size, lr, beta, lr_schedule, dynamic_binarization):
    """The checked values of ``fit``'s options (shared with ``vae_teach_tools.budget``)."""
    if not isinstance(dynamic_binarization, bool) and dynamic_binarization != "auto":
        raise TypeError("dynamic_binarization must be True, False or 'auto', got "
                        f"{dynamic_binarization!r}")
    validate_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
    return (None if epochs is None else validate_positive_int("epochs", epochs),
            validate_positive_int("batch_size", batch_size), validate_positive_float("lr", lr),
            validate_positive_float("beta", beta, allow_zero=True))


def binarize_each_epoch(x_train: torch.Tensor, dynamic_binarization) -> bool:
    """Resolve ``dynamic_binarization="auto"``: redraw when ``x_train`` holds grey levels."""
    # a few thousand rows at a time: no mask as large as the training set
    grey = any(bool(((rows > 0) & (rows < 1)).any()) for rows in x_train.split(2048))
    if dynamic_binarization == "auto":
        return grey
    if dynamic_binarization and not grey:
        warnings.warn("dynamic_binarization=True but x_train is already binary: every redraw "
                      "is the same image. Pass grey levels (load_mnist(binarize=None)).", stacklevel=3)
    return dynamic_binarization


def diverged(loss: torch.Tensor, model, lr: float, batch_size: int, epoch: int,
             step: int) -> FloatingPointError | None:
    """The error to raise if the loss or a parameter is no longer finite, else None."""
    bad = None if torch.isfinite(loss) else f"the loss became {float(loss)}"
    if bad is None:
        name = next((n for n, p in model.named_parameters() if not all_finite(p)), None)
        bad = None if name is None else f"the parameter {name} became non-finite"
    if bad is None:
        return None
    return FloatingPointError(
        f"training diverged at epoch {epoch}, batch {step + 1}: {bad} with lr={lr:g} and "
        f"batch_size={batch_size}. A smaller learning rate (lr=1e-3 is safe for the course's "
        "models) usually fixes it; the model's weights are now useless, build a new one.")


class Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's defaults, bit for bit the CPU arithmetic of
    ``torch.optim.Adam`` (a test compares them) without the 70 MB of ``torch._dynamo`` and SymPy
    that the first ``torch.optim`` optimizer imports into a kernel (docs/benchmark.md).  The
    notebooks' own loops use ``torch.optim.Adam``.  Set ``lr`` between steps for a schedule."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.steps = list(params), lr, betas, eps, 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        (beta1, beta2), t = self.betas, self.steps
        step_size, root = self.lr / (1 - beta1 ** t), (1 - beta2 ** t) ** 0.5
        for p, (mean, square) in zip(self.params, self.moments):
            if p.grad is not None:
                mean.lerp_(p.grad, 1 - beta1)
                square.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(mean, (square.sqrt() / root).add_(self.eps), value=-step_size)


# long: the whole textbook loop in one place, as notebook 07 writes it
def fit(model, x_train: torch.Tensor, *, epochs: int = 20, batch_size: int = 64,
        lr: float = 3e-3, x_test: torch.Tensor | None = None, seed: int = 0,
        progress: bool = True, beta: float = 1.0, lr_schedule: str = "cosine",
        dynamic_binarization: bool | str = "auto") -> History:
    """Train ``model`` by maximizing the ELBO (minimizing -(D + beta R)) with Adam for ``epochs``.

    Each epoch visits ``x_train`` in a random order, ``batch_size`` images per step.  With
    ``dynamic_binarization=True``, ``x_train`` must hold grey levels in [0, 1] and each epoch
    trains on a fresh draw ``Bernoulli(x_train)`` (see ``vae_teach.data``); ``"auto"`` (the
    default) does that when ``x_train`` holds grey levels.  ``lr_schedule="cosine"`` lowers the
    learning rate from ``lr`` to 0 along a half cosine over all the steps.  All randomness (the
    order, the binarization, the noise of the reparameterization) comes from one generator
    seeded with ``seed``; the global random state is left alone.  Raises FloatingPointError as
    soon as the loss or a weight stops being finite (a learning rate too large).

    The defaults are the course's default recipe (``docs/benchmark.md``): batch 64, Adam at
    3e-3 with a cosine decay, 20 epochs, dynamic binarization of grey-level input.
    """
    x_train = _check_model_input(model, x_train)
    if x_test is not None:
        x_test = _check_model_input(model, x_test)
    epochs, batch_size, lr, beta = validate_training_options(
        epochs, batch_size, lr, beta, lr_schedule, dynamic_binarization)
    if epochs is None:
        raise TypeError("epochs must be an int >= 1 (to train for a time budget, use "
                        "vae_teach_tools.budget.fit_for_seconds)")
    seed = validate_seed(seed)
    redraw = binarize_each_epoch(x_train, dynamic_binarization)

    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = Adam(model.parameters(), lr=lr)
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    history = History()
    model.train()
    for epoch in tqdm(range(1, epochs + 1), disable=not progress, desc="training", unit="epoch"):
        start = time.perf_counter()
        data = torch.bernoulli(x_train, generator=generator) if redraw else x_train
        order = torch.randperm(n, generator=generator)
        sums = torch.zeros(3, dtype=torch.float64)
        for step in range(steps_per_epoch):
            progress_done = ((epoch - 1) * steps_per_epoch + step) / (epochs * steps_per_epoch)
            optimizer.lr = lr * lr_factor(lr_schedule, progress_done)
            batch = data[order[step * batch_size:(step + 1) * batch_size]]
            terms = _elbo_terms_unchecked(model, batch, beta=beta, generator=generator)
            loss = -terms.elbo.mean()
            model.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            error = diverged(loss.detach(), model, lr, batch_size, epoch, step)
            if error is not None:
                raise error
            with torch.no_grad():
                sums += torch.stack([-terms.elbo.sum(), terms.distortion.sum(),
                                     terms.rate.sum()]).double()
        record_epoch(history, epoch, sums / n, time.perf_counter() - start, n)
        if x_test is not None:
            record_test(history, evaluate(model, x_test, beta=beta))
    model.eval()
    return history


def record_epoch(history: History, epoch: int, means: torch.Tensor, seconds: float,
                 images: int) -> None:
    """Append one epoch's training averages (-ELBO, D, R) and its time to ``history``."""
    history.epoch.append(epoch)
    for name, value in zip(("train_loss", "train_distortion", "train_rate"), means.tolist()):
        getattr(history, name).append(value)
    history.seconds.append((history.seconds[-1] if history.seconds else 0.0) + seconds)
    history.images_seen += images


def record_test(history: History, test: tuple[float, float, float]) -> None:
    history.test_loss.append(test[0])
    history.test_distortion.append(test[1])
    history.test_rate.append(test[2])


@torch.no_grad()
def evaluate(model, x: torch.Tensor, beta: float = 1.0, batch_size: int = 500) -> tuple[float, float, float]:
    """Mean (-ELBO, D, R) of ``model`` on ``x``, one z sample per image, in nats."""
    x = _check_model_input(model, x)
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        terms = elbo_terms(model, x[start:start + batch_size], beta=beta)
        totals += torch.stack([-terms.elbo.sum(), terms.distortion.sum(), terms.rate.sum()]).double()
    model.train(was_training)
    return tuple((totals / len(x)).tolist())


# ------------------------------------------------------------------------------ train-or-load

def cached_fit(x_train: torch.Tensor, *, model_kwargs: dict | None = None,
               x_test: torch.Tensor | None = None, seed: int = 0, progress: bool = True,
               verbose: bool = True, **fit_kwargs) -> tuple[BernoulliVAE, History]:
    """Train a ``BernoulliVAE(**model_kwargs)`` with ``fit(...)``, or load it if this exact
    configuration (model, fit arguments, seed and the data itself) was trained before.

    The weights are initialised from ``seed`` too, so the configuration fully determines the
    run.  The cache (``vae_teach.cache``: where it lives, how a class shares one, what is
    checked on load) never returns a model of another configuration or a damaged one: it trains
    again, with a warning.  Returns ``(model, history)``, the model in eval mode.
    """
    x_train = _as_data("x_train", x_train)
    if x_test is not None:
        x_test = _as_data("x_test", x_test)
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise TypeError("model_kwargs must be a dict of BernoulliVAE arguments, e.g. "
                        f"dict(latent_dim=2), got {type(model_kwargs).__name__}")
    seed = validate_seed(seed)
    model_kwargs = dict(model_kwargs or {})
    unknown = set(fit_kwargs) - set(inspect.signature(fit).parameters)
    if unknown:
        raise TypeError(f"cached_fit got unknown argument(s) {', '.join(sorted(unknown))}; it takes "
                        "x_train, model_kwargs, x_test, seed, progress, verbose and fit's arguments")
    BernoulliVAE.check_kwargs(**model_kwargs)
    check_unit_interval("x_train", x_train, "hold pixels in [0, 1]", RAW_PIXELS)
    options = with_defaults(fit, fit_kwargs)
    validate_training_options(*(options[name] for name in (
        "epochs", "batch_size", "lr", "beta", "lr_schedule", "dynamic_binarization")))
    # The key holds every argument's value, the defaults included: a changed default (a new
    # course recipe) then trains anew instead of loading a model trained the old way.
    config = cache_config(with_defaults(BernoulliVAE.__init__, model_kwargs),
                          with_defaults(fit, dict(fit_kwargs, seed=seed),
                                        skip=("x_test", "progress")),
                          x_train, x_test)

    def train_now():
        torch.manual_seed(seed)
        model = BernoulliVAE(**model_kwargs)
        return model, fit(model, x_train, x_test=x_test, seed=seed, progress=progress,
                          **fit_kwargs)

    return train_or_load("vae", config, BernoulliVAE, model_kwargs, History, train_now,
                         verbose=verbose,
                         loaded=lambda h: f"loaded a trained model from the cache: {h}",
                         trained=lambda h: f"trained and cached: {h}")
