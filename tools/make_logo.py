"""Draw the course logo and favicon (_static/logo.png, _static/favicon.png): gradient descent with momentum on an
ill-conditioned quadratic, from the course's own optimizer. Run once; the PNGs are committed."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import d2lmini  # noqa: E402
from d2lmini.optimizers import init_momentum_states, momentum  # noqa: E402

STATIC = Path(__file__).resolve().parent.parent / "_static"


def f(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    return 0.1 * x1**2 + 2 * x2**2


def main() -> None:
    trajectory = d2lmini.train_2d(momentum, init_momentum_states, {"lr": 0.4, "momentum": 0.6}, f, steps=25,
                                  verbose=False)
    for name, size, width in (("logo.png", 3.0, 2.0), ("favicon.png", 0.64, 1.2)):
        fig, ax = plt.subplots(figsize=(size, size * 0.75), dpi=100)
        x1, x2 = torch.meshgrid(torch.linspace(-5.5, 1.5, 100), torch.linspace(-2.6, 2.6, 100), indexing="ij")
        ax.contourf(x1, x2, f(x1, x2), levels=12, cmap="Blues_r")
        ax.plot(*zip(*trajectory), "-", color="#e8590c", linewidth=width)
        ax.plot(0, 0, "*", color="#ffd43b", markersize=4 * width)
        ax.set_axis_off()
        fig.subplots_adjust(0, 0, 1, 1)
        fig.savefig(STATIC / name, transparent=True)
        plt.close(fig)


if __name__ == "__main__":
    main()
