"""Shared fixtures and the suite's policies.

- Stored notebook outputs are compared strictly (nbval) only on the versions they were made with
  (``requirements-lock.txt``), on the CPU model they were made on, and without a GPU; elsewhere the notebooks
  still run top to bottom, and only errors fail (nbval's lax mode), since other versions or processors change last
  digits. The report header says which mode ran and why.
- ``slow`` marks the notebooks, the site build, the browser tests and the fresh-environment tests; ``make
  test-fast`` deselects them.
- With ``D2LMINI_STRICT_SKIPS=1`` (``make test``), a skip whose reason is not an expected one fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from d2lmini import data  # noqa: E402

from browser import chromium, site, site_url  # noqa: E402,F401  (the browser tests' shared fixtures)

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
#: Packages whose versions change the numbers that the notebooks print.
NUMERIC_PACKAGES = ("torch", "numpy", "scikit-learn", "lion-pytorch", "schedulefree")
#: Skips that are expected on a machine without a GPU: the CUDA variants of the equivalence tests.
EXPECTED_SKIP = re.compile(r"CUDA|cuda|GPU")


def locked_versions(path: Path = LOCK) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines of the lock file (names normalized as pip does)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, pinned = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.strip()).lower()] = pinned.strip()
    return pins


def version_mismatches() -> list[str]:
    """The numeric packages whose installed version differs from the lock (a local label such as +cpu is ignored)."""
    pins = locked_versions()
    found = []
    for name in NUMERIC_PACKAGES:
        try:
            installed = version(name).split("+", 1)[0]
        except PackageNotFoundError:
            installed = "missing"
        if pins.get(name) != installed:
            found.append(f"{name} {installed} (lock: {pins.get(name, 'unpinned')})")
    return found


def other_cpus() -> list[str]:
    """The CPUs, other than this one, on which stored outputs were made (``tools/execute_notebooks.py`` records it):
    another CPU may round matrix products differently, and the last digits with them."""
    import json

    from d2lmini.training import cpu_name

    recorded = set()
    for path in (ROOT / "chapters").glob("*.ipynb"):
        recorded.add(json.loads(path.read_text())["metadata"].get("executed_with", {}).get("cpu"))
    return sorted(cpu for cpu in recorded - {None, cpu_name()})


def _gpu() -> bool:
    import torch

    return torch.cuda.is_available()


_MODE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: notebooks, site build, browser and fresh-environment tests "
                                       "(deselected by `make test-fast`)")
    if getattr(config.option, "nbval", False):
        reasons = version_mismatches() + [f"outputs made on another CPU ({cpu})" for cpu in other_cpus()]
        reasons += ["a CUDA device is present"] if _gpu() else []
        if reasons:
            config.option.nbval_lax = True  # nbval reads this when it collects each notebook
        config.stash[_MODE] = "errors only, since " + "; ".join(reasons) if reasons else "strictly (locked versions)"


def pytest_report_header(config: pytest.Config) -> str | None:
    mode = config.stash.get(_MODE, None)
    return f"stored notebook outputs compared {mode}" if mode else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ``D2LMINI_STRICT_SKIPS=1``, a skip with an unexpected reason fails the run (and is listed)."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("D2LMINI_STRICT_SKIPS") != "1" or hasattr(config, "workerinput") or reporter is None:
        return
    unexpected = []
    for report in reporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not EXPECTED_SKIP.search(reason):
            unexpected.append(f"{report.nodeid}: {reason}")
    if unexpected:
        reporter.write_line("error: tests were skipped for reasons this machine should not have "
                            "(install what they need):", red=True)
        for line in unexpected:
            reporter.write_line(f"  {line}")
        if session.exitstatus == 0:
            session.exitstatus = 1


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
