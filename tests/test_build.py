"""The site: it builds with Jupyter Book v1 and no warnings, and every page works in a real browser (Debian's
chromium, driven by Playwright, no browser download), served on 127.0.0.1 with nothing fetched from elsewhere.
The build, the server and the browser are shared with the other browser tests (``tests/browser.py``)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

import pytest

from browser import CONFIG, ROOT, Visit, toc_pages

pytestmark = pytest.mark.slow


def test_site_builds_without_warnings_with_every_page(site: Path) -> None:
    for page in toc_pages():
        assert (site / f"{page}.html").is_file(), page


def test_internal_links_resolve(site: Path) -> None:
    broken = []
    for html in site.rglob("*.html"):
        if "_static" in html.parts:  # theme templates copied as static files, not pages
            continue
        for href in re.findall(r'(?:href|src)="([^"#?]+)', html.read_text()):
            if urlparse(href).scheme or href.startswith(("//", "mailto:")):
                continue
            if not (html.parent / unquote(href)).exists():
                broken.append(f"{html.relative_to(site)} → {href}")
    assert not broken, broken[:20]


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_in_a_real_browser(chromium: Any, site_url: str, page_name: str) -> None:
    url = urljoin(site_url, f"{page_name}.html")
    with Visit(chromium, url, (1280, 900)) as visit:
        page = visit.page
        assert not visit.errors, visit.errors
        assert [r for r in visit.requests if not r.startswith(site_url) and not r.startswith("data:")] == []
        article = page.inner_text("article")
        assert "\\(" not in article and "\\[" not in article and "$$" not in article, "raw TeX left on the page"
        if page_name.startswith("chapters/"):
            assert page.locator("mjx-container").count() > 0, "no rendered math"
        broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                               ".map(i => i.src)")
        assert broken == []

        if page_name.startswith("chapters/"):
            notebook = f"{page_name}.ipynb"
            repo, branch = CONFIG["repository"]["url"], CONFIG["repository"]["branch"]
            colab = page.locator("a[href*='colab.research.google.com']").first.get_attribute("href")
            assert colab.endswith(f"{urlparse(repo).path}/blob/{branch}/{notebook}"), colab
            assert (ROOT / notebook).is_file()
            download = page.locator("a[href*='_sources/'][href$='.ipynb']").first.get_attribute("href")
            response = visit.context.request.get(urljoin(url, download))
            assert response.ok and json.loads(response.body())["cells"]


def test_the_bibliography_is_clean_and_every_entry_is_cited(site: Path) -> None:
    """Each entry of references.bib is cited somewhere (the page lists only cited ones), its label is plain
    (``[GDG+17]``, not ``[GDollarG+17]``), and no TeX is left in its text (``$O(1/k^2)$``, braces, backslashes)."""
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(), re.M))
    page = (site / "references.html").read_text()
    listed = set(re.findall(r'<div class="citation" id="id\d+" role="doc-biblioentry">\s*<span class="label">'
                            r'<span class="fn-bracket">\[</span>([^<]+)<', page))
    entries = re.findall(r'<div class="citation"[^>]*>(.*?)</div>', page, re.S)
    texts = [unescape(re.sub(r"<[^>]+>", "", entry)) for entry in entries]
    assert len(texts) == len(keys), f"{len(keys)} entries in references.bib, {len(texts)} cited: cite or remove"
    assert listed and all(re.fullmatch(r"[A-Z][A-Za-z]*\+?\d\d[a-z]?", label) for label in listed), listed
    assert not [t for t in texts if re.search(r"[$\\{}]", t)], "TeX left in a reference"
    assert not [t for t in texts if re.search(r"\b(adam|rmsprop|adagrad|adadelta|sgd)\b", t)], "protect names: {Adam}"
