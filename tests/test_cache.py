"""The model cache (vae_teach.cache): folders, entries that cannot lie, writes that never crash,
the per-entry lock, and the list of the course's cached models.

Each test reproduces one way the cache used to fail (a read-only or shared folder, a damaged,
foreign or hostile entry, a full disk, an odd VAE_TEACH_CACHE) and checks the behaviour a student
and a teacher expect now.  Tests with a second (non-root) user are in test_cache_shared.py.
"""
import ast
import errno
import functools
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from vae_teach import cache, train
from vae_teach.cache import COURSE_MODELS, CacheError, cache_dirs
from vae_teach.data import load_mnist
from vae_teach.models import BernoulliVAE
from vae_teach.train import cached_fit

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(model_kwargs=dict(hidden_dim=8, latent_dim=2), epochs=1, progress=False,
             verbose=False)


@pytest.fixture(scope="module")
def x_small():
    return load_mnist("train")[0][:128]


@pytest.fixture
def own(tmp_path, monkeypatch):
    folder = tmp_path / "own"
    monkeypatch.setenv("VAE_TEACH_CACHE", str(folder))
    return folder


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real_fit = train.fit

    @functools.wraps(real_fit)                  # same signature: cached_fit reads fit's defaults
    def counting_fit(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    return calls


def entries(folder):
    return sorted(p for p in Path(folder).glob("*.pt"))


# ----------------------------------------------------------------------------------- folders

def test_the_cache_folders_are_a_path_list_resolved_at_call_time(tmp_path, monkeypatch):
    a, b = tmp_path / "teacher", tmp_path / "student"
    monkeypatch.setenv("VAE_TEACH_CACHE", f"{a}{os.pathsep}{b}")
    assert cache_dirs() == [a, b] and cache.cache_dir() == b
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAE_TEACH_CACHE", "~/models")
    assert cache_dirs() == [tmp_path / "home" / "models"]
    monkeypatch.delenv("VAE_TEACH_CACHE")
    assert cache_dirs() == [tmp_path / "home" / ".cache" / "vae_teach"]


@pytest.mark.parametrize("value, phrase", [("", "empty folder"), ("models", "absolute folders"),
                                           ("notebooks/~/x", "absolute folders"),
                                           (f"/tmp/a{os.pathsep}", "empty folder"),
                                           (f"/tmp/a{os.pathsep}rel", "absolute folders")],
                         ids=["empty", "relative", "relative-with-tilde", "trailing-separator",
                              "relative-second"])
def test_an_empty_or_relative_cache_folder_is_refused(monkeypatch, value, phrase, x_small):
    monkeypatch.setenv("VAE_TEACH_CACHE", value)
    with pytest.raises(ValueError, match=phrase):
        cache_dirs()
    before = set(REPO.rglob("*.pt"))
    with pytest.raises(ValueError, match="VAE_TEACH_CACHE"):
        cached_fit(x_small, **SMALL)
    assert set(REPO.rglob("*.pt")) == before                 # nothing written into the repository


def test_no_home_folder_is_needed_when_the_variable_is_set(tmp_path, monkeypatch):
    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path))
    assert cache_dirs() == [tmp_path]
    monkeypatch.delenv("VAE_TEACH_CACHE")
    (fallback,) = cache_dirs()                                # no crash without it either
    assert fallback.is_absolute() and "vae_teach" in fallback.name


def test_import_does_not_look_for_the_home_folder():
    script = "import vae_teach.train, vae_teach.cache, vae_teach.toy2d; print('ok')"
    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    env["VAE_TEACH_CACHE"] = "/tmp/unused-vae-cache"
    done = subprocess.run([sys.executable, "-c", "import pathlib\n"
                           "pathlib.Path.home = lambda: (_ for _ in ()).throw(RuntimeError('no home'))\n"
                           + script], env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr


# -------------------------------------------------------------------------- train, then load

def test_a_read_only_folder_first_is_read_and_never_written(tmp_path, monkeypatch, x_small,
                                                            count_training):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    monkeypatch.setenv("VAE_TEACH_CACHE", str(teacher))
    model, history = cached_fit(x_small, **SMALL)
    assert len(count_training) == 1
    (entry,) = entries(teacher)
    snapshot = {p.name: p.stat().st_mtime_ns for p in teacher.iterdir()}
    monkeypatch.setenv("VAE_TEACH_CACHE", f"{teacher}{os.pathsep}{student}")
    again, history_again = cached_fit(x_small, **SMALL)
    assert len(count_training) == 1 and history_again == history
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values()))
    assert not student.exists()                               # loading never writes
    assert {p.name: p.stat().st_mtime_ns for p in teacher.iterdir()} == snapshot


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
                         ids=["umask-022", "umask-002", "umask-077"])
def test_entries_get_the_permissions_the_umask_gives(own, x_small, umask, mode):
    old = os.umask(umask)
    try:
        cached_fit(x_small, **SMALL)
    finally:
        os.umask(old)
    (entry,) = entries(own)
    assert stat.S_IMODE(entry.stat().st_mode) == mode


def test_no_writable_folder_trains_and_returns_the_model_with_one_message(tmp_path, monkeypatch,
                                                                          x_small, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VAE_TEACH_CACHE", str(blocker / "cache"))
    model, history = cached_fit(x_small, **SMALL)
    assert isinstance(model, BernoulliVAE) and len(history.epoch) == 1
    out = capsys.readouterr().out
    assert out.count("cannot be written") == 1 and str(blocker / "cache") in out


def test_a_cache_variable_naming_a_file_trains_and_returns(tmp_path, monkeypatch, x_small,
                                                           capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VAE_TEACH_CACHE", str(blocker))
    model, _ = cached_fit(x_small, **SMALL)
    assert "cannot be written" in capsys.readouterr().out
    assert blocker.read_text() == "not a folder"


def test_a_full_disk_returns_the_model_and_names_the_folder(own, monkeypatch, x_small, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.os, "fsync", full)
    model, history = cached_fit(x_small, **SMALL)
    assert len(history.epoch) == 1
    out = capsys.readouterr().out
    assert "disk is full" in out and str(own) in out
    assert not list(own.glob("*.pt")) and not list(own.glob("*.tmp"))


def test_the_entry_path_is_a_directory(own, x_small, capsys):
    cached_fit(x_small, **SMALL)
    (entry,) = entries(own)
    entry.unlink()
    entry.mkdir()
    with pytest.warns(UserWarning, match="not a regular file") as caught:
        model, history = cached_fit(x_small, **SMALL)
    assert len(caught) == 1 and len(history.epoch) == 1
    assert "could not be stored" in capsys.readouterr().out


def test_a_fifo_at_the_entry_path_does_not_hang(own, x_small):
    cached_fit(x_small, **SMALL)
    (entry,) = entries(own)
    entry.unlink()
    os.mkfifo(entry)

    def hung(*_):
        raise TimeoutError("cached_fit hung on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        with pytest.warns(UserWarning, match="not a regular file"):
            model, history = cached_fit(x_small, **SMALL)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert len(history.epoch) == 1


# ----------------------------------------------------------------------- entries that cannot lie

def _request(x_small, **model_kwargs):
    """(config, name, expected shapes) of the SMALL request, for direct checks of an entry."""
    kwargs = dict(SMALL["model_kwargs"], **model_kwargs)
    config = cache.cache_config(
        cache.with_defaults(BernoulliVAE.__init__, kwargs),
        cache.with_defaults(train.fit, dict(epochs=1, seed=0), skip=("x_test", "progress")),
        x_small, None)
    return config, f"vae-{cache.config_key(config)}.pt", cache._expected_shapes(BernoulliVAE, kwargs)


def test_forty_byte_flips_are_all_caught(own, x_small):
    cached_fit(x_small, **SMALL)
    (entry,) = entries(own)
    config, name, shapes = _request(x_small)
    assert entry.name == name
    raw = entry.read_bytes()
    generator = torch.Generator().manual_seed(0)
    positions = torch.randint(0, len(raw), (40,), generator=generator).tolist()
    caught = 0
    for position in positions:
        damaged = bytearray(raw)
        damaged[position] ^= 0x10
        entry.write_bytes(bytes(damaged))
        with pytest.raises(Exception) as error:
            cache._load_entry(entry, config, BernoulliVAE, SMALL["model_kwargs"], shapes,
                              train.History)
        caught += isinstance(error.value, CacheError)
    assert caught == 40
    entry.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))     # and through cached_fit: a warning
    with pytest.warns(UserWarning, match="damaged"):
        cached_fit(x_small, **SMALL)
    assert cache.inspect_entry(entry)[0]


def _forge(entry, x_small, **changes):
    """Rewrite ``entry`` with a valid checksum but changed content."""
    payload = cache._decode_entry(entry.read_bytes())
    for key, value in changes.items():
        payload[key] = value(payload[key]) if callable(value) else value
    entry.write_bytes(cache._encode_entry(payload))


def test_an_entry_with_nan_weights_is_retrained(own, x_small, count_training):
    cached_fit(x_small, **SMALL)
    (entry,) = entries(own)

    def poison(state):
        state = dict(state)
        state["decoder.0.weight"] = torch.full_like(state["decoder.0.weight"], float("nan"))
        return state

    _forge(entry, x_small, state_dict=poison)
    with pytest.warns(UserWarning, match="non-finite weights"):
        model, _ = cached_fit(x_small, **SMALL)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(count_training) == 2


def test_an_entry_of_another_architecture_is_not_loaded(own, x_small, count_training):
    cached_fit(x_small, **dict(SMALL, model_kwargs=dict(hidden_dim=8, latent_dim=3)))
    (foreign,) = entries(own)
    _, name, _ = _request(x_small)                         # what latent_dim=2 is stored under
    foreign.rename(own / name)
    with pytest.warns(UserWarning, match="another configuration"):
        model, _ = cached_fit(x_small, **SMALL)
    assert model.latent_dim == 2 and len(count_training) == 2


def test_an_implausible_entry_is_refused_before_anything_is_allocated(own, x_small, monkeypatch):
    cached_fit(x_small, **SMALL)
    (entry,) = entries(own)
    # the configuration matches the request, the stored weights claim another size
    _forge(entry, x_small, model_kwargs=dict(SMALL["model_kwargs"], hidden_dim=100_000),
           state_dict=lambda s: {**s, "encoder.0.weight": torch.zeros(3, 784)})
    built = []
    real_init = BernoulliVAE.__init__

    @functools.wraps(real_init)
    def recording_init(self, *args, **kwargs):
        built.append(kwargs.get("hidden_dim", args[1] if len(args) > 1 else None))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(BernoulliVAE, "__init__", recording_init)
    with pytest.warns(UserWarning, match="other shapes"):
        model, _ = cached_fit(x_small, **SMALL)
    assert 100_000 not in built and model.hidden_dim == 8
    big = own / "vae-huge.pt"                                # a file too large to be an entry
    with open(big, "wb") as handle:
        handle.truncate(cache.MAX_ENTRY_BYTES + 1)
    with pytest.raises(CacheError, match="implausibly large"):
        cache._read_regular_file(big)


def test_temporary_files_of_dead_writers_are_removed(own, x_small):
    own.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = cache._host_tag()
    orphan = own / f".vae-0123.pt.{host}.{dead.pid}.tmp"
    old_style = own / "vae-0123.ptab12cd.tmp"                 # left by the older cache
    alive = own / f".vae-4567.pt.{host}.{os.getppid()}.tmp"
    for path in (orphan, old_style, alive):
        path.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old_style, (two_days_ago, two_days_ago))
    cached_fit(x_small, **SMALL)
    assert not orphan.exists() and not old_style.exists() and alive.exists()


def test_an_entry_is_replaced_atomically_and_a_killed_writer_leaves_no_entry(own, x_small,
                                                                             monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cached_fit(x_small, **SMALL)
    assert not list(own.glob("*.pt")) and not list(own.glob("*.tmp"))


# ----------------------------------------------------------------------------- two kernels

LOCK_SCRIPT = textwrap.dedent("""
    import functools, sys, time, torch
    from vae_teach import train
    from vae_teach.data import load_mnist
    real_fit = train.fit
    @functools.wraps(real_fit)
    def slow_fit(*args, **kwargs):
        time.sleep(float(sys.argv[1]))          # a long training, without using the CPU
        return real_fit(*args, **kwargs)
    train.fit = slow_fit
    start = time.time()
    model, history = train.cached_fit(load_mnist("train")[0][:128], model_kwargs=dict(
        hidden_dim=8, latent_dim=2), epochs=1, progress=False, verbose=True)
    print("DONE", time.time() - start, flush=True)
""")


def test_a_second_kernel_waits_for_the_first_and_loads_its_model(tmp_path):
    env = dict(os.environ, VAE_TEACH_CACHE=str(tmp_path / "shared"))
    script = tmp_path / "kernel.py"
    script.write_text(LOCK_SCRIPT)
    first = subprocess.Popen([sys.executable, str(script), "20"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300                             # wait until the first holds the lock
    while not list((tmp_path / "shared").glob(".*.lock")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    second = subprocess.Popen([sys.executable, str(script), "20"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_first, err_first = first.communicate(timeout=600)
    out_second, err_second = second.communicate(timeout=600)
    assert "trained and cached" in out_first, err_first
    assert "waiting for it" in out_second and "loaded a trained model" in out_second, err_second
    assert "trained and cached" not in out_second
    assert len(entries(tmp_path / "shared")) == 1
    print("lock timings (s): first", out_first.split("DONE")[-1].strip(),
          "second", out_second.split("DONE")[-1].strip())


# --------------------------------------------------------------------- the course's cached models

class _Data:
    """A stand-in for a notebook's data: remembers its name and slicing."""

    def __init__(self, name, n=None):
        self.name, self.n = name, n

    def __getitem__(self, item):
        assert isinstance(item, slice) and item.start is None and item.step is None
        return _Data(self.name, item.stop)


def _notebook_requests():
    """Every cached_fit / cached_toy_fit call the notebooks make, with the arguments they pass.

    Runs, cell by cell, only the notebooks' top-level imports, assignments of plain values and
    the statements that call the cache (loops included) and the imports, with x_train / x_test replaced by
    stand-ins and the two functions by recorders: a fraction of a second instead of running
    every chapter.  A call this cannot evaluate fails the test (update it or the registry)."""
    import nbformat

    calls = []

    def recorder(function):
        def record(*args, **kwargs):
            calls.append((function, args, kwargs))
            return None, None
        return record

    class Toy2d:
        cached_toy_fit = staticmethod(lambda kind, x, **kw: recorder(f"cached_toy_fit:{kind}")(x, **kw))

    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        namespace = {"x_train": _Data("ring" if path.name.startswith("02") else "mnist"),
                     "x_test": _Data("mnist-test"), "toy2d": Toy2d, "notebook": path.name}
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or "cached_" not in cell.source and "=" not in cell.source:
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                text = ast.get_source_segment(cell.source, node)
                calls_cache = "cached_fit(" in text or "cached_toy_fit(" in text
                plain = isinstance(node, (ast.Import, ast.ImportFrom)) or \
                    isinstance(node, ast.Assign) and _plain_value(node.value)
                if calls_cache or plain:
                    namespace["cached_fit"] = recorder("cached_fit")
                    namespace["toy2d"] = Toy2d
                    try:
                        exec(compile(ast.Module([node], []), path.name, "exec"), namespace)
                    except Exception as error:
                        if calls_cache:
                            raise AssertionError(f"{path.name}: cannot evaluate {text!r}: "
                                                 f"{error}") from error
                    namespace["cached_fit"] = recorder("cached_fit")
    return calls


def _plain_value(node) -> bool:
    """A literal, a name, or dict(...)/tuple of those: safe and cheap to evaluate."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_plain_value(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_plain_value(k) and _plain_value(v) for k, v in zip(node.keys, node.values)
                   if k is not None)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return all(_plain_value(k.value) for k in node.keywords) and \
            all(_plain_value(a) for a in node.args)
    return False


def _normalized(function, data, model_kwargs, fit_kwargs, with_test):
    fit_kwargs = {k: v for k, v in fit_kwargs.items() if k not in ("progress", "verbose")}
    if function == "cached_fit":
        fit_kwargs.setdefault("seed", 0)
    return json.dumps([function, data, with_test, model_kwargs, fit_kwargs], sort_keys=True,
                      default=list)


def test_every_model_the_notebooks_cache_is_in_the_course_registry():
    requests = set()
    for function, args, kwargs in _notebook_requests():
        kwargs = dict(kwargs)
        data = args[0]
        x_test = kwargs.pop("x_test", None)
        model_kwargs = kwargs.pop("model_kwargs", {})
        requests.add(_normalized(function, [data.name, data.n], model_kwargs, kwargs,
                                 x_test is not None))
    registry = {_normalized(m.function, [m.data, m.n_train], m.model_kwargs, m.fit_kwargs,
                            m.with_test) for m in COURSE_MODELS}
    assert len(requests) >= 12                      # 00, 01/09, 02 (2), 07 (3), 10 (7 betas)
    assert requests - registry == set(), \
        f"notebooks cache models the fill command does not train: {requests - registry}"
    assert registry - requests == set(), \
        f"the registry lists models no notebook asks for: {registry - requests}"


def test_fill_and_the_notebook_calls_ask_for_the_same_entries(tmp_path, monkeypatch):
    """The registry entry of notebook 00, run as fill runs it and as the notebook calls it,
    gives one entry name: the data and defaults fill uses are the notebook's."""
    (spec,) = [m for m in COURSE_MODELS if m.chapters == ("00",)]
    monkeypatch.setenv("VAE_TEACH_CACHE", str(tmp_path))
    names = cache.fill(tmp_path, chapters=["00"], verbose=False)
    x_train, _ = load_mnist("train")
    with cache.recording() as asked:
        cached_fit(x_train[:2000], model_kwargs=dict(hidden_dim=64, latent_dim=2), epochs=1,
                   progress=False)
    assert names == asked and [p.name for p in entries(tmp_path)] == names
    listing = subprocess.run([sys.executable, "-m", "vae_teach.cache", "check", str(tmp_path)],
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0 and "0 damaged" in listing.stdout
    (entry,) = entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:-10])
    listing = subprocess.run([sys.executable, "-m", "vae_teach.cache", "check", str(tmp_path)],
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 1 and "BAD" in listing.stdout and "damaged" in listing.stdout
