"""Beyond AdamW: more from-scratch optimizers, declared like those of ``d2lmini.optimizers``, and the registry of
every declared optimizer with :func:`build`, the reference implementation ready to train a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from . import optimizers
from .optimizers import Spec

#: name → declaration, for every declared optimizer of the course, in the order of the book.
DECLARED: Mapping[str, Spec] = MappingProxyType({**optimizers.SPECS})


def find(optimizer: str | Spec | Callable[..., Any]) -> Spec:
    """The declaration of ``optimizer``: a name of :data:`DECLARED`, a declared function, or a Spec."""
    if isinstance(optimizer, Spec):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer not in DECLARED:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {list(DECLARED)}")
        return DECLARED[optimizer]
    spec = getattr(optimizer, "spec", None)
    if not isinstance(spec, Spec):
        raise TypeError(f"{optimizer!r} is not a declared optimizer (a name of d2lmini.DECLARED, or a function "
                        "decorated with @declare)")
    return spec


def build(optimizer: str | Spec | Callable[..., Any], params_or_model: nn.Module | Iterable[Any],
          **hyperparams: Any) -> torch.optim.Optimizer:
    """The reference implementation of a declared optimizer, ready to train: its ``typical`` settings (momentum 0.9
    for momentum, …), then ``hyperparams``, checked like the from-scratch version's.

    Special cases come from the declaration's ``builder``: Muon trains the hidden 2-D weight matrices of a model
    and AdamW the rest, as one optimizer object; schedule-free AdamW is returned in training mode (call ``.eval()``
    before evaluating and ``.train()`` before training again: ``DECLARED[name].train_eval`` is set).
    """
    return find(optimizer).build(params_or_model, **hyperparams)
