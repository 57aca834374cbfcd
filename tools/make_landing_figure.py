"""Draw the landing page's picture (_static/landing.png): three optimizers of the course, run by its own code
(d2lmini), from the same start on the same ill-conditioned bowl. Run once; the PNG is committed."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import d2lmini  # noqa: E402

STATIC = Path(__file__).resolve().parent.parent / "_static"
#: (label, optimizer, hyper-parameters under torch.optim's names); 20 steps each from (-5, -2).
RUNS = [
    ("gradient descent, lr 0.4", "sgd", {"lr": 0.4}),
    ("momentum 0.5, lr 0.4", "momentum", {"lr": 0.4, "momentum": 0.5}),
    ("Adam, lr 0.3", "adam", {"lr": 0.3}),
]


def f(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    return 0.1 * x1**2 + 2 * x2**2


def main() -> None:
    trajectories = {}
    for label, name, hyperparams in RUNS:
        init, update = d2lmini.OPTIMIZERS[name]
        trajectories[label] = d2lmini.train_2d(update, init, hyperparams, f, steps=20, verbose=False)
    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100, layout="constrained")
    d2lmini.plot_trajectories(f, trajectories, ax=ax, xlim=(-5.5, 1.5), ylim=(-2.6, 2.6))
    ax.plot(0, 0, "kx", markersize=7)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(r"20 steps on $f(x) = 0.1x_1^2 + 2x_2^2$ from $(-5, -2)$", fontsize=10)
    fig.savefig(STATIC / "landing.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
