"""The character-level transformer, its task and training loop, the probes, and the stored sweep.

The last test re-runs one stored configuration of ``python -m benchmarks.transformer`` and compares its losses
with the stored ones: bit for bit when torch's version, the thread count (1) and the CPU model are those of the
record, within ``TOLERANCE`` otherwise (other CPUs and versions round differently, and 300 steps amplify it).
For scale: the same runs with two threads instead of one ended 4e-6 (SGD), 8e-6 (Adam) and 5.5e-3 (Muon, whose
Newton-Schulz iteration runs in bfloat16) nats away from the one-thread losses.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import transformer as bt  # noqa: E402
from d2lmini import DECLARED, benchmark  # noqa: E402
from d2lmini import transformer as tr  # noqa: E402

STORED = bt.default_path("cpu")
#: Largest |Δ| (nats) between a re-run's and the stored final validation loss on another setup.
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def tiny() -> tr.CharLMTask:
    """A few steps of a narrow model: enough to exercise the loop in well under a second."""
    return tr.char_lm_task(tr.GPTConfig(context=16, d_model=16, n_heads=2, n_layers=1), batch_size=4, steps=6,
                           warmup=2, n_val_windows=4, eval_every=3)


def test_model_is_causal_and_shaped() -> None:
    torch.manual_seed(0)
    model = tr.CharTransformer(tr.GPTConfig(context=12, d_model=16, n_heads=4, n_layers=2))
    x = torch.randint(0, 27, (3, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1) % 27  # change the future of position 6
    a, b = model(x), model(y)
    assert a.shape == (3, 12, 27)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])
    with pytest.raises(ValueError, match="longer than the context"):
        model(torch.zeros(1, 13, dtype=torch.long))


def test_initialization_is_fixed_by_the_seed_and_nanogpt_like() -> None:
    cfg = tr.GPTConfig()
    torch.manual_seed(3)
    a = tr.CharTransformer(cfg)
    torch.manual_seed(3)
    b = tr.CharTransformer(cfg)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(a.ln_f.weight, torch.ones(cfg.d_model)) and not a.head.bias.any()
    assert a.tok.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert a.blocks[0].mlp[2].weight.std().item() == pytest.approx(0.02 / 2, rel=0.1)  # 0.02 / sqrt(2 * 2)


def test_every_parameter_has_a_block() -> None:
    model = tr.CharTransformer(tr.GPTConfig())
    blocks = {tr.block_of(name) for name, _ in model.named_parameters()}
    assert blocks == set(tr.BLOCKS)
    groups = tr.block_groups(model)
    assert sum(len(ps) for ps in groups.values()) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="not a parameter name"):
        tr.block_of("encoder.weight")


@pytest.mark.parametrize("bad", [dict(d_model=30, n_heads=4), dict(context=0), dict(n_layers=1.5),
                                 dict(vocab_size=True)])
def test_bad_config_is_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        tr.GPTConfig(**bad)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(warmup=300), dict(warmup=0), dict(batch_size=2.0),
                                 dict(n_val_windows=10**6), dict(config=tr.GPTConfig(vocab_size=30))])
def test_bad_task_is_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        tr.char_lm_task(**bad)


def test_windows_are_shifted_by_one_and_validation_is_fixed(tiny: tr.CharLMTask) -> None:
    X, Y = tiny.batch(torch.Generator().manual_seed(0))
    assert X.shape == Y.shape == (4, 16)
    assert torch.equal(X[:, 1:], Y[:, :-1])
    text = tiny.vocab.decode(tiny.train_ids)
    for x, y in zip(X, Y):
        assert tiny.vocab.decode(x) + tiny.vocab.decode(y[-1:]) in text
    again = tr.char_lm_task(tiny.config, batch_size=4, steps=6, warmup=2, n_val_windows=4, eval_every=3)
    assert torch.equal(tiny.val_starts, again.val_starts)  # the validation windows do not depend on anything else
    assert tiny.val_starts[0] == 0 and int(tiny.val_starts[-1]) + 16 == len(tiny.val_ids) - 1  # they span it


def test_training_is_reproducible_and_records_blocks(tiny: tr.CharLMTask) -> None:
    make = tr.optimizer_factory("adam")
    a = tr.train(tiny, make, 1e-2, 1, record_blocks=True)
    b = tr.train(tiny, make, 1e-2, 1)
    c = tr.train(tiny, make, 1e-2, 2)
    assert a.val_losses == b.val_losses and a.val_losses != c.val_losses
    assert a.steps == [0, 3, 6] and len(a.lrs) == 6 and not a.diverged
    assert a.val_loss == a.val_losses[-1] < a.val_losses[0]
    assert a.lrs[0] == pytest.approx(1e-3) and a.lrs[2] == pytest.approx(1e-2)  # warmup from lr/10
    assert set(a.blocks) == set(tr.BLOCKS) and all(len(v["grad"]) == 2 for v in a.blocks.values())


def test_sgd_effective_learning_rate_is_lr_in_every_block(tiny: tr.CharLMTask) -> None:
    run = tr.train(tiny, tr.optimizer_factory("sgd"), 0.5, 0, schedule=False, record_blocks=True)
    for b in tr.BLOCKS:
        for g, u in zip(run.blocks[b]["grad"], run.blocks[b]["update"]):
            assert u / g == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("name", list(DECLARED))
def test_every_declared_optimizer_trains_the_transformer(tiny: tr.CharLMTask, name: str) -> None:
    make = bt.factory(name, tiny)
    assert getattr(make, "schedule", True) == DECLARED[name].schedule  # schedule-free takes no schedule
    try:
        run = tr.train(tiny, make, DECLARED[name].defaults["lr"], 0, name=name)
    except ImportError as error:  # a reference that this environment lacks (an old torch, lion-pytorch)
        pytest.skip(str(error))
    assert not run.diverged and math.isfinite(run.val_loss) and run.val_loss != run.val_losses[0]


def test_divergence_is_detected(tiny: tr.CharLMTask) -> None:
    run = tr.train(tiny, tr.optimizer_factory("sgd"), 1e8, 0)
    assert run.diverged and math.isnan(run.val_loss)
    assert benchmark.mean_final_loss([run], "val_loss") == math.inf


def test_selection_helpers_of_the_benchmark_work_on_lm_runs(tiny: tr.CharLMTask) -> None:
    runs = [tr.train(tiny, tr.optimizer_factory("sgd"), lr, seed, name="sgd") for lr in (1e-3, 1.0)
            for seed in (0, 1)]
    assert benchmark.best_lr(runs, "char transformer", "sgd") == 1.0
    assert runs[-1].steps_to(runs[-1].val_losses[1]) == 3


def _adam_pair(granularity: str, eps: float = 1e-8) -> float:
    """Largest difference between CoarseAdam and torch.optim.Adam after 5 steps, in float64."""
    torch.manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64)
    params = [w.clone().requires_grad_(), w.clone().requires_grad_()]
    ours = tr.CoarseAdam([params[0]], lr=0.1, granularity=granularity, eps=eps)
    ref = torch.optim.Adam([params[1]], lr=0.1)
    for step in range(5):
        g = torch.randn(4, 3, dtype=torch.float64) * (1 + step)
        for p, opt in zip(params, (ours, ref)):
            p.grad = g.clone()
            opt.step()
    return (params[0] - params[1]).abs().max().item()


def test_coarse_adam_per_entry_is_torch_adam() -> None:
    assert _adam_pair("entry") < 1e-12
    assert _adam_pair("entry", eps=1e-1) > 1e-6  # negative control: a wrong eps is caught
    assert _adam_pair("row") > 1e-3 and _adam_pair("tensor") > 1e-3


def test_coarse_adam_shares_the_second_moment() -> None:
    p = torch.zeros(2, 3, requires_grad=True)
    opt = tr.CoarseAdam([p], lr=1.0, granularity="row")
    p.grad = torch.tensor([[1.0, 2.0, 2.0], [3.0, 0.0, 0.0]])
    opt.step()
    assert opt.state[p]["exp_avg_sq"].shape == (2, 1)
    assert opt.state[p]["exp_avg_sq"].flatten().tolist() == pytest.approx([0.003, 0.003])  # (1 - 0.999) * 3
    with pytest.raises(ValueError, match="granularity"):
        tr.CoarseAdam([p], granularity="column")


def test_blockwise_sgd_scales_each_block(tiny: tr.CharLMTask) -> None:
    factors = dict(zip(tr.BLOCKS, (1.0, 2.0, 3.0, 4.0, 5.0)))
    model = tiny.make_model()
    opt = tr.blockwise_sgd(factors)(model, 0.1)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(ValueError, match="factors"):
        tr.blockwise_sgd({**factors, "mlp": 0.0})


def test_generate_is_seeded_and_checks_its_input(tiny: tr.CharLMTask) -> None:
    torch.manual_seed(0)
    model = tiny.make_model()
    a = tr.generate(model, tiny.vocab, "the time", 40, seed=1)
    assert a.startswith("the time") and len(a) == 48 and set(a) <= set(tiny.vocab.chars)
    assert a == tr.generate(model, tiny.vocab, "the time", 40, seed=1)
    assert a != tr.generate(model, tiny.vocab, "the time", 40, seed=2)
    with pytest.raises(ValueError):
        tr.generate(model, tiny.vocab, "", 5)
    with pytest.raises(ValueError):
        tr.generate(model, tiny.vocab, "THE", 5)
    with pytest.raises(ValueError):
        tr.generate(model, tiny.vocab, "the", 5, temperature=0.0)


def test_sweep_extends_its_window_at_an_edge(tiny: tr.CharLMTask, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bt.START, "sgd", range(-6, -4))  # 1e-3 and 3e-3: far too small for 6 steps
    results = bt.Results.open(tmp_path / "r.json", tiny, torch.device("cpu"))
    results.begin_session(["sgd"], [0])
    bt.sweep_one(tiny, "sgd", results, [0], torch.device("cpu"), report=lambda line: None)
    ks = results.ks("sgd")
    assert ks[0] == -6 and len(ks) > 2
    best = bt.k_of(benchmark.best_lr(results.runs("sgd"), "char transformer", "sgd"))
    assert ks[0] < best < ks[-1]
    stored = json.loads((tmp_path / "r.json").read_text())
    assert len(stored["runs"]) == len(ks) and stored["meta"]["sessions"][0]["wall_s"] > 0
    other = tr.char_lm_task(tiny.config, batch_size=8, steps=6, warmup=2, n_val_windows=4, eval_every=3)
    with pytest.raises(SystemExit, match="another task"):
        bt.Results.open(tmp_path / "r.json", other, torch.device("cpu"))


def test_cli_rejects_unknown_optimizers(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bt.main(["--optimizers", "sgd,adamm", "--out", "/nonexistent/x.json"])
    assert "adamm" in capsys.readouterr().err


# ---------------------------------------------------------------- the stored sweep

@pytest.fixture(scope="module")
def stored() -> dict:
    if not STORED.exists():
        pytest.fail(f"{STORED} is missing: run python -m benchmarks.transformer")
    return json.loads(STORED.read_text())


def test_stored_sweep_records_its_setup(stored: dict) -> None:
    meta = stored["meta"]
    assert meta["task"] == bt.task_record(tr.char_lm_task())
    for key in ("torch", "device", "cpu", "torch_threads"):
        assert meta["environment"][key]
    assert meta["sessions"] and all(s["wall_s"] > 0 and s["date"] and s["loadavg_start"]
                                    for s in meta["sessions"])


@pytest.mark.parametrize("name", bt.CLASSIC + bt.BEYOND + bt.PROBES)
def test_stored_sweep_follows_the_protocol(stored: dict, name: str) -> None:
    results = bt.Results(STORED, stored)
    ks = results.ks(name)
    assert len(ks) >= 5 and ks == list(range(ks[0], ks[-1] + 1)), "a contiguous window of >= 5 grid values"
    assert all((name, k, s) in results.index for k in ks for s in bt.SEEDS), "every lr with every seed"
    best = bt.k_of(benchmark.best_lr(results.runs(name), "char transformer", name))
    assert ks[0] < best < ks[-1] or best in (bt.K_RANGE[0], bt.K_RANGE[-1]), "best lr on an edge: extend"


def test_a_stored_run_is_reproduced(stored: dict) -> None:
    results = bt.Results(STORED, stored)
    lr = benchmark.best_lr(results.runs("sgd"), "char transformer", "sgd")
    record = results.index[("sgd", bt.k_of(lr), 0)]
    run = tr.train(tr.char_lm_task(), tr.optimizer_factory("sgd"), lr, 0, num_threads=1)
    env = stored["meta"]["environment"]
    if (env["torch"], env["torch_threads"], env["cpu"]) == (torch.__version__, 1, bt.cpu_name()):
        assert run.val_losses == record["val_losses"]
    else:
        assert abs(run.val_loss - record["val_loss"]) <= TOLERANCE
