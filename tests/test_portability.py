"""d2lmini's claims about where it runs: Python 3.10 syntax, torch's lowest version, no torchvision."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "d2lmini").glob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_parses_as_python_3_10(path: Path) -> None:
    ast.parse(path.read_text(), feature_version=(3, 10))


def test_declares_the_versions_it_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert "torch>=2.2" in project["dependencies"]
    requirements = (ROOT / "requirements.txt").read_text()
    assert "==" not in requirements and "jupyter-book>=1.0.4.post1,<2" in requirements


def test_importing_d2lmini_does_not_import_torchvision_or_d2l() -> None:
    code = "import sys, d2lmini; print(sorted(m for m in ('torchvision', 'd2l', 'pooch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
