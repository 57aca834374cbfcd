"""Fast from-scratch optimizers: the chapters' update rules, written so that one step reads and writes each array once.

Same contract and same state as ``d2lmini.optimizers``: ``init_<name>_states(params)`` (d2lmini's own) and
``<name>(params, states, hyperparams)``, with torch.optim's hyperparameter names and defaults, checked by the same
declaration (``d2lmini.optimizers.SPECS[name]``) before the fast rule runs, so
``d2lmini.check_equivalence(init, update, Twin, hyperparams)`` applies unchanged.

What makes them fast:

* **One kernel per rule, compiled.** Each rule is a short function of in-place tensor ops
  (``_<name>_kernel``). ``torch.compile`` (Inductor: C++/OpenMP on CPU, Triton on CUDA) fuses its ops into a single
  loop, so a step moves only the bytes the rule needs (fp32 Adam: read p, g, m, v and write p, m, v: 28 B/param)
  instead of one pass over memory per op, with no temporaries.
* **Step-dependent numbers travel in a tensor.** Bias corrections and learning-rate decay change every step; they
  go to the kernel in one small tensor ``s``, so the compiled code is reused at every step (a Python float would be
  baked into the code and force a recompilation per step).
* **Dynamic shapes, buckets of same-size tensors.** Tensors are flattened and grouped by size; up to ``BUCKET`` of
  one size go through one call (one compiled graph per bucket length serves every size), which amortizes the
  ~20 µs that a compiled call costs over many small tensors.

Without a working compiler (``torch.compile`` raises), the same kernels run eagerly after one warning: correct,
but no faster than a for-loop. Set ``fast_optim.COMPILE = False`` to choose that on purpose.
"""

from __future__ import annotations

import functools
import math
import subprocess
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from d2lmini.optimizers import SPECS, Hyperparams, State, state_buffer

#: How many same-size tensors one compiled call updates.
BUCKET = 8
#: False runs the kernels eagerly (the same code, unfused).
COMPILE = True

_COMPILED: dict[Callable[..., None], Callable[..., None]] = {}
_EAGER_ONLY: set[Callable[..., None]] = set()


# ---------------------------------------------------------------- the kernels: one per rule, in-place ops only
# Each takes the coefficient tensor ``s`` first, then one list per array (params, grads, state buffers), all of
# equal length, and static flags. Under torch.compile the Python loop unrolls over the bucket and every tensor's
# ops fuse into one pass.

def _sgd_kernel(s, P, G, *, weight_decay: bool) -> None:
    lr, wd = s[0], s[1]
    for p, g in zip(P, G):
        if weight_decay:
            g = g + wd * p
        p.sub_(lr * g)


def _momentum_kernel(s, P, G, B, *, weight_decay: bool, nesterov: bool) -> None:
    # s[2], s[3] are (0, 1) on a buffer's first step, so b = g there, as torch clones the first gradient.
    lr, wd, mu, c = s[0], s[1], s[2], s[3]
    for p, g, b in zip(P, G, B):
        if weight_decay:
            g = g + wd * p
        b.mul_(mu).add_(c * g)
        p.sub_(lr * (g + s[4] * b) if nesterov else lr * b)


def _adagrad_kernel(s, P, G, S, *, weight_decay: bool) -> None:
    clr, wd, eps = s[0], s[1], s[2]
    for p, g, acc in zip(P, G, S):
        if weight_decay:
            g = g + wd * p
        acc.add_(g * g)
        p.sub_(clr * g / (acc.sqrt() + eps))


def _rmsprop_kernel(s, P, G, V, *bufs, weight_decay: bool, centered: bool, momentum: bool) -> None:
    lr, wd, alpha, one_minus_alpha, eps, mu = s[0], s[1], s[2], s[3], s[4], s[5]
    M = bufs[0] if centered else None
    B = bufs[-1] if momentum else None
    for i, (p, g, v) in enumerate(zip(P, G, V)):
        if weight_decay:
            g = g + wd * p
        v.mul_(alpha).add_(one_minus_alpha * g * g)
        if centered:
            m = M[i]
            m.add_(one_minus_alpha * (g - m))  # torch's lerp_(g, 1 − α)
            denom = (v - m * m).sqrt() + eps
        else:
            denom = v.sqrt() + eps
        if momentum:
            b = B[i]
            b.mul_(mu).add_(g / denom)
            p.sub_(lr * b)
        else:
            p.sub_(lr * g / denom)


def _adadelta_kernel(s, P, G, V, U, *, weight_decay: bool) -> None:
    lr, wd, rho, one_minus_rho, eps = s[0], s[1], s[2], s[3], s[4]
    for p, g, v, u in zip(P, G, V, U):
        if weight_decay:
            g = g + wd * p
        v.mul_(rho).add_(one_minus_rho * g * g)
        delta = (u + eps).sqrt() / (v + eps).sqrt() * g
        u.mul_(rho).add_(one_minus_rho * delta * delta)
        p.sub_(lr * delta)


def _adam_kernel(s, P, G, M, V, *vmax, weight_decay: bool, decoupled: bool, amsgrad: bool) -> None:
    one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, step_size, wd, decay = (
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
    for i, (p, g, m, v) in enumerate(zip(P, G, M, V)):
        if decoupled:  # AdamW: θ ← θ·(1 − lr·λ) before the moment step
            p.mul_(decay)
        elif weight_decay:  # Adam: L2 added to the gradient
            g = g + wd * p
        m.add_(one_minus_beta1 * (g - m))  # torch's lerp_(g, 1 − β1)
        v.mul_(beta2).add_(one_minus_beta2 * g * g)
        if amsgrad:  # torch keeps the running max of the raw v
            v = vmax[0][i].copy_(torch.maximum(vmax[0][i], v))
        p.sub_(step_size * m / (v.sqrt() / bc2_sqrt + eps))


def _reference_kernel(s, P, G, *bufs) -> None:
    """Not an optimizer: x ← x/2 + g for p and each buffer, the access pattern of a step with len(bufs) states."""
    for i, (p, g) in enumerate(zip(P, G)):
        for x in (p, *(b[i] for b in bufs)):
            x.mul_(s[0]).add_(g)


# ---------------------------------------------------------------- running a kernel over many tensors

def _raise_recompile_limit(limit: int = 64) -> None:
    """One graph per (bucket length, flags, dtype) of each kernel: more than dynamo's default 8 may be needed."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name) and getattr(config, name) < limit:
            setattr(config, name, limit)


def _runner(kernel: Callable[..., None]) -> Callable[..., None]:
    """``kernel`` compiled (once per process), or ``kernel`` itself when compiling is off or has failed."""
    if not COMPILE or kernel in _EAGER_ONLY:
        return kernel
    if kernel not in _COMPILED:
        _raise_recompile_limit()
        _COMPILED[kernel] = torch.compile(kernel, dynamic=True, fullgraph=True)
    fast = _COMPILED[kernel]

    def run(*args: Any, **flags: Any) -> None:
        if kernel in _EAGER_ONLY:
            kernel(*args, **flags)
            return
        try:
            fast(*args, **flags)
        except Exception as error:  # no C++ compiler, unsupported platform: same math, eagerly
            if not _compile_failure(error):
                raise
            _EAGER_ONLY.add(kernel)
            warnings.warn(f"torch.compile failed for {kernel.__name__} ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}); running it eagerly, unfused",
                          RuntimeWarning, stacklevel=4)
            kernel(*args, **flags)
    return run


def _compile_failure(error: Exception) -> bool:
    """True for errors raised by the compiler stack (dynamo, inductor, the C++ or Triton toolchain)."""
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch.fx")) or isinstance(
        error, (OSError, ImportError, NotImplementedError, subprocess.CalledProcessError))


def compiled_kernels() -> list[str]:
    """Names of the kernels compiled so far (excluding those that fell back to eager)."""
    return sorted(k.__name__ for k in _COMPILED if k not in _EAGER_ONLY)


def _scalar_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def launch(kernel: Callable[..., None], rows: Sequence[tuple[tuple[float, ...], Sequence[torch.Tensor]]],
           **flags: Any) -> None:
    """Apply ``kernel`` to every parameter: ``rows`` holds, per parameter, its coefficients and its tensors
    ``(p, g, *state buffers)``. Contiguous tensors are flattened; those with the same size, dtype, device and
    coefficients are updated ``BUCKET`` at a time by one compiled call (the rest of a group one at a time). Sizes
    are dynamic, so one compiled graph per bucket length serves every size."""
    groups: dict[tuple[Any, ...], list[Sequence[torch.Tensor]]] = {}
    for coeffs, tensors in rows:
        p = tensors[0]
        if p.dim() != 1 and all(t.is_contiguous() for t in tensors):
            tensors = [t.view(-1).detach() for t in tensors]  # 1-D: one graph serves every shape
        else:  # a plain tensor, not an nn.Parameter that requires grad: the same graph for both
            tensors = [p.detach(), *tensors[1:]]
        groups.setdefault((coeffs, p.dtype, p.device, tensors[0].shape), []).append(tensors)
    run = _runner(kernel)
    for (coeffs, dtype, device, _), members in groups.items():
        s = torch.tensor(coeffs, dtype=_scalar_dtype(dtype), device=device)
        if hasattr(torch._dynamo, "mark_static"):
            torch._dynamo.mark_static(s)  # its length is fixed: keep it out of the dynamic sizes
        full = len(members) - len(members) % BUCKET
        chunks = [members[i:i + BUCKET] for i in range(0, full, BUCKET)] + [[m] for m in members[full:]]
        for chunk in chunks:
            run(s, *(list(column) for column in zip(*chunk)), **flags)


# ---------------------------------------------------------------- the optimizers (d2lmini's contract and state)

def fast(rule: Callable[[Sequence[torch.Tensor], Sequence[State], dict[str, Any]], None]) -> Callable[..., None]:
    """``rule`` behind the checks of d2lmini's declaration of the optimizer of the same name."""
    spec = SPECS[rule.__name__]

    @functools.wraps(rule)
    def update(params: Sequence[torch.Tensor], states: Sequence[State], hyperparams: Hyperparams | None = None
               ) -> None:
        hp = spec.read(hyperparams)
        spec.check_params(params, states)
        rule(params, states, hp)

    update.spec = spec  # type: ignore[attr-defined]
    return update


@fast
def sgd(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """SGD as ``torch.optim.SGD`` with ``momentum=0``: p ← p − lr·(g + weight_decay·p), one pass."""
    coeffs = (hp["lr"], hp["weight_decay"])
    with torch.no_grad():
        launch(_sgd_kernel, [(coeffs, (p, p.grad)) for p in params], weight_decay=hp["weight_decay"] != 0)


def _momentum_step(name: str, params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    lr, mu, tau, wd = hp["lr"], hp["momentum"], hp["dampening"], hp["weight_decay"]
    rows = []
    for p, state in zip(params, states):
        first = state["momentum_buffer"] is None
        if first:  # b = 0·0 + 1·g = g exactly, torch's clone of the first gradient
            state["momentum_buffer"] = torch.zeros_like(p)
        rows.append(((lr, wd, 0.0 if first else mu, 1.0 if first else 1 - tau, mu),
                     (p, p.grad, state["momentum_buffer"])))
    with torch.no_grad():
        launch(_momentum_kernel, rows, weight_decay=wd != 0, nesterov=name == "nesterov")


@fast
def momentum(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """Heavy-ball momentum as ``torch.optim.SGD(momentum=μ)``: b ← μ·b + (1 − τ)·g, p ← p − lr·b, one pass."""
    _momentum_step("momentum", params, states, hp)


@fast
def nesterov(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """Nesterov momentum as ``torch.optim.SGD(momentum=μ, nesterov=True)``, one pass."""
    _momentum_step("nesterov", params, states, hp)


@fast
def adagrad(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """Adagrad as ``torch.optim.Adagrad``: s ← s + g², p ← p − lr_t·g / (√s + eps), one pass."""
    rows = []
    for p, state in zip(params, states):
        if state["sum"] is None:
            state["sum"] = torch.full_like(p, hp["initial_accumulator_value"])
        state["step"] += 1
        clr = hp["lr"] / (1 + (state["step"] - 1) * hp["lr_decay"])
        rows.append(((clr, hp["weight_decay"], hp["eps"]), (p, p.grad, state["sum"])))
    with torch.no_grad():
        launch(_adagrad_kernel, rows, weight_decay=hp["weight_decay"] != 0)


@fast
def rmsprop(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """RMSProp as ``torch.optim.RMSprop`` (``centered`` and ``momentum`` included), one pass."""
    alpha, centered, mu = hp["alpha"], hp["centered"], hp["momentum"]
    coeffs = (hp["lr"], hp["weight_decay"], alpha, 1 - alpha, hp["eps"], mu)
    rows = []
    for p, state in zip(params, states):
        state["step"] += 1
        tensors = [p, p.grad, state["square_avg"]]
        if centered:
            tensors.append(state_buffer(state, "grad_avg", p))
        if mu > 0:
            tensors.append(state_buffer(state, "momentum_buffer", p))
        rows.append((coeffs, tensors))
    with torch.no_grad():
        launch(_rmsprop_kernel, rows, weight_decay=hp["weight_decay"] != 0, centered=centered, momentum=mu > 0)


@fast
def adadelta(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """AdaDelta as ``torch.optim.Adadelta``, one pass."""
    rho = hp["rho"]
    coeffs = (hp["lr"], hp["weight_decay"], rho, 1 - rho, hp["eps"])
    rows = []
    for p, state in zip(params, states):
        state["step"] += 1
        rows.append((coeffs, (p, p.grad, state["square_avg"], state["acc_delta"])))
    with torch.no_grad():
        launch(_adadelta_kernel, rows, weight_decay=hp["weight_decay"] != 0)


def _adam_rows(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> list[Any]:
    beta1, beta2 = hp["betas"]
    by_step: dict[int, tuple[float, ...]] = {}
    rows = []
    for p, state in zip(params, states):
        state["step"] += 1
        t = state["step"]
        if t not in by_step:
            by_step[t] = (1 - beta1, beta2, 1 - beta2, math.sqrt(1 - beta2**t), hp["eps"], hp["lr"] / (1 - beta1**t),
                          hp["weight_decay"], 1 - hp["lr"] * hp["weight_decay"])
        coeffs = by_step[t]
        tensors = [p, p.grad, state["exp_avg"], state["exp_avg_sq"]]
        if hp["amsgrad"]:
            tensors.append(state_buffer(state, "max_exp_avg_sq", p))
        rows.append((coeffs, tensors))
    return rows


@fast
def adam(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """Adam as ``torch.optim.Adam`` (coupled L2 ``weight_decay``, ``amsgrad``), one pass."""
    with torch.no_grad():
        launch(_adam_kernel, _adam_rows(params, states, hp), weight_decay=hp["weight_decay"] != 0,
               decoupled=False, amsgrad=hp["amsgrad"])


@fast
def adamw(params: Sequence[torch.Tensor], states: Sequence[State], hp: dict[str, Any]) -> None:
    """AdamW as ``torch.optim.AdamW``: θ ← θ·(1 − lr·λ), then Adam's step from the raw gradient, one pass."""
    with torch.no_grad():
        launch(_adam_kernel, _adam_rows(params, states, hp), weight_decay=False, decoupled=True,
               amsgrad=hp["amsgrad"])


def reference_step(params: Sequence[torch.Tensor], buffers: Sequence[Sequence[torch.Tensor]]) -> None:
    """The bandwidth reference: x ← x/2 + g for every p and buffer, through the same compiled buckets.

    With k buffers per parameter it reads k + 2 arrays and writes k + 1, like an optimizer with k state arrays
    (k = 0: SGD's 12 B/param in fp32; 1: 20 B; 2: 28 B), but does almost no arithmetic."""
    with torch.no_grad():
        launch(_reference_kernel, [((0.5,), (p, p.grad, *bufs)) for p, bufs in zip(params, buffers)])


#: name → (init_<name>_states, <name>): d2lmini's init functions (same state), the fast update functions. An
#: optimizer declared in d2lmini without a fast version here is benchmarked without the ``scratch_fast`` column.
FAST_OPTIMIZERS: dict[str, tuple[Callable[..., list[State]], Callable[..., None]]] = {
    f.__name__: (SPECS[f.__name__].init, f) for f in (sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw)
}
