"""Optimizers in motion: ``animate_trajectories`` and ``animation_html``, the animations stored in the side-by-side
chapter, and those animations playing in a real browser (Debian's chromium via Playwright, no kernel, nothing
fetched from anywhere but 127.0.0.1), legible and whole on a phone."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
import torch
from PIL import Image

from d2lmini.plotting import (
    ANIMATION_DPI,
    ANIMATION_FIGSIZE,
    animate_trajectories,
    animation_html,
    plot_trajectories,
)

from browser import PHONE, SCREENSHOTS, serve

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "chapters" / "side_by_side.ipynb"
FRAME = re.compile(r'frames\[(\d+)\] = "data:image/png;base64,([^"]*)"')


def f(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    return 0.1 * x1**2 + 2 * x2**2


LONG = [(-5.0, -2.0), (-4.0, 1.0), (-3.0, -0.5), (-2.0, 0.2), (-1.0, 0.0), (-0.5, 0.0)]
SHORT = [(-5.0, -2.0), (-3.0, -1.0), (-1.0, -0.5)]


@pytest.fixture
def ax() -> Iterator[plt.Axes]:
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=30)
    yield ax
    plt.close(fig)


def frames_of(html: str) -> list[bytes]:
    return [base64.b64decode(data.replace("\\\n", "")) for _, data in FRAME.findall(html)]


def test_one_frame_per_point_of_the_longest_trajectory(ax: plt.Axes) -> None:
    anim = animate_trajectories(f, {"long": LONG, "short": SHORT}, ax=ax)
    assert len(list(anim.new_frame_seq())) == len(LONG)
    html = animation_html(anim)
    assert len(frames_of(html)) == len(LONG)
    assert f"new Array({len(LONG)})" in html
    # After the last frame every run is drawn whole; the shorter one stopped at its end.
    paths = {line.get_label(): line for line in ax.lines}
    assert list(zip(*paths["long"].get_data())) == LONG
    assert list(zip(*paths["short"].get_data())) == SHORT


def test_every_n_steps_keeps_the_last(ax: plt.Axes) -> None:
    anim = animate_trajectories(f, {"long": LONG}, ax=ax, every=2)
    assert list(anim.new_frame_seq()) == [0, 2, 4, 5]
    assert len(frames_of(animation_html(anim))) == 4


def test_animation_html_is_self_contained_and_small(ax: plt.Axes) -> None:
    anim = animate_trajectories(f, {"long": LONG, "short": SHORT}, ax=ax, xlim=(-6, 1), ylim=(-3, 2))
    assert ax.get_xlim() == (-6, 1) and ax.get_ylim() == (-3, 2)
    reduced, full = animation_html(anim), animation_html(anim, colors=None)
    for html in (reduced, full):
        assert not re.search(r"https?://", html), "the page must fetch nothing off-host"
    small = [Image.open(io.BytesIO(frame)) for frame in frames_of(reduced)]
    assert all(image.mode == "P" and len(image.getcolors()) <= 64 for image in small)
    assert {image.size for image in small} == {Image.open(io.BytesIO(frames_of(full)[0])).size}


@pytest.mark.parametrize("trajectories, kwargs, message", [
    ({}, {}, "trajectories is empty"),
    ({"bad": [(0.0, 1.0, 2.0)]}, {}, r"\(x1, x2\) pairs"),
    ({"bad": [(0.0, 1.0), (2.0,)]}, {}, r"\(x1, x2\) pairs"),
    ({"bad": []}, {}, r"non-empty list of \(x1, x2\) pairs"),
    ({"ok": SHORT}, {"interval": 0}, "interval must be a positive integer"),
    ({"ok": SHORT}, {"every": 0}, "every must be a positive integer"),
    ({"ok": SHORT}, {"xlim": (1.0, -1.0)}, r"xlim must be a pair \(low, high\)"),
])
def test_bad_input_is_refused_clearly(ax: plt.Axes, trajectories: dict, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        animate_trajectories(f, trajectories, ax=ax, **kwargs)


def test_bad_colors_are_refused(ax: plt.Axes) -> None:
    anim = animate_trajectories(f, {"ok": SHORT}, ax=ax)
    for colors in (1, 257, 2.5, True):
        with pytest.raises(ValueError, match="colors must be an integer from 2 to 256"):
            animation_html(anim, colors=colors)  # type: ignore[arg-type]
    assert len(frames_of(animation_html(anim, colors=2))) == len(SHORT)


def test_plot_trajectories_can_share_one_box(ax: plt.Axes) -> None:
    plot_trajectories(f, {"short": SHORT}, ax=ax, xlim=(-8.0, 3.0), ylim=(-4.0, 4.0))
    assert ax.get_xlim() == (-8.0, 3.0) and ax.get_ylim() == (-4.0, 4.0)
    fig, fresh = plt.subplots()
    plot_trajectories(f, {"short": SHORT}, ax=fresh)  # without a box: every point plus the margin, as before
    assert fresh.get_xlim() == pytest.approx((-5.5, -0.5)) and fresh.get_ylim() == pytest.approx((-2.5, 0.0))
    plt.close(fig)
    with pytest.raises(ValueError, match=r"ylim must be a pair \(low, high\) with low < high"):
        plot_trajectories(f, {"short": SHORT}, ax=ax, ylim=(2.0, 2.0))


# Legible on a phone --------------------------------------------------------------------------------------------

#: A phone's column: a 390 px screen less the page's margins.
PHONE_COLUMN = PHONE[0] - 32
#: The smallest text a reader can read, in CSS pixels.
SMALLEST_TEXT_PX = 9.0
EIGHT = {name: [(-5.0, -2.0), (-4.0 + 0.1 * i, -1.0), (-2.0, 0.5 - 0.1 * i)] for i, name in enumerate(
    ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw"])}


def smallest_text_on_a_phone(fig: plt.Figure) -> float:
    """The height in CSS pixels of the figure's smallest text, once the frame is shrunk to a phone's column."""
    fig.canvas.draw()
    texts = [t for t in fig.findobj(plt.Text) if t.get_visible() and t.get_text().strip()]
    width_px = fig.get_figwidth() * fig.dpi
    return min(t.get_fontsize() for t in texts) * fig.dpi / 72 * min(1.0, PHONE_COLUMN / width_px)


def test_the_animation_figure_is_legible_on_a_phone_and_keeps_its_legend_inside() -> None:
    anim = animate_trajectories(f, EIGHT, title="All eight on $f$", minimum=(0.0, 0.0))
    fig = anim._fig
    assert fig.dpi == ANIMATION_DPI and tuple(fig.get_size_inches()) == ANIMATION_FIGSIZE
    assert fig.get_figwidth() * fig.dpi <= 690, "drawn for the book's column, shown at its drawn size"
    assert smallest_text_on_a_phone(fig) >= SMALLEST_TEXT_PX
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [*EIGHT, "minimum"]
    box, whole = legend.get_window_extent(), fig.bbox
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0, "the legend is clipped"
    assert not fig.axes[0].get_window_extent().overlaps(box), "the legend hides the runs"
    animation_html(anim)
    assert not plt.fignum_exists(fig.number), "animation_html closes the figure (no still copy in the notebook)"


def test_the_old_small_figure_was_not_legible_on_a_phone() -> None:
    """The negative control: the chapter's first animation (5.2 x 2.8 in at 85 dpi, x-small legend) fails."""
    fig, ax = plt.subplots(figsize=(5.2, 2.8), dpi=85, layout="constrained")
    anim = animate_trajectories(f, EIGHT, ax=ax, title="All eight on $f$")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    assert smallest_text_on_a_phone(fig) < SMALLEST_TEXT_PX
    animation_html(anim)


def test_animation_html_shrinks_the_frame_and_the_slider_to_the_page(ax: plt.Axes) -> None:
    html = animation_html(animate_trajectories(f, {"long": LONG}, ax=ax))
    assert re.search(r'<img style="max-width: 100%; height: auto" id="_anim_img', html)
    assert re.search(r"input\[type=range\]\.anim-slider \{\s*width: \d+px; max-width: 100%;", html)
    dpis = [Image.open(io.BytesIO(frame)).info["dpi"][0] for frame in frames_of(html)]
    assert dpis == pytest.approx([30] * len(LONG), abs=0.01), "the reduced frames keep the drawn dpi"


def test_a_bad_minimum_is_refused(ax: plt.Axes) -> None:
    with pytest.raises(ValueError, match=r"minimum must be a point \(x1, x2\)"):
        animate_trajectories(f, {"ok": SHORT}, ax=ax, minimum=(0.0,))  # type: ignore[arg-type]


# The stored chapter ---------------------------------------------------------------------------------------------

def stored_animations() -> list[tuple[dict, str]]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    found = []
    for cell in cells:
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", ""))
            if "new Animation(frames" in html:
                found.append((cell, html))
    return found


def test_the_chapter_stores_light_animations_that_play_without_a_kernel() -> None:
    animations = stored_animations()
    assert len(animations) >= 1, "run tools/execute_notebooks.py chapters/side_by_side.ipynb"
    for cell, html in animations:
        frames = frames_of(html)
        assert len(frames) >= 10 and f"new Array({len(frames)})" in html
        assert len({Image.open(io.BytesIO(frame)).size for frame in frames}) == 1
        # about 22 kB a frame for a legible 480 x 440 px frame: 31 frames at most, or fewer with every=n
        assert len(html) < 700_000, f"{len(html)} characters: fewer frames (every=n) or fewer colors"
        assert not re.search(r"https?://", html), "the page must fetch nothing off-host"
        assert "nbval-ignore-output" in cell["metadata"].get("tags", []), "its HTML ids are random"
        assert not [o for o in cell["outputs"] if "image/png" in o.get("data", {})], "close the figure"
    assert sum(len(html) for _, html in animations) < 1_200_000
    assert NOTEBOOK.stat().st_size < 3_000_000


def test_the_chapter_stores_animations_legible_on_a_phone() -> None:
    for _, html in stored_animations():
        frame = Image.open(io.BytesIO(frames_of(html)[0]))
        width, dpi = frame.size[0], frame.info.get("dpi", (72, 72))[0]
        assert width <= 690 and dpi >= ANIMATION_DPI - 0.5, f"{width} px at {dpi:.0f} dpi"
        assert 'style="max-width: 100%' in html, "made by an older animation_html: re-execute the chapter"
        # text of at least 9 pt at 100 dpi, shown at PHONE_COLUMN / width of its drawn size
        assert 9 * dpi / 72 * min(1.0, PHONE_COLUMN / width) >= SMALLEST_TEXT_PX


def test_the_sliders_leave_no_output_on_the_site() -> None:
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if "interact(" in "".join(c["source"])]
    assert cells, "the chapter's ipywidgets cell is missing"
    for cell in cells:
        assert {"nbval-ignore-output", "remove-output"} <= set(cell["metadata"].get("tags", []))
        assert "except ImportError" in "".join(cell["source"])


# In a real browser -----------------------------------------------------------------------------------------------

def animation_page(directory: Path, body: str) -> None:
    """A page holding ``body``, with the site theme's Font Awesome if it is installed (the buttons' icons)."""
    head = '<meta name="viewport" content="width=device-width, initial-scale=1">'
    try:
        import pydata_sphinx_theme
        icons = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "scripts"
        shutil.copy(icons / "fontawesome.js", directory / "fontawesome.js")
        head += '<script defer src="fontawesome.js"></script>'
    except (ImportError, FileNotFoundError):
        pass
    (directory / "index.html").write_text('<!doctype html><html><head><meta charset="utf-8">'
                                          f'<link rel="icon" href="data:,">{head}</head><body>{body}</body></html>')


@pytest.fixture(scope="module")
def page_with_the_animations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chapter's stored animations in a page served on 127.0.0.1."""
    site = tmp_path_factory.mktemp("animation")
    animation_page(site, "\n".join(html for _, html in stored_animations()))
    with serve(site) as url:
        yield url


@pytest.mark.slow
def test_the_animations_play_in_a_real_browser(chromium: Any, page_with_the_animations: str) -> None:
    server, stored = page_with_the_animations, stored_animations()
    page = chromium.new_page(viewport={"width": 900, "height": 700})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server, wait_until="networkidle")

    animations = page.locator("div.animation")
    assert animations.count() == len(stored)
    for i in range(animations.count()):
        animation = animations.nth(i)
        image, slider = animation.locator("img"), animation.locator("input.anim-slider")
        page.wait_for_function("img => img.src.startsWith('data:image/png') && img.naturalWidth > 0",
                               arg=image.element_handle(), timeout=5000)
        first = image.get_attribute("src")
        animation.locator("button[title='Next frame']").click()
        assert slider.input_value() == "1" and image.get_attribute("src") != first
        animation.locator("button[title='Last frame']").click()
        last = int(slider.get_attribute("max"))
        assert slider.input_value() == str(last) and last + 1 == len(frames_of(stored[i][1]))
        animation.locator("button[title='First frame']").click()
        animation.locator("button[title='Play']").click()  # one frame each 250 ms
        page.wait_for_function("s => parseInt(s.value) >= 3", arg=slider.element_handle(), timeout=5000)
        animation.locator("button[title='Pause']").click()
        stopped = slider.input_value()
        page.wait_for_timeout(600)
        assert slider.input_value() == stopped
        assert image.get_attribute("src") not in (first, None)
        if page.locator("script[src='fontawesome.js']").count():
            assert animation.locator("button svg").count() == 9, "the site's Font Awesome draws every icon"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "animation.png"), full_page=True)
    page.close()
    assert not errors, errors
    assert [r for r in requests if not r.startswith(server) and not r.startswith("data:")] == []


@pytest.mark.slow
def test_a_new_animation_fits_a_phone_whole(chromium: Any, tmp_path: Path) -> None:
    """animation_html's page on a 390 px phone: the frame and the slider shrink to the screen (nothing clipped,
    no sideways scrolling), and the frame keeps at least three quarters of its drawn width."""
    animation_page(tmp_path, animation_html(animate_trajectories(f, EIGHT, title="All eight", minimum=(0.0, 0.0))))
    with serve(tmp_path) as url:
        page = chromium.new_page(viewport={"width": PHONE[0], "height": PHONE[1]})
        page.goto(url, wait_until="networkidle")
        page.wait_for_function("() => document.querySelector('div.animation img').naturalWidth > 0")
        fit = page.evaluate("""() => {
            const img = document.querySelector('div.animation img'), de = document.documentElement;
            const boxes = [...document.querySelectorAll('div.animation, div.animation *')]
              .map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
            return {sideways: de.scrollWidth - de.clientWidth, right: Math.max(...boxes.map(r => r.right)),
                    shown: img.getBoundingClientRect().width / img.naturalWidth};
        }""")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "animation-phone.png"))
        page.close()
    assert fit["sideways"] == 0 and fit["right"] <= PHONE[0], fit
    assert fit["shown"] >= 0.7, fit
