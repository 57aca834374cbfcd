"""The site: it builds with Jupyter Book v1 and no warnings, and every page works in a real browser (Debian's
chromium, driven by Playwright, no browser download), served on 127.0.0.1 with nothing fetched from elsewhere."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_BESIDE_PYTHON = Path(sys.executable).parent / "jupyter-book"
JUPYTER_BOOK = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("jupyter-book") or "jupyter-book"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "_build" / "screenshots"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([JUPYTER_BOOK, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


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


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")  # installed by requirements-dev.txt
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install chromium chromium-driver"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_in_a_real_browser(browser, server: str, page_name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    url = urljoin(server, f"{page_name}.html")
    page.goto(url, wait_until="networkidle")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=20000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")

    assert not errors, errors
    assert [r for r in requests if not r.startswith(server) and not r.startswith("data:")] == []
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
        response = context.request.get(urljoin(url, download))
        assert response.ok and json.loads(response.body())["cells"]

    name = page_name.replace("/", "_")
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=False)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=False)
    context.close()
