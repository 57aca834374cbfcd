"""Figures: 2-D trajectories over contours, loss curves, and d2l's ``set_figsize`` and ``Animator``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .training import TrainResult

Trajectory = Sequence[tuple[float, float]]


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set matplotlib's default figure size (d2l's name; figures stay PNG, as the course stores them)."""
    plt.rcParams["figure.figsize"] = figsize


def _check_trajectory(label: str, trajectory: Trajectory) -> None:
    if len(trajectory) == 0 or any(len(point) != 2 for point in trajectory):
        raise ValueError(f"trajectory {label!r} must be a non-empty list of (x1, x2) pairs, as train_2d returns")


def plot_trajectories(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      trajectories: Mapping[str, Trajectory], ax: Axes | None = None,
                      title: str | None = None, margin: float = 0.5) -> Axes:
    """Draw each trajectory over the contours of ``f``, on a grid that covers every point plus ``margin``."""
    if not trajectories:
        raise ValueError("trajectories is empty; pass {label: train_2d(...)} for at least one run")
    for label, trajectory in trajectories.items():
        _check_trajectory(label, trajectory)
    points = torch.tensor([point for t in trajectories.values() for point in t], dtype=torch.float64)
    low, high = points.min(0).values - margin, points.max(0).values + margin
    x1, x2 = torch.meshgrid(torch.linspace(low[0], high[0], 200, dtype=torch.float64),
                            torch.linspace(low[1], high[1], 200, dtype=torch.float64), indexing="ij")
    if ax is None:
        ax = plt.figure().gca()
    ax.contour(x1.numpy(), x2.numpy(), f(x1, x2).numpy(), levels=20, colors="#9ab", linewidths=0.6)
    for label, trajectory in trajectories.items():
        ax.plot(*zip(*trajectory), "-o", markersize=2.5, linewidth=1, label=label)
    ax.plot(*trajectories[next(iter(trajectories))][0], "k*", markersize=8)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if len(trajectories) > 1:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


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
