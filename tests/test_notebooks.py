"""The stored notebooks: executed top to bottom, PNG figures, self-sufficient, listed in the book."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
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
    first = "".join(code_cells(path)[0]["source"])
    url = f"d2lmini @ git+{CONFIG['repository']['url']}@{CONFIG['repository']['branch']}"
    assert url in first
    assert '"--no-deps"' in first and "check=True" in first
    assert 'find_spec("d2lmini") is None' in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_has_exercises_with_hidden_solutions(path: Path) -> None:
    markdown = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "markdown")
    assert re.search(r"^#+ .*Exercises", markdown, re.M) or path.stem == "side_by_side"
    assert ":class: dropdown" in markdown or path.stem == "side_by_side"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_control_characters_in_sources(path: Path) -> None:
    # A "\b" in a Python string that builds markdown turns $\beta$ into a backspace and "eta" on the page.
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        assert not [c for c in source if ord(c) < 32 and c not in "\n\t"], source[:80]
