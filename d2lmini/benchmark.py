"""A small, reproducible optimizer benchmark: four tasks, one training loop for any torch.optim class, a sweep.

Every run is fixed by (task, optimizer, learning rate, seed): the seed sets the model's initialization and the
order of the minibatches, and nothing else varies between runs (same step budget, same batches for a given seed).
The data splits are fixed once per task and do not depend on the seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import load_airfoil
from .optimizers import TWINS
from .training import try_gpu

#: Builds a torch scheduler for an optimizer (see :mod:`d2lmini.schedules`).
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


@dataclass(frozen=True)
class Task:
    """A training problem: training, validation and test splits (``None`` when the task has no held-out data), a
    model factory (called right after ``torch.manual_seed(seed)``), a loss that averages over a batch, a batch size
    (``None``: full batch) and a step budget."""

    name: str
    make_model: Callable[[], nn.Module]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor | None
    y_val: torch.Tensor | None
    X_test: torch.Tensor | None
    y_test: torch.Tensor | None
    batch_size: int | None
    steps: int
    classification: bool


@dataclass
class Run:
    """One training run: full-training-set loss every ``eval_every`` steps (step 0 included), training seconds at
    those points (evaluation excluded), the learning rate of each step, and the final metrics (NaN if not defined)."""

    task: str
    optimizer: str
    lr: float
    seed: int
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    diverged: bool = False
    train_loss: float = math.nan
    train_acc: float = math.nan
    val_loss: float = math.nan
    val_acc: float = math.nan
    test_loss: float = math.nan
    test_acc: float = math.nan

    def steps_to(self, target: float) -> int | None:
        """The first recorded step at which the training loss is at most ``target`` (None if never)."""
        return next((s for s, loss in zip(self.steps, self.losses) if loss <= target), None)

    def seconds_to(self, target: float) -> float | None:
        """Training seconds until the first record at or below ``target`` (None if never)."""
        return next((t for t, loss in zip(self.seconds, self.losses) if loss <= target), None)


def half_squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The course's regression loss, ``(ŷ − y)²/2`` averaged over the batch."""
    return ((y_hat.reshape(y.shape) - y) ** 2).mean() / 2


def _split(n: int, n_train: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random split of ``range(n)`` into training, validation and test indices (the rest)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def _standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Standardize every split with the training split's mean and standard deviation."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # constant pixels stay 0 instead of 0/0
    return [(x - mean) / std for x in (train, *others)]


def airfoil_task(steps: int = 200, batch_size: int = 100, n_train: int = 1000, n_val: int = 250) -> Task:
    """Linear regression on airfoil (d2l's standardized features); a fixed random split into training,
    validation and test rows."""
    X, y = load_airfoil(1500)
    train, val, test = _split(len(X), n_train, n_val)
    return Task("airfoil linreg", lambda: nn.Linear(X.shape[1], 1), half_squared_loss,
                X[train], y[train], X[val], y[val], X[test], y[test], batch_size, steps, classification=False)


def digits_task(steps: int = 300, batch_size: int = 128, hidden: int = 64, n_train: int = 1000,
                n_val: int = 397) -> Task:
    """A 64 → hidden → 10 ReLU MLP on scikit-learn's 8×8 handwritten digits (1797 images, shipped with the package),
    standardized with the training split's statistics; the remaining images are split into validation and test."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError("digits_task needs scikit-learn, which ships the digits data: "
                          "pip install scikit-learn") from error

    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    train, val, test = _split(len(X), n_train, n_val)
    X_train, X_val, X_test = _standardize(X[train], X[val], X[test])
    return Task("digits MLP", lambda: nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)),
                nn.functional.cross_entropy, X_train, y[train], X_val, y[val], X_test, y[test], batch_size, steps,
                classification=True)


def linear10_task(steps: int = 200, batch_size: int = 64, n: int = 1500, noise: float = 0.5) -> Task:
    """``nn.Linear(10, 2)`` + cross-entropy on synthetic data: x ~ N(0, I₁₀), label 1 when w·x/‖w‖ + noise·ε > 0
    for a fixed random w; a third of the points each for training, validation and test."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 10, generator=g)
    w = torch.randn(10, generator=g)
    y = (X @ w / w.norm() + noise * torch.randn(n, generator=g) > 0).long()
    train, val, test = _split(n, n // 3, n // 3)
    return Task("Linear(10, 2)", lambda: nn.Linear(10, 2), nn.functional.cross_entropy,
                X[train], y[train], X[val], y[val], X[test], y[test], batch_size, steps, classification=True)


def rosenbrock(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """The course's scaled Rosenbrock valley, ``(1 − x1)² + 10·(x2 − x1²)²``: non-convex, minimum 0 at (1, 1)."""
    return (1 - x1) ** 2 + 10 * (x2 - x1**2) ** 2


class Point2D(nn.Module):
    """A 2-D point as a model: ``forward`` returns ``f(x1, x2)``; the start is ``start`` plus N(0, spread²) noise
    from torch's global generator (so the run's seed picks it)."""

    def __init__(self, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 start: tuple[float, float] = (-1.5, 2.0), spread: float = 0.1) -> None:
        super().__init__()
        self.f = f
        self.x = nn.Parameter(torch.tensor(start) + spread * torch.randn(2))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.f(self.x[0], self.x[1])


def surface_task(steps: int = 200) -> Task:
    """Minimize the Rosenbrock function from near (−1.5, 2): full-batch (the gradient is exact), no held-out set."""
    empty = torch.zeros(1, 0)
    return Task("Rosenbrock 2-D", lambda: Point2D(rosenbrock), lambda out, y: out, empty, empty, None, None,
                None, None, None, steps, classification=False)


def hyperparams(name: str, lr: float) -> dict[str, Any]:
    """The benchmark's settings: the reference's defaults except ``lr``, and the declaration's ``typical`` settings
    (momentum 0.9 for momentum and Nesterov); any declared optimizer (``d2lmini.DECLARED``)."""
    from .beyond import DECLARED  # the registry of every declared optimizer

    if name not in DECLARED:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(DECLARED)}")
    return {**DECLARED[name].typical, "lr": lr}


def _metrics(task: Task, model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        out = model(X)
        loss = task.loss_fn(out, y).item()
        acc = (out.argmax(1) == y).float().mean().item() if task.classification else math.nan
    return loss, acc


def run(task: Task, optimizer: str, lr: float, seed: int, *, device: torch.device | str | None = None,
        eval_every: int = 10, make_scheduler: SchedulerFactory | None = None, num_threads: int | None = 1,
        stop_below: float | None = None) -> Run:
    """Train ``task`` with ``TWINS[optimizer](**hyperparams(optimizer, lr))`` for ``task.steps`` steps.

    ``make_scheduler(opt)``, when given, is stepped after each ``optimizer.step()``. A run whose loss becomes NaN,
    infinite or 1e6 times its initial value stops there and is marked ``diverged``. With ``stop_below``, the run
    stops at the first evaluation whose training loss is at most that value (for timing: ``seconds_to`` is then the
    run's last record, and the final metrics are those of that step). The run uses ``num_threads``
    CPU threads (``None``: torch's setting), and torch's setting is restored afterwards: these models are too small
    to gain from splitting a matrix product across threads, and on a busy CPU threads that wait for each other make
    such small products far slower.
    """
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _run(task, optimizer, lr, seed, device, eval_every, make_scheduler, stop_below)
    finally:
        torch.set_num_threads(previous)


def _check_optimizer(optimizer: str) -> None:
    """These tasks train the course's first eight optimizers (``TWINS``): elementwise rules with one mode and no
    special construction, which is what the batched runs rely on."""
    if optimizer not in TWINS:
        raise ValueError(f"the benchmark tasks train one of {sorted(TWINS)}, got {optimizer!r}; for the optimizers "
                         "of 'Beyond AdamW' use d2lmini.build (as benchmarks/transformer.py does)")


def _check_eval_every(eval_every: int) -> None:
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")


def _run(task: Task, optimizer: str, lr: float, seed: int, device: torch.device | str | None, eval_every: int,
         make_scheduler: SchedulerFactory | None, stop_below: float | None = None) -> Run:
    _check_eval_every(eval_every)
    _check_optimizer(optimizer)
    device = try_gpu() if device is None else torch.device(device)
    torch.manual_seed(seed)
    model = task.make_model().to(device)
    opt = TWINS[optimizer](model.parameters(), **hyperparams(optimizer, lr))
    scheduler = make_scheduler(opt) if make_scheduler is not None else None
    X_train, y_train = task.X_train.to(device), task.y_train.to(device)
    n, batch = len(X_train), task.batch_size
    batches = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=batches), 0
    result = Run(task.name, optimizer, lr, seed)
    loss0 = _metrics(task, model, X_train, y_train)[0]
    result.steps, result.losses, result.seconds = [0], [loss0], [0.0]
    elapsed, tick = 0.0, time.perf_counter()
    for step in range(1, task.steps + 1):
        if batch is None:
            X, y = X_train, y_train
        else:
            if pos + batch > n:  # a new epoch: a new shuffle, drawn from the run's own generator
                perm, pos = torch.randperm(n, generator=batches), 0
            idx = perm[pos:pos + batch].to(device)
            X, y, pos = X_train[idx], y_train[idx], pos + batch
        loss = task.loss_fn(model(X), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        result.lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if step % eval_every == 0 or step == task.steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed += time.perf_counter() - tick
            full = _metrics(task, model, X_train, y_train)[0]
            result.steps.append(step)
            result.losses.append(full)
            result.seconds.append(elapsed)
            if not math.isfinite(full) or full > 1e6 * max(loss0, 1e-12):
                result.diverged = True
                break
            if stop_below is not None and full <= stop_below:
                break
            tick = time.perf_counter()
    if not result.diverged:
        result.train_loss, result.train_acc = _metrics(task, model, X_train, y_train)
        if task.X_val is not None and task.y_val is not None:
            result.val_loss, result.val_acc = _metrics(task, model, task.X_val.to(device), task.y_val.to(device))
        if task.X_test is not None and task.y_test is not None:
            result.test_loss, result.test_acc = _metrics(task, model, task.X_test.to(device), task.y_test.to(device))
    return result


def _batch_indices(n: int, batch: int, steps: int, seed: int) -> torch.Tensor:
    """The minibatch indices of every step of a run with this seed, drawn exactly as :func:`run` draws them."""
    batches = torch.Generator().manual_seed(seed)
    perm, pos, rows = torch.randperm(n, generator=batches), 0, []
    for _ in range(steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=batches), 0
        rows.append(perm[pos:pos + batch])
        pos += batch
    return torch.stack(rows)


def run_batch(task: Task, optimizer: str, lrs: Sequence[float], seeds: Sequence[int], *,
              device: torch.device | str | None = None, eval_every: int = 10, num_threads: int | None = 1,
              batch_indices: dict[int, torch.Tensor] | None = None) -> list[Run]:
    """Every (lr, seed) run of one task and optimizer, trained side by side; the same runs as :func:`run` makes.

    Each seed's model is built exactly as in :func:`run` (``torch.manual_seed(seed)``, then ``task.make_model()``)
    and sees the same minibatches in the same order. The ``len(lrs) × len(seeds)`` copies are stacked along a new
    leading dimension (rate-major, then seed) and evaluated with ``torch.func.vmap``; one ``TWINS[optimizer]`` holds
    one parameter group per learning rate (with :func:`hyperparams`), whose tensors stack that rate's seeds. This is
    the same computation as separate runs because the batch loss is the *sum* of the runs' losses, so each copy's
    gradient is its own run's gradient, and all eight optimizers update every coordinate independently of the
    others. Only the rounding of the batched matrix products can differ (``tests/test_benchmark_protocol.py``
    compares the two). A run that diverges is marked and stops being recorded at that evaluation, like in
    :func:`run`; a learning rate whose seeds have all diverged leaves the batch.

    The ``seconds`` of these runs are the wall time of the whole batch (all its runs together), not of one run:
    time single runs with :func:`run` (for example with ``stop_below``). ``num_threads`` is as in :func:`run`; the
    batched products are larger, so two threads pay off here where they do not for a single run.
    """
    from torch.func import functional_call, vmap

    _check_eval_every(eval_every)
    _check_optimizer(optimizer)
    if not lrs or not seeds:
        return []
    device = try_gpu() if device is None else torch.device(device)
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(task.make_model().to(device))
        template = models[0]
        names = [name for name, _ in template.named_parameters()]
        buffers = {name: torch.stack([dict(m.named_buffers())[name] for m in models])
                   for name, _ in template.named_buffers()}
        start = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]) for name in names}
        leaves = [{name: start[name].clone().requires_grad_(True) for name in names} for _ in lrs]
        groups = [{"params": [leaf[name] for name in names], **hyperparams(optimizer, lr)}
                  for leaf, lr in zip(leaves, lrs)]
        opt = TWINS[optimizer](groups, **hyperparams(optimizer, lrs[0]))

        active = list(range(len(lrs)))  # the learning rates with a seed still running, in order

        def stacked() -> dict[str, torch.Tensor]:  # (len(active) * len(seeds), ...): the running rates' copies
            return {name: torch.stack([leaves[i][name] for i in active]).flatten(0, 1) for name in names}

        def loss_and_out(params: dict[str, torch.Tensor], bufs: dict[str, torch.Tensor], X: torch.Tensor,
                         y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = functional_call(template, {**params, **bufs}, (X,))
            return task.loss_fn(out, y), out

        train_step = vmap(loss_and_out, in_dims=(0, 0, 0, 0) if task.batch_size is not None else (0, 0, None, None))
        evaluate = vmap(loss_and_out, in_dims=(0, 0, None, None))

        def copies(t: torch.Tensor) -> torch.Tensor:  # (len(seeds), ...) -> (len(active) * len(seeds), ...)
            return t.unsqueeze(0).expand(len(active), *t.shape).flatten(0, 1)

        X_train, y_train = task.X_train.to(device), task.y_train.to(device)
        n, batch = len(X_train), task.batch_size
        if batch is not None:
            cached = batch_indices or {}
            idx = torch.stack([cached[seed] if seed in cached else _batch_indices(n, batch, task.steps, seed)
                               for seed in seeds]).to(device)  # (seeds, steps, batch)

        def metrics(X: torch.Tensor, y: torch.Tensor, accuracy: bool = True) -> tuple[dict, dict]:
            """{lr index: [loss of each seed]} and the same for the accuracy (NaN for regression, or if not asked)."""
            with torch.no_grad():
                loss, out = evaluate(stacked(), {k: copies(v) for k, v in buffers.items()}, X, y)
                loss = loss.reshape(len(active), len(seeds))
                if task.classification and accuracy:
                    acc = (out.argmax(-1) == y).float().mean(-1).reshape(len(active), len(seeds))
                else:
                    acc = torch.full_like(loss, math.nan)
            return dict(zip(active, loss.tolist())), dict(zip(active, acc.tolist()))

        results = [[Run(task.name, optimizer, lr, seed) for seed in seeds] for lr in lrs]
        loss0 = metrics(X_train, y_train, accuracy=False)[0]
        for i, row in enumerate(results):
            for j, r in enumerate(row):
                r.steps, r.losses, r.seconds = [0], [loss0[i][j]], [0.0]
        elapsed, tick = 0.0, time.perf_counter()
        for step in range(1, task.steps + 1):
            if batch is None:
                X, y = X_train, y_train
            else:
                rows = idx[:, step - 1]
                X, y = copies(X_train[rows]), copies(y_train[rows])
            loss = train_step(stacked(), {k: copies(v) for k, v in buffers.items()}, X, y)[0].sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % eval_every == 0 or step == task.steps:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed += time.perf_counter() - tick
                full = metrics(X_train, y_train, accuracy=False)[0]
                for i in active:
                    for j, r in enumerate(results[i]):
                        if r.diverged:
                            continue
                        r.steps.append(step)
                        r.losses.append(full[i][j])
                        r.seconds.append(elapsed)
                        if not math.isfinite(full[i][j]) or full[i][j] > 1e6 * max(loss0[i][j], 1e-12):
                            r.diverged = True
                # A rate whose seeds have all diverged leaves the batch (and its group the optimizer): nothing of
                # it is recorded any more, and NaN arithmetic is not worth its time.
                done = [i for i in active if all(r.diverged for r in results[i])]
                if done:
                    opt.param_groups[:] = [g for i, g in zip(active, opt.param_groups) if i not in done]
                    active = [i for i in active if i not in done]
                if not active:
                    break
                tick = time.perf_counter()
        for row in results:
            for r in row:
                r.lrs = [float(r.lr)] * r.steps[-1]
        if not active:
            return [r for row in results for r in row]
        train = metrics(X_train, y_train)
        val = (metrics(task.X_val.to(device), task.y_val.to(device))
               if task.X_val is not None and task.y_val is not None else None)
        test = (metrics(task.X_test.to(device), task.y_test.to(device))
                if task.X_test is not None and task.y_test is not None else None)
        for i in active:
            for j, r in enumerate(results[i]):
                if r.diverged:
                    continue
                r.train_loss, r.train_acc = train[0][i][j], train[1][i][j]
                if val is not None:
                    r.val_loss, r.val_acc = val[0][i][j], val[1][i][j]
                if test is not None:
                    r.test_loss, r.test_acc = test[0][i][j], test[1][i][j]
        return [r for row in results for r in row]
    finally:
        torch.set_num_threads(previous)


def sweep(tasks: Sequence[Task], optimizers: Sequence[str], lrs: Sequence[float], seeds: Sequence[int],
          device: torch.device | str | None = None, eval_every: int = 10, num_threads: int | None = 1,
          batched: bool = True) -> list[Run]:
    """Every (task, optimizer, lr, seed) combination, in that nesting order.

    ``batched`` (the default) trains all the learning rates and seeds of one task and optimizer side by side with
    :func:`run_batch`, two to five times faster on the chapter's tasks; ``batched=False`` calls :func:`run` once per
    combination. Both make the same runs up to rounding; only the batched runs' ``seconds`` are those of the batch.
    """
    if not batched:
        return [run(task, name, lr, seed, device=device, eval_every=eval_every, num_threads=num_threads)
                for task in tasks for name in optimizers for lr in lrs for seed in seeds]
    runs: list[Run] = []
    for task in tasks:
        cached = ({seed: _batch_indices(len(task.X_train), task.batch_size, task.steps, seed) for seed in seeds}
                  if task.batch_size is not None else None)
        for name in optimizers:
            runs.extend(run_batch(task, name, lrs, seeds, device=device, eval_every=eval_every,
                                  num_threads=num_threads, batch_indices=cached))
    return runs


def select(runs: Sequence[Run], **where: Any) -> list[Run]:
    """The runs whose attributes equal the given values, e.g. ``select(runs, task="digits MLP", optimizer="adam")``."""
    return [r for r in runs if all(getattr(r, key) == value for key, value in where.items())]


def mean_final_loss(runs: Sequence[Run], metric: str = "train_loss") -> float:
    """Mean of ``metric`` over the runs (seeds); infinite if any of them diverged."""
    if metric not in ("train_loss", "val_loss", "test_loss"):
        raise ValueError(f"metric must be 'train_loss', 'val_loss' or 'test_loss', got {metric!r}")
    return math.inf if any(r.diverged for r in runs) else float(np.mean([getattr(r, metric) for r in runs]))


def best_lr(runs: Sequence[Run], task: str, optimizer: str, metric: str = "val_loss") -> float:
    """The learning rate with the lowest mean final ``metric`` over seeds (ties go to the smaller lr).

    ``val_loss`` (the default) tunes on the validation split, so the test split stays unseen; tasks without
    held-out data (NaN validation loss) fall back to the training loss.
    """
    by_lr: dict[float, list[Run]] = {}
    for r in select(runs, task=task, optimizer=optimizer):
        by_lr.setdefault(r.lr, []).append(r)
    if not by_lr:
        raise ValueError(f"no runs for task {task!r} and optimizer {optimizer!r}")
    if metric == "val_loss" and all(math.isnan(r.val_loss) for rs in by_lr.values() for r in rs if not r.diverged):
        metric = "train_loss"
    return min(by_lr, key=lambda lr: (mean_final_loss(by_lr[lr], metric), lr))


def fastest_lr(runs: Sequence[Run], task: str, optimizer: str, target: float) -> float | None:
    """The learning rate whose seeds reach the training loss ``target`` in the fewest steps on average, among those
    where every seed reaches it (ties go to the smaller lr); None if no learning rate gets every seed there."""
    by_lr: dict[float, list[int | None]] = {}
    for r in select(runs, task=task, optimizer=optimizer):
        by_lr.setdefault(r.lr, []).append(r.steps_to(target))
    reached = {lr: float(np.mean(steps)) for lr, steps in by_lr.items() if None not in steps}  # type: ignore[arg-type]
    return min(reached, key=lambda lr: (reached[lr], lr)) if reached else None
