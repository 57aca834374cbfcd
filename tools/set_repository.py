"""Write the install cell of every chapter from _config.yml's repository URL and branch.

    python tools/set_repository.py

_config.yml is the one place where the repository is named: the Colab and download buttons read it, and this
script writes it into each notebook's install cell (its first code cell), which it rewrites from ``install_cell``
so that every chapter carries the same cell, in 79 columns (`tests/test_notebooks.py` checks they agree). Only that
cell's source changes, so the stored outputs stay valid.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKER = 'find_spec("d2lmini") is None'


def install_cell(url: str, branch: str) -> str:
    """The install cell: on Colab or in a fresh environment, d2lmini from this repository, without its
    dependencies (the reader's torch and numpy stay), and the two small packages that hold the reference
    implementations of Lion and schedule-free AdamW."""
    return (
        "# Colab or a fresh environment: install the course's helper package.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        f'REPOSITORY = "{url}"\n'
        f'BRANCH = "{branch}"\n'
        f"if importlib.util.{MARKER}:\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",\n'
        '                    "lion-pytorch", "schedulefree",\n'
        '                    f"d2lmini @ git+{REPOSITORY}@{BRANCH}"], check=True)'
    )


def configured_cell() -> str:
    """The install cell for the repository and branch of ``_config.yml``."""
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return install_cell(repository["url"], repository["branch"])


def main() -> None:
    target = configured_cell()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        if MARKER not in "".join(cell["source"]):
            raise SystemExit(f"{path}: its first code cell is not the install cell of CONTRIBUTING.md")
        if "".join(cell["source"]) != target:
            cell["source"] = target.splitlines(keepends=True)
            cell["metadata"]["tags"] = sorted(set(cell["metadata"].get("tags", [])) | {"hide-input"})
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
