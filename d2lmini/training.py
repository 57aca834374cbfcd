"""Training loops: the 2-D trajectory runner and the one airfoil loop shared by from-scratch and torch.optim runs."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

Update = Callable[[Sequence[torch.Tensor], Any, Mapping[str, Any]], None]
Trainer = Update | type[torch.optim.Optimizer]


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss; the message says at which step and with which learning rate."""


class Timer:
    """Record several running times (d2l's interface: ``start``, ``stop``, ``avg``, ``sum``, ``cumsum``)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the timer, record the time since ``start`` and return it."""
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """The average recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        """The total recorded time."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """The accumulated times."""
        return np.array(self.times).cumsum().tolist()


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo, else what platform reports), recorded beside stored results."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def try_gpu(i: int = 0) -> torch.device:
    """The ``i``-th CUDA device if there is one, else the CPU."""
    return torch.device(f"cuda:{i}") if torch.cuda.device_count() > i else torch.device("cpu")


def make_step(trainer: Trainer, states: Any, hyperparams: Mapping[str, Any],
              params: Sequence[torch.Tensor]) -> Callable[[], None]:
    """One optimizer step on ``params`` as a no-argument function.

    ``trainer`` is either a from-scratch update function (then ``states`` is its state list, or the
    ``init_<name>_states`` function to call on ``params``) or a ``torch.optim`` class, built with ``**hyperparams``.
    """
    if not isinstance(hyperparams, Mapping):
        raise TypeError(f"hyperparams must be a dict such as {{'lr': 0.1}}, got {type(hyperparams).__name__}")
    if isinstance(trainer, type) and issubclass(trainer, torch.optim.Optimizer):
        optimizer = trainer(params, **hyperparams)
        # Call through the optimizer, which the closure keeps alive: a torch lr scheduler wraps `step` and holds
        # the optimizer only by a weak reference.
        return lambda: optimizer.step()
    if not callable(trainer):
        raise TypeError(f"trainer must be an update function or a torch.optim class, got {trainer!r}")
    state = states(params) if callable(states) else states
    return lambda: trainer(params, state, hyperparams)


def _lr(hyperparams: Mapping[str, Any]) -> str:
    return f"lr={hyperparams['lr']:g}" if "lr" in hyperparams else "the default lr"


def train_2d(trainer: Trainer, states: Any, hyperparams: Mapping[str, Any],
             f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], steps: int = 20,
             start: tuple[float, float] = (-5.0, -2.0), verbose: bool = True) -> list[tuple[float, float]]:
    """Minimize ``f(x1, x2)`` with an optimizer on one 2-element float64 tensor; gradients come from autograd.

    Returns the trajectory ``[(x1, x2), ...]``, starting point included (d2l's format), so any optimizer of the
    course, and its torch.optim twin, can be drawn with :func:`d2lmini.show_trace_2d`.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not callable(f):
        raise TypeError(f"f must be a function of (x1, x2), got {f!r}")
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    if x.shape != (2,):
        raise ValueError(f"start must be a pair (x1, x2), got {start!r}")
    step = make_step(trainer, states, hyperparams, [x])
    results = [(float(start[0]), float(start[1]))]
    for i in range(steps):
        x.grad = None
        f(x[0], x[1]).backward()
        step()
        x1, x2 = x.tolist()
        if not (math.isfinite(x1) and math.isfinite(x2)):
            raise DivergenceError(f"diverged at step {i + 1} with {_lr(hyperparams)}: x = ({x1:.3g}, {x2:.3g})")
        results.append((x1, x2))
    if verbose:
        print(f"epoch {steps}, x1: {results[-1][0]:f}, x2: {results[-1][1]:f}")
    return results


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model ``X @ w + b``."""
    return X @ w + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise ``(ŷ − y)² / 2``: half of what ``nn.MSELoss(reduction='none')`` returns."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


@dataclass
class TrainResult:
    """What a training run recorded: loss on the full data set at each record, epochs and seconds at each record."""

    label: str
    epochs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    params: list[torch.Tensor] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        """The loss at the last record."""
        return self.losses[-1]

    @property
    def seconds_per_epoch(self) -> float:
        """Training time per epoch, evaluation excluded."""
        return self.times[-1] / self.epochs[-1]


def _full_data(data_iter: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = getattr(data_iter, "dataset", None)
    tensors = getattr(dataset, "tensors", None)
    if not isinstance(data_iter, DataLoader) or tensors is None or len(tensors) != 2:
        raise TypeError("data_iter must be a DataLoader over a TensorDataset of (features, labels), "
                        "as returned by d2lmini.get_data_ch11")
    return tensors[0], tensors[1]


def fit_linreg(trainer: Trainer, states: Any, hyperparams: Mapping[str, Any], data_iter: DataLoader,
               num_epochs: int, *, label: str, device: torch.device | str | None = None, seed: int = 0,
               record_every: int = 200, plot: bool = True) -> TrainResult:
    """The one airfoil loop behind :func:`train_ch11` and :func:`train_concise_ch11`.

    Same initialization (``w ~ N(0, 0.01²)``, ``b = 0``, from ``torch.manual_seed(seed)``), same loss (``(ŷ − y)²/2``,
    averaged over the batch), same batch order (the loader's generator is reseeded with ``seed``): the optimizer is
    the only difference between two runs. The full-data loss is recorded every ``record_every`` examples and at the
    end of each epoch. A NaN or infinite loss stops training with a :class:`DivergenceError`.
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    features, labels = _full_data(data_iter)
    device = try_gpu() if device is None else torch.device(device)
    torch.manual_seed(seed)
    if data_iter.generator is not None:
        data_iter.generator.manual_seed(seed)
    w = torch.normal(0.0, 0.01, size=(features.shape[1], 1), dtype=features.dtype).to(device).requires_grad_()
    b = torch.zeros(1, dtype=features.dtype, device=device, requires_grad=True)
    params = [w, b]
    step = make_step(trainer, states, hyperparams, params)
    X_all, y_all = features.to(device), labels.to(device)

    def full_loss() -> float:
        with torch.no_grad():
            return squared_loss(linreg(X_all, w, b), y_all).mean().item()

    result = TrainResult(label, [0.0], [full_loss()], [0.0])
    n, steps, timer = 0, 0, Timer()
    for _ in range(num_epochs):
        for i, (X, y) in enumerate(data_iter):
            X, y = X.to(device), y.to(device)
            w.grad = b.grad = None
            loss = squared_loss(linreg(X, w, b), y).mean()
            loss.backward()
            step()
            n, steps = n + X.shape[0], steps + 1
            if not math.isfinite(loss.item()):
                raise DivergenceError(f"{label}: the loss became {loss.item()} at step {steps} "
                                      f"(epoch {n / len(features):.2f}) with {_lr(hyperparams)}; "
                                      "lower the learning rate")
            if n % record_every == 0 or i == len(data_iter) - 1:
                timer.stop()
                result.epochs.append(n / len(features))
                result.losses.append(full_loss())
                result.times.append(timer.sum())
                timer.start()
    if not math.isfinite(result.final_loss):
        raise DivergenceError(f"{label}: the loss became {result.final_loss} after step {steps} with "
                              f"{_lr(hyperparams)}; lower the learning rate")
    result.params = [p.detach().cpu() for p in params]
    print(f"{label}: loss {result.final_loss:.3f}, {result.seconds_per_epoch:.3f} sec/epoch")
    if plot:
        from .plotting import plot_losses

        plot_losses([result])
    return result


def train_ch11(trainer_fn: Update, states: Any, hyperparams: Mapping[str, Any], data_iter: DataLoader,
               feature_dim: int, num_epochs: int = 2, **kwargs: Any) -> TrainResult:
    """d2l's name: linear regression on airfoil with a from-scratch update function.

    ``states`` is the state list or the ``init_<name>_states`` function (called on the model's ``[w, b]``).
    Keyword arguments go to :func:`fit_linreg` (``device``, ``seed``, ``record_every``, ``plot``, ``label``).
    """
    features, _ = _full_data(data_iter)
    if feature_dim != features.shape[1]:
        raise ValueError(f"feature_dim is {feature_dim} but the data has {features.shape[1]} features")
    kwargs.setdefault("label", getattr(trainer_fn, "__name__", "from scratch"))
    return fit_linreg(trainer_fn, states, hyperparams, data_iter, num_epochs, **kwargs)


def train_concise_ch11(trainer_fn: type[torch.optim.Optimizer], hyperparams: Mapping[str, Any],
                       data_iter: DataLoader, num_epochs: int = 4, **kwargs: Any) -> TrainResult:
    """d2l's name: the same loop as :func:`train_ch11`, with a ``torch.optim`` class built from ``hyperparams``."""
    if not (isinstance(trainer_fn, type) and issubclass(trainer_fn, torch.optim.Optimizer)):
        raise TypeError(f"trainer_fn must be a torch.optim class such as torch.optim.SGD, got {trainer_fn!r}")
    kwargs.setdefault("label", f"torch.optim.{trainer_fn.__name__}")
    return fit_linreg(trainer_fn, None, hyperparams, data_iter, num_epochs, **kwargs)
