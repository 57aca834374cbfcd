"""Every declared optimizer equals its reference, for several models and hyperparameters, and the check can tell.

Everything here is parametrized over the declarations (``d2lmini.DECLARED``): the hyperparameter variants come from
each declaration's defaults, typical settings and flags, so a new declaration is tested without editing this file.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import d2lmini
from d2lmini import optimizers as opt
from d2lmini.checks import moved, variants
from d2lmini.optimizers import Spec

DECLARED = d2lmini.DECLARED


class _TwoInputs(nn.Module):
    """A bilinear layer and a layer norm, fed one input tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.bilinear, self.norm = nn.Bilinear(3, 3, 4), nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.bilinear(x, x.flip(-1)))


#: name → (model factory, input shape, whether every parameter is a 2-D matrix).
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "linear": (lambda: nn.Linear(5, 1), (5,)),
    "mlp": (lambda: nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    "conv": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)), (2, 6, 6)),
    "norm_and_bilinear": (_TwoInputs, (3,)),
    # matrices only, for Muon: a tall, a square and a wide weight
    "matrices": (lambda: nn.Sequential(nn.Linear(4, 12, bias=False), nn.Tanh(), nn.Linear(12, 12, bias=False),
                                       nn.Tanh(), nn.Linear(12, 3, bias=False)), (4,)),
}


def _models_for(spec: Spec) -> list[str]:
    if not spec.matrices_only:
        return sorted(MODELS)
    return [name for name, (make, _) in MODELS.items() if all(p.dim() == 2 for p in make().parameters())]


def _valid(spec: Spec, hp: dict[str, Any]) -> bool:
    try:
        spec.read(hp)
    except (TypeError, ValueError):
        return False
    return True


CASES = [(name, hp) for name, spec in DECLARED.items() for hp in variants(spec)]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def test_every_declaration_is_tested_in_several_settings() -> None:
    for name in DECLARED:
        assert sum(n == name for n, _ in CASES) >= 2, name


@pytest.mark.parametrize(("name", "hyperparams"), CASES, ids=CASE_IDS)
def test_equal_to_the_reference(name: str, hyperparams: dict[str, Any]) -> None:
    """Every variant on an MLP; the variant with every number moved on every model."""
    spec = DECLARED[name]
    models = _models_for(spec)
    every = hyperparams == variants(spec)[-1]
    for model_name in models if every else [m for m in models if m in ("mlp", "matrices")]:
        make, input_shape = MODELS[model_name]
        torch.manual_seed(0)
        report = d2lmini.check_equivalence(name, hyperparams, model=make(), input_shape=input_shape, steps=25)
        assert report.ok, f"{model_name}: {report}"
        assert len(report.deltas) == 25
        assert report.paths == (("for-loop", "foreach") if spec.foreach else ("default",))


@pytest.mark.parametrize("name", list(DECLARED))
def test_equal_for_random_valid_hyperparameters(name: str) -> None:
    """Numbers drawn around the declared defaults (log-uniform, ×0.2 to ×2; 0 → up to 0.1), flags at random."""
    spec, rng = DECLARED[name], random.Random(name)
    for trial in range(3):
        hp = dict(spec.typical)
        for key, default in spec.defaults.items():
            if key in spec.fixed or key in spec.typical:
                continue
            if isinstance(default, bool):
                candidate: Any = rng.random() < 0.5
            else:
                candidate = moved(default, 10 ** rng.uniform(-0.7, 0.3)) if default != 0 else rng.uniform(0, 0.1)
                if isinstance(default, int) and not isinstance(default, bool) and default != 0:
                    candidate = default + rng.choice([-1, 1])
            if _valid(spec, {**hp, key: candidate}):
                hp[key] = candidate
        report = d2lmini.check_equivalence(name, hp, seed=trial, steps=20)
        assert report.ok, f"{hp}: {report}"


@pytest.mark.parametrize("name", list(DECLARED))
def test_defaults_are_the_reference_defaults(name: str) -> None:
    parameters = inspect.signature(DECLARED[name].twin()).parameters
    for key, value in DECLARED[name].defaults.items():
        assert parameters[key].default == value, f"{name}.{key}"


#: Constants a perturbation cannot reach at these settings, and why.
INSENSITIVE: dict[tuple[str, str], str] = {
    ("sgd", "dampening"): "plain SGD (momentum 0) has no buffer to damp",
    ("adafactor", "eps"): "eps2 floors RMS(p) and eps1 the second moments, both far below them here; caught "
                          "on tiny weights and tiny gradients, below",
    ("muon", "eps"): "eps floors ‖u‖ in Newton–Schulz, far above it here; caught on tiny gradients, below",
}


def _perturbations(spec: Spec, hp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One wrong setting per number (each tuple entry alone: ×4, or ÷4 where ×4 is invalid; a number in (0.5, 1)
    a quarter or twice as far from 1; 0 → 0.05; an integer + 1) and per flag (flipped)."""
    wrong = []
    for key, value in hp.items():
        if key in spec.fixed or (spec.name, key) in INSENSITIVE:
            continue
        slots = list(range(len(value))) if isinstance(value, (tuple, list)) else [None]
        for slot in slots:
            v = value if slot is None else value[slot]
            if v is None or isinstance(v, str):
                continue
            options = ([not v] if isinstance(v, bool) else [v + 1] if isinstance(v, int)
                       else [0.05] if v == 0 else [1 - (1 - v) / 4, 1 - 2 * (1 - v)] if 0.5 < v < 1
                       else [4 * v, v / 4])
            for w in options:
                new = w if slot is None else type(value)(w if i == slot else x for i, x in enumerate(value))
                if _valid(spec, {**hp, key: new}):
                    wrong.append((f"{key}{'' if slot is None else f'[{slot}]'}", {**hp, key: new}))
                    break
    return wrong


@pytest.mark.parametrize("name", list(DECLARED))
def test_the_check_catches_every_wrong_constant(name: str) -> None:
    """Negative controls: the from-scratch update run with one constant wrong is NOT equal to the reference, for
    every constant, in the setting with every number moved off its default or in the typical one (a clipping
    threshold, say, acts only near its default)."""
    spec = DECLARED[name]
    bases = [variants(spec)[-1], dict(spec.typical)]
    tried: dict[str, list[str]] = {}
    caught: set[str] = set()
    for hp in bases:
        assert d2lmini.check_equivalence(name, hp).ok
        for label, bad in _perturbations(spec, spec.read(hp)):
            if label in caught:
                continue

            def mistaken(params, states, hyperparams, bad=bad):  # the reference still gets hp
                spec.update(params, states, bad)

            report = d2lmini.check_equivalence(name, hp, update=mistaken)
            tried.setdefault(label, []).append(str(report))
            if not report.ok:
                assert "NOT equal" in str(report)
                caught.add(label)
    assert tried
    missed = {label: reports for label, reports in tried.items() if label not in caught}
    assert not missed, f"{name}: wrong constants passed as equal: {missed}"


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


@pytest.mark.parametrize(("name", "hp", "wrong", "model"), [
    # weights of RMS ~1e-5 < eps2 = 1e-3: the step is eps2·ρ_t, so eps2 shows
    ("adafactor", {"lr": 0.01}, {"eps": (None, 4e-3)},
     lambda: _scaled(nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)), 1e-5)),
    # inputs ×1e-12: second moments ~1e-24 fall below eps1² = 1e-20 (the default: machine epsilon², ~5e-32)
    ("adafactor", {"lr": 0.01}, {"eps": (1e-10, 1e-3)},
     lambda: nn.Sequential(_Scale(1e-12), nn.Linear(5, 8, bias=False), nn.Tanh(), nn.Linear(8, 3, bias=False))),
    # inputs ×1e-12: gradients, hence ‖u‖, fall below eps = 1e-7, which then sets the scale of Newton–Schulz
    ("muon", {"lr": 0.01}, {"eps": 4e-7},
     lambda: nn.Sequential(_Scale(1e-12), nn.Linear(5, 8, bias=False), nn.Tanh(), nn.Linear(8, 3, bias=False))),
], ids=["adafactor-eps2", "adafactor-eps1", "muon-eps"])
def test_the_check_catches_eps_where_it_acts(name: str, hp: dict, wrong: dict, model: Callable) -> None:
    """The constants the perturbation test cannot reach on ordinary models, caught where they act."""
    spec = DECLARED[name]
    torch.manual_seed(0)
    assert d2lmini.check_equivalence(name, hp, model=model()).ok

    def mistaken(params, states, hyperparams):
        spec.update(params, states, {**hyperparams, **wrong})

    torch.manual_seed(0)
    report = d2lmini.check_equivalence(name, hp, model=model(), update=mistaken)
    assert not report.ok, str(report)


def _scaled(model: nn.Module, factor: float) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def _rmsprop_eps_inside(params, states, hyperparams):  # the common mistake: eps under the square root
    hp = opt.read_hyperparams("rmsprop", hyperparams)
    with torch.no_grad():
        for p, state in zip(params, states):
            v = state["square_avg"]
            v.mul_(hp["alpha"]).add_((1 - hp["alpha"]) * p.grad * p.grad)
            p.sub_(hp["lr"] * p.grad / (v + hp["eps"]).sqrt())


def test_the_check_catches_eps_inside_the_root_and_the_old_form_still_works() -> None:
    report = d2lmini.check_equivalence(opt.init_rmsprop_states, _rmsprop_eps_inside, torch.optim.RMSprop,
                                       {"lr": 0.01})
    assert not report.ok and report.max_delta > 1e-10
    control = d2lmini.check_equivalence(opt.init_rmsprop_states, opt.rmsprop, torch.optim.RMSprop, {"lr": 0.01})
    assert control.ok and control.paths == ("for-loop", "foreach")
    assert str(control).startswith("rmsprop = torch.optim.RMSprop (for-loop+foreach, 30 steps):\n  largest |Δθ| = ")
    assert str(control).endswith(" ≤ 1e-12, equal")
    assert str(report).endswith(", NOT equal")


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
    assert not d2lmini.check_equivalence("momentum", hp, update=ema_momentum).ok
    assert d2lmini.check_equivalence(opt.momentum, hp).ok


def test_paths_are_chosen_and_reported() -> None:
    report = d2lmini.check_equivalence("adam", {}, paths=["foreach"], steps=3)
    assert report.paths == ("foreach",) and set(report.by_path) == {"foreach"}
    with pytest.raises(ValueError, match="paths"):
        d2lmini.check_equivalence("adam", {}, paths=["fused-ish"])
    with pytest.raises(ValueError, match="unknown optimizer"):
        d2lmini.check_equivalence("adamm", {})
    with pytest.raises(TypeError, match="4 positional"):
        d2lmini.check_equivalence(opt.init_adam_states, opt.adam, {})


def test_registries_are_derived_from_the_declarations() -> None:
    assert list(opt.OPTIMIZERS) == list(opt.SPECS) == list(DECLARED)[:8]
    for name, spec in DECLARED.items():
        assert spec.name == name and spec.update.spec is spec
        assert spec.update.__name__ == name and spec.init.__name__ == f"init_{name}_states"
        assert set(spec.checks) == set(spec.defaults)
    for name, spec in opt.SPECS.items():
        assert opt.OPTIMIZERS[name] == (spec.init, spec.update)
        assert opt.TWINS[name] is spec.twin() and opt.DEFAULTS[name] == spec.defaults
    with pytest.raises(TypeError):
        opt.DEFAULTS["adam"]["lr"] = 1.0  # type: ignore[index]  # read-only: no global mutable state


@pytest.mark.parametrize("name", list(DECLARED))
def test_declared_state_is_the_state_kept(name: str) -> None:
    """The declaration's buffers (the memory table's source) are the tensors the from-scratch state holds."""
    spec = DECLARED[name]
    for hp in variants(spec):
        make, _ = MODELS["matrices" if spec.matrices_only else "mlp"]
        params = list(make().parameters())
        for p in params:
            p.grad = torch.randn_like(p)
        states = spec.init(params)
        for _ in range(2):
            spec.update(params, states, hp)
        for p, state in zip(params, states):
            kept = {k: t.numel() for k, t in state.items() if torch.is_tensor(t) and t.numel() > 1}
            declared = {k: n for k, n in spec.state_sizes(p.shape, hp).items() if n > 1}
            assert kept == declared, f"{name} {hp} {tuple(p.shape)}"


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
    ("nesterov", {"momentum": 0.0, "nesterov": True}, ValueError, "'momentum' must be finite and in \\(0, 1\\)"),
    ("adagrad", {"lr_decay": -1.0}, ValueError, "'lr_decay'"),
    ("adagrad", {"initial_accumulator_value": -0.1}, ValueError, "'initial_accumulator_value'"),
    ("rmsprop", {"alpha": 1.2}, ValueError, "'alpha'"),
    ("rmsprop", {"gamma": 0.9}, ValueError, "unknown hyperparameter.*alpha"),
    ("rmsprop", {"eps": -1e-8}, ValueError, "'eps'"),
    ("adadelta", {"rho": -0.5}, ValueError, "'rho'"),
    ("adam", {"betas": (0.9, 1.0)}, ValueError, "'beta' must be finite and in \\[0, 1\\)"),
    ("adam", {"betas": 0.9}, TypeError, "pair"),
    ("adam", {"t": 1}, ValueError, "unknown hyperparameter"),
    ("adam", {"maximize": True}, ValueError, "other options are not implemented"),
    ("adamw", {"weight_decay": -0.01}, ValueError, "'weight_decay'"),
    ("adamw", {"amsgrad": "yes"}, TypeError, "True or False"),
]


@pytest.mark.parametrize(("name", "hp", "error", "message"), BAD_HYPERPARAMS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(BAD_HYPERPARAMS)])
def test_bad_hyperparameters_are_clear_errors(name: str, hp: dict[str, Any], error: type, message: str) -> None:
    spec = DECLARED[name]
    p = torch.zeros(2, 2, requires_grad=True)
    p.grad = torch.ones(2, 2)
    before = p.detach().clone()
    with pytest.raises(error, match=message):
        spec.update([p], spec.init([p]), hp)
    assert torch.equal(p.detach(), before)
    if not _valid(spec, {**spec.typical, **hp}):  # build starts from the typical settings (nesterov=True, …)
        with pytest.raises(error, match=message):
            d2lmini.build(name, [torch.zeros(2, 2, requires_grad=True)], **hp)


@pytest.mark.parametrize("name", list(DECLARED))
def test_every_declaration_rejects_unknown_and_badly_typed_hyperparameters(name: str) -> None:
    spec = DECLARED[name]
    p = torch.zeros(2, 2, requires_grad=True)
    p.grad = torch.ones(2, 2)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        spec.update([p], spec.init([p]), {"no_such_option": 1.0})
    for key, default in spec.defaults.items():
        if key in spec.fixed:
            continue
        bad = "yes" if isinstance(default, bool) else object()
        with pytest.raises((TypeError, ValueError), match=f"'{key}' must be"):
            spec.update([p], spec.init([p]), {**spec.typical, key: bad})


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
        opt.read_hyperparams("no_such_optimizer", {})


def test_a_declaration_needs_a_check_for_every_hyperparameter() -> None:
    with pytest.raises(TypeError, match="no check for hyperparameter 'gamma'"):
        opt.declare(reference="torch.optim.SGD", init=opt.init_sgd_states, defaults=dict(lr=0.1, gamma=0.5))(
            lambda params, states, hp: None)


def test_a_missing_reference_names_what_it_needs() -> None:
    spec = opt.declare(reference="torch.optim.NoSuchOptimizer", init=opt.init_sgd_states, defaults=dict(lr=0.1),
                       requires="torch>=99")(opt.sgd.spec.rule).spec
    with pytest.raises(ImportError, match="torch.optim.NoSuchOptimizer is not available.*needs torch>=99"):
        spec.twin()


@pytest.mark.parametrize("name", list(DECLARED))
def test_build_gives_the_reference_ready_to_train(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = d2lmini.build(name, model, lr=1e-3)
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert {id(p) for group in optimizer.param_groups for p in group["params"]} == {id(p) for p in model.parameters()}
    assert all(group["lr"] == 1e-3 for group in optimizer.param_groups)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    X, y = torch.randn(32, 4), torch.randn(32, 1)
    before = nn.functional.mse_loss(model(X), y).item()
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X), y).backward()
        optimizer.step()
        scheduler.step()
    assert all(group["lr"] == pytest.approx(1e-3 / 8) for group in optimizer.param_groups)
    if DECLARED[name].train_eval is not None:
        optimizer.eval()
    assert nn.functional.mse_loss(model(X), y).item() != before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on CI; run where one is lent)")
@pytest.mark.parametrize(("name", "hyperparams"), CASES, ids=CASE_IDS)
def test_equal_to_the_reference_on_cuda(name: str, hyperparams: dict[str, Any]) -> None:
    """On CUDA the reference's default path is foreach: multi-tensor kernels that may round differently (fused
    multiply-adds); both paths are checked. In float64 such rounding stays near 1e-16, far inside 1e-12."""
    spec = DECLARED[name]
    make, input_shape = MODELS["matrices" if spec.matrices_only else "mlp"]
    torch.manual_seed(0)
    report = d2lmini.check_equivalence(name, hyperparams, model=make(), input_shape=input_shape, device="cuda",
                                       steps=25)
    assert report.ok, str(report)


def test_references_are_imported_only_when_needed() -> None:
    import subprocess
    import sys

    code = ("import sys, d2lmini, d2lmini.checks, d2lmini.benchmark; "
            "print(sorted(m for m in ('lion_pytorch', 'schedulefree') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_older_torch_gets_a_clear_error_and_the_from_scratch_rule_still_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for attr, version in (("Muon", "torch>=2.9"), ("Adafactor", "torch>=2.5")):
        monkeypatch.delattr(torch.optim, attr)
        name = attr.lower()
        with pytest.raises(ImportError, match=f"torch.optim.{attr} is not available.*needs {version}"):
            d2lmini.check_equivalence(name, {})
        p = torch.ones(3, 2, requires_grad=True)
        p.grad = torch.ones(3, 2)
        DECLARED[name].update([p], DECLARED[name].init([p]), {"lr": 0.1})
        assert not torch.equal(p.detach(), torch.ones(3, 2))


def test_muon_takes_matrices_only() -> None:
    bias = torch.zeros(3, requires_grad=True)
    bias.grad = torch.ones(3)
    with pytest.raises(ValueError, match="2-D weight matrices only"):
        d2lmini.beyond.muon([bias], d2lmini.beyond.init_muon_states([bias]))
    with pytest.raises(ValueError, match="2-D weight matrices only.*shapes \\[\\(3,\\), \\(8,\\)\\]"):
        d2lmini.check_equivalence("muon", {}, model=nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)))


def test_muon_with_adamw_splits_a_model_and_shares_one_lr() -> None:
    model = nn.Sequential(nn.Embedding(10, 6), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.LayerNorm(8),
                          nn.Linear(8, 10))
    optimizer = d2lmini.build("muon", model, lr=0.02, weight_decay=0.05)
    muon_group, adamw_group = optimizer.param_groups
    assert [tuple(p.shape) for p in muon_group["params"]] == [(8, 6), (8, 8)]  # hidden matrices
    assert {tuple(p.shape) for p in adamw_group["params"]} == {(10, 6), (8,), (10, 8), (10,)}  # the rest
    assert muon_group["adjust_lr_fn"] == "match_rms_adamw" and muon_group["lr"] == adamw_group["lr"] == 0.02
    assert muon_group["weight_decay"] == adamw_group["weight_decay"] == 0.05
    tokens = torch.randint(0, 10, (4, 5))
    model(tokens).logsumexp(-1).mean().backward()
    optimizer.step()
    restored = d2lmini.build("muon", model, lr=0.02, weight_decay=0.05)
    restored.load_state_dict(optimizer.state_dict())
    assert len(restored.state) == len(optimizer.state) == len(list(model.parameters()))


def test_schedule_free_modes() -> None:
    spec = DECLARED["adamw_schedulefree"]
    to_train, to_eval = spec.train_eval
    assert not spec.schedule
    p = torch.ones(4, requires_grad=True)
    states = spec.init([p])
    for _ in range(3):
        p.grad = torch.arange(4.0)
        spec.update([p], states, {"lr": 0.1})
    y = p.detach().clone()
    to_eval([p], states)
    x = p.detach().clone()
    assert not torch.equal(x, y)
    with pytest.raises(ValueError, match="evaluation mode; call adamw_schedulefree_train"):
        spec.update([p], states, {"lr": 0.1})
    to_eval([p], states)  # twice: no change, as the library's eval()
    assert torch.equal(p.detach(), x)
    to_train([p], states)
    assert torch.allclose(p.detach(), y, atol=1e-6)
