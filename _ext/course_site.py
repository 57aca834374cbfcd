"""Small fixes to Jupyter Book v1's defaults, so the site loads with no console errors and nothing off-host.

- Thebe (live code in the page) is not used: its scripts were added twice (a duplicated ``THEBE_JS_URL``
  declaration, a console error) and point at unpkg.com. They are dropped from every page.
- pydata-sphinx-theme expects a ``default_mode``; sphinx-book-theme leaves it empty, which logs
  "Got invalid theme mode" on a first visit. The site starts in the reader's system mode.
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
