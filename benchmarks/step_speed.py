"""How fast is one optimizer step, and how close to the memory-bandwidth ceiling?

    python -m benchmarks.step_speed [--quick] [--device cpu|cuda] [--threads N] [--repeats R] [--save FILE]

For every declared optimizer (``d2lmini.DECLARED``) that its declaration lets the benchmark time by default
(``benchmark=True``; Muon, for 2-D matrices only, is not timed on these flat tensors) it times one ``step`` of each
implementation:

* ``scratch``: the chapters' from-scratch version (the declared update, one readable loop, out-of-place ops);
* ``scratch_fast``: the fast from-scratch version (``benchmarks.fast_optim``: one compiled in-place kernel), for
  the optimizers that have one;
* ``torch_loop``, ``torch_foreach``, ``torch_fused``: the reference with ``foreach=False``, ``foreach=True`` and
  ``fused=True`` (foreach only where the reference has that path, fused only where it has one for the device; a
  reference with a single path, such as ``lion_pytorch.Lion``, is timed as ``torch_loop``);
* ``ceiling``: a reference kernel with the optimizer's access pattern (same number of arrays read and written,
  almost no arithmetic), run through the same compiled buckets: the practical bandwidth ceiling;
* ``copy``: ``torch._foreach_copy_`` of every gradient into a buffer (8 B/param in fp32), the plainest measure of
  memory bandwidth (a copy into another array also pays, unseen, for reading the destination's cache lines before
  writing them; in-place updates do not);
* ``add``: ``torch._foreach_add_`` of every gradient into a buffer, in place (12 B/param), an eager kernel with
  SGD's access pattern.

Sizes run from 1e5 to 1e8 parameters (``--quick``: up to 1e7), in two layouts: ``large`` (4 tensors) and
``small`` (tensors of 10,000 entries). All implementations update the same parameters (fp32, random gradient),
each with its own state; each gets ``WARMUP`` untimed steps (the first compiles), then in every repeat each
implementation runs once, in a rotating order, so that a load spike on a shared machine hits all of them alike.
The median over repeats is reported as ms/step, with the bytes a step must move (reads + writes of whole
arrays, from the declared state buffers: fp32 SGD 12 B/param, momentum/Adagrad/RMSProp 20, Adam/AdamW/AdaDelta
28), the achieved GB/s, the
fraction of the ceiling's bandwidth reached (ceiling time / implementation time) and the fraction of the copy's
GB/s.

The last line printed is the headline, for Adam at the largest size (≥ 1e7) in the ``large`` layout:
``adam: scratch_fast/torch_fused=<time ratio> torch_fused/ceiling=<bandwidth fraction>``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from d2lmini import DECLARED
from d2lmini.training import cpu_name

from . import fast_optim

IMPLEMENTATIONS = ("scratch", "scratch_fast", "torch_loop", "torch_foreach", "torch_fused", "ceiling", "copy", "add")
#: Bytes per parameter of the reference kernels that do not follow the optimizer's access pattern, in elements.
REFERENCE_ELEMENTS = {"copy": 2, "add": 3}
SIZES = (10**5, 10**6, 10**7, 10**8)
QUICK_SIZES = (10**5, 10**6, 10**7)
LAYOUTS = ("large", "small")
LARGE_TENSORS = 4
SMALL_NUMEL = 10_000
WARMUP = 2

#: Every declared optimizer the step can run on flat tensors (not Muon's 2-D only).
TIMEABLE = tuple(name for name, spec in DECLARED.items() if not spec.matrices_only)
#: The optimizers timed by default: those whose declaration says ``benchmark=True``.
NAMES = tuple(name for name in TIMEABLE if DECLARED[name].benchmark)
#: Hyperparameters beyond the reference's defaults: the declaration's ``typical`` ones (momentum: μ = 0.9).
HYPERPARAMS: dict[str, dict[str, Any]] = {name: dict(DECLARED[name].typical) for name in TIMEABLE}


def _access(name: str) -> tuple[int, int]:
    """p and g read, p written, plus each state array of a flat parameter, read and written (typical settings)."""
    k = len(DECLARED[name].state_sizes((SMALL_NUMEL,), HYPERPARAMS[name]))
    return 2 + k, 1 + k


#: Whole arrays read and written per step, without weight decay: p and g, plus each state array.
ACCESS: dict[str, tuple[int, int]] = {name: _access(name) for name in TIMEABLE}
#: Floating-point operations per parameter in the update formula (√ and ÷ count as one each), for the roofline:
#: the declarations' ``flops`` (SGD 2: p − lr·g; Adam 13: m update 3, v update 4, √v ÷ bc2 + eps 3, step·m ÷ (…) 2,
#: p − … 1).
FLOPS: dict[str, int] = {name: DECLARED[name].flops for name in TIMEABLE
                         if DECLARED[name].flops is not None}  # type: ignore[misc]


@dataclass
class Record:
    """One implementation's timing of one optimizer at one size and layout."""

    optimizer: str
    impl: str
    layout: str
    n_params: int
    n_tensors: int
    ms: float            # median ms/step over the repeats
    ms_all: list[float]  # every repeat, in order
    first_ms: float      # the first (warm-up) call: includes compilation for scratch_fast and ceiling
    bytes_per_param: int

    @property
    def gb_per_s(self) -> float:
        return self.bytes_per_param * self.n_params / (self.ms * 1e-3) / 1e9


def bytes_per_param(name: str, dtype: torch.dtype = torch.float32) -> int:
    """Bytes one step must move per parameter: (arrays read + arrays written) × element size."""
    reads, writes = ACCESS[name]
    return (reads + writes) * torch.empty((), dtype=dtype).element_size()


def make_params(n_params: int, layout: str, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, seed: int = 0) -> list[torch.Tensor]:
    """``n_params`` parameters as ``LARGE_TENSORS`` tensors (``large``) or tensors of ``SMALL_NUMEL`` (``small``),
    each with a random ``.grad``."""
    if layout == "large":
        sizes = [n_params // LARGE_TENSORS] * LARGE_TENSORS
        sizes[-1] += n_params - sum(sizes)
    elif layout == "small":
        if n_params % SMALL_NUMEL:
            raise ValueError(f"n_params={n_params} is not a multiple of {SMALL_NUMEL} (the small layout's size)")
        sizes = [SMALL_NUMEL] * (n_params // SMALL_NUMEL)
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    params = []
    for size in sizes:
        p = torch.randn(size, generator=generator, dtype=dtype).to(device).requires_grad_()
        p.grad = torch.randn(size, generator=generator, dtype=dtype).to(device)
        params.append(p)
    return params


def fused_available(name: str, device: torch.device | str) -> bool:
    """Whether the reference has a fused step for this optimizer on this device (tried on a small tensor)."""
    p = torch.zeros(4, device=device, requires_grad=True)
    p.grad = torch.ones(4, device=device)
    try:
        _reference(name, [p], {**HYPERPARAMS[name], "fused": True}).step()
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _reference(name: str, params: Sequence[torch.Tensor], kwargs: dict[str, Any]) -> torch.optim.Optimizer:
    """The declared reference on ``params``, in training mode where it has modes (schedule-free)."""
    spec = DECLARED[name]
    opt = spec.twin()(params, **kwargs)
    if spec.train_eval is not None:
        opt.train()
    return opt


def implementations(name: str, params: Sequence[torch.Tensor], which: Iterable[str],
                    device: torch.device | str, hyperparams: dict[str, Any] | None = None
                    ) -> dict[str, Callable[[], None]]:
    """One zero-argument step function per implementation, each with its own optimizer state
    (``hyperparams``: default ``HYPERPARAMS[name]``)."""
    hp = HYPERPARAMS[name] if hyperparams is None else hyperparams
    steps: dict[str, Callable[[], None]] = {}
    for impl in which:
        if impl in ("scratch", "scratch_fast"):
            if impl == "scratch_fast" and name not in fast_optim.FAST_OPTIMIZERS:
                continue
            spec = DECLARED[name]
            init, update = (spec.init, spec.update) if impl == "scratch" else fast_optim.FAST_OPTIMIZERS[name]
            states = init(params)
            steps[impl] = lambda update=update, states=states: update(params, states, hp)
        elif impl in ("torch_loop", "torch_foreach", "torch_fused"):
            has_foreach = DECLARED[name].foreach
            if impl == "torch_fused" and not fused_available(name, device):
                continue
            if impl == "torch_foreach" and not has_foreach:
                continue
            kw = {"torch_loop": {"foreach": False} if has_foreach else {}, "torch_foreach": {"foreach": True},
                  "torch_fused": {"fused": True}}[impl]
            steps[impl] = _reference(name, params, {**hp, **kw}).step
        elif impl == "ceiling":
            k = ACCESS[name][0] - 2
            buffers = [[torch.zeros_like(p) for _ in range(k)] for p in params]
            steps[impl] = lambda buffers=buffers: fast_optim.reference_step(params, buffers)
        elif impl == "copy":
            targets, grads = [torch.empty_like(p) for p in params], [p.grad for p in params]
            steps[impl] = lambda targets=targets, grads=grads: _copy(targets, grads)
        elif impl == "add":
            targets, grads = [torch.zeros_like(p) for p in params], [p.grad for p in params]
            steps[impl] = lambda targets=targets, grads=grads: torch._foreach_add_(targets, grads)
        else:
            raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}")
    return steps


def _copy(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(targets, sources)
    else:  # torch < 2.1
        for t, s in zip(targets, sources):
            t.copy_(s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, device: torch.device,
               warmup: int = WARMUP) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Warm each step up, then time ``repeats`` rounds; in round r the implementations run in an order rotated by r.
    Returns the ms of every timed call and of the first warm-up call, per implementation."""
    first: dict[str, float] = {}
    for impl, step in steps.items():
        for i in range(warmup):
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            if i == 0:
                first[impl] = (time.perf_counter() - start) * 1e3
    names = list(steps)
    times: dict[str, list[float]] = {impl: [] for impl in names}
    for r in range(repeats):
        for impl in names[r % len(names):] + names[:r % len(names)]:
            _sync(device)
            start = time.perf_counter()
            steps[impl]()
            _sync(device)
            times[impl].append((time.perf_counter() - start) * 1e3)
    return times, first


def measure(names: Sequence[str] = NAMES, sizes: Sequence[int] = QUICK_SIZES, layouts: Sequence[str] = LAYOUTS,
            impls: Sequence[str] = IMPLEMENTATIONS, device: torch.device | str = "cpu", repeats: int = 5,
            warmup: int = WARMUP, report: Callable[[list[Record]], None] | None = None) -> list[Record]:
    """Time every (optimizer, size, layout, implementation); ``report`` gets each batch of records as it is done."""
    device = torch.device(device)
    unknown = set(names) - set(TIMEABLE)
    if unknown:
        raise ValueError(f"unknown optimizer(s) {sorted(unknown)}; expected some of {TIMEABLE}")
    records: list[Record] = []
    for n_params in sizes:
        for layout in layouts:
            params = make_params(n_params, layout, device)
            for name in names:
                steps = implementations(name, params, impls, device)
                times, first = time_steps(steps, repeats, device, warmup)
                itemsize = params[0].element_size()
                batch = [Record(name, impl, layout, n_params, len(params), statistics.median(ts), ts, first[impl],
                                REFERENCE_ELEMENTS[impl] * itemsize if impl in REFERENCE_ELEMENTS
                                else bytes_per_param(name, params[0].dtype))
                         for impl, ts in times.items()]
                del steps
                records.extend(batch)
                if report is not None:
                    report(batch)
            del params
    return records


def format_batch(batch: Sequence[Record]) -> str:
    """A small table: one line per implementation, with ms/step, GB/s, and the fractions of the ceiling's and the
    copy's bandwidth."""
    head = next(r for r in batch if r.impl not in REFERENCE_ELEMENTS)
    ceiling = next((r for r in batch if r.impl == "ceiling"), None)
    copy = next((r for r in batch if r.impl == "copy"), None)
    lines = [f"{head.optimizer} · {head.n_params:.0e} params in {head.n_tensors} tensors ({head.layout}) · "
             f"{head.bytes_per_param} B/param"]
    for r in batch:
        of_ceiling = f"{r.gb_per_s / ceiling.gb_per_s:5.2f}" if ceiling is not None else "  n/a"
        of_copy = f"{r.gb_per_s / copy.gb_per_s:5.2f}" if copy is not None else "  n/a"
        lines.append(f"  {r.impl:<14}{r.ms:10.3f} ms/step {r.gb_per_s:8.1f} GB/s  of ceiling {of_ceiling}"
                     f"  of copy {of_copy}   (first call {r.first_ms:.0f} ms)")
    return "\n".join(lines)


def headline(records: Sequence[Record], name: str = "adam", layout: str = "large", min_params: int = 10**7) -> str:
    """``adam: scratch_fast/torch_fused=… torch_fused/ceiling=…`` at the largest size ≥ ``min_params``.

    The first ratio is a ratio of times (1.00 = as fast as torch's fused step); the second is the fraction of the
    reference kernel's bandwidth that torch's fused step reaches (ceiling time / fused time)."""
    pick = [r for r in records if r.optimizer == name and r.layout == layout and r.n_params >= min_params]
    if not pick:
        raise ValueError(f"no {name} records in the {layout} layout at ≥ {min_params:.0e} parameters")
    largest = max(r.n_params for r in pick)
    ms = {r.impl: r.ms for r in pick if r.n_params == largest}
    missing = {"scratch_fast", "torch_fused", "ceiling"} - set(ms)
    if missing:
        raise ValueError(f"the headline needs {sorted(missing)} at {largest:.0e} parameters")
    return (f"{name}: scratch_fast/torch_fused={ms['scratch_fast'] / ms['torch_fused']:.2f} "
            f"torch_fused/ceiling={ms['ceiling'] / ms['torch_fused']:.2f}")


def environment(device: torch.device) -> dict[str, Any]:
    """When and where: date, device, CPU, threads, torch version, load."""
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": str(device), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def save(path: Path, meta: dict[str, Any], records: Sequence[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "records": [asdict(r) for r in records]}, indent=1) + "\n")


def load(path: Path) -> tuple[dict[str, Any], list[Record]]:
    """Results that ``--save`` wrote: the metadata (when, where) and the records."""
    data = json.loads(Path(path).read_text())
    return data["meta"], [Record(**r) for r in data["records"]]


def main(argv: Sequence[str] | None = None) -> list[Record]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1e7 (default: up to 1e8)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 15 with --quick, 9 without)")
    parser.add_argument("--optimizers", default=",".join(NAMES), help="comma-separated, some of " + ",".join(TIMEABLE))
    parser.add_argument("--sizes", default=None, help="comma-separated parameter counts, e.g. 1e5,1e6 (overrides "
                        "--quick's and the default sizes)")
    parser.add_argument("--save", type=Path, default=None, help="write the results and their metadata as JSON")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available to torch")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (15 if args.quick else 9)
    meta = environment(device)
    print("step_speed · " + " · ".join(f"{k}={v}" for k, v in meta.items()), flush=True)
    sizes = ([int(float(x)) for x in args.sizes.split(",")] if args.sizes
             else QUICK_SIZES if args.quick else SIZES)
    records = measure([n.strip() for n in args.optimizers.split(",")], sizes,
                      device=device, repeats=repeats,
                      report=lambda batch: print(format_batch(batch), flush=True))
    meta["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta["repeats"], meta["warmup"] = repeats, WARMUP
    if args.save is not None:
        save(args.save, meta, records)
        print(f"saved to {args.save}")
    try:  # at the largest size ≥ 1e7, or the largest size when --sizes stays below 1e7
        print(headline(records, min_params=min(10**7, max(sizes))), flush=True)
    except ValueError as error:  # a subset without Adam, or sizes below 1e7
        print(f"adam: no headline ({error})", flush=True)
    return records


if __name__ == "__main__":
    main(sys.argv[1:])
