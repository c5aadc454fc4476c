"""Training for a wall-clock budget: the benchmark's loop (``python -m vae_teach_tools.bench``).

The course trains with ``vae_teach.train.fit``, which stops after a number of epochs, so its
results do not depend on the machine's speed.  The benchmark compares recipes at equal *time*:
``fit_for_seconds`` is ``fit``'s loop with a time limit, a learning-rate schedule that follows
the fraction of the budget used (epochs or seconds, whichever is further along), torch's fused
Adam kernel where the parameters allow it, and the images per second it reached.  Its results
depend on the machine; never use it for a number a chapter asserts.
"""
from __future__ import annotations

import math
import time

import torch

from vae_teach.objectives import _check_model_input, _elbo_terms_unchecked
from vae_teach.train import (History, binarize_each_epoch, validate_training_options, diverged,
                             evaluate, fit, lr_factor, record_epoch, record_test)
from vae_teach.utils import validate_positive_float, validate_seed


def adam(parameters, lr: float, fused: bool) -> torch.optim.Adam:
    """Adam, with the fused kernel if asked for and supported (else the per-parameter loop)."""
    parameters = list(parameters)
    if fused:
        try:
            return torch.optim.Adam(parameters, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # old torch or unsupported dtype/device
            pass
    return torch.optim.Adam(parameters, lr=lr)


# long: train.fit's loop with the clock read at every step, kept line for line comparable to it
def fit_for_seconds(model, x_train: torch.Tensor, max_seconds: float | None, *,
                    epochs: int | None = None, batch_size: int = 64, lr: float = 3e-3,
                    x_test: torch.Tensor | None = None, seed: int = 0, progress: bool = True,
                    beta: float = 1.0, lr_schedule: str = "cosine",
                    dynamic_binarization: bool | str = "auto",
                    fused_adam: bool = True) -> History:
    """``fit`` stopped after ``max_seconds`` of training or ``epochs`` epochs, whichever comes
    first (at least one must be given).  The time is read with ``time.perf_counter`` at each
    step (the benchmark may swap it for the CPU clock).  ``history.stopped_early`` tells whether
    the time ran out; ``history.images_per_second`` is the speed reached."""
    x_train = _check_model_input(model, x_train)
    if x_test is not None:
        x_test = _check_model_input(model, x_test)
    if epochs is None and max_seconds is None:
        raise ValueError("give epochs, max_seconds, or both: training needs a stopping rule")
    if max_seconds is not None:
        max_seconds = validate_positive_float("max_seconds", max_seconds)
    if not isinstance(fused_adam, bool):
        raise TypeError(f"fused_adam must be a bool, got {type(fused_adam).__name__}")
    epochs, batch_size, lr, beta = validate_training_options(
        epochs, batch_size, lr, beta, lr_schedule, dynamic_binarization)
    seed = validate_seed(seed)
    redraw = binarize_each_epoch(x_train, dynamic_binarization)

    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = adam(model.parameters(), lr, fused_adam)
    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    history = History()
    bar = tqdm(total=epochs, disable=not progress, desc="training", unit="epoch")
    train_seconds, epoch = 0.0, 0
    model.train()
    while epochs is None or epoch < epochs:
        epoch_start = time.perf_counter()
        data = torch.bernoulli(x_train, generator=generator) if redraw else x_train
        order = torch.randperm(n, generator=generator)
        sums = torch.zeros(3, dtype=torch.float64)
        seen = 0
        for step in range(steps_per_epoch):
            elapsed = train_seconds + time.perf_counter() - epoch_start
            done = (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch) if epochs else 0.0
            used = elapsed / max_seconds if max_seconds else 0.0
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(lr_schedule, max(done, used))
            batch = data[order[step * batch_size:(step + 1) * batch_size]]
            terms = _elbo_terms_unchecked(model, batch, beta=beta, generator=generator)
            loss = -terms.elbo.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            error = diverged(loss.detach(), model, lr, batch_size, epoch + 1, step)
            if error is not None:
                raise error
            with torch.no_grad():
                sums += torch.stack([-terms.elbo.sum(), terms.distortion.sum(),
                                     terms.rate.sum()]).double()
            seen += batch.shape[0]
            if max_seconds is not None and \
                    train_seconds + time.perf_counter() - epoch_start >= max_seconds:
                history.stopped_early = True
                break
        seconds = time.perf_counter() - epoch_start
        train_seconds += seconds
        epoch += 1
        record_epoch(history, epoch, sums / max(seen, 1), seconds, seen)
        if x_test is not None:
            record_test(history, evaluate(model, x_test, beta=beta))
        bar.update(1)
        if history.stopped_early:
            break
    bar.close()
    model.eval()
    return history


__all__ = ["adam", "fit", "fit_for_seconds"]
