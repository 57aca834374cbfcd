"""Shared fixtures: the verified airfoil file, and a private data directory for tests that break files."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from d2lmini import data  # noqa: E402


@pytest.fixture(scope="session")
def airfoil_path() -> Path:
    """The airfoil file that ships with the course, verified."""
    return data.data_file("airfoil_self_noise.dat")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that ``D2LMINI_DATA_DIR`` points at."""
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
def good_copy(data_dir: Path, airfoil_path: Path) -> Path:
    """A good copy of the airfoil file in the private data directory."""
    return Path(shutil.copy(airfoil_path, data_dir / airfoil_path.name))
