"""Beyond one machine: shard Adam's state across processes with ``ZeroRedundancyOptimizer`` (ZeRO stage 1).

``run()`` starts ``world_size`` local CPU processes (gloo backend, TCP on 127.0.0.1). Each trains the same small
network with data-parallel ``DistributedDataParallel`` (its own batches, gradients averaged across processes) twice,
from the same start:

* ``plain``: every process holds an ordinary ``torch.optim.Adam`` and the *whole* optimizer state;
* ``zero``: ``ZeroRedundancyOptimizer(..., optimizer_class=torch.optim.Adam)``: every process keeps the state of
  its own shard of the parameters only, updates that shard, and broadcasts it to the others.

It returns, per process, the bytes of optimizer state it holds in each run and the largest difference between the
two runs' final parameters.

    python -m benchmarks.zero
"""

from __future__ import annotations

import copy
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

WIDTH = 64  # two WIDTH × WIDTH layers: the 4 tensors split evenly between 2 processes


@dataclass
class ZeroResult:
    """Per process (rank): optimizer-state bytes without and with sharding, and max |Δθ| between the two runs."""

    world_size: int
    n_params: int
    param_bytes: int
    state_bytes_plain: list[int]
    state_bytes_zero: list[int]
    max_param_diff: list[float]
    steps: int

    def __str__(self) -> str:
        lines = [f"{self.world_size} processes, {self.n_params:,} parameters ({self.param_bytes:,} B), Adam, "
                 f"{self.steps} steps"]
        for rank in range(self.world_size):
            lines.append(f"  rank {rank}: optimizer state {self.state_bytes_plain[rank]:,} B unsharded, "
                         f"{self.state_bytes_zero[rank]:,} B with ZeRO "
                         f"({self.state_bytes_zero[rank] / self.state_bytes_plain[rank]:.2f}×); "
                         f"max |θ_zero − θ_plain| = {self.max_param_diff[rank]:.1e}")
        return "\n".join(lines)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh(), nn.Linear(WIDTH, WIDTH))


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in an optimizer's state (moments and step counters)."""
    return sum(t.numel() * t.element_size() for state in optimizer.state.values()
               for t in state.values() if torch.is_tensor(t))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(rank: int, world_size: int, model: nn.Module, sharded: bool, steps: int,
           dtype: torch.dtype) -> tuple[int, list[torch.Tensor]]:
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    net = copy.deepcopy(model)
    ddp = DistributedDataParallel(net)
    if sharded:
        optimizer = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.Adam, lr=1e-2)
        local = optimizer.optim  # the wrapped Adam: it sees this rank's shard only
    else:
        optimizer = local = torch.optim.Adam(ddp.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(1000 + rank)  # each process its own data
    for _ in range(steps):
        X = torch.randn(32, WIDTH, generator=generator, dtype=dtype)
        y = torch.randn(32, WIDTH, generator=generator, dtype=dtype)
        optimizer.zero_grad()
        nn.functional.mse_loss(ddp(X), y).backward()  # DDP averages the gradients across processes
        optimizer.step()  # ZeRO: update the own shard, then broadcast it
    return state_bytes(local), [p.detach().clone() for p in net.parameters()]


def _worker(rank: int, world_size: int, port: int, steps: int, dtype: torch.dtype, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)  # the same initial weights in every process
        model = make_model().to(dtype)
        plain_bytes, plain = _train(rank, world_size, model, False, steps, dtype)
        zero_bytes, zero = _train(rank, world_size, model, True, steps, dtype)
        diff = max((a - b).abs().max().item() for a, b in zip(plain, zero))
        n = sum(p.numel() for p in model.parameters())
        torch.save({"plain": plain_bytes, "zero": zero_bytes, "diff": diff, "n": n,
                    "param_bytes": n * torch.empty((), dtype=dtype).element_size()}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run(world_size: int = 2, steps: int = 5, dtype: torch.dtype = torch.float64) -> ZeroResult:
    """Train with and without ZeRO in ``world_size`` local processes; see the module docstring."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(world_size, _free_port(), steps, dtype, out), nprocs=world_size, join=True)
        ranks = [torch.load(Path(out) / f"rank{r}.pt") for r in range(world_size)]
    return ZeroResult(world_size, ranks[0]["n"], ranks[0]["param_bytes"], [r["plain"] for r in ranks],
                      [r["zero"] for r in ranks], [r["diff"] for r in ranks], steps)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(run())
