"""The environment check of notebook 00: versions, threads and the bundled data.

``check_environment()`` prints one line per package the course uses, compares each version with
the range the course was tested on, and *warns* (it does not stop) when a version lies outside
it: a university hub or Colab brings its own torch, and a newer release usually works.  It then
loads the bundled digits through ``load_mnist``, whose own checksum test raises a
``DataFileError`` that says how to recover when the file is missing or damaged.

``TESTED`` is the single place that says which versions were tested; a unit test keeps it in step
with ``requirements.txt`` (the exact lock a classroom installs).
"""
from __future__ import annotations

import os
import platform
import sys
import warnings
from importlib import metadata

# Major.minor versions CI runs the course with (the pins of requirements.txt).  The oldest
# versions that should work are the ranges declared in pyproject.toml.
TESTED = {
    "python": "3.11",
    "torch": "2.13",
    "numpy": "2.4",
    "scipy": "1.17",
    "pandas": "3.1",
    "matplotlib": "3.11",
    "scikit-learn": "1.9",
    "tqdm": "4.70",
    "ipywidgets": "8.1",
    "ipykernel": "7.4",
}


class EnvironmentWarning(UserWarning):
    """A package version outside the range the course was tested with."""


def _major_minor(version: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13)``; unparsable parts count as 0."""
    parts = []
    for piece in version.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def installed_versions() -> dict[str, str | None]:
    """The installed version of each package in ``TESTED`` (``None`` if it is missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in TESTED:
        if name == "python":
            continue
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def compare(versions: dict[str, str | None]) -> dict[str, str]:
    """For each package: ``"tested"``, ``"newer"``, ``"older"`` or ``"missing"``."""
    verdicts = {}
    for name, tested in TESTED.items():
        version = versions.get(name)
        if version is None:
            verdicts[name] = "missing"
            continue
        have, want = _major_minor(version), _major_minor(tested)
        verdicts[name] = "tested" if have == want else ("newer" if have > want else "older")
    return verdicts


def check_environment(*, load_data: bool = True) -> dict[str, str]:
    """Print versions, threads and the data check; warn for versions outside the tested range.

    Returns the verdict per package (see ``compare``).  A missing package or a damaged data file
    raises with a message that says how to fix it; an untested version only warns.
    """
    import torch

    versions = installed_versions()
    verdicts = compare(versions)
    marks = {"tested": "", "newer": "  (newer than tested)", "older": "  (OLDER than tested)",
             "missing": "  (MISSING)"}
    for name, verdict in verdicts.items():
        shown = versions.get(name) or "-"
        print(f"{name:<13}{shown:<14}tested with {TESTED[name]}.x{marks[verdict]}")
    from . import __version__
    print(f"{'vae_teach':<13}{__version__:<14}from {os.path.dirname(__file__)}")
    print(f"torch threads: {torch.get_num_threads()}   CPU cores: {os.cpu_count()}   "
          f"{platform.system()} {platform.machine()}")

    missing = [name for name, verdict in verdicts.items() if verdict == "missing"]
    if missing:
        raise ModuleNotFoundError(
            f"the course needs {', '.join(missing)}, which this kernel cannot find. Install the "
            "course's requirements (python3 -m pip install -r requirements.txt) into the "
            "environment of this kernel, then restart it.")
    if sys.version_info < (3, 11):
        warnings.warn("the course needs Python 3.11 or newer; some packages will not install",
                      EnvironmentWarning, stacklevel=2)
    untested = {name: verdict for name, verdict in verdicts.items() if verdict != "tested"}
    if untested:
        names = ", ".join(f"{name} {versions[name]}" for name in untested)
        warnings.warn(
            f"{names}: outside the versions the course was tested with. The course usually "
            "works with newer releases; if a cell fails, install the tested versions with "
            "python3 -m pip install -r requirements.txt in a fresh virtual environment.",
            EnvironmentWarning, stacklevel=2)

    if load_data:
        from .data import MNIST_FILE, load_mnist
        x, labels = load_mnist("test", binarize="fixed")   # verifies the SHA-256 first
        print(f"data         {MNIST_FILE.name}: checksum OK, {len(x)} test images")
    return verdicts
