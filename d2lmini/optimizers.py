"""From-scratch optimizers, one readable loop per algorithm, each declared once.

Each optimizer is a pair of functions, as in optax:

* ``init_<name>_states(params)`` returns one state dict per parameter, keyed like the reference's own state;
* ``<name>(params, states, hyperparams)`` updates the parameters in place from ``p.grad``.

The update is written under ``@declare(...)``, its one declaration: the reference implementation (a dotted import
path, resolved only when needed), the init function, the reference's keyword names and defaults, the valid values
of each hyperparameter, the state buffers. ``declare`` wraps the body so that, before it runs, the hyperparameters
are checked and completed with the defaults and the parameters and states are checked: the body holds only the
algorithm. The wrapped function carries the declaration as ``.spec`` (a :class:`Spec`); the registries below
(``SPECS``, ``OPTIMIZERS``, ``TWINS``, ``DEFAULTS``) are derived from the declarations, as are the equivalence
tests, ``d2lmini.checks``, the benchmarks and ``d2lmini.beyond.build``.

``hyperparams`` uses the reference's keyword names and defaults, so ``TWINS[name](params, **hyperparams)`` is the
library twin driven by the same dict. Step counters live in the states, never in ``hyperparams``. The chapters
define the same functions, decorator included, in their own cells; ``tests/test_chapter_sync.py`` checks that they
stay identical. This module holds the eight optimizers of the course's first part; ``d2lmini.beyond`` the rest.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

State = dict[str, Any]
Hyperparams = Mapping[str, Any]
Params = Sequence[torch.Tensor]
States = Sequence[State]
#: A check of one hyperparameter: ``check(optimizer_name, key, value)`` raises a clear error for a bad value.
Check = Callable[[str, str, Any], None]
#: The state buffers of one parameter: buffer name → number of entries, for a parameter shape and hyperparameters.
StateSizes = Callable[[tuple[int, ...], Hyperparams], dict[str, int]]


# ---------------------------------------------------------------- checks of one hyperparameter

def real(low: float = 0.0, high: float = math.inf, low_in: bool = True, high_in: bool = False) -> Check:
    """A finite real number in an interval (``low_in``/``high_in``: whether the ends belong to it)."""
    interval = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"

    def check(name: str, key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name}: hyperparameter {key!r} must be a real number, got {value!r}")
        above = value >= low if low_in else value > low
        below = value <= high if high_in else value < high
        if not (math.isfinite(value) and above and below):
            raise ValueError(f"{name}: hyperparameter {key!r} must be finite and in {interval}, got {value!r}")

    check.__doc__ = f"a real number in {interval}"
    return check


def integer(low: int = 0, high: float = math.inf) -> Check:
    """An integer in ``[low, high)``."""
    def check(name: str, key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name}: hyperparameter {key!r} must be an integer, got {value!r}")
        if not low <= value < high:
            raise ValueError(f"{name}: hyperparameter {key!r} must be in [{low}, {high:g}), got {value!r}")

    check.__doc__ = f"an integer in [{low}, {high:g})"
    return check


def flag(name: str, key: str, value: Any) -> None:
    """True or False (a hyperparameter whose default is a bool gets this check)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: hyperparameter {key!r} must be True or False, got {value!r}")


def one_of(*values: Any) -> Check:
    """One of a few values (compared with ``==``)."""
    def check(name: str, key: str, value: Any) -> None:
        if not any(value == v and type(value) is type(v) for v in values):
            raise ValueError(f"{name}: hyperparameter {key!r} must be one of {list(values)}, got {value!r}")

    check.__doc__ = f"one of {list(values)}"
    check.values = values  # type: ignore[attr-defined]  # the choices, for tests that try each
    return check


def optional(inner: Check) -> Check:
    """None, or a value that passes ``inner``."""
    def check(name: str, key: str, value: Any) -> None:
        if value is not None:
            inner(name, key, value)

    check.__doc__ = f"None or {inner.__doc__}"
    return check


def tuple_of(items: Sequence[Check], what: str, labels: Sequence[str]) -> Check:
    """A tuple or list of ``len(items)`` values, each checked by its own check under its own label."""
    def check(name: str, key: str, value: Any) -> None:
        if isinstance(value, (str, bytes)) or not (isinstance(value, Sequence) and len(value) == len(items)):
            raise TypeError(f"{name}: {key!r} must be {what}, got {value!r}")
        for item, label, v in zip(items, labels, value):
            item(name, label, v)

    check.__doc__ = what
    return check


#: The valid values of the hyperparameters that several optimizers share; a declaration adds its own.
CHECKS: Mapping[str, Check] = MappingProxyType({
    "lr": real(),
    "momentum": real(0, 1),
    "dampening": real(0, 1, high_in=True),
    "weight_decay": real(),
    "lr_decay": real(),
    "initial_accumulator_value": real(),
    "eps": real(),
    "alpha": real(0, 1, high_in=True),
    "rho": real(0, 1, high_in=True),
    "betas": tuple_of([real(0, 1), real(0, 1)], "a pair (beta1, beta2)", ["beta", "beta"]),
})


# ---------------------------------------------------------------- the declaration

@dataclass(frozen=True, eq=False)
class Spec:
    """The declaration of one from-scratch optimizer; every consumer reads it (see :func:`declare`)."""

    name: str
    reference: str
    init: Callable[[Params], list[State]]
    defaults: Mapping[str, Any]
    checks: Mapping[str, Check]
    fixed: Mapping[str, Any]
    hint: str
    state: Mapping[str, str | None] | StateSizes
    typical: Mapping[str, Any]
    flops: int | None
    requires: str | None
    matrices_only: bool
    train_eval: tuple[Callable[[Params, States], None], Callable[[Params, States], None]] | None
    schedule: bool
    benchmark: bool
    builder: Callable[[Spec, Any, dict[str, Any]], torch.optim.Optimizer] | None
    rule: Callable[[Params, States, dict[str, Any]], None]
    #: The checked update function ``<name>(params, states, hyperparams)`` (set once, by :func:`declare`).
    update: Callable[..., None] = None  # type: ignore[assignment]

    def read(self, hyperparams: Hyperparams | None = None) -> dict[str, Any]:
        """``hyperparams`` completed with the defaults, after checking names, types, ranges and fixed values."""
        name = self.name
        if hyperparams is None:
            hyperparams = {}
        if not isinstance(hyperparams, Mapping):
            raise TypeError(f"{name}: hyperparams must be a dict such as {{'lr': 0.1}}, "
                            f"got {type(hyperparams).__name__}")
        unknown = set(hyperparams) - set(self.defaults)
        if unknown:
            raise ValueError(f"{name}: unknown hyperparameter(s) {sorted(unknown)}; it takes {sorted(self.defaults)}, "
                             f"under {self.reference}'s names (its other options are not implemented here)")
        hp = {**self.defaults, **hyperparams}
        for key, value in hp.items():
            self.checks[key](name, key, value)
        for key, value in self.fixed.items():
            if hp[key] != value:
                raise ValueError(f"{name}: hyperparameter {key!r} must be {value!r} here, got {hp[key]!r}; "
                                 f"{self.hint}")
        return hp

    def check_params(self, params: Params, states: States) -> None:
        """Clear errors for anything but tensors with gradients and one state per parameter."""
        check_params(self.name, params, states)
        if self.train_eval is not None and any(not state.get("train_mode", True) for state in states):
            raise ValueError(f"{self.name}: the states are in evaluation mode; call "
                             f"{self.train_eval[0].__name__}(params, states) before the update")
        if self.matrices_only:
            for i, p in enumerate(params):
                if p.dim() != 2:
                    raise ValueError(f"{self.name}: params[{i}] has shape {tuple(p.shape)}; {self.name} updates "
                                     "2-D weight matrices only (give biases, gains and the rest to another "
                                     "optimizer, e.g. adamw; d2lmini.build does that)")

    def twin(self) -> type[torch.optim.Optimizer]:
        """The reference class, imported now (a clear error names the version it needs)."""
        module, _, attr = self.reference.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as error:
            needs = f" It needs {self.requires}." if self.requires else ""
            raise ImportError(f"{self.name}: its reference {self.reference} is not available here "
                              f"(torch {torch.__version__}; {type(error).__name__}: {error}).{needs}") from error

    @property
    def foreach(self) -> bool:
        """Whether the reference has a multi-tensor (``foreach``) path beside its for-loop."""
        return "foreach" in inspect.signature(self.twin()).parameters

    def state_sizes(self, shape: Sequence[int], hyperparams: Hyperparams | None = None) -> dict[str, int]:
        """Buffer name → number of entries that the state of one parameter of ``shape`` holds."""
        hp = self.read(hyperparams)
        if callable(self.state):
            return self.state(tuple(shape), hp)
        numel = math.prod(shape)
        return {key: numel for key, when in self.state.items() if when is None or hp[when]}

    def state_bytes(self, params: Params | nn.Module, hyperparams: Hyperparams | None = None) -> int:
        """Bytes of state that this optimizer keeps for ``params`` (step counters not counted)."""
        if isinstance(params, nn.Module):
            params = list(params.parameters())
        return sum(n * p.element_size() for p in params for n in self.state_sizes(p.shape, hyperparams).values())

    def build(self, params_or_model: Any, **hyperparams: Any) -> torch.optim.Optimizer:
        """The reference, ready to train: ``typical`` settings, then ``hyperparams``, checked first."""
        hp = self.read({**self.typical, **hyperparams})
        if self.builder is not None:
            return self.builder(self, params_or_model, hp)
        if isinstance(params_or_model, nn.Module):
            params_or_model = params_or_model.parameters()
        return self.twin()(params_or_model, **hp)


def declare(reference: str, init: Callable[[Params], list[State]], defaults: Mapping[str, Any], *,
            checks: Mapping[str, Check] | None = None, fixed: Mapping[str, Any] | None = None, hint: str = "",
            state: Mapping[str, str | None] | Sequence[str] | StateSizes = (),
            typical: Mapping[str, Any] | None = None, flops: int | None = None, requires: str | None = None,
            matrices_only: bool = False,
            train_eval: tuple[Callable[[Params, States], None], Callable[[Params, States], None]] | None = None,
            schedule: bool = True, benchmark: bool = True,
            builder: Callable[[Spec, Any, dict[str, Any]], torch.optim.Optimizer] | None = None,
            ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declare a from-scratch optimizer: decorate its update rule ``<name>(params, states, hp)``.

    * ``reference``: the dotted path of the class it reproduces (``"torch.optim.Adam"``), imported when needed;
    * ``init``: its ``init_<name>_states``; ``defaults``: the reference's keyword names and defaults, exactly;
    * ``checks``: key → :data:`Check` for keys :data:`CHECKS` does not cover (a bool default is checked as a flag);
    * ``fixed``: values this rule requires (e.g. ``nesterov=True``), with ``hint`` saying what to use instead;
    * ``state``: its per-parameter buffers, each as large as the parameter: a list of names, or name → the flag
      that creates it (None: always); or a function ``(shape, hp) → {name: entries}``;
    * ``typical``: settings beyond the defaults that make a typical run (used by ``build`` and the benchmarks);
    * ``flops``: floating-point operations per parameter of its update formula (the speed benchmark's roofline);
    * ``requires``: the package version the reference needs; ``matrices_only``: 2-D parameters only;
    * ``train_eval``: ``(to_train, to_eval)`` functions ``(params, states)`` when the rule has two modes;
    * ``schedule``: whether it takes a learning-rate schedule; ``benchmark``: whether the step benchmark times it
      by default; ``builder``: ``(spec, params_or_model, hp) → optimizer`` when the reference needs more than
      ``Reference(params, **hp)`` to train a model.

    The decorated function checks and completes ``hyperparams`` (:meth:`Spec.read`) and checks ``params`` and
    ``states`` before the rule runs; it carries the declaration as ``.spec``.
    """
    def wrap(rule: Callable[..., None]) -> Callable[..., None]:
        all_checks = {}
        for key, default in defaults.items():
            if checks and key in checks:
                all_checks[key] = checks[key]
            elif isinstance(default, bool):
                all_checks[key] = flag
            elif key in CHECKS:
                all_checks[key] = CHECKS[key]
            else:
                raise TypeError(f"declare({rule.__name__}): no check for hyperparameter {key!r}; pass checks=")
        buffers = state if callable(state) or isinstance(state, Mapping) else dict.fromkeys(state)
        spec = Spec(rule.__name__, reference, init, MappingProxyType(dict(defaults)),
                    MappingProxyType(all_checks), MappingProxyType(dict(fixed or {})), hint,
                    buffers if callable(buffers) else MappingProxyType(dict(buffers)),
                    MappingProxyType(dict(typical or {})), flops, requires, matrices_only, train_eval, schedule,
                    benchmark, builder, rule)
        spec.read(typical)  # a declaration's typical settings must be valid

        @functools.wraps(rule)
        def update(params: Params, states: States, hyperparams: Hyperparams | None = None) -> None:
            hp = spec.read(hyperparams)
            spec.check_params(params, states)
            rule(params, states, hp)

        update.spec = spec  # type: ignore[attr-defined]
        object.__setattr__(spec, "update", update)  # frozen: set once, here
        return update
    return wrap


def read_hyperparams(name: str, hyperparams: Hyperparams) -> dict[str, Any]:
    """``hyperparams`` of the optimizer ``name`` (one of :data:`SPECS`) completed with its defaults, checked."""
    if name not in SPECS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(SPECS)}")
    return SPECS[name].read(hyperparams)


def check_params(name: str, params: Params, states: States) -> None:
    """Raise a clear error unless ``params`` are tensors with gradients and ``states`` has one entry per parameter."""
    if isinstance(params, torch.Tensor) or not isinstance(params, Sequence):
        raise TypeError(f"{name}: params must be a list of tensors, got {type(params).__name__}")
    if len(params) == 0:
        raise ValueError(f"{name}: params is empty; pass the model's parameters, e.g. list(net.parameters())")
    if not isinstance(states, Sequence) or len(states) != len(params):
        got = len(states) if isinstance(states, Sequence) else type(states).__name__
        raise ValueError(f"{name}: states must hold one entry per parameter ({len(params)}), got {got}; "
                         f"create them with init_{name}_states(params)")
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name}: params[{i}] is a {type(p).__name__}, not a tensor")
        if p.grad is None:
            raise ValueError(f"{name}: params[{i}] (shape {tuple(p.shape)}) has no gradient; "
                             "call loss.backward() before the update")


def zero_states(params: Params, *keys: str) -> list[State]:
    """One state per parameter: a zero tensor like it for each key, and a step counter at 0."""
    return [{"step": 0, **{key: torch.zeros_like(p) for key in keys}} for p in params]


def state_buffer(state: State, key: str, p: torch.Tensor) -> torch.Tensor:
    """The zero-initialized buffer ``state[key]``, created on first use (only the variants that need it pay for it)."""
    if key not in state:
        state[key] = torch.zeros_like(p)
    return state[key]


# ---------------------------------------------------------------- SGD, heavy-ball momentum, Nesterov
# The declared functions below are shown verbatim in the chapters: 79 columns.

def init_sgd_states(params: Params) -> list[State]:
    """Plain SGD keeps no state: one empty dict per parameter."""
    return [{} for _ in params]


@declare(reference="torch.optim.SGD", init=init_sgd_states,
         defaults=dict(lr=1e-3, momentum=0.0, dampening=0.0,
                       weight_decay=0.0, nesterov=False),
         fixed=dict(momentum=0.0, nesterov=False),
         hint="use momentum() or nesterov() for the momentum forms",
         flops=2)
def sgd(params: Params, states: States, hp: Hyperparams) -> None:
    """SGD as ``torch.optim.SGD`` with ``momentum=0``.

    p ← p − lr·(g + weight_decay·p)
    """
    with torch.no_grad():
        for p in params:
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            p.sub_(hp["lr"] * g)


def init_momentum_states(params: Params) -> list[State]:
    """One velocity buffer per parameter, made from the first gradient."""
    return [{"momentum_buffer": None} for _ in params]


def momentum_buffer_update(state: State, g: torch.Tensor, momentum: float,
                           dampening: float) -> torch.Tensor:
    """torch's buffer rule: b ← g at step 1, then b ← μ·b + (1 − τ)·g."""
    if state["momentum_buffer"] is None:
        state["momentum_buffer"] = g.clone()
    else:
        state["momentum_buffer"].mul_(momentum).add_((1 - dampening) * g)
    return state["momentum_buffer"]


@declare(reference="torch.optim.SGD", init=init_momentum_states,
         defaults=dict(lr=1e-3, momentum=0.0, dampening=0.0,
                       weight_decay=0.0, nesterov=False),
         fixed=dict(nesterov=False),
         hint="use nesterov() for Nesterov's form",
         state=["momentum_buffer"], typical=dict(momentum=0.9), flops=4)
def momentum(params: Params, states: States, hp: Hyperparams) -> None:
    """Heavy-ball momentum as ``torch.optim.SGD(momentum=μ)``.

    b ← μ·b + (1 − τ)·g (b ← g at step 1), p ← p − lr·b
    """
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            b = momentum_buffer_update(state, g, hp["momentum"],
                                       hp["dampening"])
            p.sub_(hp["lr"] * b)


def init_nesterov_states(params: Params) -> list[State]:
    """Nesterov keeps the same velocity buffer as heavy-ball momentum."""
    return init_momentum_states(params)


@declare(reference="torch.optim.SGD", init=init_nesterov_states,
         defaults=dict(lr=1e-3, momentum=0.0, dampening=0.0,
                       weight_decay=0.0, nesterov=False),
         checks=dict(momentum=real(0, 1, low_in=False)),
         fixed=dict(nesterov=True, dampening=0.0),
         hint="set 'nesterov': True with 'momentum' > 0 and 'dampening' 0,"
              " as torch.optim.SGD requires",
         state=["momentum_buffer"],
         typical=dict(momentum=0.9, nesterov=True), flops=6,
         benchmark=False)  # the step benchmark times momentum's traffic
def nesterov(params: Params, states: States, hp: Hyperparams) -> None:
    """Nesterov momentum as ``torch.optim.SGD(momentum=μ, nesterov=True)``.

    b ← μ·b + g (b ← g at step 1), p ← p − lr·(g + μ·b)
    """
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            b = momentum_buffer_update(state, g, hp["momentum"], 0.0)
            p.sub_(hp["lr"] * (g + hp["momentum"] * b))


# ---------------------------------------------------------------- Adagrad, RMSProp, AdaDelta

def init_adagrad_states(params: Params) -> list[State]:
    """A sum of squared gradients per parameter, made at step 1."""
    return [{"step": 0, "sum": None} for _ in params]


@declare(reference="torch.optim.Adagrad", init=init_adagrad_states,
         defaults=dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                       initial_accumulator_value=0.0, eps=1e-10),
         state=["sum"], flops=7)
def adagrad(params: Params, states: States, hp: Hyperparams) -> None:
    """Adagrad as ``torch.optim.Adagrad``, eps outside the root.

    s ← s + g², p ← p − lr_t·g / (√s + eps), with
    lr_t = lr / (1 + (t − 1)·lr_decay); s starts at
    ``initial_accumulator_value``.
    """
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            if state["sum"] is None:
                state["sum"] = torch.full_like(
                    p, hp["initial_accumulator_value"])
            state["step"] += 1
            lr_t = hp["lr"] / (1 + (state["step"] - 1) * hp["lr_decay"])
            state["sum"].add_(g * g)
            p.sub_(lr_t * g / (state["sum"].sqrt() + hp["eps"]))


def init_rmsprop_states(params: Params) -> list[State]:
    """Leaky average of g² per parameter (the options add their own)."""
    return zero_states(params, "square_avg")


@declare(reference="torch.optim.RMSprop", init=init_rmsprop_states,
         defaults=dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                       momentum=0.0, centered=False),
         state=dict(square_avg=None, grad_avg="centered",
                    momentum_buffer="momentum"), flops=9)
def rmsprop(params: Params, states: States, hp: Hyperparams) -> None:
    """RMSProp as ``torch.optim.RMSprop``, eps outside the root.

    v ← α·v + (1 − α)·g², p ← p − lr·g / (√v + eps). ``centered``
    subtracts the squared leaky mean of g inside the root; ``momentum``
    accumulates the step: b ← μ·b + g / (√v + eps), p ← p − lr·b.
    """
    alpha = hp["alpha"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            state["step"] += 1
            v = state["square_avg"]
            v.mul_(alpha).add_((1 - alpha) * g * g)
            if hp["centered"]:
                m = state_buffer(state, "grad_avg", p)
                m.mul_(alpha).add_((1 - alpha) * g)
                denom = (v - m * m).sqrt() + hp["eps"]
            else:
                denom = v.sqrt() + hp["eps"]
            if hp["momentum"] > 0:
                b = state_buffer(state, "momentum_buffer", p)
                b.mul_(hp["momentum"]).add_(g / denom)
                p.sub_(hp["lr"] * b)
            else:
                p.sub_(hp["lr"] * g / denom)


def init_adadelta_states(params: Params) -> list[State]:
    """Leaky averages of g² and of the squared update, per parameter."""
    return zero_states(params, "square_avg", "acc_delta")


@declare(reference="torch.optim.Adadelta", init=init_adadelta_states,
         defaults=dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
         state=["square_avg", "acc_delta"], flops=16)
def adadelta(params: Params, states: States, hp: Hyperparams) -> None:
    """AdaDelta as ``torch.optim.Adadelta``.

    Δ = √(u + eps) / √(v + eps) · g, u ← ρ·u + (1 − ρ)·Δ², p ← p − lr·Δ;
    ``lr`` (default 1.0) scales the step after Δ has entered ``u``.
    """
    rho = hp["rho"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            state["step"] += 1
            v, u = state["square_avg"], state["acc_delta"]
            v.mul_(rho).add_((1 - rho) * g * g)
            delta = (u + hp["eps"]).sqrt() / (v + hp["eps"]).sqrt() * g
            u.mul_(rho).add_((1 - rho) * delta * delta)
            p.sub_(hp["lr"] * delta)


# ---------------------------------------------------------------- Adam and AdamW

def init_adam_states(params: Params) -> list[State]:
    """Two moments and a step counter per parameter (AMSGrad adds one)."""
    return zero_states(params, "exp_avg", "exp_avg_sq")


def adam_step(p: torch.Tensor, g: torch.Tensor, state: State,
              hp: Hyperparams) -> None:
    """The moment step of Adam and AdamW: θ ← θ − lr·m̂ / (√v̂ + eps)."""
    beta1, beta2 = hp["betas"]
    state["step"] += 1
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    if hp["amsgrad"]:  # torch keeps the max of the raw v, then corrects it
        v_max = state_buffer(state, "max_exp_avg_sq", p)
        v = torch.maximum(v_max, v, out=v_max)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p.sub_(hp["lr"] * m_hat / (v_hat.sqrt() + hp["eps"]))


@declare(reference="torch.optim.Adam", init=init_adam_states,
         defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=0.0, amsgrad=False),
         state=dict(exp_avg=None, exp_avg_sq=None,
                    max_exp_avg_sq="amsgrad"), flops=13)
def adam(params: Params, states: States, hp: Hyperparams) -> None:
    """Adam as ``torch.optim.Adam``; ``weight_decay`` is L2 in the gradient."""
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            adam_step(p, g, state, hp)


def init_adamw_states(params: Params) -> list[State]:
    """AdamW keeps the same state as Adam."""
    return init_adam_states(params)


@declare(reference="torch.optim.AdamW", init=init_adamw_states,
         defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=1e-2, amsgrad=False),
         state=dict(exp_avg=None, exp_avg_sq=None,
                    max_exp_avg_sq="amsgrad"), flops=14)
def adamw(params: Params, states: States, hp: Hyperparams) -> None:
    """AdamW as ``torch.optim.AdamW``: θ ← θ − lr·λ·θ, then Adam's step."""
    with torch.no_grad():
        for p, state in zip(params, states):
            p.mul_(1 - hp["lr"] * hp["weight_decay"])
            adam_step(p, p.grad, state, hp)


# ---------------------------------------------------------------- the registries, derived from the declarations

#: name → declaration, for the eight optimizers of the course's first part (``d2lmini.DECLARED`` has them all).
SPECS: Mapping[str, Spec] = MappingProxyType({f.spec.name: f.spec for f in (  # type: ignore[attr-defined]
    sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw)})
#: name → (init_<name>_states, <name>), for loops over these optimizers.
OPTIMIZERS: Mapping[str, tuple[Callable[..., list[State]], Callable[..., None]]] = MappingProxyType(
    {name: (spec.init, spec.update) for name, spec in SPECS.items()})
#: The torch.optim class whose ``step()`` each of them reproduces.
TWINS: Mapping[str, type[torch.optim.Optimizer]] = MappingProxyType(
    {name: spec.twin() for name, spec in SPECS.items()})
#: torch.optim's defaults for every hyperparameter each rule reads (``tests`` compare them with torch's signatures).
DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({name: spec.defaults for name, spec in SPECS.items()})
