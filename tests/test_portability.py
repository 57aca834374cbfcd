"""d2lmini's claims about where it runs: Python 3.10 syntax, version ranges that the lock satisfies, no torchvision."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from conftest import locked_versions

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "d2lmini").glob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_parses_as_python_3_10(path: Path) -> None:
    ast.parse(path.read_text(), feature_version=(3, 10))


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def test_readers_get_ranges_and_the_lock_satisfies_them() -> None:
    """requirements*.txt give ranges (readers install into their own environments); the lock pins every one of those
    packages at a version inside its range, so `make test` and `make test LOCK=` install the same set."""
    lock = locked_versions()
    for path in (ROOT / "requirements.txt", ROOT / "requirements-dev.txt"):
        for requirement in _requirements(path):
            assert not any(s.operator == "==" for s in requirement.specifier), f"{path.name}: {requirement} is pinned"
            name = re.sub(r"[-_.]+", "-", requirement.name).lower()
            assert name in lock, f"{requirement.name} is not in requirements-lock.txt"
            assert requirement.specifier.contains(lock[name], prereleases=True), (requirement, lock[name])


def test_the_installed_versions_satisfy_the_declared_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in map(Requirement, project["dependencies"]):
        installed = version(requirement.name).split("+", 1)[0]
        assert requirement.specifier.contains(installed, prereleases=True), (requirement, installed)


def test_importing_d2lmini_does_not_import_torchvision_or_d2l() -> None:
    optional = "('torchvision', 'd2l', 'pooch', 'lion_pytorch', 'schedulefree')"
    code = f"import sys, d2lmini; print(sorted(m for m in {optional} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
