"""The model cache shared by a class: a teacher's read-only folder, a sticky (1777) folder, a
setgid group (2775) folder, used by other, non-root users.

The students are uids without a passwd entry and without HOME (``setpriv``), so these tests need
root (to switch user) and a Python the students can run: the interpreter running the tests if
others may execute it, else the system's ``python3.X`` of the same version with this
interpreter's site-packages (which must then be readable by others).  Otherwise they skip and
say why.  The teacher's fill of notebooks 07 and 10 trains ten models (minutes), so that case
carries the ``classroom`` marker; notebook 00's runs in the default suite.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import vae_teach
from vae_teach import cache

CLASS_GID = 47000
STUDENTS = (47001, 47002)
REPO = Path(vae_teach.__file__).resolve().parents[1]


def _others_can_use(path: Path) -> bool:
    """Whether a user that is neither owner nor in the group can read ``path`` (and every folder
    above it can be traversed)."""
    path = path.resolve()
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        needed = stat.S_IROTH | (stat.S_IXOTH if parent.is_dir() else 0)
        if parent != path and not mode & stat.S_IXOTH:
            return False
        if parent == path and mode & needed != needed:
            return False
    return True


def _student_python() -> list[str] | None:
    """The command that starts a Python with torch and vae_teach for another user, or None."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    if not _others_can_use(REPO / "vae_teach" / "__init__.py"):
        return None
    packages = Path(sysconfig.get_paths()["purelib"])
    prefix = f"import site, sys; site.addsitedir({str(packages)!r}); sys.path.insert(0, {str(REPO)!r})"
    candidates = [Path(sys.executable), Path(f"/usr/bin/python{sys.version_info.major}."
                                             f"{sys.version_info.minor}")]
    for python in candidates:
        if python.exists() and _others_can_use(python.resolve()) and _others_can_use(packages):
            return [str(python), "-c", prefix + "\nexec(open(sys.argv[1]).read())"]
    return None


STUDENT_PYTHON = _student_python()
pytestmark = pytest.mark.skipif(
    STUDENT_PYTHON is None,
    reason="needs root, setpriv, and a Python with torch that other users may run")


def as_student(uid: int, code: str, env: dict, tmp_path: Path, *, umask: int = 0o022,
               timeout: float = 1200) -> dict:
    """Run ``code`` as uid ``uid`` (own group, member of CLASS_GID, no passwd entry, no HOME); it must print
    one JSON line, which is returned."""
    script = tmp_path / f"student-{uid}-{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    script.chmod(0o644)
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={CLASS_GID}",
               "--inh-caps=-all", "--bounding-set=-all", "--",
               "sh", "-c", f"umask {umask:03o} && exec \"$@\"", "sh", *STUDENT_PYTHON, str(script)]
    base = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, env={**base, **env}, capture_output=True, text=True,
                          cwd="/", timeout=timeout)
    assert done.returncode == 0, f"student {uid} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


LOAD_WITHOUT_TRAINING = """
    import functools, json, sys, time
    from vae_teach import cache, train, toy2d

    def refusing(function):        # same signature (the cache key reads the defaults), no training
        @functools.wraps(function)
        def no_training(*args, **kwargs):
            raise AssertionError("a student trained a model the teacher's cache holds")
        return no_training

    train.fit = refusing(train.fit)
    toy2d.fit_toy_vae, toy2d.fit_toy_gan = refusing(toy2d.fit_toy_vae), refusing(toy2d.fit_toy_gan)
    times = {{}}
    for spec in cache.course_models({chapters!r}):
        start = time.perf_counter()
        cache.run_course_model(spec, verbose=False)
        times[spec.description] = round(time.perf_counter() - start, 2)
    print(json.dumps(times))
"""


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def _teacher_fills(folder: Path, chapters) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae_teach.cache", "fill", str(folder), "--chapters",
                    *chapters], check=True, capture_output=True, timeout=7200)
    seconds = time.perf_counter() - start
    subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    return seconds


@pytest.fixture
def class_tmp():
    """A folder the students can reach (pytest's own temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="vae-teach-class-"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("chapters", [
    ("00",), pytest.param(("07", "10"), marks=pytest.mark.classroom)], ids=["00", "07-and-10"])
def test_students_load_the_teachers_read_only_cache_without_training_or_writing(class_tmp,
                                                                               chapters):
    teacher = class_tmp / "teacher"
    given = os.environ.get("VAE_TEACH_TEST_FILLED_CACHE")   # a folder filled before (faster)
    if given:                                     # (a missing entry fails the no-training check)
        shutil.copytree(given, teacher)
        subprocess.run(["chmod", "-R", "a-w", str(teacher)], check=True)
        fill_seconds = None
    else:
        fill_seconds = _teacher_fills(teacher, chapters)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in teacher.glob("*.pt"))
    before = _snapshot(teacher)
    own = class_tmp / "student-own"                          # where the student could write
    own.mkdir(mode=0o1777)
    own.chmod(0o1777)
    env = {"VAE_TEACH_CACHE": f"{teacher}{os.pathsep}{own / 'cache'}"}
    times = as_student(STUDENTS[0], LOAD_WITHOUT_TRAINING.format(chapters=list(chapters)), env,
                       class_tmp)
    assert len(times) == len(cache.course_models(chapters))
    assert _snapshot(teacher) == before                      # nothing written to the teacher's
    assert not (own / "cache").exists()                      # nor anywhere else: loads only
    print(f"\nteacher's fill of {chapters}: {fill_seconds} s; student's loads (s): {times}")


MISSING_ENTRY = """
    import json
    from vae_teach.data import load_mnist
    from vae_teach.train import cached_fit
    model, history = cached_fit(load_mnist("train")[0][:128], model_kwargs=dict(hidden_dim=8,
                                latent_dim=2), epochs=1, progress=False)
    print(json.dumps({"epochs": len(history.epoch)}))
"""


def test_a_missing_entry_in_a_read_only_cache_trains_and_returns_with_one_message(class_tmp):
    teacher = class_tmp / "teacher"
    teacher.mkdir()
    teacher.chmod(0o555)
    result = as_student(STUDENTS[0], MISSING_ENTRY, {"VAE_TEACH_CACHE": str(teacher)},
                        class_tmp)
    assert result == {"epochs": 1}
    assert list(teacher.iterdir()) == []


SHARED_USE = """
    import json, warnings
    from vae_teach import train
    from vae_teach.data import load_mnist
    trained = []
    real_fit = train.fit
    import functools
    @functools.wraps(real_fit)
    def counting_fit(*args, **kwargs):
        trained.append(1)
        return real_fit(*args, **kwargs)
    train.fit = counting_fit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train.cached_fit(load_mnist("train")[0][:128], model_kwargs=dict(hidden_dim=8,
                         latent_dim=2), epochs=1, progress=False)
    print(json.dumps({"trained": len(trained), "warnings": [str(w.message) for w in caught]}))
"""


@pytest.mark.parametrize("mode, umask", [(0o1777, 0o022), (0o2775, 0o002)],
                         ids=["sticky-1777", "setgid-group-2775"])
def test_a_shared_folder_serves_every_student(class_tmp, mode, umask, capfd):
    shared = class_tmp / "shared"
    shared.mkdir()
    os.chown(shared, 0, CLASS_GID)
    shared.chmod(mode)
    env = {"VAE_TEACH_CACHE": str(shared)}
    first = as_student(STUDENTS[0], SHARED_USE, env, class_tmp, umask=umask)
    second = as_student(STUDENTS[1], SHARED_USE, env, class_tmp, umask=umask)
    assert first["trained"] == 1 and second["trained"] == 0        # the second one loads
    (entry,) = shared.glob("*.pt")
    assert entry.stat().st_uid == STUDENTS[0] and entry.stat().st_mode & stat.S_IROTH
    if mode & stat.S_ISGID:
        assert entry.stat().st_gid == CLASS_GID
    # the first student's entry goes bad: the second retrains, and where the sticky bit forbids
    # replacing another user's file, keeps the model in memory instead of crashing
    raw = bytearray(entry.read_bytes())
    raw[-5] ^= 0xFF
    entry.write_bytes(bytes(raw))
    again = as_student(STUDENTS[1], SHARED_USE, env, class_tmp, umask=umask)
    assert again["trained"] == 1 and any("damaged" in w for w in again["warnings"])
    if mode & stat.S_ISVTX:
        assert entry.stat().st_uid == STUDENTS[0]               # could not be replaced
    else:
        assert entry.stat().st_uid == STUDENTS[1]               # replaced by the second student
        assert cache.inspect_entry(entry)[0]
