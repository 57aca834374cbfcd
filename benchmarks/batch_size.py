"""Batch size, learning rate and gradient noise on the benchmark's airfoil and digits tasks ("Noise and batch size").

    python -m benchmarks.batch_size                     # everything, about 15 minutes on one busy CPU core
    python -m benchmarks.batch_size --parts ceiling     # one part: ceiling, steps, noise or sharpness

Four measurements, all with plain SGD (``torch.optim.SGD``, no momentum) through :func:`d2lmini.benchmark.run_batch`,
so every run is fixed by (task, batch size, learning rate, seed) as in :mod:`d2lmini.benchmark`:

* ``ceiling``: the largest stable learning rate against the batch size B, on airfoil (linear regression) and on
  the digits MLP. Every B runs every learning rate of the grid ``CEILING_GRID`` (``10^(k/24)``: 10% apart) with
  seeds 0, 1, 2 for ``CEILING_STEPS`` steps; the full-training-set loss is stored every ``CEILING_EVERY`` steps. A
  learning rate is *stable* at B when, for every seed, the loss after ``CEILING_STEPS`` steps is finite and below
  the loss at step 0; the chapter takes the largest grid value below which every value is stable.
* ``steps``: the number of steps to reach a training loss, against B, on the digits MLP. Every B runs every
  learning rate of ``STEPS_GRID`` (``10^(k/8)``) with the three seeds for ``steps_cap(B)`` steps, recording the
  loss every ``steps_every(B)`` steps, and stores each run's first recorded step at or below each of ``TARGETS``.
* ``noise``: McCandlish et al.'s gradient noise scales along full-batch gradient descent (lr ``NOISE_LR``) on the
  digits MLP, seeds 0, 1, 2: at the first step whose training loss is at most each of ``NOISE_MARKS``, the simple
  noise scale ``B_simple = tr(Σ)/|G|²`` and ``B_noise = tr(HΣ)/(GᵀHG)`` from the 1000 per-example gradients (Σ
  their covariance, G their mean, H the Hessian of the training loss), the step size ``|G|²/(GᵀHG)`` that
  minimizes the quadratic model along G, and ``2/λ_max`` (power iteration on Hessian-vector products).
* ``sharpness``: full-batch gradient descent on the digits MLP (seed 0) at each of ``SHARPNESS_LRS`` for
  ``SHARPNESS_STEPS`` steps: the training loss at every step and ``2/λ_max`` every ``SHARPNESS_EVERY`` steps, by
  power iteration warm-started from the previous eigenvector (``SHARPNESS_ITERATIONS`` iterations; 100 at step 0).

The results go to ``benchmarks/results/batch_size-cpu.json`` with the protocol and the environment (torch, date,
CPU, threads). Each part replaces its own entry; the others are kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from d2lmini import benchmark
from d2lmini.training import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
PATH = RESULTS / "batch_size-cpu.json"
PARTS = ("ceiling", "steps", "noise", "sharpness")
SEEDS = (0, 1, 2)
#: Batch sizes; None is the full training set (1000 examples on both tasks).
BATCH_SIZES: tuple[int | None, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, None)
CEILING_GRID = {"airfoil": [10 ** (k / 24) for k in range(-36, 13)],  # 0.03 to 3.2
                "digits": [10 ** (k / 24) for k in range(-36, 25)]}  # 0.03 to 10
CEILING_STEPS, CEILING_EVERY = 200, 25
STEPS_GRID = [10 ** (k / 8) for k in range(-16, 5)]  # 0.01 to 3.2
TARGETS = (1.0, 0.5, 0.3, 0.2, 0.1)
NOISE_LR = 1.0
NOISE_MARKS = (3.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.05)
SHARPNESS_LRS = (1.0, 10 ** (10 / 24), 10 ** (12 / 24), 10 ** (13 / 24))  # 1, 2.61, 3.16, 3.48 (CEILING_GRID)
SHARPNESS_STEPS, SHARPNESS_EVERY, SHARPNESS_ITERATIONS = 60, 2, 10


def tasks() -> dict[str, benchmark.Task]:
    return {"airfoil": benchmark.airfoil_task(), "digits": benchmark.digits_task()}


def steps_cap(batch_size: int | None) -> int:
    """The step budget of the steps-to-target runs: about four epochs' worth of examples at small B."""
    return max(100, 4000 // (batch_size or 1000))


def steps_every(batch_size: int | None) -> int:
    """How often those runs record the loss: every step up to 400 steps, then at most 400 records."""
    return max(1, steps_cap(batch_size) // 400)


def _label(batch_size: int | None) -> str:
    return "full" if batch_size is None else str(batch_size)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def measure_ceiling(task: benchmark.Task, lrs: Sequence[float], report: Any = print) -> dict[str, Any]:
    """The losses of every (B, lr, seed) run of the ceiling protocol: ``losses[B][i][j]`` for lr i and seed j,
    recorded at ``steps`` (a diverged run's list ends at its last record; non-finite values as None)."""
    out: dict[str, Any] = {"lrs": list(lrs), "steps": list(range(0, CEILING_STEPS + 1, CEILING_EVERY)),
                           "losses": {}}
    for B in BATCH_SIZES:
        tick = time.perf_counter()
        runs = benchmark.run_batch(dataclasses.replace(task, batch_size=B, steps=CEILING_STEPS), "sgd", lrs, SEEDS,
                                   eval_every=CEILING_EVERY)
        table = [[[_finite(v) for v in r.losses] for r in runs[i * len(SEEDS):(i + 1) * len(SEEDS)]]
                 for i in range(len(lrs))]
        out["losses"][_label(B)] = table
        report(f"  ceiling {task.name}, B = {_label(B)}: {time.perf_counter() - tick:.1f} s")
    return out


def measure_steps(task: benchmark.Task, report: Any = print) -> dict[str, Any]:
    """``steps_to[B][target][i][j]``: the first recorded step of lr i, seed j at or below the target (None if the
    run never got there within its budget, or diverged)."""
    out: dict[str, Any] = {"lrs": STEPS_GRID, "targets": list(TARGETS), "cap": {}, "every": {}, "steps_to": {}}
    for B in BATCH_SIZES:
        tick = time.perf_counter()
        cap, every = steps_cap(B), steps_every(B)
        runs = benchmark.run_batch(dataclasses.replace(task, batch_size=B, steps=cap), "sgd", STEPS_GRID, SEEDS,
                                   eval_every=every)
        per_lr = [runs[i * len(SEEDS):(i + 1) * len(SEEDS)] for i in range(len(STEPS_GRID))]
        out["cap"][_label(B)], out["every"][_label(B)] = cap, every
        out["steps_to"][_label(B)] = {str(t): [[r.steps_to(t) for r in seeds] for seeds in per_lr] for t in TARGETS}
        report(f"  steps {task.name}, B = {_label(B)}: {time.perf_counter() - tick:.1f} s")
    return out


# ---------------------------------------------------------------- noise scales

def _flat(model: nn.Module) -> tuple[torch.Tensor, Any]:
    """The parameters as one vector, and the function that turns a vector back into named tensors."""
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for _, p in model.named_parameters()]
    sizes, shapes = [p.numel() for p in params], [p.shape for p in params]

    def unflatten(theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: t.reshape(s) for n, t, s in zip(names, theta.split(sizes), shapes)}

    return torch.cat([p.reshape(-1) for p in params]), unflatten


def per_example_gradients(model: nn.Module, loss_fn: Any, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n, parameters): the gradient of each example's loss."""
    theta, unflatten = _flat(model)

    def loss(t: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, unflatten(t), (x[None],)), target[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(theta, X, y)


def hessian_vector_product(model: nn.Module, loss_fn: Any, X: torch.Tensor, y: torch.Tensor) -> Any:
    """``hvp(v)``: the Hessian of the mean loss over (X, y) at the model's parameters, times v."""
    theta, unflatten = _flat(model)
    gradient = grad(lambda t: loss_fn(functional_call(model, unflatten(t), (X,)), y))
    return lambda v: jvp(gradient, (theta,), (v,))[1]


def power_iteration(hvp: Any, v: torch.Tensor, iterations: int) -> tuple[float, torch.Tensor]:
    """The Rayleigh quotient after ``iterations`` steps of power iteration from ``v``, and the last vector."""
    value = math.nan
    for _ in range(iterations):
        v = v / v.norm()
        Hv = hvp(v)
        value = float(v @ Hv)
        v = Hv
    return value, v


def top_eigenvalue(hvp: Any, n: int, iterations: int = 100, seed: int = 0) -> float:
    """The largest eigenvalue of the Hessian, by power iteration from a random start (Rayleigh quotient)."""
    return power_iteration(hvp, torch.randn(n, generator=torch.Generator().manual_seed(seed)), iterations)[0]


def noise_scales(model: nn.Module, task: benchmark.Task) -> dict[str, float]:
    """B_simple, B_noise, |G|²/(GᵀHG) and 2/λ_max at the model's parameters, on the training set."""
    X, y = task.X_train, task.y_train
    G_i = per_example_gradients(model, task.loss_fn, X, y)
    G = G_i.mean(0)
    D = G_i - G
    hvp = hessian_vector_product(model, task.loss_fn, X, y)
    HD = torch.cat([vmap(hvp)(chunk) for chunk in D.split(100)])
    tr_sigma = float((D * D).sum(1).mean())
    tr_h_sigma = float((D * HD).sum(1).mean())
    gHg = float(G @ hvp(G))
    return {"tr_sigma": tr_sigma, "G2": float(G @ G), "B_simple": tr_sigma / float(G @ G),
            "tr_H_sigma": tr_h_sigma, "GHG": gHg, "B_noise": tr_h_sigma / gHg, "eps_max": float(G @ G) / gHg,
            "two_over_lambda_max": 2 / top_eigenvalue(hvp, len(G))}


def measure_noise(task: benchmark.Task, report: Any = print) -> dict[str, Any]:
    """The noise scales at the first step of full-batch gradient descent below each mark, for each seed."""
    out: dict[str, Any] = {"lr": NOISE_LR, "marks": list(NOISE_MARKS), "seeds": {}}
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = task.make_model()
        opt = torch.optim.SGD(model.parameters(), lr=NOISE_LR)
        marks, records = list(NOISE_MARKS), []
        for step in range(2000):
            loss = task.loss_fn(model(task.X_train), task.y_train)
            if loss.item() <= marks[0]:
                records.append({"mark": marks.pop(0), "step": step, "loss": loss.item(),
                                **noise_scales(model, task)})
                if not marks:
                    break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        out["seeds"][str(seed)] = records
        report(f"  noise scales, seed {seed}: {len(records)} marks")
    return out


def measure_sharpness(task: benchmark.Task, report: Any = print) -> dict[str, Any]:
    """Loss at every step and 2/λ_max every SHARPNESS_EVERY steps of full-batch gradient descent, per lr."""
    out: dict[str, Any] = {"seed": 0, "lrs": list(SHARPNESS_LRS), "every": SHARPNESS_EVERY, "runs": []}
    X, y = task.X_train, task.y_train
    for lr in SHARPNESS_LRS:
        torch.manual_seed(0)
        model = task.make_model()
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        losses, edges, v = [], [], None
        for step in range(SHARPNESS_STEPS + 1):
            loss = task.loss_fn(model(X), y)
            losses.append(_finite(loss.item()))
            if not math.isfinite(loss.item()) or loss.item() > 1e3:
                break
            if step % SHARPNESS_EVERY == 0:
                hvp = hessian_vector_product(model, task.loss_fn, X, y)
                if v is None:
                    v = torch.randn(len(_flat(model)[0]), generator=torch.Generator().manual_seed(0))
                value, v = power_iteration(hvp, v, 100 if step == 0 else SHARPNESS_ITERATIONS)
                edges.append(2 / value)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        out["runs"].append({"lr": lr, "losses": losses, "two_over_lambda_max": edges})
        report(f"  sharpness, lr = {lr:.3g}: {len(losses) - 1} steps")
    return out


def environment() -> dict[str, Any]:
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": 1,
            "python": platform.python_version(), "platform": platform.platform(),
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def load(path: Path = PATH) -> dict[str, Any]:
    """The stored results (``benchmarks/results/batch_size-cpu.json``)."""
    return json.loads(Path(path).read_text())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_size", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {PARTS}")
    parser.add_argument("--out", type=Path, default=PATH)
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown part(s) {sorted(unknown)}; expected some of {PARTS}")
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    if data and data.get("environment", {}).get("torch") != torch.__version__:
        raise SystemExit(f"{args.out} was made with torch {data['environment']['torch']}; this is "
                         f"{torch.__version__}: remove it to start over")
    data["environment"] = environment()
    data["protocol"] = {"optimizer": "torch.optim.SGD (no momentum)", "seeds": list(SEEDS),
                        "batch_sizes": [_label(B) for B in BATCH_SIZES], "ceiling_steps": CEILING_STEPS,
                        "stable": "every seed: loss after ceiling_steps finite and below the loss at step 0"}
    torch.set_num_threads(1)
    all_tasks = tasks()
    for part in parts:
        tick = time.perf_counter()
        if part == "ceiling":
            data["ceiling"] = {name: measure_ceiling(all_tasks[name], CEILING_GRID[name]) for name in CEILING_GRID}
        elif part == "steps":
            data["steps"] = {"digits": measure_steps(all_tasks["digits"])}
        elif part == "noise":
            data["noise"] = {"digits": measure_noise(all_tasks["digits"])}
        else:
            data["sharpness"] = {"digits": measure_sharpness(all_tasks["digits"])}
        data.setdefault("seconds", {})[part] = round(time.perf_counter() - tick, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        print(f"{part}: {time.perf_counter() - tick:.0f} s, written to {args.out}", flush=True)


if __name__ == "__main__":
    main()
