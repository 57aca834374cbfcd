"""How long does the book take to execute, compared with the cost of merely starting a chapter?

    python -m benchmarks.book_time [chapters/x.ipynb ...] [--timeout 600]

Executes every chapter notebook (``chapters/*.ipynb``) the way the tests do: with nbclient, in a fresh kernel each,
from the chapters' directory, top to bottom (in memory: the stored notebooks are not modified). In the same run,
before each chapter, it executes a minimal notebook (``floor_notebook()``: import torch and d2lmini, one optimizer
step, one plot) as the start-up floor, so both see the same machine load. It prints each notebook's time and the
floor's, and last ``book/floor=<total chapter time / total floor time>``.

It also enforces the course's time budget (run it on a quiet 2-core machine): a chapter executes in at most
``BUDGET_S`` seconds, a real-network chapter (``REAL_NETWORK``) in at most ``REAL_NETWORK_BUDGET_S``; a chapter over
its budget is marked ``OVER BUDGET`` and the exit status is 1, as for a chapter that fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
#: Seconds a chapter may take to execute on a 2-core CPU.
BUDGET_S = 30.0
#: The chapters that train a real network: they read stored sweeps and re-run only the selected configurations.
REAL_NETWORK = frozenset({"transformer"})
REAL_NETWORK_BUDGET_S = 90.0


def budget(path: Path) -> float:
    """The execution budget of the chapter at ``path``, in seconds."""
    return REAL_NETWORK_BUDGET_S if path.stem in REAL_NETWORK else BUDGET_S

FLOOR_CELLS = (
    # What every chapter starts with: its imports and settings.
    "import matplotlib.pyplot as plt\nimport torch\n\nimport d2lmini\n\nd2lmini.set_figsize()\ntorch.manual_seed(0)",
    # One optimizer step: the from-scratch SGD on one small tensor.
    "init_sgd_states, sgd = d2lmini.OPTIMIZERS[\"sgd\"]\n"
    "params = [torch.randn(3, requires_grad=True)]\n"
    "states = init_sgd_states(params)\n"
    "(params[0] ** 2).sum().backward()\n"
    "sgd(params, states, {\"lr\": 0.1})\n"
    "print([round(x, 4) for x in params[0].tolist()])",
    # One labelled plot.
    "plt.plot([0, 1, 2], [1.0, 0.5, 0.25], label=\"loss\")\n"
    "plt.xlabel(\"step\")\nplt.ylabel(\"loss\")\nplt.title(\"floor\")\nplt.legend()\nplt.show()",
)


def floor_notebook() -> nbformat.NotebookNode:
    """The start-up floor: a notebook that does only what every chapter must (imports, one step, one plot)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in FLOOR_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 600) -> float:
    """Execute ``nb`` in a fresh kernel with ``cwd`` as working directory; return the seconds, kernel start included."""
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.book_time", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.ipynb")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(CHAPTERS.glob("*.ipynb"))
    if not paths:
        parser.error(f"no notebooks in {CHAPTERS}")
    book = floor = 0.0
    failed, over = [], []
    for path in paths:
        floor_s = execute(floor_notebook(), path.parent.resolve(), args.timeout)
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            execute(nb, path.parent.resolve(), args.timeout)
            status = ""
        except CellExecutionError as error:
            failed.append(path)
            status = f"  FAILED: {str(error).strip().splitlines()[-1][:120]}"
        chapter_s = time.perf_counter() - start
        if chapter_s > budget(path):
            over.append(path)
            status += f"  OVER BUDGET ({budget(path):.0f} s)"
        book, floor = book + chapter_s, floor + floor_s
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        print(f"{chapter_s:6.1f} s  {shown}   (floor {floor_s:4.1f} s){status}", flush=True)
    print(f"{book:6.1f} s  all {len(paths)} chapters   (floor {floor:4.1f} s in all)")
    if over:
        print(f"{len(over)} chapter(s) over budget: {', '.join(p.stem for p in over)}")
    print(f"book/floor={book / floor:.2f}", flush=True)
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
