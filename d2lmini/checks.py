"""Proof of equality: run a from-scratch optimizer and its torch.optim twin side by side in float64."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass
class EquivalenceReport:
    """Largest |Δθ| between the two runs after each step, over every parameter entry."""

    name: str
    twin: str
    deltas: list[float]
    tolerance: float

    @property
    def max_delta(self) -> float:
        """The largest |Δθ| over all steps."""
        return max(self.deltas)

    @property
    def ok(self) -> bool:
        """True when every step stays within the tolerance."""
        return self.max_delta <= self.tolerance

    def __str__(self) -> str:
        verdict = "equal" if self.ok else "NOT equal"
        return (f"{self.name} vs torch.optim.{self.twin}: largest |Δθ| = {self.max_delta:.1e} over "
                f"{len(self.deltas)} steps in float64 (tolerance {self.tolerance:g}): {verdict}")

    def plot(self, ax: Axes | None = None) -> Axes:
        """Log-scale plot of the largest |Δθ| per step; exact zeros are drawn at 1e-20."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.figure(figsize=(3.5, 2.2)).gca()
        steps = range(1, len(self.deltas) + 1)
        ax.semilogy(steps, [max(d, 1e-20) for d in self.deltas], "o-", markersize=3, label=self.name)
        ax.axhline(self.tolerance, color="r", linestyle="--", linewidth=1, label=f"tolerance {self.tolerance:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("largest |Δθ|")
        ax.set_ylim(1e-21, max(1.0, 10 * self.max_delta))
        ax.legend(fontsize="small")
        return ax


def default_model() -> nn.Module:
    """A small MLP with weights and biases of several shapes: 5 → 8 → 3."""
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def check_equivalence(init_fn: Callable[[Sequence[torch.Tensor]], Any],
                      update_fn: Callable[[Sequence[torch.Tensor], Any, Mapping[str, Any]], None],
                      twin: type[torch.optim.Optimizer], hyperparams: Mapping[str, Any], *,
                      model: nn.Module | None = None, input_shape: Sequence[int] = (5,), batch_size: int = 16,
                      steps: int = 30, seed: int = 0, tolerance: float = 1e-12,
                      device: torch.device | str = "cpu") -> EquivalenceReport:
    """Run ``update_fn`` and ``twin(params, **hyperparams, foreach=False)`` from identical float64 copies of ``model``
    on identical random batches (MSE to random targets), and record the largest |Δθ| after each step."""
    if not (isinstance(twin, type) and issubclass(twin, torch.optim.Optimizer)):
        raise TypeError(f"twin must be a torch.optim class such as torch.optim.SGD, got {twin!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < float("inf")):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    torch.manual_seed(seed)
    ours = (default_model() if model is None else copy.deepcopy(model)).to(device=device, dtype=torch.float64)
    theirs = copy.deepcopy(ours)
    params, twin_params = list(ours.parameters()), list(theirs.parameters())
    states = init_fn(params)
    optimizer = twin(twin_params, **hyperparams, foreach=False)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    deltas = []
    for _ in range(steps):
        X = torch.randn(batch_size, *input_shape, generator=generator, dtype=torch.float64).to(device)
        with torch.no_grad():
            target = torch.randn(ours(X).shape, generator=generator, dtype=torch.float64).to(device)
        for net, ps in ((ours, params), (theirs, twin_params)):
            for p in ps:
                p.grad = None
            nn.functional.mse_loss(net(X), target).backward()
        update_fn(params, states, hyperparams)
        optimizer.step()
        with torch.no_grad():
            deltas.append(max((p - q).abs().max().item() for p, q in zip(params, twin_params)))
    name = getattr(update_fn, "__name__", "from scratch")
    return EquivalenceReport(name, twin.__name__, deltas, tolerance)
