"""The benchmarks package: the fast from-scratch optimizers equal torch.optim, and the reports have their format.

No test here times anything or asserts on a duration: timings belong to ``python -m benchmarks.step_speed``.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import d2lmini  # noqa: E402
from benchmarks import book_time, fast_optim, step_speed  # noqa: E402
from d2lmini.checks import variants  # noqa: E402

# torch.compile's CPU backend needs a C++ compiler; without one the fast versions run eagerly (and warn).
HAS_CXX = any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++"))
needs_compiler = pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler for torch.compile")

HEADLINE = re.compile(r"^adam: scratch_fast/torch_fused=\d+\.\d\d torch_fused/ceiling=\d+\.\d\d$")

# Every declared optimizer that has a fast version, in the settings the declarations give (defaults, typical,
# each flag flipped, every number moved): the test list follows the declarations.
CASES = [(name, hp) for name in fast_optim.FAST_OPTIMIZERS for hp in variants(d2lmini.DECLARED[name])]


def stacked_model() -> nn.Module:
    """Three equal layers: 3 weights and 3 biases of one shape each, so a bucket of 2 and a single one."""
    torch.manual_seed(0)
    return nn.Sequential(*[m for _ in range(3) for m in (nn.Linear(4, 4), nn.Tanh())])


@pytest.fixture
def small_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets of 2 keep the compiled graphs (and the test) small; the code path is the same as with 8."""
    monkeypatch.setattr(fast_optim, "BUCKET", 2)


class _no_fallback:
    """Fail if a fast optimizer fell back to eager execution: the compiled kernels are what is tested."""

    def __enter__(self) -> None:
        self.eager = set(fast_optim._EAGER_ONLY)

    def __exit__(self, *exc: object) -> None:
        assert fast_optim._EAGER_ONLY == self.eager, "torch.compile failed; the kernels ran eagerly"


@needs_compiler
@pytest.mark.parametrize(("name", "hyperparams"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_fast_versions_equal_torch_optim_in_float64(name: str, hyperparams: dict, small_buckets: None) -> None:
    init, update = fast_optim.FAST_OPTIMIZERS[name]
    twin = d2lmini.TWINS[name]
    for model, shape in ((None, (5,)), (stacked_model(), (4,))):
        with _no_fallback():
            report = d2lmini.check_equivalence(init, update, twin, hyperparams, model=model, input_shape=shape)
        assert report.ok, str(report)
        assert report.max_delta <= 1e-12


@needs_compiler
def test_the_compiled_kernels_are_in_use(small_buckets: None) -> None:
    init, update = fast_optim.FAST_OPTIMIZERS["adam"]
    params = list(stacked_model().parameters())
    for p in params:
        p.grad = torch.ones_like(p)
    update(params, init(params), {})
    assert "_adam_kernel" in fast_optim.compiled_kernels()


@pytest.mark.parametrize("name", ["momentum", "adam", "rmsprop"])
def test_the_same_kernels_run_eagerly_and_equal_torch(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_optim, "COMPILE", False)
    hyperparams = {"momentum": {"momentum": 0.9}, "rmsprop": {"centered": True, "momentum": 0.5}}.get(name, {})
    report = d2lmini.check_equivalence(*fast_optim.FAST_OPTIMIZERS[name], d2lmini.TWINS[name], hyperparams)
    assert report.max_delta <= 1e-12, str(report)


def test_a_compiler_failure_falls_back_to_eager_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise torch._dynamo.exc.TorchDynamoException("no C++ compiler (simulated)")

    monkeypatch.setitem(fast_optim._COMPILED, fast_optim._sgd_kernel, broken)
    monkeypatch.setattr(fast_optim, "_EAGER_ONLY", set())
    p = torch.ones(3, requires_grad=True)
    p.grad = torch.full((3,), 2.0)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        fast_optim.sgd([p], [{}], {"lr": 0.5})
    assert p.tolist() == [0.0, 0.0, 0.0]


def test_fast_versions_keep_d2lmini_state_and_checks() -> None:
    for name, (init, _) in fast_optim.FAST_OPTIMIZERS.items():
        assert init is d2lmini.OPTIMIZERS[name][0]
    p = torch.ones(3, requires_grad=True)
    init_adam_states = fast_optim.FAST_OPTIMIZERS["adam"][0]
    with pytest.raises(ValueError, match="no gradient"):
        fast_optim.adam([p], init_adam_states([p]), {})
    p.grad = torch.ones(3)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        fast_optim.adam([p], init_adam_states([p]), {"momentum": 0.9})
    with pytest.raises(ValueError, match="use momentum\\(\\) or nesterov\\(\\)"):
        fast_optim.sgd([p], [{}], {"momentum": 0.9})


def test_bytes_per_step_follow_the_access_pattern() -> None:
    assert step_speed.bytes_per_param("sgd") == 12
    assert {step_speed.bytes_per_param(n) for n in ("momentum", "adagrad", "rmsprop")} == {20}
    assert {step_speed.bytes_per_param(n) for n in ("adam", "adamw", "adadelta")} == {28}
    assert step_speed.bytes_per_param("adam", torch.float64) == 56


def test_the_benchmark_tables_follow_the_declarations() -> None:
    declared = d2lmini.DECLARED
    assert set(step_speed.NAMES) <= set(step_speed.TIMEABLE) <= set(declared)
    assert {n for n in step_speed.TIMEABLE if declared[n].benchmark} == set(step_speed.NAMES)
    assert all(not declared[n].matrices_only for n in step_speed.TIMEABLE)
    assert set(step_speed.FLOPS) >= set(step_speed.NAMES)  # the roofline needs every default optimizer's FLOPs
    for name in step_speed.TIMEABLE:
        assert step_speed.HYPERPARAMS[name] == dict(declared[name].typical)
        assert d2lmini.benchmark.hyperparams(name, 0.1) == {**declared[name].typical, "lr": 0.1}
    assert set(fast_optim.FAST_OPTIMIZERS) <= set(declared)


def test_an_optimizer_without_a_fast_version_is_timed_without_that_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(fast_optim.FAST_OPTIMIZERS, "adagrad")
    params = step_speed.make_params(2 * 10**4, "large")
    steps = step_speed.implementations("adagrad", params, ["scratch", "scratch_fast", "torch_loop"], "cpu")
    assert set(steps) == {"scratch", "torch_loop"}


def test_layouts_hold_the_requested_number_of_parameters() -> None:
    large = step_speed.make_params(10**5, "large")
    small = step_speed.make_params(10**5, "small")
    assert [p.numel() for p in large] == [25_000] * 4
    assert [p.numel() for p in small] == [10_000] * 10
    assert all(p.grad is not None and p.grad.shape == p.shape for p in large + small)
    with pytest.raises(ValueError, match="layout"):
        step_speed.make_params(10**5, "medium")


def test_fused_steps_are_detected() -> None:
    assert step_speed.fused_available("adam", "cpu")
    has_fused = "fused" in inspect.signature(torch.optim.RMSprop).parameters  # not in torch 2.13
    assert step_speed.fused_available("rmsprop", "cpu") == has_fused


def _record(impl: str, ms: float, n: int = 10**7) -> step_speed.Record:
    return step_speed.Record("adam", impl, "large", n, 4, ms, [ms], ms, 28)


def test_headline_format_and_values() -> None:
    records = [_record("scratch_fast", 12.0), _record("torch_fused", 10.0), _record("ceiling", 8.5),
               _record("torch_fused", 1.0, n=10**6)]
    line = step_speed.headline(records)
    assert line == "adam: scratch_fast/torch_fused=1.20 torch_fused/ceiling=0.85"
    assert HEADLINE.match(line)
    assert f"{_record('ceiling', 10.0).gb_per_s:.1f}" == "28.0"
    with pytest.raises(ValueError, match="at ≥"):
        step_speed.headline(records, min_params=10**8)


def test_the_last_line_printed_is_the_headline(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(fast_optim, "COMPILE", False)  # a format check: no compilation needed
    records = step_speed.main(["--sizes", "2e4", "--optimizers", "adam", "--repeats", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert HEADLINE.match(out[-1]), out[-1]
    assert {r.impl for r in records} == set(step_speed.IMPLEMENTATIONS)
    assert {r.layout for r in records} == {"large", "small"}
    assert any(re.match(r"^  torch_fused +\d+\.\d{3} ms/step +\d+\.\d GB/s  of ceiling +\d+\.\d\d", line)
               for line in out)


def test_the_floor_notebook_imports_steps_and_plots(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    nb = book_time.floor_notebook()
    sources = [cell.source for cell in nb.cells]
    assert all(cell.cell_type == "code" for cell in nb.cells)
    assert "import torch" in sources[0] and "import d2lmini" in sources[0]
    assert any("sgd(params, states" in s for s in sources)
    assert "plt.show()" in sources[-1] and "plt.xlabel" in sources[-1] and "plt.ylabel" in sources[-1]
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    namespace: dict = {}
    for source in sources:  # the cells run in order, without a kernel (and without timing)
        exec(compile(ast.parse(source), "<floor>", "exec"), namespace)
    plt.close("all")
    assert capsys.readouterr().out.strip() == str([round(x, 4) for x in namespace["params"][0].tolist()])


def test_book_time_fails_a_chapter_over_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The time budget is enforced by the benchmark (exit status 1, OVER BUDGET), not by a timed test."""
    assert book_time.budget(ROOT / "chapters" / "transformer.ipynb") == book_time.REAL_NETWORK_BUDGET_S
    assert book_time.budget(ROOT / "chapters" / "gd.ipynb") == book_time.BUDGET_S
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setattr(book_time, "execute", lambda nb, cwd, timeout=600: 1.0)  # no kernels: only the verdict
    assert book_time.main([str(path)]) == 0
    monkeypatch.setattr(book_time, "BUDGET_S", -1.0)  # any time at all is over this budget
    assert book_time.main([str(path)]) == 1
    assert "OVER BUDGET" in capsys.readouterr().out
