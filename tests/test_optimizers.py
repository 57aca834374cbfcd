"""Every from-scratch optimizer equals its torch.optim twin, for several models and hyperparameters."""

from __future__ import annotations

import inspect
import math
import random
from typing import Any

import pytest
import torch
from torch import nn

import d2lmini
from d2lmini import optimizers as opt

MODELS: dict[str, tuple[nn.Module, tuple[int, ...]]] = {
    "linear": (nn.Linear(5, 1), (5,)),
    "mlp": (nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    "conv": (nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)), (2, 6, 6)),
    "norm_and_bilinear": (nn.Sequential(nn.Bilinear(3, 3, 4), nn.LayerNorm(4)), (3,)),
}


class _TwoInputs(nn.Module):
    """Wraps a bilinear layer so that it takes one input tensor."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner[1](self.inner[0](x, x.flip(-1)))


CASES: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.05}),
    ("momentum", {"lr": 0.05, "momentum": 0.9}),
    ("momentum", {"lr": 0.02, "momentum": 0.5, "dampening": 0.5, "weight_decay": 0.01}),
    ("nesterov", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("nesterov", {"lr": 0.01, "momentum": 0.3, "nesterov": True, "weight_decay": 0.1}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.3, "weight_decay": 0.02}),
    ("adagrad", {"lr": 0.05, "eps": 1e-3}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-4}),
    ("rmsprop", {"lr": 0.005, "centered": True}),
    ("rmsprop", {"lr": 0.005, "momentum": 0.8}),
    ("rmsprop", {"lr": 0.005, "centered": True, "momentum": 0.7, "weight_decay": 0.01, "alpha": 0.95}),
    ("adadelta", {}),
    ("adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.5, "betas": (0.5, 0.9)}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "eps": 1e-4}),
]


def _model(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    model, shape = MODELS[name]
    return (_TwoInputs(model) if name == "norm_and_bilinear" else model), shape


@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize(("name", "hyperparams"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_equal_to_torch_optim(name: str, hyperparams: dict[str, Any], model_name: str) -> None:
    init_fn, update_fn = opt.OPTIMIZERS[name]
    model, input_shape = _model(model_name)
    report = d2lmini.check_equivalence(init_fn, update_fn, opt.TWINS[name], hyperparams, model=model,
                                       input_shape=input_shape, steps=25)
    assert report.ok, str(report)
    assert len(report.deltas) == 25


@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
def test_equal_for_random_valid_hyperparameters(name: str) -> None:
    rng = random.Random(name)
    for trial in range(4):
        hp: dict[str, Any] = {"lr": 10 ** rng.uniform(-3, -1), "weight_decay": rng.choice([0.0, 10 ** rng.uniform(-3, 0)])}
        if name in ("momentum", "nesterov"):
            hp["momentum"] = rng.uniform(0.05, 0.99)
            hp["nesterov"] = name == "nesterov"
            if name == "momentum":
                hp["dampening"] = rng.uniform(0, 1)
        if name == "adagrad":
            hp |= {"lr_decay": rng.uniform(0, 0.1), "initial_accumulator_value": rng.uniform(0, 1),
                   "eps": 10 ** rng.uniform(-10, -3)}
        if name == "rmsprop":
            hp |= {"alpha": rng.uniform(0.5, 0.999), "eps": 10 ** rng.uniform(-8, -3),
                   "centered": rng.random() < 0.5, "momentum": rng.choice([0.0, rng.uniform(0, 0.95)])}
        if name == "adadelta":
            hp |= {"lr": rng.uniform(0.1, 2.0), "rho": rng.uniform(0.5, 0.99), "eps": 10 ** rng.uniform(-8, -4)}
        if name in ("adam", "adamw"):
            hp |= {"betas": (rng.uniform(0, 0.99), rng.uniform(0.5, 0.9999)), "eps": 10 ** rng.uniform(-10, -4),
                   "amsgrad": rng.random() < 0.5}
        init_fn, update_fn = opt.OPTIMIZERS[name]
        report = d2lmini.check_equivalence(init_fn, update_fn, opt.TWINS[name], hp, seed=trial, steps=20)
        assert report.ok, f"{hp}: {report}"


@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
def test_defaults_are_torch_defaults(name: str) -> None:
    signature = inspect.signature(opt.TWINS[name])
    for key, value in opt.DEFAULTS[name].items():
        assert signature.parameters[key].default == value, f"{name}.{key}"


def _rmsprop_eps_inside(params, states, hyperparams):  # the common mistake: eps under the square root
    hp = opt.read_hyperparams("rmsprop", hyperparams)
    with torch.no_grad():
        for p, state in zip(params, states):
            v = state["square_avg"]
            v.mul_(hp["alpha"]).add_((1 - hp["alpha"]) * p.grad * p.grad)
            p.sub_(hp["lr"] * p.grad / (v + hp["eps"]).sqrt())


def _adam_with_eps(eps: float):
    def adam_wrong_eps(params, states, hyperparams):
        opt.adam(params, states, {**hyperparams, "eps": eps})
    return adam_wrong_eps


@pytest.mark.parametrize(("init_fn", "update_fn", "twin", "hp"), [
    (opt.init_rmsprop_states, _rmsprop_eps_inside, torch.optim.RMSprop, {"lr": 0.01}),
    (opt.init_adam_states, _adam_with_eps(1e-6), torch.optim.Adam, {"lr": 0.01}),
    (opt.init_adagrad_states, opt.adagrad, torch.optim.Adagrad, {"lr": 0.1}),
], ids=["rmsprop-eps-inside-root", "adam-eps-1e-6-vs-1e-8", "adagrad-vs-itself-control"])
def test_the_check_catches_a_wrong_eps(init_fn, update_fn, twin, hp) -> None:
    report = d2lmini.check_equivalence(init_fn, update_fn, twin, hp)
    control = update_fn is opt.adagrad
    assert report.ok is control, str(report)
    if not control:
        assert "NOT equal" in str(report) and report.max_delta > 1e-10


def test_the_check_catches_a_momentum_form_that_damps_the_first_step() -> None:
    def ema_momentum(params, states, hyperparams):  # b ← μ·b + (1 − τ)·g from b = 0: damps step 1
        hp = opt.read_hyperparams("momentum", hyperparams)
        with torch.no_grad():
            for p, state in zip(params, states):
                if state["momentum_buffer"] is None:
                    state["momentum_buffer"] = torch.zeros_like(p)
                state["momentum_buffer"].mul_(hp["momentum"]).add_((1 - hp["dampening"]) * p.grad)
                p.sub_(hp["lr"] * state["momentum_buffer"])

    hp = {"lr": 0.1, "momentum": 0.9, "dampening": 0.9}
    assert not d2lmini.check_equivalence(opt.init_momentum_states, ema_momentum, torch.optim.SGD, hp).ok
    assert d2lmini.check_equivalence(opt.init_momentum_states, opt.momentum, torch.optim.SGD, hp).ok


def test_step_counters_live_in_states_per_parameter() -> None:
    a = torch.zeros(3, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    states = opt.init_adam_states([a, b])
    hp = {"lr": 0.1}
    for _ in range(3):
        a.grad, b.grad = torch.ones(3), torch.ones(2)
        opt.adam([a, b], states, hp)
    a.grad = torch.ones(3)
    opt.adam([a], states[:1], hp)  # only a steps: its counter moves alone
    assert [s["step"] for s in states] == [4, 3]
    assert hp == {"lr": 0.1}  # hyperparams are never written to


BAD_HYPERPARAMS = [
    ("sgd", {"lr": -0.1}, ValueError, "'lr' must be finite and in"),
    ("sgd", {"lr": math.nan}, ValueError, "'lr' must be finite"),
    ("sgd", {"lr": math.inf}, ValueError, "'lr' must be finite"),
    ("sgd", {"lr": "0.1"}, TypeError, "'lr' must be a real number"),
    ("sgd", {"momentum": 0.9}, ValueError, "use momentum\\(\\) or nesterov\\(\\)"),
    ("sgd", {"learning_rate": 0.1}, ValueError, "unknown hyperparameter"),
    ("momentum", {"momentum": 1.0}, ValueError, "'momentum' must be finite and in \\[0, 1\\)"),
    ("momentum", {"momentum": 0.9, "nesterov": True}, ValueError, "use nesterov\\(\\)"),
    ("momentum", {"dampening": 1.5}, ValueError, "'dampening'"),
    ("nesterov", {"momentum": 0.9}, ValueError, "set 'nesterov': True"),
    ("nesterov", {"momentum": 0.9, "nesterov": True, "dampening": 0.1}, ValueError, "'dampening' 0"),
    ("nesterov", {"momentum": 0.9, "nesterov": 1}, TypeError, "True or False"),
    ("adagrad", {"lr_decay": -1.0}, ValueError, "'lr_decay'"),
    ("adagrad", {"initial_accumulator_value": -0.1}, ValueError, "'initial_accumulator_value'"),
    ("rmsprop", {"alpha": 1.2}, ValueError, "'alpha'"),
    ("rmsprop", {"gamma": 0.9}, ValueError, "unknown hyperparameter.*alpha"),
    ("rmsprop", {"eps": -1e-8}, ValueError, "'eps'"),
    ("adadelta", {"rho": -0.5}, ValueError, "'rho'"),
    ("adam", {"betas": (0.9, 1.0)}, ValueError, "'beta' must be finite and in \\[0, 1\\)"),
    ("adam", {"betas": 0.9}, TypeError, "pair"),
    ("adam", {"t": 1}, ValueError, "unknown hyperparameter"),
    ("adamw", {"weight_decay": -0.01}, ValueError, "'weight_decay'"),
    ("adamw", {"amsgrad": "yes"}, TypeError, "True or False"),
]


@pytest.mark.parametrize(("name", "hp", "error", "message"), BAD_HYPERPARAMS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(BAD_HYPERPARAMS)])
def test_bad_hyperparameters_are_clear_errors(name: str, hp: dict[str, Any], error: type, message: str) -> None:
    init_fn, update_fn = opt.OPTIMIZERS[name]
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    before = p.detach().clone()
    with pytest.raises(error, match=message):
        update_fn([p], init_fn([p]), hp)
    assert torch.equal(p.detach(), before)


def test_bad_parameter_lists_are_clear_errors() -> None:
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="params is empty"):
        opt.sgd([], [], {"lr": 0.1})
    with pytest.raises(ValueError, match="has no gradient"):
        opt.sgd([p], opt.init_sgd_states([p]), {"lr": 0.1})
    p.grad = torch.ones(2)
    with pytest.raises(ValueError, match="one entry per parameter"):
        opt.adam([p], [], {"lr": 0.1})
    with pytest.raises(TypeError, match="list of tensors"):
        opt.sgd(p, [{}], {"lr": 0.1})
    with pytest.raises(TypeError, match="hyperparams must be a dict"):
        opt.sgd([p], [{}], 0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        opt.read_hyperparams("lion", {})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on CI; run where one is lent)")
@pytest.mark.parametrize("foreach", [False, True], ids=["for-loop", "foreach"])
@pytest.mark.parametrize(("name", "hyperparams"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_equal_to_torch_optim_on_cuda(name: str, hyperparams: dict[str, Any], foreach: bool) -> None:
    """On CUDA torch's default path is foreach: multi-tensor kernels that may round differently (fused
    multiply-adds), so both paths are checked. In float64 such rounding stays near 1e-16, far inside 1e-12."""
    init_fn, update_fn = opt.OPTIMIZERS[name]
    twin = opt.TWINS[name]

    class Twin(twin):  # type: ignore[misc, valid-type]
        def __init__(self, params: Any, **kwargs: Any) -> None:
            kwargs["foreach"] = foreach
            super().__init__(params, **kwargs)

    report = d2lmini.check_equivalence(init_fn, update_fn, Twin, hyperparams, device="cuda", steps=25)
    assert report.ok, str(report)
