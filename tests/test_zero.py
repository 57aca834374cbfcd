"""Optimizer-state sharding beyond one process: ZeroRedundancyOptimizer (ZeRO stage 1) on CPU with gloo.

Two local processes train the same network with DistributedDataParallel, once with an ordinary Adam (each process
holds the whole state) and once with ZeroRedundancyOptimizer wrapping Adam (each holds its shard's state).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import zero  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with the gloo backend is not available")


@pytest.fixture(scope="module")
def result() -> zero.ZeroResult:
    return zero.run(world_size=2, steps=5, dtype=torch.float64)


def test_each_process_holds_half_the_optimizer_state(result: zero.ZeroResult) -> None:
    # Adam: two moments per parameter (2 × 66,560 B in float64) and a 4-byte step counter per tensor.
    assert result.state_bytes_plain == [2 * result.param_bytes + 4 * 4] * 2
    assert [2 * b for b in result.state_bytes_zero] == result.state_bytes_plain


def test_sharded_training_ends_at_the_unsharded_parameters(result: zero.ZeroResult) -> None:
    assert max(result.max_param_diff) <= 1e-12, str(result)


def test_the_report_names_the_ratio(result: zero.ZeroResult) -> None:
    assert "(0.50×)" in str(result)
