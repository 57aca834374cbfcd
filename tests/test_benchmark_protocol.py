"""The benchmark's protocol: the batched sweep makes the same runs as one run at a time, divergence is recorded the
same way, and ``stop_below`` stops a timing run where the full run first reaches the target.

No test here times anything: the batched runs' ``seconds`` are those of the whole batch, by design.
"""

from __future__ import annotations

import math

import pytest

from d2lmini import TWINS, benchmark

SMALL_TASKS = {
    "airfoil": lambda: benchmark.airfoil_task(steps=40),
    "digits": lambda: benchmark.digits_task(steps=30),
    "linear10": lambda: benchmark.linear10_task(steps=40),
    "rosenbrock": lambda: benchmark.surface_task(steps=40),
}


# The batched and the single runs differ only in the rounding of float32 matrix products (vmap'd against plain), and
# that rounding changes with torch's kernels: 30 steps on the digits differed by 3.6e-5 of the loss under torch 2.14.
# A real batching bug (a wrong learning rate, seed or batch order for some copy) changes losses by far more than
# 1e-3 of the loss: see test_the_comparison_catches_a_run_from_another_configuration.
TOL = 1e-4


def assert_same_run(batched: benchmark.Run, single: benchmark.Run, tol: float = TOL) -> None:
    """Same identity, records, divergence and final metrics; losses equal up to ``tol`` times the initial loss or the
    loss itself, whichever is larger (non-finite where the single run's is)."""
    assert (batched.task, batched.optimizer, batched.lr, batched.seed) == (
        single.task, single.optimizer, single.lr, single.seed)
    assert batched.diverged == single.diverged
    assert batched.steps == single.steps
    assert batched.lrs == single.lrs
    scale = max(abs(single.losses[0]), 1e-12)
    for a, b in zip(batched.losses, single.losses):
        if not math.isfinite(b):
            assert not math.isfinite(a), (batched.optimizer, batched.lr, batched.seed, a, b)
            continue
        assert abs(a - b) <= tol * max(scale, abs(b)), (batched.optimizer, batched.lr, batched.seed, a, b)
    for key in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        a, b = getattr(batched, key), getattr(single, key)
        assert math.isnan(a) == math.isnan(b), key
        if not math.isnan(b):
            assert abs(a - b) <= tol * max(abs(b), scale), (key, a, b)


@pytest.mark.parametrize("name", list(SMALL_TASKS))
def test_batched_sweep_makes_the_single_runs(name: str) -> None:
    task = SMALL_TASKS[name]()
    lrs, seeds = [0.001, 0.03], [0, 3]
    batched = benchmark.sweep([task], list(TWINS), lrs, seeds, device="cpu")
    single = benchmark.sweep([task], list(TWINS), lrs, seeds, device="cpu", batched=False)
    assert len(batched) == len(single) == len(TWINS) * len(lrs) * len(seeds)
    for b, s in zip(batched, single):
        assert_same_run(b, s)


@pytest.mark.parametrize("name", list(SMALL_TASKS))
def test_the_comparison_catches_a_run_from_another_configuration(name: str) -> None:
    """The negative control: a run with the neighbouring learning rate, or another seed, fails the comparison."""
    task = SMALL_TASKS[name]()
    base = benchmark.run(task, "adam", 0.01, seed=0, device="cpu")
    for other in (benchmark.run(task, "adam", 0.0125, seed=0, device="cpu"),
                  benchmark.run(task, "adam", 0.01, seed=1, device="cpu")):
        other.lr, other.seed = base.lr, base.seed  # same identity, different numbers
        with pytest.raises(AssertionError):
            assert_same_run(other, base)


def test_sweep_order_is_task_optimizer_lr_seed() -> None:
    tasks = [benchmark.linear10_task(steps=10), benchmark.surface_task(steps=10)]
    runs = benchmark.sweep(tasks, ["sgd", "adam"], [0.01, 0.1], [0, 1, 2], device="cpu")
    expected = [(t.name, o, lr, s) for t in tasks for o in ("sgd", "adam") for lr in (0.01, 0.1) for s in (0, 1, 2)]
    assert [(r.task, r.optimizer, r.lr, r.seed) for r in runs] == expected


def test_divergence_in_a_batch_is_recorded_and_leaves_the_other_runs_alone() -> None:
    task = benchmark.surface_task(steps=50)
    batched = benchmark.run_batch(task, "sgd", [0.001, 1.0], [0, 1], device="cpu")
    assert [r.diverged for r in batched] == [False, False, True, True]
    assert all(benchmark.mean_final_loss([r]) == math.inf for r in batched[2:])
    for b in batched:
        assert_same_run(b, benchmark.run(task, "sgd", b.lr, b.seed, device="cpu"))


def test_digits_divergence_matches_single_runs() -> None:
    task = benchmark.digits_task(steps=30)
    batched = benchmark.run_batch(task, "sgd", [0.1, 10.0], [0], device="cpu")
    assert [r.diverged for r in batched] == [False, True]
    for b in batched:
        assert_same_run(b, benchmark.run(task, "sgd", b.lr, b.seed, device="cpu"))


def test_stop_below_stops_where_the_full_run_reaches_the_target() -> None:
    task = benchmark.linear10_task(steps=100)
    full = benchmark.run(task, "adam", 0.1, seed=1, device="cpu")
    target = full.losses[0] - 0.9 * (full.losses[0] - min(full.losses))
    reached = full.steps_to(target)
    assert reached is not None and reached < task.steps
    timed = benchmark.run(task, "adam", 0.1, seed=1, device="cpu", stop_below=target)
    assert timed.steps[-1] == reached == timed.steps_to(target)
    assert timed.losses == full.losses[:len(timed.losses)]
    assert timed.seconds_to(target) == timed.seconds[-1]


def test_the_tasks_name_the_way_to_train_other_optimizers() -> None:
    with pytest.raises(ValueError, match="d2lmini.build"):
        benchmark.run_batch(benchmark.surface_task(steps=5), "muon", [0.01], [0], device="cpu")
    with pytest.raises(ValueError, match="d2lmini.build"):
        benchmark.run(benchmark.surface_task(steps=5), "lion", 0.01, 0, device="cpu")


def test_run_batch_rejects_bad_eval_every() -> None:
    with pytest.raises(ValueError, match="eval_every"):
        benchmark.run_batch(benchmark.surface_task(steps=5), "sgd", [0.01], [0], device="cpu", eval_every=0)
