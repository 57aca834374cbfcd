"""Refresh the stored outputs: execute chapter notebooks in place, top to bottom, each in one fresh kernel.

    python tools/execute_notebooks.py                  # every chapter
    python tools/execute_notebooks.py chapters/gd.ipynb

Prints each notebook's wall time. Run it after changing a chapter or d2lmini, then commit the notebooks: nbval
compares the stored text outputs with a fresh run, so stale outputs fail the tests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def executed_with() -> dict[str, str]:
    """What the stored outputs depend on beyond the code: the CPU and the torch build (tests/conftest.py reads it)."""
    import torch

    from d2lmini.training import cpu_name

    return {"cpu": cpu_name(), "torch": torch.__version__}


def execute(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place with its directory as the working directory; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   record_timing=False).execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    nb.metadata["executed_with"] = executed_with()
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for path in paths:
        print(f"{execute(path):6.1f} s  {path}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
