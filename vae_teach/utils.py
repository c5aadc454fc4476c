"""Small shared helpers: seeding and input checks.  Used by every notebook (00 onwards)."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import random
import sys

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch so a notebook gives the same numbers on every run.

    Returns a ``torch.Generator`` seeded with the same value, for code that wants its own stream.
    """
    seed = validate_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(int(seed))


def setup(seed: int = 0) -> torch.Generator:
    """The one call at the top of every notebook: seed everything and set the course's plot style."""
    from .plots import use_style

    use_style()
    _return_freed_memory_after_each_cell()
    return seed_everything(seed)


def _release_freed_memory(*_args) -> None:
    """Free what the last cell left behind: Python's cyclic garbage first (a figure the inline
    backend has closed is a cycle of tens of thousands of objects plus its pixel buffer, freed
    only by a full collection), then the heap pages glibc keeps after ``free``."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _find_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)      # glibc only; musl has none


_MALLOC_TRIM = _find_malloc_trim()


def _return_freed_memory_after_each_cell() -> None:
    """In a notebook, free the memory a cell has released after every cell.

    Closed figures wait for Python's next full garbage collection, which a kernel full of
    long-lived objects rarely runs, and glibc (Linux) keeps memory that tensors released inside
    its heap for reuse: without this a kernel's RSS only ever grows over a chapter.  The objects
    that exist now (the imported libraries) are frozen out of the collections, so the one after
    each cell only looks at what the chapter created (notebook 07 on a busy two-core machine:
    75 ms per cell in the median, 0.14 s at most).  Outside IPython this does nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    if _release_freed_memory not in shell.events.callbacks["post_run_cell"]:
        gc.collect()
        gc.freeze()
        shell.events.register("post_run_cell", _release_freed_memory)


# ---------------------------------------------------------------------------------------------
# Input checks.  Every public function of the package calls these so that bad input fails with
# a message that names the argument, instead of silently producing NaN.
# ---------------------------------------------------------------------------------------------

def validate_tensor(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
                    allow_empty: bool = False, finite: bool = True) -> torch.Tensor:
    """Check that ``value`` is a floating-point, finite, non-empty torch tensor and return it."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}"
                        + (" (a (model, history) pair? unpack cached_fit's result)"
                           if isinstance(value, tuple) else ""))
    if not torch.is_floating_point(value):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype} "
                        f"(convert with {name}.float())")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if value.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                             f"got shape {tuple(value.shape)}")
    if not allow_empty and (value.numel() == 0 or (value.dim() > 0 and value.shape[0] == 0)):
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)}); pass at least one example")
    if finite and not all_finite(value):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s)")
    return value


def all_finite(value: torch.Tensor) -> bool:
    """Whether every entry of ``value`` is finite, read from its smallest and largest entry: a NaN
    makes both NaN and an infinity is one of them.  Unlike ``torch.isfinite(value).all()`` this
    makes no temporary as large as ``value`` (for the training set, tens of MB per check)."""
    if value.numel() == 0:
        return True
    low, high = torch.aminmax(value.detach())
    return bool(torch.isfinite(low) & torch.isfinite(high))


MAX_ELEMENTS = 2 * 10**8     # ~800 MB of float32: larger requests are refused before allocating


def as_tensor(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
              allow_empty: bool = False, finite: bool = True,
              keep_float64: bool = False) -> torch.Tensor:
    """``value`` as a floating torch tensor, checked like ``validate_tensor``.

    Documented conversions: NumPy arrays, lists and tuples of numbers become float32 tensors
    (float64 arrays stay float64 with ``keep_float64``); float16 and bfloat16 tensors are cast to
    float32, and so are float64 ones unless ``keep_float64`` (the course's models are float32, so
    ``torch.from_numpy(a / 255)`` works).  Integer and boolean tensors are a TypeError saying
    how to convert (they are usually labels or indices passed by mistake).
    """
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], torch.nn.Module):
        raise TypeError(f"{name} is a (model, history) pair; pass data here (did you swap the "
                        "arguments or forget to unpack cached_fit's result?)")
    if isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be data (a tensor), got the model {type(value).__name__}")
    if not isinstance(value, torch.Tensor):
        if isinstance(value, (str, bytes, dict)) or value is None:
            raise TypeError(f"{name} must be a tensor (or a NumPy array), got "
                            f"{type(value).__name__}")
        try:
            array = np.asarray(value)
            wide = keep_float64 and array.dtype == np.float64
            value = torch.as_tensor(array.astype(np.float64 if wide else np.float32))
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a tensor or an array of numbers, got "
                            f"{type(value).__name__} ({error})") from None
    if value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if value.is_floating_point() and value.dtype != torch.float32 and \
            not (keep_float64 and value.dtype == torch.float64):
        value = value.float()
    return validate_tensor(name, value, ndim=ndim, allow_empty=allow_empty, finite=finite)


def validate_size(name: str, value, *, per_item: int = 1, limit: int = MAX_ELEMENTS) -> int:
    """A positive int whose allocation (``value * per_item`` numbers) is below ``limit``."""
    value = validate_positive_int(name, value)
    if value * max(int(per_item), 1) > limit:
        raise ValueError(f"{name}={value} would need about {value * per_item * 4 / 2**30:.1f} GB "
                         f"of memory; choose a smaller {name}")
    return value


def validate_seed(seed) -> int:
    """A seed: an int >= 0 (NumPy integers accepted)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int >= 0, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)


def validate_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def validate_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def validate_positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")
    return value


def validate_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; "
                         f"got {value!r}")


def validate_mixture(weights, means, stds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The parameters of a 1-D Gaussian mixture (tensors or sequences of numbers) as float64
    tensors of one length: weights >= 0 summing to 1, stds > 0 (notebooks 03 and 08)."""
    checked = []
    for name, values in (("weights", weights), ("means", means), ("stds", stds)):
        try:
            tensor = torch.as_tensor(values, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a 1-D sequence or tensor of numbers, got "
                            f"{type(values).__name__} {values!r}") from None
        if tensor.dim() != 1 or tensor.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(tensor.shape)}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        checked.append(tensor)
    weights, means, stds = checked
    if not (len(weights) == len(means) == len(stds)):
        raise ValueError(f"weights, means and stds must have the same length, got "
                         f"{len(weights)}, {len(means)}, {len(stds)}")
    if (weights < 0).any() or abs(float(weights.sum()) - 1) > 1e-6:
        raise ValueError(f"weights must be >= 0 and sum to 1, got {weights.tolist()}")
    if (stds <= 0).any():
        raise ValueError(f"stds must be > 0, got {stds.tolist()}")
    return weights, means, stds
