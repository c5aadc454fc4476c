"""The model cache: train a configuration once, load it afterwards (notebooks 00, 01, 02, 07, 09, 10).

Where entries live
------------------
``$VAE_TEACH_CACHE`` names one folder or several, separated like ``PATH`` (``:`` on Linux and
macOS, ``;`` on Windows).  Folders are searched in that order; new entries are written to the
first folder that can be written.  A class shares models like this: the teacher fills a folder
once (``python -m vae_teach.cache fill /srv/vae-cache``), makes it read-only, and every student
sets ``VAE_TEACH_CACHE=/srv/vae-cache:~/.cache/vae_teach`` (the teacher's folder first, then
their own).  Unset, the cache is ``~/.cache/vae_teach``.  ``~`` is expanded; an empty or a
relative folder is refused with a ValueError (a relative path would write into whatever folder
the kernel happens to run in, usually the repository).

What an entry is
----------------
One file ``<kind>-<key>.pt``: a header line with the SHA-256 of the rest, then a
``torch.save`` payload (loaded with ``weights_only=True``) holding the configuration the model
was trained with, its constructor arguments, its weights and its history.  On load the checksum,
the configuration (against the request), the weights' shapes (against the requested model,
before anything is built from the file) and their finiteness are checked; any failure gives one
warning and the model is trained again.  Entries are written readable by others (the umask
decides, as for any file) through a temporary file and an atomic rename, under a per-entry lock,
so a second kernel asking for the same model waits for the first and loads its result.  If no
folder can be written (read-only cache, full disk) the trained model is still returned, with one
message naming the folders.

Commands
--------
``python -m vae_teach.cache fill DIR [--chapters 00 07 ...]``  train and store every model the
course trains (the list is ``COURSE_MODELS``); ``list [DIR]``  show the entries; ``check [DIR]``
verify every entry (exit status 1 if one is damaged).
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import inspect
import io
import json
import math
import os
import socket
import stat
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .utils import all_finite

ENV_VAR = "VAE_TEACH_CACHE"
CACHE_FORMAT = 3   # 3: checksummed entries that carry their configuration
MAGIC = b"VAE-TEACH-CACHE"
MAX_ENTRY_BYTES = 256 * 2**20      # the course's largest entry is about 5 MB
STALE_TEMP_SECONDS = 24 * 3600     # a temporary file this old is abandoned, whoever wrote it


class CacheError(Exception):
    """An entry that must not be used (damaged, of another configuration, not a file...)."""


# --------------------------------------------------------------------------------- folders

def default_cache_dir() -> Path:
    """``~/.cache/vae_teach``; if the home folder cannot be determined, a per-user folder in the
    system's temporary folder (so a kernel without ``HOME`` still works)."""
    try:
        home = Path.home()
    except (RuntimeError, KeyError, OSError):
        home = None
    if home is None or not home.is_absolute():
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return Path(tempfile.gettempdir()) / f"vae_teach-cache-{uid}"
    return home / ".cache" / "vae_teach"


def cache_dirs() -> list[Path]:
    """The cache folders, in search order: ``$VAE_TEACH_CACHE`` split like ``PATH``, or the default.

    Evaluated at each call (never at import), so setting the variable in a running kernel works.
    """
    value = os.environ.get(ENV_VAR)
    if value is None:
        return [default_cache_dir()]
    dirs = []
    for part in value.split(os.pathsep):
        if not part.strip():
            raise ValueError(
                f"{ENV_VAR}={value!r} names an empty folder: give absolute folders separated by "
                f"{os.pathsep!r} (or unset it to use {default_cache_dir()})")
        path = Path(part.strip()).expanduser()
        if not path.is_absolute():
            raise ValueError(
                f"{ENV_VAR} must name absolute folders, got {part!r}: a relative folder would write "
                "models into whatever folder the kernel runs in (often the course's repository). "
                f"Use for example {ENV_VAR}={default_cache_dir()}")
        dirs.append(path)
    return dirs


def cache_dir() -> Path:
    """The student's own cache folder: the last folder of ``cache_dirs()``."""
    return cache_dirs()[-1]


# -------------------------------------------------------------------------------- the key

def _tensor_digest(x: torch.Tensor | None) -> str | None:
    if x is None:
        return None
    data = x.detach().contiguous().cpu()
    # hashed in place (the array's buffer), not through a copy of the whole training set
    return hashlib.sha256(data.numpy().reshape(-1)).hexdigest()[:16] + f":{tuple(data.shape)}"


def cache_config(model_kwargs: dict, fit_kwargs: dict, x_train: torch.Tensor,
                 x_test: torch.Tensor | None) -> dict:
    """Everything that determines a trained model, as JSON-ready values."""
    config = {"format": CACHE_FORMAT, "torch": torch.__version__.split("+")[0],
              "model": dict(sorted(model_kwargs.items())),
              "fit": {k: v for k, v in sorted(fit_kwargs.items()) if k != "progress"},
              "x_train": _tensor_digest(x_train), "x_test": _tensor_digest(x_test)}
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def config_key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]


def cache_key(model_kwargs: dict, fit_kwargs: dict, x_train: torch.Tensor,
              x_test: torch.Tensor | None) -> str:
    """A hash of everything that determines the trained model."""
    return config_key(cache_config(model_kwargs, fit_kwargs, x_train, x_test))


def with_defaults(function, kwargs: dict, skip: tuple[str, ...] = ()) -> dict:
    """``kwargs`` completed with ``function``'s keyword defaults (minus the names in ``skip``)."""
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.default is not inspect.Parameter.empty and name not in skip}
    return {**defaults, **kwargs}


# ------------------------------------------------------------------------- reading entries

def _encode_entry(entry: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(entry, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    return MAGIC + b" " + str(CACHE_FORMAT).encode() + b" sha256=" + digest + b"\n" + payload


def _read_regular_file(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of plausible size; None if it does not
    exist; CacheError otherwise.  Opened without blocking, so a FIFO cannot hang the kernel."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CacheError(f"cannot be opened ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CacheError("is not a regular file")
        if info.st_size > MAX_ENTRY_BYTES:
            raise CacheError(f"is implausibly large ({info.st_size / 2**20:.0f} MB)")
        return os.read(fd, info.st_size)     # a regular file: one read returns all of it
    finally:
        os.close(fd)


def _decode_entry(raw: bytes) -> dict:
    header, newline, payload = raw.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != MAGIC or not parts[2].startswith(b"sha256="):
        raise CacheError("is not a vae_teach cache entry of this version (no checksum header)")
    if parts[1] != str(CACHE_FORMAT).encode():
        raise CacheError(f"has cache format {parts[1].decode(errors='replace')}, "
                         f"this version reads {CACHE_FORMAT}")
    if hashlib.sha256(payload).hexdigest().encode() != parts[2][len("sha256="):]:
        raise CacheError("is damaged (its checksum does not match its content)")
    entry = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    if not isinstance(entry, dict) or not {"config", "model_kwargs", "state_dict",
                                           "history"} <= set(entry):
        raise CacheError("lacks the fields of an entry")
    return entry


def _non_finite(state: dict) -> str | None:
    """The name of the first floating-point tensor of ``state`` holding an inf or a NaN."""
    return next((k for k, t in state.items() if t.is_floating_point() and not all_finite(t)), None)


def _check_entry(entry: dict, config: dict, expected_shapes: dict) -> None:
    if entry["config"] != config:
        raise CacheError("was trained with another configuration than the one asked for")
    state = entry["state_dict"]
    shapes = {name: tuple(t.shape) for name, t in state.items()}
    if shapes != expected_shapes:
        raise CacheError("holds weights of other shapes than the requested model")
    if (name := _non_finite(state)) is not None:
        raise CacheError(f"holds non-finite weights ({name})")


def _load_entry(path: Path, config: dict, build, model_kwargs: dict, expected_shapes: dict,
                history_type):
    raw = _read_regular_file(path)
    if raw is None:
        return None
    entry = _decode_entry(raw)
    _check_entry(entry, config, expected_shapes)
    model = build(**model_kwargs)
    model.load_state_dict(entry["state_dict"])
    history = history_type(**entry["history"])
    model.eval()
    return model, history


def _expected_shapes(build, model_kwargs: dict) -> dict:
    """The state_dict shapes of ``build(**model_kwargs)``, computed on the meta device (no memory)."""
    try:
        with torch.device("meta"):
            model = build(**model_kwargs)
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta: build it for real
        model = build(**model_kwargs)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


# ------------------------------------------------------------------------- writing entries

def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True     # exists but belongs to someone else (or cannot tell): keep its file
    return True


def clean_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporary files left by writers that died: ours carry host and pid in their name
    (``.<entry>.<host>.<pid>.tmp``); one of this host whose process is gone, or any older than a
    day, is abandoned.  Returns the removed paths; files that cannot be removed are left."""
    removed, now = [], time.time()
    try:
        candidates = [p for p in folder.iterdir() if p.name.endswith(".tmp") and ".pt" in p.name]
    except OSError:
        return removed
    for path in candidates:
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        parts = path.name.split(".")
        dead = False
        if len(parts) >= 4 and parts[-3] == _host_tag() and parts[-2].isdigit():
            dead = not _pid_alive(int(parts[-2]))
        if dead or age > STALE_TEMP_SECONDS:
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


def _write_entry(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically, with the permissions the umask gives new files."""
    tmp = path.with_name(f".{path.name}.{_host_tag()}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


@contextmanager
def _entry_lock(folder: Path, name: str, on_wait=None):
    """An exclusive lock for one entry (``fcntl.flock`` on ``.<name>.lock``).  Where locking is
    not available (Windows, some network file systems) it is skipped: at worst two kernels train
    the same model and the second write wins."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock_path = folder / f".{name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        try:
            fd = os.open(lock_path, os.O_RDONLY)
        except OSError:
            yield
            return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass                      # locking not supported here: go on without
        yield
    finally:
        os.close(fd)                  # releases the lock


def _describe(folders) -> str:
    return ", ".join(str(f) for f in folders)


# ------------------------------------------------------------------------------ train-or-load

_RECORDER: list | None = None      # set by ``recording()``: names of the entries asked for


@contextmanager
def recording():
    """Record the entry names every train-or-load asks for (used by ``fill`` and the tests)."""
    global _RECORDER
    previous, _RECORDER = _RECORDER, []
    try:
        yield _RECORDER
    finally:
        _RECORDER = previous


# long: find, lock, re-check and write are one protocol; apart they would hide its order
def train_or_load(kind: str, config: dict, build, model_kwargs: dict, history_type, train, *,
                  verbose: bool = True, loaded=str, trained=str):
    """The cache's train-or-load step, for every cached model of the course.

    ``config`` (JSON-ready) determines the model; the entry is ``<kind>-<key>.pt`` with ``key`` a
    hash of ``config``.  Each folder of ``cache_dirs()`` is searched for a valid entry (see the
    module docstring); if one is found, ``build(**model_kwargs)`` gets its weights and the
    dataclass ``history_type`` its history.  Otherwise ``train()`` -> ``(model, history)`` runs
    (under the entry's lock in the first writable folder, re-checking the entry once the lock is
    held) and the result is stored.  ``loaded(history)`` / ``trained(history)`` give the line
    printed when ``verbose``.  Returns ``(model, history)``, the model in eval mode.
    """
    name = f"{kind}-{config_key(config)}.pt"
    if _RECORDER is not None:
        _RECORDER.append(name)
    folders = cache_dirs()
    expected = _expected_shapes(build, model_kwargs)

    warned = set()

    def find():
        for folder in folders:
            path = folder / name
            try:
                result = _load_entry(path, config, build, model_kwargs, expected, history_type)
            except Exception as error:  # noqa: BLE001 - any unreadable entry means: train
                reason = str(error) if isinstance(error, CacheError) else \
                    f"could not be read ({type(error).__name__}: {error})"
                if path not in warned:          # once, though the entry is looked at twice
                    warnings.warn(f"cache entry {path} {reason}; training the model again",
                                  stacklevel=4)
                    warned.add(path)
                continue
            if result is not None:
                if verbose:
                    print(loaded(result[1]))
                return result
        return None

    found = find()
    if found is not None:
        return found
    target = next((folder for folder in folders if _writable(folder)), None)
    if target is None:
        model, history = _train_checked(train)
        print(f"The model cache cannot be written ({_describe(folders)}): the model was trained "
              f"and is kept in memory only. Set {ENV_VAR} to end with a folder you can write "
              "to keep it.")
        return model, history

    def waiting():
        print(f"Another kernel is training this model ({name}); waiting for it to finish...")

    with _entry_lock(target, name, waiting):
        found = find()
        if found is not None:
            return found
        model, history = _train_checked(train)
        entry = {"config": config, "model_kwargs": dict(model_kwargs),
                 "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "history": asdict(history)}
        clean_stale_temporaries(target)
        try:
            _write_entry(_encode_entry(entry), target / name)
        except OSError as error:
            reason = "the disk is full" if error.errno == errno.ENOSPC else \
                (error.strerror or type(error).__name__)
            print(f"The trained model could not be stored in {target} ({reason}): it is kept in "
                  "memory only and will be trained again in a new kernel.")
        else:
            if verbose:
                print(trained(history))
    model.eval()
    return model, history


def _train_checked(train):
    model, history = train()
    if (name := _non_finite(model.state_dict())) is not None:
        raise FloatingPointError(f"training produced non-finite weights ({name}); "
                                 "nothing was cached. Try a smaller learning rate.")
    model.eval()
    return model, history


# ----------------------------------------------------------------- the course's cached models

@dataclass(frozen=True)
class CourseModel:
    """One model the course trains through the cache.  ``data`` names the training data:
    ``"mnist"`` (``load_mnist("train")``, test set ``load_mnist("test")`` if ``with_test``),
    optionally with ``n_train`` (the first images only), or ``"ring"`` (notebook 02's
    ``toy2d.ring_of_gaussians(10_000)`` drawn first from a generator seeded with 0)."""
    chapters: tuple[str, ...]
    function: str                      # "cached_fit" or "cached_toy_fit:<kind>"
    data: str
    model_kwargs: dict
    fit_kwargs: dict
    with_test: bool = False
    n_train: int | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)


_MLP16 = dict(input_dim=784, hidden_dim=512, latent_dim=16, n_hidden_layers=1, activation="relu")
_FIT07 = dict(epochs=6, batch_size=64, lr=2e-3, lr_schedule="cosine", dynamic_binarization=False,
              seed=0)
_BETA_MODEL = dict(input_dim=784, hidden_dim=256, latent_dim=10)
_BETA_FIT = dict(epochs=3, batch_size=128, lr=2e-3, lr_schedule="constant",
                 dynamic_binarization=False)

COURSE_MODELS: tuple[CourseModel, ...] = (
    CourseModel(("00",), "cached_fit", "mnist", dict(hidden_dim=64, latent_dim=2),
                dict(epochs=1, seed=0), n_train=2000, description="00: the cache check"),
    CourseModel(("01", "09"), "cached_fit", "mnist", _MLP16,
                dict(epochs=10, batch_size=128, lr=2e-3, seed=0), with_test=True,
                description="01 and 09: the 16-dimensional VAE"),
    CourseModel(("02",), "cached_toy_fit:gan", "ring", dict(seeds=(0, 1, 2), hidden_dim=64),
                dict(n_steps=3000, batch_size=256, lr=2e-3, snapshot_every=100,
                     snapshot_size=1000), description="02: three GAN runs"),
    CourseModel(("02",), "cached_toy_fit:vae", "ring",
                dict(seeds=(0, 1, 2), hidden_dim=64, decoder_noise="per_z", max_decoder_std=1.0),
                dict(n_steps=1500, batch_size=256, lr=3e-3), description="02: three toy VAE runs"),
    CourseModel(("07",), "cached_fit", "mnist", _MLP16, _FIT07, with_test=True,
                description="07: the K = 16 VAE"),
    CourseModel(("07",), "cached_fit", "mnist",
                dict(input_dim=784, hidden_dim=256, latent_dim=32, n_hidden_layers=1,
                     activation="relu"),
                dict(seed=0, epochs=3, batch_size=128, lr=1e-3, lr_schedule="constant",
                     dynamic_binarization=False), description="07: the source text's twin"),
    CourseModel(("07",), "cached_fit", "mnist", dict(_MLP16, latent_dim=2), _FIT07,
                with_test=True, description="07: the K = 2 VAE"),
) + tuple(
    CourseModel(("10",), "cached_fit", "mnist", _BETA_MODEL, dict(_BETA_FIT, beta=beta, seed=0),
                description=f"10: beta-VAE, beta = {beta:g}")
    for beta in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0))


def _course_data(spec: CourseModel):
    if spec.data == "ring":
        from .toy2d import ring_of_gaussians
        return ring_of_gaussians(10_000, generator=torch.Generator().manual_seed(0))[0], None
    from .data import load_mnist
    x_train = load_mnist("train")[0]
    if spec.n_train is not None:
        x_train = x_train[:spec.n_train]
    return x_train, (load_mnist("test")[0] if spec.with_test else None)


def run_course_model(spec: CourseModel, *, verbose: bool = True, progress: bool = False):
    """Train-or-load one entry of ``COURSE_MODELS`` exactly as its notebook does."""
    x_train, x_test = _course_data(spec)
    if spec.function == "cached_fit":
        from .train import cached_fit
        return cached_fit(x_train, model_kwargs=dict(spec.model_kwargs), x_test=x_test,
                          progress=progress, verbose=verbose, **spec.fit_kwargs)
    from .toy2d import cached_toy_fit
    return cached_toy_fit(spec.function.split(":")[1], x_train,
                          model_kwargs=dict(spec.model_kwargs), progress=progress,
                          verbose=verbose, **spec.fit_kwargs)


def course_models(chapters=None) -> list[CourseModel]:
    if not chapters:
        return list(COURSE_MODELS)
    wanted = {str(c).zfill(2) for c in chapters}
    return [m for m in COURSE_MODELS if wanted & set(m.chapters)]


# -------------------------------------------------------------------------------- commands

def fill(folder, chapters=None, *, verbose: bool = True) -> list[str]:
    """Train (or find) every course model of ``chapters`` (all if None) into ``folder`` alone;
    returns the entry names."""
    folder = Path(folder).expanduser().resolve()
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(folder)
    try:
        with recording() as names:
            for spec in course_models(chapters):
                if verbose:
                    print(f"[{spec.description}]", flush=True)
                run_course_model(spec, verbose=verbose)
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous
    return list(names)


def _entries(folders):
    for folder in folders:
        try:
            paths = sorted(p for p in folder.iterdir()
                           if p.name.endswith(".pt") and not p.name.startswith("."))
        except OSError:
            continue
        yield from paths


def inspect_entry(path: Path) -> tuple[bool, str]:
    """(ok, description) for one entry file, without building a model."""
    try:
        raw = _read_regular_file(path)
        if raw is None:
            return False, "missing"
        entry = _decode_entry(raw)
    except Exception as error:  # noqa: BLE001
        return False, str(error)
    if (bad := _non_finite(entry["state_dict"])) is not None:
        return False, f"non-finite weights ({bad})"
    model = entry["config"].get("model", {})
    fit_kwargs = entry["config"].get("fit", {})
    brief = ", ".join(f"{k}={model[k]}" for k in ("hidden_dim", "latent_dim", "seeds")
                      if k in model)
    brief += "; " + ", ".join(f"{k}={fit_kwargs[k]}" for k in
                              ("epochs", "n_steps", "batch_size", "lr", "beta") if k in fit_kwargs)
    return True, brief


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_teach.cache",
                                     description="The course's model cache.")
    commands = parser.add_subparsers(dest="command", required=True)
    p_fill = commands.add_parser("fill", help="train and store every model the course trains")
    p_fill.add_argument("folder")
    p_fill.add_argument("--chapters", nargs="*", help="only these chapters (e.g. 00 07 10)")
    for name, text in (("list", "show the entries"), ("check", "verify every entry")):
        p = commands.add_parser(name, help=text)
        p.add_argument("folder", nargs="?", help=f"default: the folders of ${ENV_VAR}")
    args = parser.parse_args(argv)
    if args.command == "fill":
        start = time.perf_counter()
        names = fill(args.folder, args.chapters)
        print(f"{len(set(names))} entries in {Path(args.folder).expanduser().resolve()} "
              f"({time.perf_counter() - start:.0f} s). Students: "
              f"{ENV_VAR}={Path(args.folder).expanduser().resolve()}{os.pathsep}"
              "~/.cache/vae_teach")
        return 0
    folders = [Path(args.folder).expanduser()] if args.folder else cache_dirs()
    n_bad = 0
    for path in _entries(folders):
        ok, text = inspect_entry(path)
        n_bad += not ok
        size = path.stat().st_size / 2**20 if path.is_file() else math.nan
        print(f"{'ok ' if ok else 'BAD'}  {path}  {size:5.1f} MB  {text}")
    if args.command == "check":
        print(f"{n_bad} damaged entr{'y' if n_bad == 1 else 'ies'}" +
              (" (delete them; they are trained again when needed)" if n_bad else ""))
        return 1 if n_bad else 0
    return 0


if __name__ == "__main__":
    # run the imported module's main, so that the recorder cached_fit sees is the one fill reads
    from vae_teach import cache as _cache
    sys.exit(_cache.main())
