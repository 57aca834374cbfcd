"""The schedules of d2lmini.schedules: equal to their torch.optim.lr_scheduler twins step by step, and the learning
rate an optimizer actually applies at each step equals the schedule that is plotted."""

from __future__ import annotations

import ast
import functools
import math
import warnings
from pathlib import Path

import pytest
import torch

import d2lmini
from d2lmini import benchmark, schedules
from d2lmini.optimizers import init_momentum_states, init_sgd_states, momentum, sgd

ROOT = Path(__file__).resolve().parent.parent
BASE_LR = 0.3
STEPS = 130  # past T_max and total_steps, where torch's cosine climbs back up

CONFIGS = {
    "constant": {},
    "step": {"step_size": 7, "gamma": 0.5},
    "multistep": {"milestones": [10, 25, 40], "gamma": 0.3},
    "exponential": {"gamma": 0.93},
    "cosine": {"T_max": 40, "eta_min": 0.001},
    "warmup_cosine": {"warmup_steps": 8, "total_steps": 50, "start_factor": 0.1, "eta_min": 0.0},
}


def schedule_of(name: str):
    return functools.partial(schedules.SCHEDULES[name], base_lr=BASE_LR, **CONFIGS[name])


def twin_of(name: str):
    return lambda opt: schedules.torch_scheduler(name, opt, **CONFIGS[name])


def assert_close_lists(ours: list[float], theirs: list[float], what: str) -> None:
    assert len(ours) == len(theirs), what
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert abs(a - b) <= 1e-12 * BASE_LR, f"{what}: step {t}: {a!r} != {b!r}"


def test_every_schedule_is_configured() -> None:
    assert set(CONFIGS) == set(schedules.SCHEDULES)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_from_scratch_equals_torch_twin_and_is_the_lr_used(name: str) -> None:
    plotted = [schedule_of(name)(t) for t in range(STEPS)]
    used = schedules.used_lrs(twin_of(name), BASE_LR, STEPS)  # measured from the parameter's displacement
    assert_close_lists(plotted, used, f"{name}: schedule vs lr used by torch.optim.SGD + scheduler")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_param_group_lr_read_before_step_is_the_lr_applied(name: str) -> None:
    recorded: list[float] = []
    opt_class = schedules.with_scheduler(torch.optim.SGD, twin_of(name), recorded)
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = opt_class([p], lr=BASE_LR)
    applied = []
    for _ in range(STEPS):
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        opt.step()
        applied.append(-p.item())
    assert recorded == applied
    assert_close_lists([schedule_of(name)(t) for t in range(STEPS)], recorded, f"{name}: with_scheduler")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_scheduled_from_scratch_update_receives_the_schedule(name: str) -> None:
    passed: list[float] = []
    recorded: list[float] = []
    hyperparams = {"lr": 123.0}
    step = schedules.scheduled(lambda params, states, hp: passed.append(hp["lr"]), schedule_of(name), recorded)
    for _ in range(STEPS):
        step([], None, hyperparams)
    assert hyperparams == {"lr": 123.0}, "scheduled() must not modify the caller's hyperparams"
    assert passed == recorded == [schedule_of(name)(t) for t in range(STEPS)]


@pytest.mark.parametrize("name", ["step", "warmup_cosine"])
def test_scheduler_before_optimizer_skips_the_first_value(name: str) -> None:
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        wrong = schedules.used_lrs(twin_of(name), BASE_LR, 60, scheduler_first=True)
    plotted = [schedule_of(name)(t) for t in range(61)]
    assert_close_lists(plotted[1:], wrong, f"{name}: wrong order")
    assert any(abs(a - b) > 1e-6 for a, b in zip(plotted[:60], wrong)), "the wrong order must differ from the plot"


def test_schedule_values() -> None:
    assert schedules.step_lr(13, 1.0, step_size=5, gamma=0.5) == 0.25
    assert schedules.multistep_lr(10, 1.0, [10, 20], gamma=0.1) == pytest.approx(0.1)
    assert schedules.multistep_lr(9, 1.0, [10, 20], gamma=0.1) == 1.0
    assert schedules.cosine_lr(50, 1.0, T_max=50, eta_min=0.1) == pytest.approx(0.1)
    assert schedules.cosine_lr(25, 1.0, T_max=50) == pytest.approx(0.5)
    assert schedules.warmup_cosine_lr(0, 1.0, 4, 10, start_factor=0.25) == 0.25
    assert schedules.warmup_cosine_lr(4, 1.0, 4, 10, start_factor=0.25) == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: schedules.step_lr(-1, 0.1, 5), "epoch"),
    (lambda: schedules.step_lr(1, 0.1, 0), "step_size"),
    (lambda: schedules.multistep_lr(1, 0.1, [20, 10]), "increasing"),
    (lambda: schedules.cosine_lr(1, 0.1, 0), "T_max"),
    (lambda: schedules.warmup_cosine_lr(1, 0.1, 10, 10), "total_steps"),
    (lambda: schedules.warmup_cosine_lr(1, 0.1, 2, 10, start_factor=0.0), "start_factor"),
    (lambda: schedules.torch_scheduler("linear", torch.optim.SGD([torch.zeros(1, requires_grad=True)])), "unknown"),
])
def test_clear_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_airfoil_from_scratch_and_torch_train_on_the_same_schedule() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=100)
    steps_per_epoch = len(data_iter)
    schedule = functools.partial(schedules.step_lr, base_lr=0.1, step_size=steps_per_epoch, gamma=0.5)
    ours: list[float] = []
    theirs: list[float] = []
    a = d2lmini.train_ch11(schedules.scheduled(sgd, schedule, ours), init_sgd_states, {"lr": 0.1}, data_iter,
                           feature_dim, num_epochs=3, plot=False)
    twin = schedules.with_scheduler(
        torch.optim.SGD, lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=steps_per_epoch, gamma=0.5),
        theirs)
    b = d2lmini.train_concise_ch11(twin, {"lr": 0.1}, data_iter, num_epochs=3, plot=False)
    assert_close_lists(ours, [schedule(t) for t in range(3 * steps_per_epoch)], "from scratch")
    assert_close_lists(theirs, ours, "torch.optim.SGD + StepLR")
    assert a.final_loss == pytest.approx(b.final_loss, rel=1e-5)


def test_benchmark_run_records_the_lr_used() -> None:
    task = benchmark.linear10_task(steps=40)
    schedule = functools.partial(schedules.warmup_cosine_lr, base_lr=0.5, warmup_steps=5, total_steps=40)
    r = benchmark.run(task, "momentum", 0.5, seed=0, device="cpu", make_scheduler=lambda opt: schedules.torch_scheduler(
        "warmup_cosine", opt, warmup_steps=5, total_steps=40))
    assert len(r.lrs) == 40
    assert_close_lists(r.lrs, [schedule(t) for t in range(40)], "benchmark.run")


def test_momentum_forms_agree_only_at_constant_lr() -> None:
    kw = {"milestones": [10, 20], "gamma": 0.1}
    schedule = functools.partial(schedules.multistep_lr, base_lr=0.1, **kw)
    twin = schedules.with_scheduler(torch.optim.SGD, lambda opt: schedules.torch_scheduler("multistep", opt, **kw))
    hp = {"lr": 0.1, "momentum": 0.9}
    torch_form = d2lmini.check_equivalence(init_momentum_states, schedules.scheduled(momentum, schedule), twin, hp)
    constant = d2lmini.check_equivalence(schedules.init_momentum_lr_inside_states, schedules.momentum_lr_inside,
                                         torch.optim.SGD, hp)
    inside = d2lmini.check_equivalence(schedules.init_momentum_lr_inside_states,
                                       schedules.scheduled(schedules.momentum_lr_inside, schedule), twin, hp)
    corrected = d2lmini.check_equivalence(schedules.init_momentum_lr_inside_states,
                                          schedules.scheduled(schedules.momentum_corrected, schedule), twin, hp)
    assert torch_form.ok and constant.ok and corrected.ok
    assert not inside.ok and inside.max_delta > 1e-3
    assert max(inside.deltas[:10]) <= 1e-12  # equal until the first drop of the learning rate


def test_benchmark_is_reproducible() -> None:
    task = benchmark.linear10_task(steps=30)
    a, b = (benchmark.run(task, "adam", 0.01, seed=1, device="cpu") for _ in range(2))
    c = benchmark.run(task, "adam", 0.01, seed=2, device="cpu")
    assert a.losses == b.losses and a.test_loss == b.test_loss
    assert a.losses != c.losses


def test_benchmark_marks_divergence() -> None:
    r = benchmark.run(benchmark.surface_task(steps=50), "sgd", 1.0, seed=0, device="cpu")
    assert r.diverged and math.isnan(r.train_loss)
    assert benchmark.mean_final_loss([r]) == math.inf


def _functions(source: str) -> dict[str, str]:
    return {node.name: ast.dump(node) for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}


def test_chapter_defines_the_momentum_forms_as_the_module() -> None:
    nbformat = pytest.importorskip("nbformat")
    path = ROOT / "chapters" / "lr_schedules.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not c.source.lstrip().startswith("%"))
    in_chapter = _functions(code)
    module = _functions(Path(schedules.__file__).read_text())
    for name in ("init_momentum_lr_inside_states", "momentum_lr_inside", "momentum_corrected"):
        assert name in in_chapter, f"{path.name} must define {name}"
        assert in_chapter[name] == module[name], f"{name} in {path.name} differs from d2lmini/schedules.py"


def test_used_lrs_sees_no_warning_in_torch_order() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedules.used_lrs(twin_of("warmup_cosine"), BASE_LR, 20)


def test_with_scheduler_survives_when_only_step_is_kept() -> None:
    import gc

    recorded: list[float] = []
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    step = schedules.with_scheduler(torch.optim.SGD, twin_of("step"), recorded)([p], lr=BASE_LR).step
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(10):
            p.grad = torch.ones_like(p)
            step()
    assert_close_lists(recorded, [schedule_of("step")(t) for t in range(10)], "only .step kept")
