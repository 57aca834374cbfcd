"""The stored notebooks: executed top to bottom, PNG figures, self-sufficient, listed in the book."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import set_repository  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = (ROOT / "_toc.yml").read_text()


def code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_chapters() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executed_top_to_bottom_in_one_kernel(path: Path) -> None:
    counts = [c["execution_count"] for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), "run tools/execute_notebooks.py on it"
    errors = [o for c in code_cells(path) for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_are_png_and_labelled(path: Path) -> None:
    outputs = [o for c in code_cells(path) for o in c["outputs"]]
    assert not [o for o in outputs if "image/svg+xml" in o.get("data", {})], "store PNG, not SVG"
    text = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "matplotlib.lines.Line2D" not in text and "Text(" not in text, "end plotting cells with plt.show()"
    assert path.stat().st_size < 3_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_listed_in_the_table_of_contents(path: Path) -> None:
    assert re.search(rf"file: chapters/{re.escape(path.stem)}\s*$", TOC, re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_installs_d2lmini_from_this_repository(path: Path) -> None:
    """The install cell is tools/set_repository.py's, with _config.yml's repository and branch, hidden."""
    first = code_cells(path)[0]
    assert "".join(first["source"]) == set_repository.configured_cell(), "run python tools/set_repository.py"
    assert "hide-input" in first["metadata"].get("tags", [])
    assert CONFIG["repository"]["url"] in "".join(first["source"])


EXERCISES = re.compile(r"^#+ .*Exercises", re.M)
DROPDOWN = re.compile(r"```\{admonition\} Solution\s*\n:class: dropdown")
EXERCISE = re.compile(r"^(?:\*\*\d+\.\*\*|\d+\.\s)", re.M)  # "**1.** ..." or "1. ..." at a line's start
PROMPTS = {"code_prompt_show": "Solution", "code_prompt_hide": "Hide the solution"}


def _ends_with_dropdown(markdown: str) -> bool:
    last = markdown.rfind("```{admonition}")
    return last >= 0 and ":class: dropdown" in markdown[last:] and markdown.rstrip().endswith("```")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_one_click_solutions(path: Path) -> None:
    """CONTRIBUTING.md "Exercises": a solution in words is a dropdown admonition titled Solution; one that computes
    is a single code cell tagged hide-cell whose toggle reads "Solution" and whose first line is a comment; never a
    dropdown followed by a hidden code cell (two clicks, and the code's toggle shows while the solution is closed)."""
    cells = json.loads(path.read_text())["cells"]
    start = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                  and EXERCISES.search("".join(c["source"]))), None)
    assert start is not None, "no Exercises section"
    exercises = solutions = 0
    for i, cell in enumerate(cells[start:], start):
        source = "".join(cell["source"])
        if i == start:
            source = source[EXERCISES.search(source).start():]
        if cell["cell_type"] == "markdown":
            # exercises are counted outside the solutions' dropdowns (which may hold numbered lists)
            exercises += len(EXERCISE.findall(DROPDOWN.split(source)[0]))
            exercises += sum(len(EXERCISE.findall(part.split("```", 1)[-1])) for part in DROPDOWN.split(source)[1:])
            solutions += len(DROPDOWN.findall(source))
            continue
        if not source.strip():
            continue
        where = f"code cell {i} after the Exercises heading"
        assert "hide-cell" in cell["metadata"].get("tags", []), f"{where}: tag it hide-cell"
        prompts = cell["metadata"].get("mystnb", {})
        assert {k: prompts.get(k) for k in PROMPTS} == PROMPTS, f"{where}: its toggle must read Solution: {prompts}"
        assert source.lstrip().startswith("#"), f"{where}: open with a comment that says the answer's reasoning"
        previous = cells[i - 1]
        assert not (previous["cell_type"] == "markdown" and _ends_with_dropdown("".join(previous["source"]))), \
            f"{where}: a dropdown followed by a hidden code cell takes two clicks; keep one of them"
        solutions += 1
    assert solutions >= max(1, exercises), f"{exercises} exercises but {solutions} solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_control_characters_in_sources(path: Path) -> None:
    # A "\b" in a Python string that builds markdown turns $\beta$ into a backspace and "eta" on the page.
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        assert not [c for c in source if ord(c) < 32 and c not in "\n\t"], source[:80]
