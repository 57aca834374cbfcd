"""Gradient clipping by norm, from scratch (chapter "A stability toolkit").

:func:`clip_grad_norm` computes what ``torch.nn.utils.clip_grad_norm_`` computes: the norm of all the gradients
taken as one vector, and every gradient scaled by ``min(1, max_norm / (norm + 1e-6))``. The chapter defines the
same function in its own cells; ``tests/test_stability.py`` checks that the two stay identical and that both equal
torch's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

#: What clip_grad_norm takes, as torch's: parameters (e.g. ``model.parameters()``) or one tensor.
Tensors = Iterable[torch.Tensor] | torch.Tensor


def clip_grad_norm(params: Tensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> torch.Tensor:
    """Scale the gradients in place so that their total norm is at most
    max_norm, as torch.nn.utils.clip_grad_norm_; return the norm before.

    The total p-norm takes every gradient entry g as one vector:
    (sum |g|^p)^(1/p), or max |g| for p = inf. Each gradient is multiplied
    by min(1, max_norm / (total + 1e-6)), also when that is 1.
    """
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    check_clip_arguments(params, max_norm, norm_type)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    device, p = grads[0].device, float(norm_type)
    if math.isinf(p):
        parts = [g.detach().abs().amax() if g.numel() else g.new_zeros(())
                 for g in grads]
        total = torch.stack([x.to(device) for x in parts]).amax()
    else:
        parts = [g.detach().abs().pow(p).sum() for g in grads]
        total = torch.stack([x.to(device) for x in parts]).sum().pow(1 / p)
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the "
                           "gradients is non-finite, so it cannot be "
                           "clipped (error_if_nonfinite=True)")
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coefficient.to(g.device))
    return total


def check_clip_arguments(params: list[torch.Tensor], max_norm: float, norm_type: float) -> None:
    """Clear errors for what ``torch.nn.utils.clip_grad_norm_`` would silently turn into wrong gradients.

    torch accepts a negative ``max_norm`` (it flips the gradients) and a ``norm_type`` of 0 or below (it then takes
    that "norm" of each tensor and of the per-tensor results, which is not the norm of all the entries together).
    """
    if not all(isinstance(p, torch.Tensor) for p in params):
        raise TypeError("clip_grad_norm: params must be tensors (e.g. model.parameters()), got "
                        f"{sorted({type(p).__name__ for p in params})}")
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not 0 <= max_norm < math.inf:
        raise ValueError(f"clip_grad_norm: max_norm must be a finite number >= 0, got {max_norm!r}")
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or not norm_type > 0:
        raise ValueError(f"clip_grad_norm: norm_type must be a number > 0 or math.inf, got {norm_type!r}")
