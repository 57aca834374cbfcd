"""Small fixes to Jupyter Book v1's defaults, so the site loads with no console errors, nothing off-host, and works
on a phone.

- Thebe (live code in the page) is not used: its scripts were added twice (a duplicated ``THEBE_JS_URL``
  declaration, a console error) and point at unpkg.com. They are dropped from every page.
- pydata-sphinx-theme expects a ``default_mode``; sphinx-book-theme leaves it empty, which logs
  "Got invalid theme mode" on a first visit. The site starts in the reader's system mode.
- The ☰ and contents buttons. pydata-sphinx-theme 0.17 gives ``navbar_persistent`` a default (a search box) unless
  ``html_theme_options`` sets it, and so ignores the empty value in sphinx-book-theme's ``theme.conf``. That
  renders pydata's own header above the book theme's: a bar holding a second search box, and hidden copies of the
  ☰ and contents buttons placed *before* the visible ones. Both themes' scripts bind their click handlers to
  ``document.querySelector(".primary-toggle")`` (and ``".secondary-toggle"``), the first such button, i.e. the
  hidden copy; so on a phone neither the chapter list nor the contents opened, and on a laptop ☰ did not
  collapse the sidebar (pydata-sphinx-theme issue 2451). Setting ``navbar_persistent`` to the book theme's own
  empty value removes that header, and the handlers reach the visible buttons. ``tests/test_reader.py`` opens
  both menus on a phone and collapses the sidebar on a laptop, on every page.
- ``_static/course.css``: code that fits the column, long inline code that wraps on a phone, animations that
  shrink to the column.
- The landing page's numbers are computed from the chapters at each build (MyST substitutions): ``{{ chapters }}``,
  the number of chapters, and ``{{ hours }}``, the time it takes to read them and run every cell, estimated at
  ``WORDS_PER_MINUTE`` for the prose and ``MINUTES_PER_CODE_CELL`` for reading a cell and its output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

#: Reading speed for technical prose with formulas (general prose is read at about 200-250 words a minute).
WORDS_PER_MINUTE = 150
#: Reading a code cell, running it and looking at what it prints or draws.
MINUTES_PER_CODE_CELL = 1.0


def _is_thebe(asset: Any) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", "") or "")
    return "thebe" in name or "THEBE_JS_URL" in body


def _fix_page(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def _book_theme_header(app: Any, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    options.setdefault("navbar_persistent", [])
    config.html_theme_options = options


def reading_time(book: Path) -> dict[str, str]:
    """``{"chapters": ..., "hours": ...}`` for the chapters listed in ``_toc.yml`` (notebooks), as text."""
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part["chapters"] if c["file"].startswith("chapters/")]
    minutes = 0.0
    for name in files:
        cells = json.loads((book / f"{name}.ipynb").read_text())["cells"]
        words = sum(len(re.findall(r"[A-Za-z]+", "".join(c["source"]))) for c in cells if c["cell_type"] == "markdown")
        code = sum(1 for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip())
        minutes += words / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL
    return {"chapters": str(len(files)), "hours": str(max(1, round(minutes / 60)))}


def _landing_numbers(app: Any, config: Any) -> None:
    config.myst_substitutions = {**reading_time(Path(app.srcdir)), **(config.myst_substitutions or {})}


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _book_theme_header)
    app.connect("config-inited", _landing_numbers, priority=100)
    app.connect("html-page-context", _fix_page, priority=900)
    app.add_css_file("course.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
