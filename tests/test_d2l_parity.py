"""Parity with the d2l package's own code, for the functions d2lmini mirrors.

d2l (installed with --no-deps) imports torchvision and others at the top of ``d2l/torch.py``, so we do not import
it: we read that file and execute only the definitions we compare, in a namespace that stands in for the module.
"""

from __future__ import annotations

import ast
import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import d2lmini
from d2lmini import optimizers as opt

NEEDED = {"load_array", "get_data_ch11", "train_2d", "train_ch11", "Timer", "linreg", "squared_loss",
          "evaluate_loss", "Accumulator", "reshape", "reduce_sum", "size", "matmul"}


class RecordingAnimator:
    """Stands in for d2l.Animator: records the points instead of drawing them."""

    def __init__(self, **kwargs: object) -> None:
        self.X: list[list[float]] = [[]]
        self.Y: list[list[float]] = [[]]

    def add(self, x: float, y: tuple[float]) -> None:
        self.X[0].append(x)
        self.Y[0].append(y[0])


@pytest.fixture(scope="module")
def d2l(airfoil_path: Path) -> types.ModuleType:
    spec = importlib.util.find_spec("d2l")
    assert spec is not None and spec.origin, "install d2l with: pip install --no-deps d2l==1.0.3"
    source = (Path(spec.origin).parent / "torch.py").read_text()
    module = types.ModuleType("d2l_subset")
    module.__dict__.update(torch=torch, np=np, nn=nn, time=__import__("time"), d2l=module)
    found = set()
    for node in ast.parse(source).body:
        names = ({node.name} if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                 else {t.id for t in node.targets if isinstance(t, ast.Name)} if isinstance(node, ast.Assign)
                 else set())
        if names & NEEDED:
            exec(compile(ast.Module([node], []), "d2l/torch.py", "exec"), module.__dict__)
            found |= names & NEEDED
    assert found == NEEDED, f"d2l/torch.py no longer defines {NEEDED - found}"
    module.Animator = RecordingAnimator
    module.download = lambda name: str(airfoil_path)
    return module


def test_get_data_ch11_gives_d2ls_tensors(d2l: types.ModuleType) -> None:
    theirs, their_dim = d2l.get_data_ch11(batch_size=10, n=1500)
    ours, our_dim = d2lmini.get_data_ch11(batch_size=10, n=1500)
    assert our_dim == their_dim == 5
    for a, b in zip(ours.dataset.tensors, theirs.dataset.tensors):
        assert torch.equal(a, b)
    assert ours.batch_size == theirs.batch_size


def test_train_2d_gives_d2ls_trajectory(d2l: types.ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    lr = 0.1

    def f_grad(x1: float, x2: float) -> tuple[float, float]:
        return 0.2 * x1, 4 * x2

    def gd_2d(x1: float, x2: float, s1: float, s2: float, f_grad) -> tuple[float, float, int, int]:  # d2l's style
        g1, g2 = f_grad(x1, x2)
        return x1 - lr * g1, x2 - lr * g2, 0, 0

    theirs = d2l.train_2d(gd_2d, 20, f_grad)
    their_print = capsys.readouterr().out
    ours = d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {"lr": lr}, lambda x1, x2: 0.1 * x1**2 + 2 * x2**2)
    assert capsys.readouterr().out == their_print
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-14, atol=0)


def test_train_ch11_records_d2ls_losses(d2l: types.ModuleType) -> None:
    features, labels = d2lmini.load_airfoil(1500)
    loader = d2lmini.load_array((features, labels), batch_size=10, is_train=False)  # no shuffling: same batches

    def d2l_sgd(params, states, hyperparams):  # d2l's from-scratch SGD of the minibatch chapter
        for p in params:
            p.data.sub_(hyperparams["lr"] * p.grad)
            p.grad.data.zero_()

    torch.manual_seed(0)
    _, their_losses = d2l.train_ch11(d2l_sgd, None, {"lr": 0.05}, loader, 5, num_epochs=2)
    ours = d2lmini.train_ch11(opt.sgd, opt.init_sgd_states, {"lr": 0.05}, loader, 5, num_epochs=2, plot=False,
                              seed=0)
    checkpoints = [k * 200 / 1500 for k in range(1, 16)]  # d2l records every 200 examples
    our_losses = [loss for epoch, loss in zip(ours.epochs, ours.losses)
                  if any(abs(epoch - c) < 1e-9 for c in checkpoints)]
    assert len(their_losses) == len(our_losses) == 15
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-5)


def test_timer_keeps_d2ls_interface(d2l: types.ModuleType) -> None:
    public = {name for name in vars(d2l.Timer) if not name.startswith("_")}
    assert public <= {name for name in vars(d2lmini.Timer) if not name.startswith("_")}
    timer = d2lmini.Timer()
    timer.stop()
    timer.start()
    timer.stop()
    assert len(timer.times) == 2 and timer.cumsum()[-1] == pytest.approx(timer.sum())
