"""The chapters define their optimizers verbatim from d2lmini, so the tested code is the code shown.

A chapter's definition of a function that ``d2lmini.optimizers`` or ``d2lmini.beyond`` also defines must have the
same AST as d2lmini's source: for a declared optimizer that includes the ``@declare(...)`` decorator (its
reference, defaults, checks and state), so a chapter cannot show a declaration that differs from the tested one.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from types import ModuleType

import pytest

import d2lmini
from d2lmini import beyond
from d2lmini import optimizers as opt

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
#: The theme's code column: chapters are ruff-checked at this width (chapters/ruff.toml).
COLUMNS = 79


def _public_functions(module: ModuleType) -> dict[str, object]:
    return {name: obj for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")}


SHARED = {**_public_functions(opt), **_public_functions(beyond)}


def definitions(notebook: Path) -> dict[str, str]:
    """Function name → AST dump (decorators included), for each function a notebook defines that d2lmini defines."""
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


def source(name: str) -> str:
    """d2lmini's source of ``name``; for a declared update, the rule under its ``@declare(...)`` line."""
    return inspect.getsource(SHARED[name])  # type: ignore[arg-type]  # getsource unwraps to the decorated rule


def reference(name: str) -> str:
    return ast.dump(ast.parse(source(name)).body[0])


def test_the_reference_source_includes_the_declaration() -> None:
    node = ast.parse(source("adam")).body[0]
    assert isinstance(node, ast.FunctionDef) and node.name == "adam"
    assert [ast.unparse(d.func) for d in node.decorator_list if isinstance(d, ast.Call)] == ["declare"]
    changed = source("adam").replace("eps=1e-8", "eps=1e-6")
    assert ast.dump(ast.parse(changed).body[0]) != reference("adam")  # a different declaration is caught


@pytest.mark.parametrize("notebook", sorted(CHAPTERS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_chapter_definitions_equal_d2lmini(notebook: Path) -> None:
    for name, dump in definitions(notebook).items():
        assert dump == reference(name), f"{notebook.name} defines {name} differently from d2lmini"


def test_every_optimizer_is_defined_in_a_chapter() -> None:
    defined = set()
    for notebook in CHAPTERS.glob("*.ipynb"):
        defined |= set(definitions(notebook))
    missing = {name for spec in d2lmini.DECLARED.values() for name in (spec.init.__name__, spec.name)} - defined
    assert not missing, f"no chapter defines {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(d2lmini.DECLARED))
def test_declared_code_fits_the_chapter_column(name: str) -> None:
    """Chapters copy these functions verbatim, so they must fit the chapters' 79 columns."""
    spec = d2lmini.DECLARED[name]
    for function in (spec.init, spec.update):
        long = [line for line in inspect.getsource(function).splitlines() if len(line) > COLUMNS]
        assert not long, f"{function.__name__}: lines over {COLUMNS} columns: {long}"
