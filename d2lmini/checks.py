"""Proof of equality: run a from-scratch optimizer and its reference side by side in float64.

The reference comes from the optimizer's declaration (``d2lmini.optimizers.declare``); where it has a multi-tensor
path (``foreach``, the default on a GPU) beside its for-loop, both are checked against the same from-scratch run.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .beyond import find
from .optimizers import Spec

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: The reference's implementations: the keyword that selects each (``default``: the reference chooses).
PATHS: Mapping[str, dict[str, Any]] = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "default": {}}


@dataclass
class EquivalenceReport:
    """Largest |Δθ| between the two runs after each step, over every parameter entry and every checked path."""

    name: str
    twin: str
    deltas: list[float]
    tolerance: float
    paths: tuple[str, ...] = ("for-loop",)
    #: path → largest |Δθ| after each step, for that path alone.
    by_path: dict[str, list[float]] = field(default_factory=dict)
    #: True when the parameters were also compared after switching both to evaluation mode (schedule-free).
    eval_mode: bool = False

    @property
    def max_delta(self) -> float:
        """The largest |Δθ| over all steps."""
        return max(self.deltas)

    @property
    def ok(self) -> bool:
        """True when every step stays within the tolerance."""
        return self.max_delta <= self.tolerance

    def __str__(self) -> str:
        """One verdict, on one line when it fits the book's 79 columns, else on two."""
        verdict = "equal" if self.ok else "NOT equal"
        how = "+".join(self.paths) + (", train+eval" if self.eval_mode else "")
        head = f"{self.name} = {self.twin} ({how}, {len(self.deltas)} steps):"
        tail = f"largest |Δθ| = {self.max_delta:.1e} {'≤' if self.ok else '>'} {self.tolerance:g}, {verdict}"
        return f"{head} {tail}" if len(head) + len(tail) < 79 else f"{head}\n  {tail}"

    def plot(self, ax: Axes | None = None) -> Axes:
        """Log-scale plot of the largest |Δθ| per step; exact zeros are drawn at 1e-20."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.figure(figsize=(3.5, 2.2)).gca()
        steps = range(1, len(self.deltas) + 1)
        ax.semilogy(steps, [max(d, 1e-20) for d in self.deltas], "o-", markersize=3, label=self.name)
        ax.axhline(self.tolerance, color="r", linestyle="--", linewidth=1, label=f"tolerance {self.tolerance:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("largest |Δθ|")
        ax.set_ylim(1e-21, max(1.0, 10 * self.max_delta))
        ax.legend(fontsize="small")
        return ax


def default_model(matrices_only: bool = False) -> nn.Module:
    """A small MLP with weights and biases of several shapes: 5 → 8 → 3 (no biases with ``matrices_only``)."""
    return nn.Sequential(nn.Linear(5, 8, bias=not matrices_only), nn.Tanh(), nn.Linear(8, 3, bias=not matrices_only))


def _twin_name(twin: type) -> str:
    module = twin.__module__ or ""
    if module.startswith("torch.optim"):
        return f"torch.optim.{twin.__name__}"
    return twin.__name__ if module == "__main__" else f"{module.split('.')[0]}.{twin.__name__}"


def _takes_foreach(twin: type) -> bool:
    parameters = inspect.signature(twin).parameters.values()
    return any(p.name == "foreach" or p.kind is p.VAR_KEYWORD for p in parameters)


def check_equivalence(optimizer: Any, *args: Any, model: nn.Module | None = None,
                      input_shape: Sequence[int] = (5,), batch_size: int = 16, steps: int = 30, seed: int = 0,
                      tolerance: float = 1e-12, device: torch.device | str = "cpu",
                      paths: Sequence[str] | None = None,
                      update: Callable[..., None] | None = None) -> EquivalenceReport:
    """Run a from-scratch optimizer and its reference from identical float64 copies of ``model`` on identical random
    batches (MSE to random targets), and record the largest |Δθ| after each step.

    Two forms:

    * ``check_equivalence(adam, hyperparams)`` or ``check_equivalence("adam", hyperparams)``: a declared optimizer
      (``hyperparams`` optional); its init function, reference, modes and parameter shapes come from the
      declaration. ``update=`` replaces the from-scratch update (a deliberately wrong one, for a negative control);
    * ``check_equivalence(init_fn, update_fn, Twin, hyperparams)``: any pair against any ``torch.optim.Optimizer``
      class, built as ``Twin(params, **hyperparams)``.

    ``paths``: the reference's implementations to check, among ``for-loop`` (``foreach=False``), ``foreach``
    (``foreach=True``, torch's default on a GPU) and ``default`` (no keyword); by default the first two where the
    reference takes ``foreach``, else ``default``. Each path runs its own copy of the reference against the one
    from-scratch run. An optimizer declared with ``train_eval`` (schedule-free) is also compared after switching
    both to evaluation mode at every step, and switched back before the next. With ``matrices_only`` (Muon) the
    default model has no biases, and a model with other than 2-D parameters is an error.
    """
    spec: Spec | None
    if isinstance(optimizer, (str, Spec)) or isinstance(getattr(optimizer, "spec", None), Spec):
        if len(args) > 1:
            raise TypeError("check_equivalence(optimizer, hyperparams): a declared optimizer takes one more "
                            "positional argument, its hyperparams")
        spec = find(optimizer)
        init_fn, update_fn, twin = spec.init, update or spec.update, spec.twin()
        hyperparams = args[0] if args and args[0] is not None else {}
        name, twin_label = spec.name if update is None else getattr(update, "__name__", spec.name), spec.reference
    else:
        if len(args) != 3:
            raise TypeError("check_equivalence(init_fn, update_fn, Twin, hyperparams): expected 4 positional "
                            f"arguments, got {1 + len(args)}")
        if update is not None:
            raise TypeError("update= goes with a declared optimizer: check_equivalence(adam, hp, update=...)")
        init_fn, (update_fn, twin, hyperparams) = optimizer, args
        spec = getattr(update_fn, "spec", None)
        name = getattr(update_fn, "__name__", "from scratch")
        if not (isinstance(twin, type) and issubclass(twin, torch.optim.Optimizer)):
            raise TypeError(f"twin must be a torch.optim class such as torch.optim.SGD, got {twin!r}")
        twin_label = _twin_name(twin)
    if not isinstance(hyperparams, Mapping):
        raise TypeError(f"hyperparams must be a dict such as {{'lr': 0.1}}, got {type(hyperparams).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < float("inf")):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if paths is None:
        paths = ("for-loop", "foreach") if _takes_foreach(twin) else ("default",)
    unknown = set(paths) - set(PATHS)
    if unknown or not paths:
        raise ValueError(f"paths must be some of {list(PATHS)}, got {paths!r}")
    matrices_only = spec is not None and spec.matrices_only
    train_eval = spec.train_eval if spec is not None else None

    torch.manual_seed(seed)
    ours = (default_model(matrices_only) if model is None else copy.deepcopy(model))
    ours = ours.to(device=device, dtype=torch.float64)
    params = list(ours.parameters())
    if matrices_only and any(p.dim() != 2 for p in params):
        shapes = sorted({tuple(p.shape) for p in params if p.dim() != 2})
        raise ValueError(f"{name} updates 2-D weight matrices only; the model also has parameters of shapes "
                         f"{shapes} (use bias=False, or a model of matrices)")
    nets = {path: copy.deepcopy(ours) for path in paths}
    states = init_fn(params)
    twins = {path: twin(list(net.parameters()), **hyperparams, **PATHS[path]) for path, net in nets.items()}
    if train_eval is not None:
        for opt in twins.values():
            opt.train()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    by_path: dict[str, list[float]] = {path: [] for path in paths}

    def largest(path: str) -> float:
        with torch.no_grad():
            return max((p - q).abs().max().item() for p, q in zip(params, nets[path].parameters()))

    for _ in range(steps):
        X = torch.randn(batch_size, *input_shape, generator=generator, dtype=torch.float64).to(device)
        with torch.no_grad():
            target = torch.randn(ours(X).shape, generator=generator, dtype=torch.float64).to(device)
        for net in (ours, *nets.values()):
            for p in net.parameters():
                p.grad = None
            nn.functional.mse_loss(net(X), target).backward()
        update_fn(params, states, hyperparams)
        for opt in twins.values():
            opt.step()
        step_delta = {path: largest(path) for path in paths}
        if train_eval is not None:  # the same comparison at the evaluation point, then back to training
            to_train, to_eval = train_eval
            to_eval(params, states)
            for path, opt in twins.items():
                opt.eval()
                step_delta[path] = max(step_delta[path], largest(path))
                opt.train()
            to_train(params, states)
        for path in paths:
            by_path[path].append(step_delta[path])
    deltas = [max(by_path[path][i] for path in paths) for i in range(steps)]
    return EquivalenceReport(name, twin_label, deltas, tolerance, tuple(paths), by_path, train_eval is not None)


def _valid(spec: Spec, hyperparams: Mapping[str, Any]) -> bool:
    try:
        spec.read(hyperparams)
    except (TypeError, ValueError):
        return False
    return True


def moved(value: Any, factor: float) -> Any:
    """Another value of the same kind: a number × ``factor`` (0 → 0.05; a number in (0.5, 1), such as a β, keeps
    to its regime: its distance to 1 is multiplied instead), an integer + 2, element-wise in tuples; None, strings
    and flags unchanged."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(moved(v, factor) for v in value)
    if isinstance(value, int):
        return value + 2
    if 0.5 < value < 1:
        return 1 - (1 - value) * factor
    return 0.05 if value == 0 else value * factor


def variants(optimizer: str | Spec | Callable[..., Any]) -> list[dict[str, Any]]:
    """The settings a declared optimizer is checked in, derived from its declaration: ``{}`` (the defaults), its
    typical settings, each flag flipped and each choice of a ``one_of`` hyperparameter (over the typical settings),
    and last every other number moved off its default at once (×0.6, or ×1.5 where ×0.6 is not valid), so that
    each of them matters. Invalid combinations are left out."""
    spec = find(optimizer)
    typical = dict(spec.typical)
    found: list[dict[str, Any]] = [{}, typical]
    for key, default in spec.defaults.items():
        if key in spec.fixed:
            continue
        if isinstance(default, bool):
            found.append({**typical, key: not default})
        found.extend({**typical, key: choice} for choice in getattr(spec.checks[key], "values", ()))
    every = dict(typical)
    for key, default in spec.defaults.items():
        if key in spec.fixed or key in typical:
            continue
        for factor in (0.6, 1.5):
            if _valid(spec, {**every, key: moved(default, factor)}):
                every[key] = moved(default, factor)
                break
    found.append(every)
    unique: list[dict[str, Any]] = []
    for hp in found:
        if _valid(spec, hp) and hp not in unique:
            unique.append(hp)
    return unique
