"""Learning-rate schedules from scratch, as plain functions of the step (or epoch) count, and their torch twins.

Each schedule ``f(t, base_lr, ...)`` returns the learning rate for step ``t = 0, 1, 2, ...``: the value that the
optimizer must use at its ``t``-th update. It reproduces the ``torch.optim.lr_scheduler`` class built by
:func:`torch_scheduler` when that scheduler is stepped once after each ``optimizer.step()`` (torch's order).
Nothing here keeps global state: :func:`scheduled` and :func:`with_scheduler` return new objects whose counters and
records belong to one training run.
"""

from __future__ import annotations

import itertools
import math
import numbers
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import lr_scheduler

from .optimizers import Hyperparams

#: A schedule with its settings bound: step (or epoch) count ``t`` → learning rate.
Schedule = Callable[[int], float]
#: A from-scratch update function of the course: ``update(params, states, hyperparams)``.
Update = Callable[[Sequence[torch.Tensor], Any, Mapping[str, Any]], None]
#: Builds a torch scheduler for a given optimizer.
SchedulerFactory = Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler]


def _check_count(name: str, key: str, value: Any, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: {key} must be an integer >= {minimum}, got {value!r}")


def _check_positive(name: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: {key} must be a finite number > 0, got {value!r}")


def constant_lr(t: int, base_lr: float) -> float:
    """No schedule: ``base_lr`` at every step."""
    _check_count("constant_lr", "t", t)
    return base_lr


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``torch.optim.lr_scheduler.StepLR``: ``base_lr · gamma^⌊epoch / step_size⌋``."""
    _check_count("step_lr", "epoch", epoch)
    _check_count("step_lr", "step_size", step_size, minimum=1)
    return base_lr * gamma ** (epoch // step_size)


def multistep_lr(epoch: int, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """``MultiStepLR``: ``base_lr · gamma^k``, with ``k`` the number of milestones ``m <= epoch``."""
    _check_count("multistep_lr", "epoch", epoch)
    if list(milestones) != sorted(milestones):
        raise ValueError(f"multistep_lr: milestones must be increasing, got {list(milestones)}")
    return base_lr * gamma ** bisect_right(milestones, epoch)


def exponential_lr(epoch: int, base_lr: float, gamma: float) -> float:
    """``ExponentialLR``: ``base_lr · gamma^epoch``."""
    _check_count("exponential_lr", "epoch", epoch)
    return base_lr * gamma**epoch


def cosine_lr(t: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """``CosineAnnealingLR``: ``eta_min + (base_lr − eta_min)·(1 + cos(π·t / T_max)) / 2``.

    It reaches ``eta_min`` at ``t = T_max``; after that torch's schedule climbs back up (it is a cosine, not a
    clamp), and so does this one.
    """
    _check_count("cosine_lr", "t", t)
    _check_count("cosine_lr", "T_max", T_max, minimum=1)
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def warmup_cosine_lr(t: int, base_lr: float, warmup_steps: int, total_steps: int, start_factor: float = 0.1,
                     eta_min: float = 0.0) -> float:
    """Linear warmup from ``start_factor · base_lr`` to ``base_lr`` over ``warmup_steps``, then a cosine that
    reaches ``eta_min`` at ``total_steps``: torch's ``SequentialLR([LinearLR, CosineAnnealingLR])``."""
    _check_count("warmup_cosine_lr", "t", t)
    _check_count("warmup_cosine_lr", "warmup_steps", warmup_steps, minimum=1)
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps <= warmup_steps:
        raise ValueError(f"warmup_cosine_lr: total_steps must be an integer > warmup_steps ({warmup_steps}), "
                         f"got {total_steps!r}")
    if not 0 < start_factor <= 1:
        raise ValueError(f"warmup_cosine_lr: start_factor must be in (0, 1] as LinearLR requires, got {start_factor!r}")
    if t < warmup_steps:
        return base_lr * (start_factor + (1 - start_factor) * t / warmup_steps)
    return cosine_lr(t - warmup_steps, base_lr, total_steps - warmup_steps, eta_min)


#: name → from-scratch schedule; :func:`torch_scheduler` builds the twin from the same keyword arguments.
SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant_lr,
    "step": step_lr,
    "multistep": multistep_lr,
    "exponential": exponential_lr,
    "cosine": cosine_lr,
    "warmup_cosine": warmup_cosine_lr,
}


def torch_scheduler(name: str, optimizer: torch.optim.Optimizer, **kwargs: Any) -> lr_scheduler.LRScheduler:
    """The ``torch.optim.lr_scheduler`` twin of ``SCHEDULES[name]``, built with the same keyword arguments
    (``base_lr`` is the optimizer's ``lr``)."""
    if name == "constant":
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0, **kwargs)
    if name == "step":
        return lr_scheduler.StepLR(optimizer, **kwargs)
    if name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, **kwargs)
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, **kwargs)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, **kwargs)
    if name == "warmup_cosine":
        warmup, total = kwargs["warmup_steps"], kwargs["total_steps"]
        start_factor, eta_min = kwargs.get("start_factor", 0.1), kwargs.get("eta_min", 0.0)
        unknown = set(kwargs) - {"warmup_steps", "total_steps", "start_factor", "eta_min"}
        if unknown:
            raise TypeError(f"warmup_cosine: unknown argument(s) {sorted(unknown)}")
        warm = lr_scheduler.LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
        return lr_scheduler.SequentialLR(optimizer, [warm, cosine], milestones=[warmup])
    raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}")


def scheduled(update: Update, schedule: Schedule, lrs: list[float] | None = None) -> Update:
    """Wrap a from-scratch update so that its ``k``-th call (k = 0, 1, ...) runs with ``lr = schedule(k)``.

    The caller's ``hyperparams`` are not modified: each call passes a copy with the scheduled ``lr``. Each learning
    rate passed to ``update`` is appended to ``lrs`` when given. Make a new wrapper for each run: it counts its calls.
    """
    if not callable(update) or not callable(schedule):
        raise TypeError("scheduled(update, schedule): both must be callables, e.g. "
                        "scheduled(d2lmini.optimizers.sgd, lambda t: cosine_lr(t, 0.1, 100))")
    counter = itertools.count()

    def step(params: Sequence[torch.Tensor], states: Any, hyperparams: Mapping[str, Any]) -> None:
        lr = schedule(next(counter))
        if lrs is not None:
            lrs.append(lr)
        update(params, states, {**hyperparams, "lr": lr})

    step.__name__ = f"scheduled {getattr(update, '__name__', 'update')}"
    return step


def with_scheduler(optimizer_class: type[torch.optim.Optimizer], make_scheduler: SchedulerFactory,
                   lrs: list[float] | None = None) -> type[torch.optim.Optimizer]:
    """A subclass of ``optimizer_class`` that owns the scheduler ``make_scheduler(self)`` and steps it right after
    each of its own ``step()`` calls (torch's order), so code that only calls ``optimizer.step()``
    (``train_concise_ch11``, ``check_equivalence``) trains on the schedule. ``param_groups[0]['lr']`` is appended to
    ``lrs`` just before each step: the learning rate the step actually uses."""
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise TypeError(f"optimizer_class must be a torch.optim class such as torch.optim.SGD, got {optimizer_class!r}")

    class Scheduled(optimizer_class):  # type: ignore[valid-type, misc]
        def __init__(self, params: Any, **hyperparams: Any) -> None:
            super().__init__(params, **hyperparams)
            self.scheduler = make_scheduler(self)
            if lrs is not None:
                self.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(float(opt.param_groups[0]["lr"])))
            self.register_step_post_hook(lambda opt, args, kwargs: opt.scheduler.step())
            # The scheduler replaced self.step by a wrapper that holds the optimizer only weakly; code that keeps
            # nothing but ``optimizer.step`` (d2lmini's training loop does) would see the optimizer collected.
            # This wrapper holds it strongly, and carries torch's mark so the scheduler does not warn about it.
            torch_wrapper = self.step

            def step(*args: Any, _optimizer: Any = self, **kwargs: Any) -> Any:
                return torch_wrapper(*args, **kwargs)

            step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
            self.step = step  # type: ignore[method-assign]

    Scheduled.__name__ = Scheduled.__qualname__ = f"{optimizer_class.__name__} + scheduler"
    return Scheduled


def used_lrs(make_scheduler: SchedulerFactory | None, base_lr: float, steps: int,
             scheduler_first: bool = False) -> list[float]:
    """The learning rate each of ``steps`` ``torch.optim.SGD`` steps actually applies, measured from the step itself.

    A float64 parameter is set to 0 and given the gradient 1 before each step, so after the step it holds exactly
    ``−lr``. The scheduler is stepped after ``optimizer.step()`` (torch's order) or, with ``scheduler_first``,
    before it (the pre-1.1 order torch warns about).
    """
    _check_positive("used_lrs", "base_lr", base_lr)
    _check_count("used_lrs", "steps", steps, minimum=1)
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=base_lr)
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    lrs = []
    for _ in range(steps):
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        if scheduler is not None and scheduler_first:
            scheduler.step()
        optimizer.step()
        if scheduler is not None and not scheduler_first:
            scheduler.step()
        lrs.append(-p.item())
    return lrs


# ---------------------------------------------------------------- the other momentum convention

def init_momentum_lr_inside_states(params: Sequence[torch.Tensor]) -> list[dict[str, Any]]:
    """One velocity per parameter, and the learning rate of the previous
    step (for the correction)."""
    return [{"velocity": None, "prev_lr": None} for _ in params]


def momentum_lr_inside(params: Sequence[torch.Tensor], states: Sequence[dict[str, Any]],
                       hyperparams: Hyperparams) -> None:
    """Momentum with the learning rate inside the velocity (not torch's form):
    v ← μ·v + lr·g, p ← p − v."""
    lr, mu = hyperparams["lr"], hyperparams["momentum"]
    with torch.no_grad():
        for p, state in zip(params, states):
            if state["velocity"] is None:
                state["velocity"] = lr * p.grad
            else:
                state["velocity"].mul_(mu).add_(lr * p.grad)
            state["prev_lr"] = lr
            p.sub_(state["velocity"])


def momentum_corrected(params: Sequence[torch.Tensor], states: Sequence[dict[str, Any]],
                       hyperparams: Hyperparams) -> None:
    """:func:`momentum_lr_inside` with Goyal et al.'s momentum correction:
    v ← μ·(lr / lr_prev)·v + lr·g, p ← p − v.

    The rescaling keeps v equal to torch's ``lr·b`` when the learning rate
    changes.
    """
    lr, mu = hyperparams["lr"], hyperparams["momentum"]
    with torch.no_grad():
        for p, state in zip(params, states):
            if state["velocity"] is None:
                state["velocity"] = lr * p.grad
            else:
                state["velocity"].mul_(mu * lr / state["prev_lr"]).add_(lr * p.grad)
            state["prev_lr"] = lr
            p.sub_(state["velocity"])
