"""d2lmini.stability.clip_grad_norm equals torch.nn.utils.clip_grad_norm_ (float64); the chapter defines it verbatim."""

from __future__ import annotations

import ast
import inspect
import json
import math
from pathlib import Path

import pytest
import torch

from d2lmini import stability
from d2lmini.stability import clip_grad_norm

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "chapters" / "stability.ipynb"
SHAPES = [(3, 4), (5,), (), (2, 3, 2)]  # a scalar parameter too
NORM_TYPES = [1.0, 2.0, 3.0, 0.5, math.inf]
MAX_NORMS = [0.0, 0.05, 1.0, 7.5, 1e6]  # below, around and far above the norms drawn here (about 3 to 8)


def gradients(seed: int = 0, scale: float = 1.0, zero: bool = False) -> list[torch.Tensor]:
    """Parameters of SHAPES with float64 gradients (one parameter without a gradient, which is skipped)."""
    g = torch.Generator().manual_seed(seed)
    params = []
    for shape in SHAPES:
        p = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
        p.grad = torch.zeros_like(p) if zero else scale * torch.randn(shape, generator=g, dtype=torch.float64)
        params.append(p)
    params.append(torch.zeros(2, dtype=torch.float64, requires_grad=True))  # grad None
    return params


def clone(params: list[torch.Tensor]) -> list[torch.Tensor]:
    copies = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = None if p.grad is None else p.grad.clone()
        copies.append(q)
    return copies


def gap(clip, params: list[torch.Tensor], max_norm: float, norm_type: float) -> float:
    """Largest difference between `clip` and torch, over the returned norm and every clipped gradient entry,
    relative to the norm before clipping."""
    mine, theirs = clone(params), clone(params)
    total = clip(mine, max_norm, norm_type)
    reference = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    scale = max(float(reference), 1e-300)
    diffs = [abs(float(total) - float(reference))]
    for a, b in zip(mine, theirs):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            diffs.append(float((a.grad - b.grad).abs().max()) if a.grad.numel() else 0.0)
    return max(diffs) / scale


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("max_norm", MAX_NORMS)
def test_equal_to_torch(norm_type: float, max_norm: float) -> None:
    for seed in range(3):
        assert gap(clip_grad_norm, gradients(seed), max_norm, norm_type) < 1e-12


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_clips_to_max_norm_and_leaves_small_gradients_alone(norm_type: float) -> None:
    params = gradients(1)
    before = [p.grad.clone() if p.grad is not None else None for p in params]
    total = float(clip_grad_norm(params, 1.0, norm_type))
    assert total > 1.0  # these gradients are above the threshold
    after = float(clip_grad_norm(params, 1e6, norm_type))  # the clipped norm, now far below max_norm
    assert after == pytest.approx(1.0 * total / (total + 1e-6), rel=1e-12)
    for p, g in zip(params, before):
        if g is not None:  # direction kept, length scaled by the same factor for every tensor
            torch.testing.assert_close(p.grad, g * (1.0 / (total + 1e-6)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_zero_gradients(norm_type: float) -> None:
    params = gradients(2, zero=True)
    assert gap(clip_grad_norm, params, 1.0, norm_type) == 0.0
    assert float(clip_grad_norm(params, 1.0, norm_type)) == 0.0
    assert all(float(p.grad.abs().max()) == 0.0 for p in params if p.grad is not None and p.grad.numel())


def test_inf_norm_is_the_largest_entry() -> None:
    params = gradients(3)
    largest = max(float(p.grad.abs().max()) for p in params if p.grad is not None)
    assert float(clip_grad_norm(clone(params), 0.5, math.inf)) == largest
    assert gap(clip_grad_norm, params, 0.5, math.inf) < 1e-15


def test_single_tensor_and_no_gradients() -> None:
    p = gradients(4)[0]
    assert gap(lambda ps, m, n: clip_grad_norm(ps[0], m, n), [p], 0.1, 2.0) < 1e-12
    empty = [torch.zeros(3, requires_grad=True)]
    assert float(clip_grad_norm(empty, 1.0)) == float(torch.nn.utils.clip_grad_norm_(empty, 1.0)) == 0.0


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_non_finite_gradients_as_torch(bad: float) -> None:
    params = gradients(5)
    params[0].grad[0, 0] = bad
    mine, theirs = clone(params), clone(params)
    total = clip_grad_norm(mine, 1.0)
    reference = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    torch.testing.assert_close(total, reference, equal_nan=True)
    for a, b in zip(mine, theirs):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, equal_nan=True, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm(clone(params), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(clone(params), 1.0, error_if_nonfinite=True)


def clip_without_the_small_constant(params, max_norm, norm_type=2.0):
    """Negative control: max_norm / total instead of max_norm / (total + 1e-6)."""
    grads = [p.grad for p in params if p.grad is not None]
    p = float(norm_type)
    total = (max(float(g.abs().max()) for g in grads if g.numel()) if math.isinf(p)
             else sum(float(g.abs().pow(p).sum()) for g in grads) ** (1 / p))
    for g in grads:
        g.mul_(min(1.0, max_norm / total))
    return torch.tensor(total, dtype=torch.float64)


def clip_each_tensor(params, max_norm, norm_type=2.0):
    """Negative control: each gradient clipped by its own norm instead of the total norm."""
    totals = []
    for p in params:
        if p.grad is not None:
            totals.append(torch.nn.utils.clip_grad_norm_([p], max_norm, norm_type))
    return torch.linalg.vector_norm(torch.stack(totals), norm_type)


@pytest.mark.parametrize("wrong", [clip_without_the_small_constant, clip_each_tensor])
def test_negative_controls_are_caught(wrong) -> None:
    """The comparison above detects a wrong clip: the missing 1e-6 (a relative change of about 2e-7 here) and
    per-tensor clipping, at a max_norm that clips."""
    for norm_type in (1.0, 2.0, math.inf):
        assert gap(wrong, gradients(0), 1.0, norm_type) > 1e-12
        assert gap(clip_grad_norm, gradients(0), 1.0, norm_type) < 1e-12


@pytest.mark.parametrize("max_norm, norm_type, error", [
    (-1.0, 2.0, ValueError), (math.inf, 2.0, ValueError), (math.nan, 2.0, ValueError), ("1", 2.0, ValueError),
    (1.0, 0.0, ValueError), (1.0, -2.0, ValueError), (1.0, math.nan, ValueError), (1.0, True, ValueError),
])
def test_bad_arguments(max_norm, norm_type, error) -> None:
    with pytest.raises(error, match="clip_grad_norm"):
        clip_grad_norm(gradients(0), max_norm, norm_type)


def test_bad_params() -> None:
    with pytest.raises(TypeError, match="tensors"):
        clip_grad_norm([1.0, 2.0], 1.0)


def test_chapter_defines_the_same_function() -> None:
    """chapters/stability.ipynb defines clip_grad_norm verbatim (comments and line breaks aside)."""
    cells = json.loads(CHAPTER.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    defined = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "clip_grad_norm"]
    assert len(defined) == 1, "the chapter must define clip_grad_norm once"
    ours = ast.parse(inspect.getsource(stability.clip_grad_norm)).body[0]
    assert ast.dump(defined[0]) == ast.dump(ours)
