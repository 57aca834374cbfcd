"""The chapters define their optimizers verbatim from d2lmini.optimizers, so the tested code is the code shown."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from d2lmini import optimizers as opt

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
SHARED = {name for name, obj in vars(opt).items()
          if inspect.isfunction(obj) and obj.__module__ == opt.__name__ and not name.startswith("_")}


def definitions(notebook: Path) -> dict[str, str]:
    """Function name → AST dump, for each function a notebook defines that d2lmini.optimizers also defines."""
    found = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.parse("\n".join(lines)).body:
            if isinstance(node, ast.FunctionDef) and node.name in SHARED:
                found[node.name] = ast.dump(node)
    return found


def reference(name: str) -> str:
    return ast.dump(ast.parse(inspect.getsource(getattr(opt, name))).body[0])


@pytest.mark.parametrize("notebook", sorted(CHAPTERS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_chapter_definitions_equal_d2lmini(notebook: Path) -> None:
    for name, dump in definitions(notebook).items():
        assert dump == reference(name), f"{notebook.name} defines {name} differently from d2lmini/optimizers.py"


def test_every_optimizer_is_defined_in_a_chapter() -> None:
    defined = set()
    for notebook in CHAPTERS.glob("*.ipynb"):
        defined |= set(definitions(notebook))
    missing = {name for pair in opt.OPTIMIZERS.values() for name in (pair[0].__name__, pair[1].__name__)} - defined
    assert not missing, f"no chapter defines {sorted(missing)}"
