"""The environment check of notebook 00 (vae_teach.environment)."""
import re
import warnings
from pathlib import Path

import pytest

from vae_teach import environment
from vae_teach.data import DataFileError

ROOT = Path(__file__).resolve().parent.parent


def test_tested_versions_follow_the_lock():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", (ROOT / "requirements.txt").read_text(),
                           flags=re.M))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    for name, tested in environment.TESTED.items():
        if name == "python":
            continue
        assert name in pins, f"{name} is checked by notebook 00 but not pinned in requirements.txt"
        assert environment._major_minor(pins[name]) == environment._major_minor(tested), name


@pytest.mark.parametrize("version, verdict", [("2.13.0+cpu", "tested"), ("2.13.7", "tested"),
                                              ("2.14.0", "newer"), ("3.0", "newer"),
                                              ("2.9.1", "older"), (None, "missing")])
def test_compare_reads_major_minor(version, verdict):
    assert environment.compare({"torch": version})["torch"] == verdict


def test_untested_version_warns_and_goes_on(monkeypatch, capsys):
    real = environment.installed_versions()
    monkeypatch.setattr(environment, "installed_versions", lambda: {**real, "torch": "2.99.0"})
    with pytest.warns(environment.EnvironmentWarning, match="torch 2.99.0"):
        verdicts = environment.check_environment(load_data=False)
    assert verdicts["torch"] == "newer"
    assert "newer than tested" in capsys.readouterr().out


def test_the_tested_environment_does_not_warn(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", environment.EnvironmentWarning)
        verdicts = environment.check_environment()
    assert set(verdicts.values()) == {"tested"}
    assert "checksum OK, 2000 test images" in capsys.readouterr().out


def test_missing_package_names_the_install_command(monkeypatch):
    real = environment.installed_versions()
    monkeypatch.setattr(environment, "installed_versions", lambda: {**real, "scipy": None})
    with pytest.raises(ModuleNotFoundError, match=r"scipy.*requirements\.txt"):
        environment.check_environment(load_data=False)


def test_damaged_data_shows_the_recovery_hint(monkeypatch, tmp_path):
    from vae_teach import data
    broken = tmp_path / "mnist_10k.npz"
    broken.write_bytes(data.MNIST_FILE.read_bytes()[:-10])
    data._fixed_binary.cache_clear()
    monkeypatch.setattr(data, "_load_arrays",
                        lambda path=str(broken), _real=data._load_arrays: _real(path))
    try:
        with pytest.raises(DataFileError, match="reinstall"):
            environment.check_environment()
    finally:
        data._fixed_binary.cache_clear()
