"""Beyond AdamW: six more from-scratch optimizers, declared like those of ``d2lmini.optimizers``, the registry of
every declared optimizer (:data:`DECLARED`), and :func:`build`, the reference implementation ready to train a model.

NAdam and RAdam reproduce ``torch.optim.NAdam``/``RAdam``, Adafactor ``torch.optim.Adafactor`` (torch >= 2.5),
Muon ``torch.optim.Muon`` (torch >= 2.9), Lion ``lion_pytorch.Lion`` and schedule-free AdamW
``schedulefree.AdamWScheduleFree``. The references are imported only when needed: with an older torch or without
the two packages, the from-scratch versions still run, and asking for the reference raises an error that names
what it needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from . import optimizers
from .optimizers import (
    Hyperparams,
    Params,
    Spec,
    State,
    States,
    declare,
    integer,
    one_of,
    optional,
    real,
    tuple_of,
    zero_states,
)

# ---------------------------------------------------------------- NAdam and RAdam
# The declared functions below are shown verbatim in the chapters: 79 columns.


def init_nadam_states(params: Params) -> list[State]:
    """Adam's two moments, a step counter and the product of the μ_t,
    kept as torch keeps it: a scalar tensor of the default dtype
    (float32 unless the default is float64), rounded at every step."""
    states = zero_states(params, "exp_avg", "exp_avg_sq")
    for state in states:
        state["mu_product"] = torch.tensor(1.0)
    return states


@declare(reference="torch.optim.NAdam", init=init_nadam_states,
         defaults=dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=0.0, momentum_decay=4e-3,
                       decoupled_weight_decay=False),
         checks=dict(momentum_decay=real()),
         state=["exp_avg", "exp_avg_sq"], flops=16)
def nadam(params: Params, states: States, hp: Hyperparams) -> None:
    """NAdam as ``torch.optim.NAdam``: Adam with a Nesterov step and
    Dozat's momentum schedule μ_t = β1·(1 − 0.96^(t·ψ)/2), ψ the
    ``momentum_decay``; Π_t = μ_1·…·μ_t.

    m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², v̂ = v / (1 − β2^t),
    p ← p − lr·[(1 − μ_t)/(1 − Π_t)·g + μ_{t+1}/(1 − Π_t·μ_{t+1})·m]
          / (√v̂ + eps)
    """
    beta1, beta2 = hp["betas"]
    lr, psi = hp["lr"], hp["momentum_decay"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0 and hp["decoupled_weight_decay"]:
                p.mul_(1 - lr * hp["weight_decay"])
            elif hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            state["step"] += 1
            t = state["step"]
            mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
            mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
            state["mu_product"] *= mu
            prod = state["mu_product"].item()
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_((1 - beta1) * g)
            v.mul_(beta2).add_((1 - beta2) * g * g)
            denom = (v / (1 - beta2**t)).sqrt() + hp["eps"]
            p.sub_(lr * (1 - mu) / (1 - prod) * g / denom)
            p.sub_(lr * mu_next / (1 - prod * mu_next) * m / denom)


def init_radam_states(params: Params) -> list[State]:
    """Adam's two moments and a step counter per parameter."""
    return zero_states(params, "exp_avg", "exp_avg_sq")


@declare(reference="torch.optim.RAdam", init=init_radam_states,
         defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=0.0, decoupled_weight_decay=False),
         state=["exp_avg", "exp_avg_sq"], flops=15)
def radam(params: Params, states: States, hp: Hyperparams) -> None:
    """RAdam as ``torch.optim.RAdam``: Adam's step times a rectification
    r_t, or plain momentum SGD while the variance estimate is unreliable.

    ρ_∞ = 2/(1 − β2) − 1, ρ_t = ρ_∞ − 2t·β2^t/(1 − β2^t); m̂ = m/(1 − β1^t).
    ρ_t > 5: p ← p − lr·m̂·r_t·√(1 − β2^t)/(√v + eps), with
    r_t = √[(ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t)];
    else p ← p − lr·m̂.
    """
    beta1, beta2 = hp["betas"]
    lr = hp["lr"]
    rho_inf = 2 / (1 - beta2) - 1
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if hp["weight_decay"] != 0 and hp["decoupled_weight_decay"]:
                p.mul_(1 - lr * hp["weight_decay"])
            elif hp["weight_decay"] != 0:
                g = g + hp["weight_decay"] * p
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.mul_(beta1).add_((1 - beta1) * g)
            v.mul_(beta2).add_((1 - beta2) * g * g)
            m_hat = m / (1 - beta1**t)
            rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
            if rho_t > 5:
                r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                adaptive = math.sqrt(1 - beta2**t) / (v.sqrt() + hp["eps"])
                p.sub_(lr * m_hat * adaptive * r_t)
            else:
                p.sub_(lr * m_hat)


# ---------------------------------------------------------------- Adafactor

def init_adafactor_states(params: Params) -> list[State]:
    """Second-moment statistics, made at step 1: a row and a column
    factor for a matrix (or a stack of them), a full one for a vector."""
    return [{"step": 0} for _ in params]


def adafactor_state_sizes(shape: tuple[int, ...],
                          hp: Hyperparams) -> dict[str, int]:
    """Entries of Adafactor's state for a parameter of ``shape``."""
    if len(shape) < 2:
        return {"variance": math.prod(shape)}
    return {"row_var": math.prod(shape[:-1]),
            "col_var": math.prod(shape[:-2]) * shape[-1]}


def eps_pair(name: str, key: str, value: Any) -> None:
    """Adafactor's ``eps``: a pair (eps1 or None, eps2), both >= 0."""
    tuple_of([optional(real()), real()], "a pair (eps1 or None, eps2)",
             ["eps1", "eps2"])(name, key, value)


@declare(reference="torch.optim.Adafactor", init=init_adafactor_states,
         defaults=dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                       weight_decay=0.0),
         checks=dict(beta2_decay=real(-math.inf, 0, high_in=True),
                     eps=eps_pair, d=real(1)),
         state=adafactor_state_sizes, flops=13, requires="torch>=2.5")
def adafactor(params: Params, states: States, hp: Hyperparams) -> None:
    """Adafactor as ``torch.optim.Adafactor``: second moments factored
    over the last two dimensions, no first moment, a relative step.

    β2_t = 1 − t^beta2_decay, ρ_t = min(lr, 1/√t),
    α_t = max(eps2, RMS(p))·ρ_t (RMS before the weight decay);
    matrix: R ← lerp(R, mean_col(g²), 1 − β2_t), C likewise over rows,
    V̂ = R·C / mean(R); vector: V̂ ← lerp(V̂, g², 1 − β2_t);
    u = g / √max(V̂, eps1²), p ← p − α_t·u / max(1, RMS(u)/d).
    eps1 None is the machine epsilon of p's dtype.
    """
    lr, d = hp["lr"], hp["d"]
    eps1, eps2 = hp["eps"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g = p.grad
            if eps1 is None:
                eps1 = torch.finfo(p.dtype).eps
            state["step"] += 1
            t = state["step"]
            one_minus_beta2 = t ** hp["beta2_decay"]
            rho = min(lr, 1 / t**0.5)
            alpha = max(eps2, p.norm().item() / p.numel() ** 0.5) * rho
            if hp["weight_decay"] != 0:
                p.mul_(1 - lr * hp["weight_decay"])
            if p.dim() > 1:
                if "row_var" not in state:
                    state["row_var"] = torch.zeros_like(g[..., :1])
                    state["col_var"] = torch.zeros_like(g[..., :1, :])
                row, col = state["row_var"], state["col_var"]
                row.lerp_((g * g).mean(-1, keepdim=True), one_minus_beta2)
                col.lerp_((g * g).mean(-2, keepdim=True), one_minus_beta2)
                v_hat = row @ col / row.mean(-2, keepdim=True).clamp(eps1)
            else:
                if "variance" not in state:
                    state["variance"] = torch.zeros_like(g)
                state["variance"].lerp_(g * g, one_minus_beta2)
                v_hat = state["variance"]
            u = g / v_hat.clamp(eps1 * eps1).sqrt()
            rms_u = u.norm().item() / u.numel() ** 0.5
            p.sub_(alpha / max(1.0, rms_u / d) * u)


# ---------------------------------------------------------------- Muon

def init_muon_states(params: Params) -> list[State]:
    """One momentum buffer per weight matrix."""
    return [{"momentum_buffer": torch.zeros_like(p)} for p in params]


def newton_schulz(G: torch.Tensor, coefficients: Sequence[float],
                  steps: int, eps: float) -> torch.Tensor:
    """≈ U·Vᵀ of G = U·S·Vᵀ, as torch.optim.Muon computes it, in bfloat16
    on every device and for every dtype (so this must be, to match it):
    X ← G/‖G‖_F, then ``steps`` times X ← a·X + (b·A + c·A²)·X, A = X·Xᵀ,
    on the wide orientation of X. ``torch.addmm(M, P, Q, beta=β,
    alpha=γ)`` is β·M + γ·P·Q in one rounding, as torch's code has it."""
    a, b, c = coefficients
    X = G.bfloat16()
    if G.size(0) > G.size(1):
        X = X.T
    X = X.div(X.norm().clamp(min=eps))
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    return X.T if G.size(0) > G.size(1) else X


def muon_lr(lr: float, adjust_lr_fn: str | None,
            shape: Sequence[int]) -> float:
    """The step size of an A×B matrix: lr·√max(1, A/B) ("original",
    Keller Jordan's) or lr·0.2·√max(A, B) ("match_rms_adamw", Moonshot's:
    the update's RMS then matches AdamW's, so AdamW's lr carries over)."""
    A, B = shape[0], shape[1]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(A, B))
    return lr * math.sqrt(max(1, A / B))


def build_muon(spec: Spec, params_or_model: Any,
               hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Muon on the hidden weight matrices, AdamW on the rest, one lr."""
    muon_params, other = split_for_muon(params_or_model)
    adamw = {"lr": hp["lr"], "weight_decay": hp["weight_decay"]}
    return MuonWithAdamW(muon_params, other, hp, adamw)


@declare(reference="torch.optim.Muon", init=init_muon_states,
         defaults=dict(lr=1e-3, weight_decay=0.1, momentum=0.95,
                       nesterov=True,
                       ns_coefficients=(3.4445, -4.775, 2.0315),
                       eps=1e-7, ns_steps=5, adjust_lr_fn=None),
         checks=dict(momentum=real(0, 1, high_in=True),
                     ns_coefficients=tuple_of(
                         [real(-math.inf)] * 3, "a triple (a, b, c)",
                         ["a", "b", "c"]),
                     ns_steps=integer(0, 100),
                     adjust_lr_fn=one_of(None, "original",
                                         "match_rms_adamw")),
         state=["momentum_buffer"], requires="torch>=2.9",
         typical=dict(adjust_lr_fn="match_rms_adamw"),
         matrices_only=True, builder=build_muon)
def muon(params: Params, states: States, hp: Hyperparams) -> None:
    """Muon as ``torch.optim.Muon``, for 2-D weight matrices: momentum,
    then the update orthogonalized by Newton–Schulz.

    b ← μ·b + (1 − μ)·g; u = (1 − μ)·g + μ·b (nesterov) or b;
    p ← p·(1 − lr·weight_decay) − lr_adj·NS(u), lr_adj = muon_lr(...).
    ``lerp`` and ``add_(..., alpha=)`` as in torch's code: NS rounds u
    to bfloat16, so u (hence p) must be the same to the last bit.
    """
    mu = hp["momentum"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g, b = p.grad, state["momentum_buffer"]
            b.lerp_(g, 1 - mu)
            u = g.lerp(b, mu) if hp["nesterov"] else b
            ortho = newton_schulz(u, hp["ns_coefficients"], hp["ns_steps"],
                                  hp["eps"])
            p.mul_(1 - hp["lr"] * hp["weight_decay"])
            lr_adj = muon_lr(hp["lr"], hp["adjust_lr_fn"], p.shape)
            p.add_(ortho, alpha=-lr_adj)  # in p's dtype, as torch does


# ---------------------------------------------------------------- Lion

def init_lion_states(params: Params) -> list[State]:
    """One momentum buffer per parameter (Lion keeps no second moment)."""
    return zero_states(params, "exp_avg")


@declare(reference="lion_pytorch.Lion", init=init_lion_states,
         defaults=dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
                       use_triton=False, decoupled_weight_decay=False),
         checks=dict(lr=real(0, low_in=False),
                     betas=tuple_of([real(0, 1, high_in=True)] * 2,
                                    "a pair (beta1, beta2)",
                                    ["beta", "beta"])),
         fixed=dict(use_triton=False),
         hint="the Triton kernel is a GPU path of the same rule",
         state=["exp_avg"], flops=9, requires="lion-pytorch>=0.2")
def lion(params: Params, states: States, hp: Hyperparams) -> None:
    """Lion as ``lion_pytorch.Lion``: the sign of an interpolation.

    p ← p·(1 − lr·λ); p ← p − lr·sign(β1·m + (1 − β1)·g);
    m ← β2·m + (1 − β2)·g. With ``decoupled_weight_decay``, λ is
    weight_decay/lr₀, lr₀ the lr of the first step (Lion's lr at
    construction): the decay no longer scales with lr.
    """
    beta1, beta2 = hp["betas"]
    lr = hp["lr"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g, m = p.grad, state["exp_avg"]
            state.setdefault("lr0", lr)
            wd = hp["weight_decay"]
            if hp["decoupled_weight_decay"]:
                wd = wd / state["lr0"]
            p.mul_(1 - lr * wd)
            p.sub_(lr * torch.sign(beta1 * m + (1 - beta1) * g))
            m.mul_(beta2).add_((1 - beta2) * g)


# ---------------------------------------------------------------- schedule-free AdamW

def init_adamw_schedulefree_states(params: Params) -> list[State]:
    """Per parameter: z and v, made at step 1; the step count k, the
    weight sum, the largest lr so far, β1 of the last step (for the mode
    switches); the mode (training)."""
    return [{"k": 0, "weight_sum": 0.0, "lr_max": -1.0, "train_mode": True}
            for _ in params]


def adamw_schedulefree_eval(params: Params, states: States) -> None:
    """Evaluation mode: p holds x = y + (1 − 1/β1)·(z − y), the average."""
    with torch.no_grad():
        for p, state in zip(params, states):
            if state["train_mode"] and "z" in state:
                p.lerp_(state["z"], 1 - 1 / state["beta1"])
            state["train_mode"] = False


def adamw_schedulefree_train(params: Params, states: States) -> None:
    """Training mode: p holds y = x + (1 − β1)·(z − x), where gradients
    are taken."""
    with torch.no_grad():
        for p, state in zip(params, states):
            if not state["train_mode"] and "z" in state:
                p.lerp_(state["z"], 1 - state["beta1"])
            state["train_mode"] = True


@declare(reference="schedulefree.AdamWScheduleFree",
         init=init_adamw_schedulefree_states,
         defaults=dict(lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8,
                       weight_decay=0.0, warmup_steps=0, r=0.0,
                       weight_lr_power=2.0),
         checks=dict(warmup_steps=integer(), r=real(),
                     weight_lr_power=real()),
         state=["z", "exp_avg_sq"], flops=15, requires="schedulefree>=1.4",
         train_eval=(adamw_schedulefree_train, adamw_schedulefree_eval),
         schedule=False)
def adamw_schedulefree(params: Params, states: States,
                       hp: Hyperparams) -> None:
    """Schedule-free AdamW as ``schedulefree.AdamWScheduleFree``, in
    training mode: p holds y, the point where gradients are taken.

    lr_k = lr·min(1, (k+1)/warmup_steps); c = w_k / Σ w with
    w_k = (k+1)^r · max(lr_0..lr_k)^weight_lr_power;
    v ← β2·v + (1 − β2)·g², u = g / (√(v/(1 − β2^(k+1))) + eps) + λ·y;
    y ← (1 − c)·y + c·z + lr_k·(β1·(1 − c) − 1)·u; z ← z − lr_k·u.
    """
    beta1, beta2 = hp["betas"]
    warmup = hp["warmup_steps"]
    with torch.no_grad():
        for p, state in zip(params, states):
            g, k = p.grad, state["k"]
            lr = hp["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
            state["lr_max"] = max(lr, state["lr_max"])
            weight = (k + 1) ** hp["r"] * state["lr_max"] ** (
                hp["weight_lr_power"])
            state["weight_sum"] += weight
            c = weight / state["weight_sum"] if state["weight_sum"] else 0.0
            if "z" not in state:
                state["z"] = p.clone()
                state["exp_avg_sq"] = torch.zeros_like(p)
            z, v = state["z"], state["exp_avg_sq"]
            v.mul_(beta2).add_((1 - beta2) * g * g)
            u = g / ((v / (1 - beta2 ** (k + 1))).sqrt() + hp["eps"])
            if hp["weight_decay"] != 0:
                u = u + hp["weight_decay"] * p
            p.lerp_(z, c).add_(lr * (beta1 * (1 - c) - 1) * u)
            z.sub_(lr * u)
            state["k"], state["beta1"] = k + 1, beta1


# ---------------------------------------------------------------- Muon with AdamW: one optimizer for a model

def split_for_muon(params_or_model: nn.Module | Iterable[Any]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(Muon's parameters, AdamW's): Muon takes the hidden 2-D weight matrices; AdamW takes biases, gains,
    embeddings (``nn.Embedding``) and the output layer (the last ``nn.Linear`` of the model, in module order),
    which Muon's authors leave to AdamW. Given a plain list of parameters, every 2-D one goes to Muon."""
    if not isinstance(params_or_model, nn.Module):
        params = [p for p in params_or_model]
        if any(isinstance(p, dict) for p in params):
            raise TypeError("build('muon', ...) takes a model or a list of parameters, not parameter groups")
        return [p for p in params if p.dim() == 2], [p for p in params if p.dim() != 2]
    model = params_or_model
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    excluded = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    if linears:
        excluded |= {id(p) for p in linears[-1].parameters()}
    params = list(model.parameters())  # shared parameters once
    muon_params = [p for p in params if p.dim() == 2 and id(p) not in excluded]
    return muon_params, [p for p in params if id(p) not in {id(q) for q in muon_params}]


class MuonWithAdamW(torch.optim.Optimizer):
    """``torch.optim.Muon`` on some parameters and ``torch.optim.AdamW`` on the others, as one optimizer.

    ``param_groups`` is the list of both optimizers' groups (the same dicts), so an lr scheduler that sets
    ``group["lr"]`` drives both; ``step``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` go to both.
    """

    def __init__(self, muon_params: Sequence[nn.Parameter], other_params: Sequence[nn.Parameter],
                 muon_hyperparams: Mapping[str, Any], adamw_hyperparams: Mapping[str, Any]) -> None:
        if not muon_params and not other_params:
            raise ValueError("MuonWithAdamW: no parameters")
        parts = []
        if muon_params:
            parts.append(("muon", DECLARED["muon"].twin()(muon_params, **muon_hyperparams)))
        if other_params:
            parts.append(("adamw", torch.optim.AdamW(other_params, **adamw_hyperparams)))
        self.parts: dict[str, torch.optim.Optimizer] = dict(parts)
        super().__init__([p for _, opt in parts for g in opt.param_groups for p in g["params"]],
                         {"lr": muon_hyperparams["lr"]})
        self.param_groups = [g for _, opt in parts for g in opt.param_groups]

    @property  # type: ignore[override]
    def state(self) -> dict[Any, Any]:  # noqa: D401
        """Both optimizers' per-parameter state."""
        return {p: s for opt in self.parts.values() for p, s in opt.state.items()}

    @state.setter
    def state(self, value: Any) -> None:  # Optimizer.__init__ assigns an empty state; the parts keep theirs
        pass

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.parts.values():
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        for name, opt in self.parts.items():
            opt.load_state_dict(state_dict[name])


# ---------------------------------------------------------------- the registry of every declared optimizer

#: name → declaration, for every declared optimizer of the course, in the order of the book.
DECLARED: Mapping[str, Spec] = MappingProxyType({
    **optimizers.SPECS,
    **{f.spec.name: f.spec for f in (nadam, radam, adafactor, muon, lion, adamw_schedulefree)},  # type: ignore
})


def find(optimizer: str | Spec | Callable[..., Any]) -> Spec:
    """The declaration of ``optimizer``: a name of :data:`DECLARED`, a declared function, or a Spec."""
    if isinstance(optimizer, Spec):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer not in DECLARED:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {list(DECLARED)}")
        return DECLARED[optimizer]
    spec = getattr(optimizer, "spec", None)
    if not isinstance(spec, Spec):
        raise TypeError(f"{optimizer!r} is not a declared optimizer (a name of d2lmini.DECLARED, or a function "
                        "decorated with @declare)")
    return spec


def build(optimizer: str | Spec | Callable[..., Any], params_or_model: nn.Module | Iterable[Any],
          **hyperparams: Any) -> torch.optim.Optimizer:
    """The reference implementation of a declared optimizer, ready to train: its ``typical`` settings (momentum 0.9
    for momentum, …), then ``hyperparams``, checked like the from-scratch version's.

    Special cases come from the declaration's ``builder``: Muon trains the hidden 2-D weight matrices of a model
    (:func:`split_for_muon`) and AdamW the rest, as one optimizer object (:class:`MuonWithAdamW`) with one ``lr``
    (Muon's ``adjust_lr_fn="match_rms_adamw"`` by default) and one ``weight_decay``; schedule-free AdamW is
    returned in training mode (call ``.eval()`` before evaluating and ``.train()`` before training again, as its
    declaration's ``train_eval`` says; it takes no lr schedule: ``schedule`` is False).
    """
    spec = find(optimizer)
    opt = spec.build(params_or_model, **hyperparams)
    if spec.train_eval is not None:
        opt.train()
    return opt
