"""Copy _config.yml's repository URL and branch into every chapter's install cell.

    python tools/set_repository.py

_config.yml is the one place where the repository is named: the Colab and download buttons read it, and this
script writes it into the notebooks' first code cell (`tests/test_notebooks.py` checks they agree). Only that
cell's source changes, so the stored outputs stay valid.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PATTERN = re.compile(r'"d2lmini @ git\+[^"@]+@[^"]+"')


def main() -> None:
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    target = f'"d2lmini @ git+{repository["url"]}@{repository["branch"]}"'
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        text = path.read_text()
        notebook = json.loads(text)
        cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        source = "".join(cell["source"])
        if not PATTERN.search(source):
            raise SystemExit(f"{path}: its first code cell is not the install cell of CONTRIBUTING.md")
        updated = PATTERN.sub(target, source)
        if updated != source:
            cell["source"] = updated.splitlines(keepends=True)
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
