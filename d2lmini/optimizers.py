"""From-scratch optimizers, one readable loop per algorithm, in torch.optim's exact convention.

Each optimizer is a pair of functions, as in optax:

* ``init_<name>_states(params)`` returns one state dict per parameter, keyed like ``torch.optim``'s own state;
* ``<name>(params, states, hyperparams)`` updates the parameters in place from ``p.grad``.

``hyperparams`` uses torch.optim's keyword names and defaults, so ``TWINS[name](params, **hyperparams)`` is the
library twin driven by the same dict. Step counters live in the states, never in ``hyperparams``. The chapters
define the same functions in their own cells; ``tests/test_chapter_sync.py`` checks the two stay identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

State = dict[str, Any]
Hyperparams = Mapping[str, Any]

#: The torch.optim class whose ``step()`` each from-scratch optimizer reproduces.
TWINS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}

_SGD = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
_ADAM = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}

#: torch.optim's defaults for every hyperparameter each rule reads (``tests`` compare them with torch's signatures).
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": _SGD,
    "momentum": _SGD,
    "nesterov": _SGD,
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
    "adam": _ADAM,
    "adamw": {**_ADAM, "weight_decay": 1e-2},
}

# Valid ranges: (low, high, low inclusive, high inclusive). Booleans are checked by type.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, math.inf, True, False),
    "momentum": (0.0, 1.0, True, False),
    "dampening": (0.0, 1.0, True, True),
    "weight_decay": (0.0, math.inf, True, False),
    "lr_decay": (0.0, math.inf, True, False),
    "initial_accumulator_value": (0.0, math.inf, True, False),
    "eps": (0.0, math.inf, True, False),
    "alpha": (0.0, 1.0, True, True),
    "rho": (0.0, 1.0, True, True),
    "beta": (0.0, 1.0, True, False),
}


def _check_range(name: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: hyperparameter {key!r} must be a real number, got {value!r}")
    low, high, low_in, high_in = _RANGES[key]
    ok = math.isfinite(value) and (value >= low if low_in else value > low) and (value <= high if high_in else value < high)
    if not ok:
        interval = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        raise ValueError(f"{name}: hyperparameter {key!r} must be finite and in {interval}, got {value!r}")


def read_hyperparams(name: str, hyperparams: Hyperparams) -> dict[str, Any]:
    """Return ``hyperparams`` with torch.optim's defaults filled in, after checking names, types and ranges."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(DEFAULTS)}")
    if not isinstance(hyperparams, Mapping):
        raise TypeError(f"{name}: hyperparams must be a dict such as {{'lr': 0.1}}, got {type(hyperparams).__name__}")
    unknown = set(hyperparams) - set(DEFAULTS[name])
    if unknown:
        raise ValueError(f"{name}: unknown hyperparameter(s) {sorted(unknown)}; "
                         f"torch.optim.{TWINS[name].__name__} takes {sorted(DEFAULTS[name])}")
    hp = {**DEFAULTS[name], **hyperparams}
    for key, value in hp.items():
        if key in ("nesterov", "amsgrad", "centered"):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: hyperparameter {key!r} must be True or False, got {value!r}")
        elif key == "betas":
            if not (isinstance(value, Sequence) and len(value) == 2):
                raise TypeError(f"{name}: 'betas' must be a pair (beta1, beta2), got {value!r}")
            for beta in value:
                _check_range(name, "beta", beta)
        else:
            _check_range(name, key, value)
    return hp


def check_params(name: str, params: Sequence[torch.Tensor], states: Sequence[State]) -> None:
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


def zero_states(params: Sequence[torch.Tensor], *keys: str) -> list[State]:
    """One state per parameter: a zero tensor like it for each key, and a step counter at 0."""
    return [{"step": 0, **{key: torch.zeros_like(p) for key in keys}} for p in params]


def state_buffer(state: State, key: str, p: torch.Tensor) -> torch.Tensor:
    """The zero-initialized buffer ``state[key]``, created on first use (only the variants that need it pay for it)."""
    if key not in state:
        state[key] = torch.zeros_like(p)
    return state[key]


# ---------------------------------------------------------------- SGD, heavy-ball momentum, Nesterov

def init_sgd_states(params: Sequence[torch.Tensor]) -> list[State]:
    """Plain SGD keeps no state: one empty dict per parameter."""
    return [{} for _ in params]


def sgd(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """SGD as ``torch.optim.SGD`` with ``momentum=0``: p ← p − lr·(g + weight_decay·p)."""
    hp = read_hyperparams("sgd", hyperparams)
    check_params("sgd", params, states)
    if hp["momentum"] != 0 or hp["nesterov"]:
        raise ValueError("sgd: momentum must be 0 here; use momentum() or nesterov() for the momentum forms")
    lr, weight_decay = hp["lr"], hp["weight_decay"]
    with torch.no_grad():
        for p in params:
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            p.sub_(lr * g)


def init_momentum_states(params: Sequence[torch.Tensor]) -> list[State]:
    """One velocity buffer per parameter, created from the first gradient (torch does not damp that step)."""
    return [{"momentum_buffer": None} for _ in params]


def momentum_buffer_update(state: State, g: torch.Tensor, momentum: float, dampening: float) -> torch.Tensor:
    """torch's buffer rule: b ← g on the first step, then b ← μ·b + (1 − dampening)·g."""
    if state["momentum_buffer"] is None:
        state["momentum_buffer"] = g.clone()
    else:
        state["momentum_buffer"].mul_(momentum).add_((1 - dampening) * g)
    return state["momentum_buffer"]


def momentum(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """Heavy-ball momentum as ``torch.optim.SGD(momentum=μ)``: b ← μ·b + (1 − τ)·g, p ← p − lr·b."""
    hp = read_hyperparams("momentum", hyperparams)
    check_params("momentum", params, states)
    if hp["nesterov"]:
        raise ValueError("momentum: 'nesterov' is True; use nesterov() for Nesterov's form")
    lr, mu, tau, weight_decay = hp["lr"], hp["momentum"], hp["dampening"], hp["weight_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            b = momentum_buffer_update(state, g, mu, tau)
            p.sub_(lr * b)


def init_nesterov_states(params: Sequence[torch.Tensor]) -> list[State]:
    """Nesterov keeps the same velocity buffer as heavy-ball momentum."""
    return init_momentum_states(params)


def nesterov(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """Nesterov momentum as ``torch.optim.SGD(momentum=μ, nesterov=True)``: b ← μ·b + g, p ← p − lr·(g + μ·b)."""
    hp = read_hyperparams("nesterov", hyperparams)
    check_params("nesterov", params, states)
    if not hp["nesterov"] or hp["momentum"] <= 0 or hp["dampening"] != 0:
        raise ValueError("nesterov: set 'nesterov': True with 'momentum' > 0 and 'dampening' 0, as torch.optim.SGD "
                         "requires, so that torch.optim.SGD(params, **hyperparams) is the twin")
    lr, mu, weight_decay = hp["lr"], hp["momentum"], hp["weight_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            b = momentum_buffer_update(state, g, mu, 0.0)
            p.sub_(lr * (g + mu * b))


# ---------------------------------------------------------------- Adagrad, RMSProp, AdaDelta

def init_adagrad_states(params: Sequence[torch.Tensor]) -> list[State]:
    """A running sum of squared gradients per parameter, filled with ``initial_accumulator_value`` at step 1."""
    return [{"step": 0, "sum": None} for _ in params]


def adagrad(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """Adagrad as ``torch.optim.Adagrad``: s ← s + g², p ← p − lr_t·g / (√s + eps), eps outside the root.

    ``lr_t = lr / (1 + (t − 1)·lr_decay)``; the sum starts at ``initial_accumulator_value``.
    """
    hp = read_hyperparams("adagrad", hyperparams)
    check_params("adagrad", params, states)
    lr, lr_decay, eps, weight_decay = hp["lr"], hp["lr_decay"], hp["eps"], hp["weight_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            if state["sum"] is None:
                state["sum"] = torch.full_like(p, hp["initial_accumulator_value"])
            state["step"] += 1
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            state["sum"].add_(g * g)
            p.sub_(clr * g / (state["sum"].sqrt() + eps))


def init_rmsprop_states(params: Sequence[torch.Tensor]) -> list[State]:
    """Leaky average of g² per parameter (``centered`` and ``momentum`` add their buffers when first used)."""
    return zero_states(params, "square_avg")


def rmsprop(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """RMSProp as ``torch.optim.RMSprop``: v ← α·v + (1 − α)·g², p ← p − lr·g / (√v + eps), eps outside the root.

    ``centered`` subtracts the squared leaky mean of g inside the root; ``momentum`` accumulates the normalized
    step: b ← μ·b + g / (√v + eps), p ← p − lr·b.
    """
    hp = read_hyperparams("rmsprop", hyperparams)
    check_params("rmsprop", params, states)
    lr, alpha, eps, mu = hp["lr"], hp["alpha"], hp["eps"], hp["momentum"]
    weight_decay = hp["weight_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            state["step"] += 1
            v = state["square_avg"]
            v.mul_(alpha).add_((1 - alpha) * g * g)
            if hp["centered"]:
                m = state_buffer(state, "grad_avg", p)
                m.mul_(alpha).add_((1 - alpha) * g)
                denom = (v - m * m).sqrt() + eps
            else:
                denom = v.sqrt() + eps
            if mu > 0:
                b = state_buffer(state, "momentum_buffer", p)
                b.mul_(mu).add_(g / denom)
                p.sub_(lr * b)
            else:
                p.sub_(lr * g / denom)


def init_adadelta_states(params: Sequence[torch.Tensor]) -> list[State]:
    """Leaky averages of g² and of the squared update, per parameter."""
    return zero_states(params, "square_avg", "acc_delta")


def adadelta(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """AdaDelta as ``torch.optim.Adadelta``: Δ = √(u + eps) / √(v + eps) · g, u ← ρ·u + (1 − ρ)·Δ², p ← p − lr·Δ.

    ``lr`` (default 1.0) scales the step after Δ has entered ``u``, so ``u`` accumulates the update before lr.
    """
    hp = read_hyperparams("adadelta", hyperparams)
    check_params("adadelta", params, states)
    lr, rho, eps, weight_decay = hp["lr"], hp["rho"], hp["eps"], hp["weight_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + weight_decay * p if weight_decay != 0 else p.grad
            state["step"] += 1
            v, u = state["square_avg"], state["acc_delta"]
            v.mul_(rho).add_((1 - rho) * g * g)
            delta = (u + eps).sqrt() / (v + eps).sqrt() * g
            u.mul_(rho).add_((1 - rho) * delta * delta)
            p.sub_(lr * delta)


# ---------------------------------------------------------------- Adam and AdamW

def init_adam_states(params: Sequence[torch.Tensor]) -> list[State]:
    """First and second moments and a step counter per parameter (AMSGrad adds its maximum when first used)."""
    return zero_states(params, "exp_avg", "exp_avg_sq")


def adam_step(p: torch.Tensor, g: torch.Tensor, state: State, hp: dict[str, Any]) -> None:
    """The moment update shared by Adam and AdamW: θ ← θ − lr·m̂ / (√v̂ + eps)."""
    beta1, beta2 = hp["betas"]
    state["step"] += 1
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.mul_(beta1).add_((1 - beta1) * g)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    if hp["amsgrad"]:  # torch keeps the running max of the raw v, then bias-corrects it
        v_max = state_buffer(state, "max_exp_avg_sq", p)
        v = torch.maximum(v_max, v, out=v_max)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p.sub_(hp["lr"] * m_hat / (v_hat.sqrt() + hp["eps"]))


def adam(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """Adam as ``torch.optim.Adam``; ``weight_decay`` is L2 added to the gradient (coupled)."""
    hp = read_hyperparams("adam", hyperparams)
    check_params("adam", params, states)
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad + hp["weight_decay"] * p if hp["weight_decay"] != 0 else p.grad
            adam_step(p, g, state, hp)


def init_adamw_states(params: Sequence[torch.Tensor]) -> list[State]:
    """AdamW keeps the same state as Adam."""
    return init_adam_states(params)


def adamw(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams) -> None:
    """AdamW as ``torch.optim.AdamW``: θ ← θ − lr·λ·θ first, then Adam's step from the raw gradient."""
    hp = read_hyperparams("adamw", hyperparams)
    check_params("adamw", params, states)
    with torch.no_grad():
        for p, state in zip(params, states):
            p.mul_(1 - hp["lr"] * hp["weight_decay"])
            adam_step(p, p.grad, state, hp)


#: name → (init_<name>_states, <name>), for loops over every optimizer of the course.
OPTIMIZERS: dict[str, tuple[Callable[..., list[State]], Callable[..., None]]] = {
    "sgd": (init_sgd_states, sgd),
    "momentum": (init_momentum_states, momentum),
    "nesterov": (init_nesterov_states, nesterov),
    "adagrad": (init_adagrad_states, adagrad),
    "rmsprop": (init_rmsprop_states, rmsprop),
    "adadelta": (init_adadelta_states, adadelta),
    "adam": (init_adam_states, adam),
    "adamw": (init_adamw_states, adamw),
}
