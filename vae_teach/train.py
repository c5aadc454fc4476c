"""Training by maximizing the ELBO, and train-or-load with a cache (notebooks 01, 07, 09, 10).

``fit`` is a plain in-memory loop: the whole training set is one tensor, each epoch is a random
permutation sliced into batches, so there is no per-sample DataLoader overhead.
``cached_fit`` trains once per configuration and loads the result afterwards.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .models import BernoulliVAE
from .objectives import _check_model_input, _elbo_terms_unchecked, elbo_terms
from .utils import check_choice, check_positive_float, check_positive_int

LR_SCHEDULES = ("constant", "cosine")
CACHE_FORMAT = 2   # 2: fit's defaults became the bench-tuned recipe (issue 7)


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(**data)

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
        return (f"History({len(self.epoch)} epochs in {self.seconds[-1]:.1f} s, {last}, "
                f"{self.images_per_second:.0f} images/s)")


def lr_factor(schedule: str, progress: float) -> float:
    """Multiplier of the base learning rate at ``progress`` in [0, 1] of the training budget."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


def _adam(parameters, lr: float, fused: bool) -> torch.optim.Adam:
    """Adam, with the fused kernel if asked for and supported (else the default loop)."""
    parameters = list(parameters)
    if fused:
        try:
            return torch.optim.Adam(parameters, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # old torch or unsupported dtype/device
            pass
    return torch.optim.Adam(parameters, lr=lr)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, beta: float = 1.0, batch_size: int = 2000) -> tuple[float, float, float]:
    """Mean (-ELBO, D, R) of ``model`` on ``x``, one z sample per image, in nats."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        terms = elbo_terms(model, x[start:start + batch_size], beta=beta)
        totals += torch.stack([-terms.elbo.sum(), terms.distortion.sum(), terms.rate.sum()]).double()
    model.train(was_training)
    return tuple((totals / len(x)).tolist())


def fit(model, x_train: torch.Tensor, *, epochs: int | None = 20, batch_size: int = 64,
        lr: float = 3e-3, x_test: torch.Tensor | None = None, max_seconds: float | None = None,
        seed: int = 0, progress: bool = True, beta: float = 1.0,
        lr_schedule: str = "cosine", dynamic_binarization: bool | str = "auto",
        fused_adam: bool = True) -> History:
    """Train ``model`` by maximizing the ELBO (minimizing -(D + beta R)) with Adam.

    Stops after ``epochs`` epochs or ``max_seconds`` seconds of training, whichever comes first
    (``epochs=None`` with ``max_seconds`` trains until the time is up).  With
    ``dynamic_binarization=True``, ``x_train`` must hold grey levels in [0, 1] and each epoch
    trains on a fresh draw ``Bernoulli(x_train)`` (see ``vae_teach.data``); ``"auto"`` (the
    default) does that when ``x_train`` holds grey levels and trains on ``x_train`` as it is when
    it is already binary.  The learning-rate schedule runs over the budget: the fraction of
    epochs done or of ``max_seconds`` used, whichever is larger.

    The defaults are the course's default recipe (README, "Performance"; measured by
    ``python -m vae_teach.bench``): batch 64, Adam at 3e-3 with a cosine decay over the budget,
    20 epochs, dynamic binarization of grey-level input.  ``fused_adam=True`` uses torch's fused Adam kernel where the
    parameters allow it (same update rule, up to float rounding; ~4 ms less per step than the
    per-parameter loop on a 784-400-20 MLP, see ``python -m vae_teach.bench``).
    """
    _check_model_input(model, x_train)
    if x_test is not None:
        _check_model_input(model, x_test)
    if epochs is None and max_seconds is None:
        raise ValueError("give epochs, max_seconds, or both: training needs a stopping rule")
    if epochs is not None:
        epochs = check_positive_int("epochs", epochs)
    if max_seconds is not None:
        max_seconds = check_positive_float("max_seconds", max_seconds)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    beta = check_positive_float("beta", beta, allow_zero=True)
    check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
    if not isinstance(fused_adam, bool):
        raise TypeError(f"fused_adam must be a bool, got {type(fused_adam).__name__}")
    if dynamic_binarization == "auto":
        dynamic_binarization = bool(((x_train > 0) & (x_train < 1)).any())
    elif not isinstance(dynamic_binarization, bool):
        raise TypeError("dynamic_binarization must be True, False or 'auto', got "
                        f"{dynamic_binarization!r}")
    if dynamic_binarization and ((x_train > 0) & (x_train < 1)).sum() == 0:
        warnings.warn("dynamic_binarization=True but x_train is already binary: every redraw "
                      "is the same image. Pass grey levels (load_mnist(binarize=None)).")

    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)               # the reparameterization noise inside elbo_terms
    optimizer = _adam(model.parameters(), lr, fused_adam)
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    history = History()
    bar = tqdm(total=epochs if epochs is not None else None, disable=not progress,
               desc="training", unit="epoch", leave=True)
    train_seconds, epoch = 0.0, 0
    model.train()
    while epochs is None or epoch < epochs:
        epoch_start = time.perf_counter()
        data = torch.bernoulli(x_train, generator=generator) if dynamic_binarization else x_train
        order = torch.randperm(n, generator=generator)
        sums = torch.zeros(3, dtype=torch.float64)
        seen = 0
        for step in range(steps_per_epoch):
            if lr_schedule != "constant":
                done = (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch) if epochs else 0.0
                used = (train_seconds + time.perf_counter() - epoch_start) / max_seconds \
                    if max_seconds else 0.0
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_factor(lr_schedule, max(done, used))
            batch = data[order[step * batch_size:(step + 1) * batch_size]]
            terms = _elbo_terms_unchecked(model, batch, beta=beta)
            loss = -terms.elbo.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                sums += torch.stack([-terms.elbo.sum(), terms.distortion.sum(),
                                     terms.rate.sum()]).double()
            seen += batch.shape[0]
            if max_seconds is not None and \
                    train_seconds + time.perf_counter() - epoch_start >= max_seconds:
                history.stopped_early = True
                break
        train_seconds += time.perf_counter() - epoch_start
        epoch += 1
        history.images_seen += seen
        means = (sums / max(seen, 1)).tolist()
        history.epoch.append(epoch)
        history.train_loss.append(means[0])
        history.train_distortion.append(means[1])
        history.train_rate.append(means[2])
        history.seconds.append(train_seconds)
        postfix = {"train -ELBO": f"{means[0]:.1f}"}
        if x_test is not None:
            test = evaluate(model, x_test, beta=beta)
            history.test_loss.append(test[0])
            history.test_distortion.append(test[1])
            history.test_rate.append(test[2])
            postfix["test -ELBO"] = f"{test[0]:.1f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update(1)
        if history.stopped_early:
            break
    bar.close()
    model.eval()
    return history


# ------------------------------------------------------------------------------ train-or-load

def cache_dir() -> Path:
    """Where trained models are kept: ``$VAE_TEACH_CACHE`` or ``~/.cache/vae_teach``."""
    return Path(os.environ.get("VAE_TEACH_CACHE", Path.home() / ".cache" / "vae_teach"))


def _tensor_digest(x: torch.Tensor | None) -> str | None:
    if x is None:
        return None
    data = x.detach().contiguous().cpu()
    return hashlib.sha256(data.numpy().tobytes()).hexdigest()[:16] + f":{tuple(data.shape)}"


def cache_key(model_kwargs: dict, fit_kwargs: dict, x_train: torch.Tensor,
              x_test: torch.Tensor | None) -> str:
    """A hash of everything that determines the trained model."""
    config = {"format": CACHE_FORMAT, "torch": torch.__version__.split("+")[0],
              "model": dict(sorted(model_kwargs.items())),
              "fit": {k: v for k, v in sorted(fit_kwargs.items()) if k != "progress"},
              "x_train": _tensor_digest(x_train), "x_test": _tensor_digest(x_test)}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


def with_defaults(function, kwargs: dict, skip: tuple[str, ...] = ()) -> dict:
    """``kwargs`` completed with ``function``'s keyword defaults (minus the names in ``skip``)."""
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.default is not inspect.Parameter.empty and name not in skip}
    return {**defaults, **kwargs}


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_fit(x_train: torch.Tensor, *, model_kwargs: dict | None = None,
               x_test: torch.Tensor | None = None, seed: int = 0, progress: bool = True,
               verbose: bool = True, **fit_kwargs) -> tuple[BernoulliVAE, History]:
    """Train a ``BernoulliVAE(**model_kwargs)`` with ``fit(...)``, or load it if this exact
    configuration (model, fit arguments, seed and the data itself) was trained before.

    The weights are initialised from ``seed`` too, so the cache key fully determines the run
    (up to the time limit, if ``max_seconds`` is given).  Entries are written atomically and
    loaded with ``torch.load(..., weights_only=True)``; an unreadable or mismatched entry is
    retrained and overwritten, with a warning.  Returns ``(model, history)``, model in eval mode.
    """
    model_kwargs = dict(model_kwargs or {})
    # The key holds every argument's value, the defaults included: a changed default (a new
    # course recipe) then trains anew instead of loading a model trained the old way.
    key = cache_key(with_defaults(BernoulliVAE.__init__, model_kwargs),
                    with_defaults(fit, dict(fit_kwargs, seed=seed), skip=("x_test", "progress")),
                    x_train, x_test)
    path = cache_dir() / f"vae-{key}.pt"

    def train_now():
        torch.manual_seed(seed)
        model = BernoulliVAE(**model_kwargs)
        return model, fit(model, x_train, x_test=x_test, seed=seed, progress=progress,
                          **fit_kwargs)

    return train_or_load(path, BernoulliVAE, History, train_now, verbose=verbose,
                         loaded=lambda h: f"loaded a trained model from the cache ({path.name}): {h}",
                         trained=lambda h: f"trained and cached ({path.name}): {h}")


def train_or_load(path: Path, build, history_type, train, *, verbose: bool = True,
                  loaded=str, trained=str):
    """The cache's train-or-load step, for every cached model of the course.

    If ``path`` holds a readable entry, rebuild ``build(**model_kwargs)``, load its weights
    (``torch.load(..., weights_only=True)``) and its ``history_type.from_dict`` history;
    otherwise (no entry, or a corrupt or stale one, with a warning) call ``train()`` ->
    ``(model, history)`` and save the entry atomically.  The model needs ``.config`` (its
    constructor's keyword arguments), the history ``.to_dict()``.  ``loaded(history)`` /
    ``trained(history)`` give the line printed when ``verbose``.  Returns ``(model, history)``,
    the model in eval mode.
    """
    if path.exists():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            model = build(**entry["model_kwargs"])
            model.load_state_dict(entry["state_dict"])
            history = history_type.from_dict(entry["history"])
            model.eval()
            if verbose:
                print(loaded(history))
            return model, history
        except Exception as error:  # a corrupt or stale entry: retrain rather than crash
            warnings.warn(f"cache entry {path} could not be loaded ({type(error).__name__}: "
                          f"{error}); retraining")
    model, history = train()
    _atomic_save({"model_kwargs": model.config, "state_dict": model.state_dict(),
                  "history": history.to_dict()}, path)
    model.eval()
    if verbose:
        print(trained(history))
    return model, history
