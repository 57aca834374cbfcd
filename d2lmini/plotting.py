"""Figures: 2-D trajectories over contours, loss curves, and d2l's ``set_figsize`` and ``Animator``."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import torch

if TYPE_CHECKING:
    from matplotlib.animation import FuncAnimation
    from matplotlib.axes import Axes

    from .training import TrainResult

Trajectory = Sequence[tuple[float, float]]
Limits = tuple[float, float]


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set matplotlib's default figure size (d2l's name; figures stay PNG, as the course stores them)."""
    plt.rcParams["figure.figsize"] = figsize


def _check_trajectory(label: str, trajectory: Trajectory) -> None:
    if len(trajectory) == 0 or any(len(point) != 2 for point in trajectory):
        raise ValueError(f"trajectory {label!r} must be a non-empty list of (x1, x2) pairs, as train_2d returns")


def _contour_box(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], trajectories: Mapping[str, Trajectory],
                 ax: Axes, margin: float, xlim: Limits | None, ylim: Limits | None) -> tuple[Limits, Limits]:
    """Check the trajectories, draw the contours of ``f`` over ``xlim`` × ``ylim`` (default: every point plus
    ``margin``), label the axes; return the box drawn."""
    if not trajectories:
        raise ValueError("trajectories is empty; pass {label: train_2d(...)} for at least one run")
    for label, trajectory in trajectories.items():
        _check_trajectory(label, trajectory)
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if lim is not None and (len(lim) != 2 or not lim[0] < lim[1]):
            raise ValueError(f"{name} must be a pair (low, high) with low < high, got {lim!r}")
    points = torch.tensor([point for t in trajectories.values() for point in t], dtype=torch.float64)
    low, high = (points.min(0).values - margin).tolist(), (points.max(0).values + margin).tolist()
    (x_low, x_high), (y_low, y_high) = xlim or (low[0], high[0]), ylim or (low[1], high[1])
    x1, x2 = torch.meshgrid(torch.linspace(x_low, x_high, 200, dtype=torch.float64),
                            torch.linspace(y_low, y_high, 200, dtype=torch.float64), indexing="ij")
    ax.contour(x1.numpy(), x2.numpy(), f(x1, x2).numpy(), levels=20, colors="#9ab", linewidths=0.6)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return (x_low, x_high), (y_low, y_high)


def plot_trajectories(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      trajectories: Mapping[str, Trajectory], ax: Axes | None = None,
                      title: str | None = None, margin: float = 0.5, xlim: Limits | None = None,
                      ylim: Limits | None = None) -> Axes:
    """Draw each trajectory over the contours of ``f``, on a grid that covers every point plus ``margin``, or on
    the box ``xlim`` × ``ylim`` where given (so that several panels can share one box)."""
    if ax is None:
        ax = plt.figure().gca()
    _contour_box(f, trajectories, ax, margin, xlim, ylim)
    if xlim is not None:
        ax.set_xlim(xlim)
    if ylim is not None:
        ax.set_ylim(ylim)
    for label, trajectory in trajectories.items():
        ax.plot(*zip(*trajectory), "-o", markersize=2.5, linewidth=1, label=label)
    ax.plot(*trajectories[next(iter(trajectories))][0], "k*", markersize=8)
    if len(trajectories) > 1:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


#: The animation's own figure (``ax=None``): 480 px wide at 100 dpi, so it is shown at its drawn size in the
#: book's column and at three quarters of it on a 390 px phone, where its 9-10 pt text stays about 10 px high.
ANIMATION_FIGSIZE = (4.8, 4.4)
ANIMATION_DPI = 100


def animate_trajectories(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         trajectories: Mapping[str, Trajectory], *, ax: Axes | None = None, interval: int = 200,
                         every: int = 1, title: str | None = None, margin: float = 0.5,
                         xlim: Limits | None = None, ylim: Limits | None = None,
                         minimum: tuple[float, float] | None = None) -> FuncAnimation:
    """Animate the trajectories over the contours of ``f``: the frame of step ``k`` draws every run up to step ``k``.

    There is one frame per point of the longest trajectory (shorter ones stay at their end), or, with ``every=n``,
    one per ``n`` steps plus the last. ``interval`` is the delay between frames in milliseconds; ``minimum``, if
    given, is marked with a cross. Without ``ax`` the animation gets its own figure, drawn to be read on a phone as
    well as in the book's column (``ANIMATION_FIGSIZE`` at ``ANIMATION_DPI``, the legend under the plot). Show it
    without a kernel with ``IPython.display.HTML(animation_html(anim))``, which closes the figure so that it is
    not also stored as a still image.
    """
    from matplotlib.animation import FuncAnimation

    for name, value in (("interval", interval), ("every", every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if minimum is not None and len(minimum) != 2:
        raise ValueError(f"minimum must be a point (x1, x2), got {minimum!r}")
    own_figure = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=ANIMATION_FIGSIZE, dpi=ANIMATION_DPI, layout="constrained")
    box = _contour_box(f, trajectories, ax, margin, xlim, ylim)
    ax.set_xlim(box[0])  # fixed: the lines grow frame by frame, the view does not follow them
    ax.set_ylim(box[1])
    paths = [ax.plot([], [], "-", linewidth=1, label=label)[0] for label in trajectories]
    heads = [ax.plot([], [], "o", markersize=4, color=path.get_color())[0] for path in paths]
    ax.plot(*trajectories[next(iter(trajectories))][0], "k*", markersize=8, zorder=3)
    if minimum is not None:
        ax.plot(*minimum, "kx", markersize=8, zorder=3, label="minimum")
    counter = ax.text(0.02, 0.96, "", transform=ax.transAxes, va="top", fontsize=10,
                      bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    if own_figure:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(4, len(ax.get_legend_handles_labels()[1])),
                  fontsize=9, frameon=False, handlelength=1.5, columnspacing=1.0)
        if title:
            ax.set_title(title, fontsize=10)
        ax.figure.canvas.draw()  # lay the figure out once, for the first frame,
        ax.figure.set_layout_engine("none")  # and keep that layout in every frame (fast, and nothing jumps)
    else:
        if len(trajectories) > 1:
            ax.legend(fontsize="small")
        if title:
            ax.set_title(title, fontsize="medium")
    last = max(len(t) for t in trajectories.values()) - 1
    steps = list(range(0, last, every)) + [last]

    def draw(k: int) -> list[Any]:
        for trajectory, path, head in zip(trajectories.values(), paths, heads):
            shown = trajectory[:k + 1]
            path.set_data(*zip(*shown))
            head.set_data([shown[-1][0]], [shown[-1][1]])
        counter.set_text(f"step {k}")
        return [*paths, *heads, counter]

    return FuncAnimation(ax.figure, draw, frames=steps, interval=interval, blit=False, repeat=True)


def animation_html(anim: FuncAnimation, colors: int | None = 64) -> str:
    """``anim.to_jshtml()``, the animation with its frames embedded, which plays in a web page with no kernel.

    Three changes make it fit a static site: the Font Awesome stylesheet that matplotlib links from a CDN is left
    out (the course's site ships Font Awesome, and loads nothing off-host); the frame and the slider shrink to the
    width of the page, so nothing is clipped on a phone; and each PNG frame is reduced to ``colors`` colors
    (Pillow's octree, no dithering), about four times smaller (``colors=None`` keeps the frames as drawn). The
    animation's figure is closed, so that the notebook does not also store it as a still image.
    """
    if colors is not None and (isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256):
        raise ValueError(f"colors must be an integer from 2 to 256, or None, got {colors!r}")
    html = re.sub(r"<link\s[^>]*href=\"https?://[^\"]*\"[^>]*>\s*", "", anim.to_jshtml())
    html = html.replace('<img id="_anim_img', '<img style="max-width: 100%; height: auto" id="_anim_img')
    html = re.sub(r"(input\[type=range\]\.anim-slider \{\s*width: \d+px;)", r"\1 max-width: 100%;", html)
    plt.close(anim._fig)  # matplotlib's FuncAnimation keeps its figure there
    if colors is None:
        return html

    def reduce(match: re.Match[str]) -> str:
        from PIL import Image

        drawn = Image.open(io.BytesIO(base64.b64decode(match.group(2).replace("\\\n", ""))))
        buffer = io.BytesIO()
        drawn.convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            buffer, format="png", optimize=True, dpi=drawn.info.get("dpi", (72, 72)))  # keep the drawn dpi
        return f'{match.group(1)}{base64.b64encode(buffer.getvalue()).decode("ascii")}"'

    return re.sub(r'(frames\[\d+\] = "data:image/png;base64,)([^"]*)"', reduce, html)


def show_trace_2d(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], results: Trajectory,
                  ax: Axes | None = None, title: str | None = None) -> Axes:
    """d2l's name: draw one trajectory from :func:`d2lmini.train_2d` over the contours of ``f``."""
    return plot_trajectories(f, {"trajectory": results}, ax=ax, title=title)


def plot_losses(results: Sequence[TrainResult], axes: Sequence[Axes] | None = None,
                logy: bool = False) -> Sequence[Axes]:
    """Loss against epochs (left) and against training seconds (right), one line per run."""
    if len(results) == 0:
        raise ValueError("results is empty; pass the TrainResult of at least one run")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 2.5), sharey=True, layout="constrained")
    if len(axes) != 2:
        raise ValueError(f"axes must be a pair (by epoch, by time), got {len(axes)} axes")
    for result in results:
        axes[0].plot(result.epochs, result.losses, label=result.label)
        axes[1].plot(result.times, result.losses, label=result.label)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training time (s)")
    axes[0].set_ylabel("loss (full data)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if logy:
            ax.set_yscale("log")
    axes[0].legend(fontsize="small")
    return axes


class Animator:
    """d2l's incremental line plot for notebooks: ``add(x, y)`` appends points and redraws in place."""

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None, legend: Sequence[str] = (),
                 xlim: tuple[float, float] | None = None, ylim: tuple[float, float] | None = None,
                 figsize: tuple[float, float] = (3.5, 2.5)) -> None:
        self.fig, self.ax = plt.subplots(figsize=figsize)
        self.labels: dict[str, Any] = {"xlabel": xlabel, "ylabel": ylabel, "xlim": xlim, "ylim": ylim}
        self.legend = list(legend)
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []

    def add(self, x: float | Sequence[float], y: float | Sequence[float]) -> None:
        """Add one point to each line (``y`` may hold one value per line) and redraw."""
        from IPython import display

        ys = list(y) if isinstance(y, Sequence) else [y]
        xs = list(x) if isinstance(x, Sequence) else [x] * len(ys)
        if len(xs) != len(ys):
            raise ValueError(f"x has {len(xs)} values but y has {len(ys)}")
        if not self.X:
            self.X, self.Y = [[] for _ in ys], [[] for _ in ys]
        if len(ys) != len(self.Y):
            raise ValueError(f"this Animator draws {len(self.Y)} lines, got {len(ys)} values")
        for i, (a, b) in enumerate(zip(xs, ys)):
            self.X[i].append(a)
            self.Y[i].append(b)
        self.ax.cla()
        for i, (xs_i, ys_i) in enumerate(zip(self.X, self.Y)):
            self.ax.plot(xs_i, ys_i, label=self.legend[i] if i < len(self.legend) else None)
        self.ax.set(**{k: v for k, v in self.labels.items() if v is not None})
        if self.legend:
            self.ax.legend()
        self.ax.grid(alpha=0.3)
        display.display(self.fig)
        display.clear_output(wait=True)
