"""The browser tests' one set-up: build the site once per test session, serve it on 127.0.0.1, drive Debian's
chromium through Playwright (no browser download), and measure what a reader meets on a page.

Its fixtures, ``site`` (the built HTML directory), ``site_url`` (where it is served) and ``chromium`` (a
``playwright.sync_api.Browser``), are session-scoped and registered in ``tests/conftest.py``. ``SITE_DIR=<html dir>``
reuses a site built beforehand instead of building one (for quick iterations on the browser tests only; the
suite builds its own).

Run as a script to print the reader's measurements of a built site, page by page::

    python tests/browser.py _build/html [--json measurements.json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
_BESIDE_PYTHON = Path(sys.executable).parent / "jupyter-book"
JUPYTER_BOOK = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("jupyter-book") or "jupyter-book"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "_build" / "screenshots"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: The two screens a reader uses: a laptop and a phone (width, height in CSS pixels).
DESKTOP = (1280, 800)
PHONE = (390, 844)


def toc_pages() -> list[str]:
    """Every page of the book, in reading order, as ``_toc.yml`` lists it (without the suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


# The site -------------------------------------------------------------------------------------------------------

def build_site(out: Path) -> Path:
    """Build the book into ``out`` as ``make site`` does (warnings are errors); return the HTML directory."""
    result = subprocess.run([JUPYTER_BOOK, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError("jupyter-book build failed:\n" + result.stdout[-4000:] + result.stderr[-4000:])
    return out / "_build" / "html"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: every worker builds its own
        yield
        return
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per test session: under pytest-xdist the workers share one build (the first to come
    builds it, under a file lock; a failed build fails every test that needs it, without rebuilding)."""
    if os.environ.get("SITE_DIR"):
        html = Path(os.environ["SITE_DIR"]).resolve()
        assert (html / "index.html").is_file(), f"SITE_DIR={html} holds no built site"
        return html
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # parent: this session's, all workers
    out, failed = shared / "site", shared / "site-build-failed.txt"
    with _locked(shared / "site.lock"):
        if failed.exists():
            raise RuntimeError(failed.read_text())
        html = out / "_build" / "html"
        if not (html / "index.html").is_file():
            try:
                build_site(out)
            except Exception as error:
                failed.write_text(str(error))
                raise
    return html


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) for as long as the block runs; yield its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (``playwright.sync_api.Browser``)."""
    playwright = pytest.importorskip("playwright.sync_api")  # installed by requirements-dev.txt
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install chromium chromium-driver"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """A page opened at a given viewport, with the console errors and the requests it made."""

    def __init__(self, browser: Any, url: str, viewport: tuple[int, int]) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until="networkidle")
        self.page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise",
                                    timeout=20000)
        self.page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        self.page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=20000)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Visit:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


# The fixtures ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site's HTML directory (one build per test session, see :func:`shared_site`)."""
    return shared_site(tmp_path_factory)


@pytest.fixture(scope="session")
def site_url(site: Path) -> Iterator[str]:
    """The site served on 127.0.0.1."""
    with serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium, launched once per test session."""
    with launch_chromium() as browser:
        yield browser


# What a reader meets ----------------------------------------------------------------------------------------------

#: JavaScript helpers shared by the measurements below.
_HELPERS = """
const shown = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
// can the reader click it? (on screen, and not under something else)
const reachable = el => { if (!shown(el)) return false; const r = el.getBoundingClientRect();
  const x = r.left + Math.min(r.width / 2, 20), y = r.top + r.height / 2;
  if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false;
  const hit = document.elementFromPoint(x, y); return !!hit && (el === hit || el.contains(hit)); };
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
// the pictures: cell outputs, markdown figures and animation frames (not icons)
const figures = () => [...article.querySelectorAll('img')].filter(i => shown(i) && i.naturalWidth >= 100);
"""

_LAYOUT = _HELPERS + """
() => {
  const vh = innerHeight, de = document.documentElement;
  const first = figures()[0];
  return {
    first_figure: first ? (first.getBoundingClientRect().top + scrollY) / vh : null,
    sections: article.querySelectorAll('section section').length,
    length: de.scrollHeight / vh,
    page_overflow: Math.max(0, de.scrollWidth - de.clientWidth),
  };
}
"""

_OPEN_EVERYTHING = """
() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
}
"""

_BLOCKS = _HELPERS + """
() => {
  const de = document.documentElement;
  const blocks = [...article.querySelectorAll('pre, table, .cell_output .output, .pst-scrollable-table-container')]
    .filter(b => shown(b) && b.scrollWidth > b.clientWidth + 1);
  const small = figures().map(i => ({src: i.src.split('/').pop().slice(0, 60),
                                    ratio: i.getBoundingClientRect().width / i.naturalWidth}))
    .filter(f => f.ratio < %(ratio)s);
  return {
    page_overflow_open: Math.max(0, de.scrollWidth - de.clientWidth),
    scrolling_blocks: blocks.length,
    scrolling_examples: blocks.slice(0, 3).map(b => (b.innerText || '').split('\\n')[0].slice(0, 70)),
    small_figures: small.map(f => `${f.src} at ${Math.round(100 * f.ratio)}%%`),
  };
}
"""

#: The exercises' solutions: each toggle reads "Solution", opens with one click, and shows what it hid (the code
#: and its output, or the words); no dropdown stands right before a hidden code cell (two clicks to the answer).
_SOLUTIONS = _HELPERS + """
async () => {
  const heading = [...article.querySelectorAll('section > h2, section > h3')]
    .find(h => /Exercises/.test(h.textContent));
  if (!heading) return null;
  const section = heading.parentElement, problems = [];
  const toggles = [...section.querySelectorAll('details.hide > summary, .dropdown.admonition > .admonition-title')];
  for (const toggle of toggles) {
    const box = toggle.parentElement, details = box.tagName === 'DETAILS';
    const label = (details ? toggle.querySelector('.collapsed') : toggle).textContent.trim();
    if (label !== 'Solution') problems.push(`a toggle reads "${label}"`);
    const cell = box.closest('.cell');
    if (cell && cell.previousElementSibling && cell.previousElementSibling.matches('.dropdown, .toggle'))
      problems.push(`"${label}": a dropdown right before a hidden code cell (two clicks)`);
    toggle.scrollIntoView({block: 'center'});
    toggle.click();
    await new Promise(r => setTimeout(r, 150));
    const hidden = details ? [...box.children].filter(c => c !== toggle)
                           : [...box.children].filter(c => !c.matches('.admonition-title'));
    if (!hidden.length || !hidden.every(shown)) problems.push(`"${label}" does not open with one click`);
  }
  window.scrollTo(0, 0);
  return {solutions: toggles.length, problems: problems};
}
"""
#: How many of the menu's links the reader can click now (0 while it is closed).
_MENU_LINKS = _HELPERS + """
([selector]) => [...document.querySelectorAll(selector)].filter(reachable).length
"""
_CLICK_VISIBLE = _HELPERS + """
([selector]) => { const b = [...document.querySelectorAll(selector)].find(reachable);
  if (!b) return false; b.click(); return true; }
"""
SITE_LINKS = "nav.bd-docs-nav a.reference"
PAGE_LINKS = "nav.page-toc a, .bd-toc-nav a"
#: A figure shown below this fraction of its drawn width has text too small to read.
SMALL_RATIO = 0.6


def _menu(page: Any, toggle: str, links: str) -> bool | None:
    """Click the visible ``toggle`` button; ``True`` when links matching ``links`` that were out of reach are now
    in reach, ``None`` when the page shows no such button."""
    before = page.evaluate(_MENU_LINKS, [links])
    if not page.evaluate(_CLICK_VISIBLE, [toggle]):
        return None
    page.wait_for_timeout(600)  # the theme's transitions
    opened = page.evaluate(_MENU_LINKS, [links]) > 0 and before == 0
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    return opened


def _sidebar_collapses(page: Any) -> bool | None:
    """Desktop: the visible ☰ hides the chapter list (which was in reach) and shows it again."""
    shown_before = page.evaluate(_MENU_LINKS, [SITE_LINKS])
    if not page.evaluate(_CLICK_VISIBLE, [".primary-toggle"]):
        return None
    page.wait_for_timeout(600)
    hidden = page.evaluate(_MENU_LINKS, [SITE_LINKS]) == 0
    page.evaluate(_CLICK_VISIBLE, [".primary-toggle"])
    page.wait_for_timeout(600)
    return shown_before > 0 and hidden and page.evaluate(_MENU_LINKS, [SITE_LINKS]) > 0


def measure(browser: Any, url: str, viewport: tuple[int, int], screenshot: Path | None = None) -> dict[str, Any]:
    """What a reader meets on the page at ``url`` on a ``viewport`` screen.

    - ``first_figure``: where the first picture starts, in screens from the top (``None``: no picture);
    - ``length``: the page's length in screens, with collapsed content collapsed;
    - ``sections``: how many sections the page has under its title (the in-page contents list them);
    - ``page_overflow``: how many pixels the page scrolls sideways (collapsed, and ``page_overflow_open`` with
      everything opened);
    - ``scrolling_blocks``: code, output and table blocks that scroll sideways (everything opened);
    - ``small_figures``: pictures shown below ``SMALL_RATIO`` of their drawn width;
    - ``site_menu`` / ``page_menu``: the chapter list (☰) and the in-page contents open on a click (on a phone,
      where they are hidden), ``None`` where the page has no such button; ``sidebar_collapses`` (desktop): ☰ hides
      the chapter list and shows it again;
    - ``solutions`` (desktop): ``{"solutions": n, "problems": [...]}`` for the Exercises section (``None``: none),
      every toggle there clicked once: it must read "Solution" and show what it hid.
    """
    with Visit(browser, url, viewport) as visit:
        page = visit.page
        result: dict[str, Any] = page.evaluate(_LAYOUT)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            if result["first_figure"] is not None:  # and the screen that shows the first picture
                page.evaluate(_HELPERS + "() => { figures()[0].scrollIntoView({block: 'start'}); scrollBy(0, -80); }")
                page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-figure.png")))
                page.evaluate("() => window.scrollTo(0, 0)")
        if viewport[0] < 992:  # the theme's breakpoint: below it the sidebars are hidden behind buttons
            result["site_menu"] = _menu(page, ".primary-toggle", SITE_LINKS)
            result["page_menu"] = _menu(page, ".secondary-toggle", PAGE_LINKS)
            if screenshot is not None and page.evaluate(_CLICK_VISIBLE, [".primary-toggle"]):
                page.wait_for_timeout(600)
                page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-menu.png")))
                page.keyboard.press("Escape")
                page.wait_for_timeout(300)
        else:
            result["sidebar_collapses"] = _sidebar_collapses(page)
            result["solutions"] = page.evaluate(_SOLUTIONS)
        page.evaluate(_OPEN_EVERYTHING)
        page.wait_for_timeout(200)
        result.update(page.evaluate(_BLOCKS % {"ratio": SMALL_RATIO}))
        result["console_errors"] = list(visit.errors)
    return result


def measure_site(html: Path, pages: list[str] | None = None, screenshots: Path | None = None) -> dict[str, Any]:
    """``{page: {"desktop": measure(...), "phone": measure(...)}}`` for every page of the book."""
    found: dict[str, Any] = {}
    with serve(html) as url, launch_chromium() as browser:
        for name in pages or toc_pages():
            found[name] = {}
            for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                shot = screenshots / f"{name.replace('/', '_')}-{label}.png" if screenshots else None
                found[name][label] = measure(browser, urljoin(url, f"{name}.html"), viewport, shot)
    return found


def _solutions(desktop: dict[str, Any]) -> str:
    found = desktop.get("solutions")
    return "-" if not found else "ok" if not found["problems"] else f"{len(found['problems'])} bad"


def summary(found: dict[str, Any]) -> str:
    """A table of the measurements, page by page, with the median and worst chapter."""
    lines = [f"{'page':28} {'fig@1280':>8} {'len@1280':>8} {'fig@390':>8} {'len@390':>8} {'side390':>7} "
             f"{'blocks1280':>10} {'small':>5} {'menu390':>8} {'toc390':>7} {'collapse':>8} {'solution':>8}"]

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for name, m in found.items():
        d, p = m["desktop"], m["phone"]
        lines.append(f"{name:28} {num(d['first_figure']):>8} {num(d['length']):>8} {num(p['first_figure']):>8} "
                     f"{num(p['length']):>8} {max(p['page_overflow'], p['page_overflow_open']):>7} "
                     f"{d['scrolling_blocks']:>10} {len(d['small_figures']):>5} {str(p['site_menu']):>8} "
                     f"{str(p['page_menu']):>7} {str(d['sidebar_collapses']):>8} {_solutions(d):>8}")
    chapters = [m for name, m in found.items() if name.startswith("chapters/")]
    for key, label in (("first_figure", "first figure"), ("length", "length")):
        for width in ("desktop", "phone"):
            values = [m[width][key] if m[width][key] is not None else float("inf") for m in chapters]
            if values:
                lines.append(f"chapters, {label} at {width}: median {statistics.median(values):.1f}, "
                             f"worst {max(values):.1f} screens")
    for width in ("desktop", "phone"):
        sideways = [n for n, m in found.items() if max(m[width]["page_overflow"], m[width]["page_overflow_open"])]
        lines.append(f"scrolling blocks at {width}: {sum(m[width]['scrolling_blocks'] for m in found.values())}; "
                     f"pages scrolling sideways: {sideways}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=ROOT / "_build" / "html")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--screenshots", type=Path, help="save each page's first screen here")
    parser.add_argument("--pages", nargs="*", help="only these pages (as in _toc.yml)")
    args = parser.parse_args()
    found = measure_site(args.html, args.pages, args.screenshots)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))
    print(summary(found))


if __name__ == "__main__":
    main()
