"""The site builds with Jupyter Book v1 and no warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_BESIDE_PYTHON = Path(sys.executable).parent / "jupyter-book"
JUPYTER_BOOK = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("jupyter-book") or "jupyter-book"


def test_site_builds_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [JUPYTER_BOOK, "build", str(ROOT), "-W", "-n", "--keep-going",
         "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    assert (html / "intro.html").is_file()
    assert (html / "chapters" / "gd.html").is_file()
