"""The optimizer sweep on the character-level transformer of "Optimizers on a real network".

    python -m benchmarks.transformer                       # the eight classic optimizers, CPU, 1 thread
    python -m benchmarks.transformer --optimizers adam,sgd --seeds 0,1,2
    python -m benchmarks.transformer --probes              # the "why" probes (needs Adam's runs)
    python -m benchmarks.transformer --device cuda         # the same runs on a GPU, in their own file

The protocol: every optimizer trains the task of :func:`d2lmini.transformer.char_lm_task` (the same model, batches,
step budget and warmup + cosine schedule) at learning rates from one grid, ``10^(k/2)``: half a decade apart. It
starts from a window of at least five grid values; while the best value (lowest mean final validation loss over
the seeds, :func:`d2lmini.benchmark.best_lr`) lies on an edge of what was run, the next grid value beyond that edge
runs too. Every (optimizer, learning rate) runs with every seed.

Results are written after each learning rate to ``benchmarks/results/transformer-<device>.json``: the task and
protocol, the environment (torch, device, CPU, threads, date), each session's wall time and load, and every run.
Running again only runs what is missing, so adding an optimizer or a seed extends the stored sweep. The stored
runs come from one setup: a file made with another torch version, device or thread count is refused (``--fresh``
starts over).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from d2lmini import DECLARED, benchmark
from d2lmini import transformer as tr
from d2lmini.training import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
CLASSIC = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
#: The optimizers beyond AdamW (d2lmini.beyond).
BEYOND = ("nadam", "radam", "adafactor", "muon", "lion", "adamw_schedulefree")
#: The probes of the chapter's "why" section (see :func:`factory`).
PROBES = ("momentum_blocks", "adam_tensor", "adam_row")
#: The first grid values, as exponents k of lr = 10^(k/2): 1e-3 to 1 for the classic optimizers.
#: The others start around their usual range: Lion's lr is 3 to 10 times below AdamW's, Muon's matches AdamW's
#: (``adjust_lr_fn="match_rms_adamw"``), Adafactor's is relative to each weight's RMS.
START: dict[str, range] = {**{name: range(-6, 1) for name in CLASSIC},
                           **{name: range(-7, -2) for name in ("nadam", "radam", "muon", "adamw_schedulefree")},
                           "lion": range(-9, -4), "adafactor": range(-6, 1),
                           "momentum_blocks": range(-6, 0), "adam_tensor": range(-7, -2), "adam_row": range(-7, -2)}
K_RANGE = range(-12, 5)  # the grid never goes below 1e-6 or above 100
SEEDS = (0, 1, 2)


def lr_of(k: int) -> float:
    """The grid's learning rate ``10^(k/2)``."""
    return float(10.0 ** (k / 2))


def k_of(lr: float) -> int:
    """The grid exponent of a grid learning rate."""
    k = round(2 * math.log10(lr))
    if lr_of(k) != lr:
        raise ValueError(f"{lr!r} is not a grid learning rate 10^(k/2)")
    return k


def default_path(device: str) -> Path:
    return RESULTS / f"transformer-{device}.json"


def task_record(task: tr.CharLMTask) -> dict[str, Any]:
    """What fixes the runs, besides optimizer, learning rate and seed."""
    return {"config": asdict(task.config), "batch_size": task.batch_size, "steps": task.steps,
            "warmup": task.warmup, "n_val_windows": len(task.val_starts), "eval_every": task.eval_every,
            "schedule": "warmup_cosine (start_factor 0.1, eta_min 0)", "threads": 1,
            "n_params": sum(p.numel() for p in task.make_model().parameters())}


def environment(device: torch.device) -> dict[str, Any]:
    """The setup that the stored losses depend on, and where they were made."""
    info = {"torch": torch.__version__, "device": device.type, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "torch_threads": 1, "python": platform.python_version(), "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _load1() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _clean(value: Any) -> Any:
    """NaN and infinities as None, so the file is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


_RUN_FIELDS = {f.name for f in fields(tr.LMRun)} - {"model", "lrs", "blocks"}


def run_to_record(run: tr.LMRun, k: int, wall_s: float) -> dict[str, Any]:
    record = {key: value for key, value in run.to_dict().items() if key in _RUN_FIELDS}
    return _clean({**record, "k": k, "wall_s": round(wall_s, 3), "load1": _load1()})


def record_to_run(record: dict[str, Any]) -> tr.LMRun:
    """A stored run as an :class:`~d2lmini.transformer.LMRun` (None back to NaN)."""
    nan = math.nan
    values = {key: record[key] for key in _RUN_FIELDS}
    values["val_losses"] = [nan if v is None else v for v in values["val_losses"]]
    values["train_losses"] = [nan if v is None else v for v in values["train_losses"]]
    values["val_loss"] = nan if values["val_loss"] is None else values["val_loss"]
    return tr.LMRun(**values)


class Results:
    """The stored sweep: metadata and runs, keyed by (optimizer, k, seed)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = Path(path), data
        self.index = {(r["optimizer"], r["k"], r["seed"]): r for r in data["runs"]}

    @classmethod
    def open(cls, path: Path, task: tr.CharLMTask, device: torch.device, fresh: bool = False) -> Results:
        path = Path(path)
        env, spec = environment(device), task_record(task)
        if path.exists() and not fresh:
            data = json.loads(path.read_text())
            if data["meta"]["task"] != spec:
                raise SystemExit(f"{path} holds runs of another task set-up; use --fresh or another --out")
            old = data["meta"]["environment"]
            for key in ("torch", "device", "torch_threads"):
                if old[key] != env[key]:
                    raise SystemExit(f"{path} was made with {key}={old[key]!r}, this is {env[key]!r}: stored runs "
                                     "must come from one setup; use --fresh or another --out")
            return cls(path, data)
        return cls(path, {"meta": {"task": spec, "protocol": PROTOCOL, "environment": env, "sessions": [],
                                   "probes": {}}, "runs": []})

    def runs(self, optimizer: str | None = None) -> list[tr.LMRun]:
        return [record_to_run(r) for r in self.data["runs"] if optimizer in (None, r["optimizer"])]

    def ks(self, optimizer: str) -> list[int]:
        return sorted({k for (o, k, _) in self.index if o == optimizer})

    def add(self, run: tr.LMRun, k: int, wall_s: float) -> None:
        record = run_to_record(run, k, wall_s)
        key = (record["optimizer"], k, record["seed"])
        if key in self.index:
            raise ValueError(f"run {key} is stored already")
        self.index[key] = record
        self.data["runs"].append(record)

    def begin_session(self, names: Sequence[str], seeds: Sequence[int]) -> None:
        """Record a new session (date, what it runs, load); :meth:`save` keeps its wall time and load current."""
        self.session = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "optimizers": list(names), "seeds": list(seeds), "runs_before": len(self.data["runs"]),
                        "loadavg_start": _loadavg()}
        self.data["meta"]["sessions"].append(self.session)
        self._start = time.perf_counter()

    def save(self) -> None:
        if hasattr(self, "session"):
            self.session.update(wall_s=round(time.perf_counter() - self._start, 1),
                                runs_after=len(self.data["runs"]), loadavg_end=_loadavg())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_clean(self.data), indent=None, separators=(",", ":")) + "\n")
        tmp.replace(self.path)


def load(path: Path | None = None, device: str = "cpu") -> Results:
    """The stored sweep (default: ``benchmarks/results/transformer-<device>.json``)."""
    path = Path(path) if path is not None else default_path(device)
    return Results(path, json.loads(path.read_text()))


PROTOCOL = ("lr grid 10^(k/2); start window of >= 5 values, extended by one grid value while the best lr (lowest "
            "mean final validation loss over seeds; a diverged seed counts as infinite) is on an edge; every lr "
            "runs with every seed; seed fixes initialization and training windows")


def block_factors(run: tr.LMRun) -> dict[str, float]:
    """Per-block effective learning rate of a recorded run, ``update / (grad · lr)`` (median over the records),
    divided by its geometric mean over the blocks."""
    lrs = np.array(run.lrs)[np.array(run.steps[1:len(run.blocks[tr.BLOCKS[0]]["grad"]) + 1]) - 1]
    eff = {b: float(np.median(np.array(run.blocks[b]["update"]) / np.array(run.blocks[b]["grad"]) / lrs))
           for b in tr.BLOCKS}
    mean = math.exp(np.mean([math.log(v) for v in eff.values()]))
    return {b: v / mean for b, v in eff.items()}


def factory(name: str, task: tr.CharLMTask, results: Results | None = None) -> tr.OptimizerFactory:
    """The optimizer of each entry: a declared optimizer (schedule-free AdamW warms up over the task's warmup
    steps, its own way, in place of the schedule it does not take), or one of the probes."""
    if name in DECLARED:
        extra = {"warmup_steps": task.warmup} if "warmup_steps" in DECLARED[name].defaults else {}
        return tr.optimizer_factory(name, **extra)
    if name == "momentum_blocks":
        if results is None or "block_factors" not in results.data["meta"]["probes"]:
            raise ValueError("momentum_blocks needs the block factors measured on Adam's selected run")
        return tr.blockwise_sgd(results.data["meta"]["probes"]["block_factors"], momentum=0.9)
    if name in ("adam_tensor", "adam_row"):
        granularity = name.split("_")[1]
        return lambda model, lr: tr.CoarseAdam(model.parameters(), lr=lr, granularity=granularity)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {list(DECLARED) + list(PROBES)}")


def measure_block_factors(task: tr.CharLMTask, results: Results, device: torch.device) -> None:
    """Re-run Adam's selected setting on seed 0 with per-block records; store the factors."""
    adam = results.runs("adam")
    if not adam:
        raise SystemExit("the probes need Adam's runs: run the classic optimizers first")
    lr = benchmark.best_lr(adam, "char transformer", "adam")
    run = tr.train(task, factory("adam", task), lr, 0, name="adam", device=device, record_blocks=True)
    stored = results.index[("adam", k_of(lr), 0)]["val_loss"]
    results.data["meta"]["probes"] = {"block_factors": block_factors(run), "from": {"optimizer": "adam", "lr": lr,
                                      "seed": 0, "val_loss": run.val_loss, "stored_val_loss": stored}}
    results.save()


def sweep_one(task: tr.CharLMTask, name: str, results: Results, seeds: Sequence[int], device: torch.device,
              report: Callable[[str], None] = print) -> None:
    """Run ``name`` over its start window, then extend the window while the best learning rate is on an edge."""
    make = factory(name, task, results)
    todo = list(START[name])
    while todo:
        for k in todo:
            for seed in seeds:
                if (name, k, seed) in results.index:
                    continue
                tick = time.perf_counter()
                run = tr.train(task, make, lr_of(k), seed, name=name, device=device)
                results.add(run, k, time.perf_counter() - tick)
            results.save()
            done = [r for r in results.runs(name) if r.lr == lr_of(k)]
            losses = " ".join("div" if r.diverged else f"{r.val_loss:.4f}" for r in done)
            report(f"{name:16s} lr {lr_of(k):<8.3g} val {losses}")
        ks = [k for k in results.ks(name) if all((name, k, s) in results.index for s in seeds)]
        runs = [r for r in results.runs(name) if k_of(r.lr) in ks and r.seed in seeds]
        best = k_of(benchmark.best_lr(runs, "char transformer", name))
        todo = []
        if best == ks[0] and best - 1 in K_RANGE:
            todo = [best - 1]
        elif best == ks[-1] and best + 1 in K_RANGE:
            todo = [best + 1]


def main(argv: Sequence[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transformer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", default=",".join(CLASSIC), help="comma-separated, from "
                        + ",".join(CLASSIC + BEYOND + PROBES))
    parser.add_argument("--probes", action="store_true", help="run the probes (after the optimizers given)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=None, help="results file (default: "
                        "benchmarks/results/transformer-<device>.json)")
    parser.add_argument("--fresh", action="store_true", help="start a new file instead of extending it")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available to torch")
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = set(names) - set(CLASSIC + BEYOND + PROBES)
    if unknown:
        parser.error(f"unknown optimizer(s) {sorted(unknown)}; expected some of {CLASSIC + BEYOND + PROBES}")
    if args.probes:
        names += [p for p in PROBES if p not in names]
    seeds = [int(s) for s in args.seeds.split(",")]
    device = torch.device(args.device)
    torch.set_num_threads(1)
    task = tr.char_lm_task()
    results = Results.open(args.out or default_path(args.device), task, device, fresh=args.fresh)
    results.begin_session(names, seeds)
    print("transformer sweep · " + " · ".join(f"{k}={v}" for k, v in results.data["meta"]["environment"].items()),
          flush=True)
    for name in names:
        if name == "momentum_blocks" and "block_factors" not in results.data["meta"]["probes"]:
            measure_block_factors(task, results, device)
        sweep_one(task, name, results, seeds, device, report=lambda line: print(line, flush=True))
    results.save()
    session = results.session
    print(f"{session['runs_after'] - session['runs_before']} runs in {session['wall_s']:.0f} s; "
          f"saved to {results.path}", flush=True)
    for line in headline(results, names):
        print(line, flush=True)
    return results


def headline(results: Results, names: Sequence[str]) -> list[str]:
    """Each optimizer's selected learning rate and its final validation loss, mean ± std over the seeds."""
    lines = []
    for name in names:
        runs = results.runs(name)
        if not runs:
            continue
        lr = benchmark.best_lr(runs, "char transformer", name)
        losses = [r.val_loss for r in runs if r.lr == lr]
        spread = np.std(losses, ddof=1) if len(losses) > 1 else math.nan
        lines.append(f"{name}: lr={lr:.3g} val_loss={np.mean(losses):.4f}±{spread:.4f}")
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
