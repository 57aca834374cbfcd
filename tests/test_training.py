"""The 2-D runner and the shared airfoil loop."""

from __future__ import annotations

import pytest
import torch

import d2lmini
from d2lmini import optimizers as opt


def f_seed(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    return 0.1 * x1**2 + 2 * x2**2


@pytest.mark.parametrize("lr", [0.05, 0.3, 0.45])
def test_train_2d_matches_the_closed_form_of_gradient_descent(lr: float) -> None:
    # On 0.1·x1² + 2·x2², one GD step multiplies x1 by (1 − 0.2·lr) and x2 by (1 − 4·lr).
    results = d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {"lr": lr}, f_seed, steps=15, verbose=False)
    assert len(results) == 16 and results[0] == (-5.0, -2.0)
    for t, (x1, x2) in enumerate(results):
        assert x1 == pytest.approx(-5.0 * (1 - 0.2 * lr) ** t, rel=1e-12, abs=1e-300)
        assert x2 == pytest.approx(-2.0 * (1 - 4 * lr) ** t, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
def test_train_2d_runs_every_optimizer_like_its_twin(name: str) -> None:
    init_fn, update_fn = opt.OPTIMIZERS[name]
    hp = {"lr": 0.1, "nesterov": True, "momentum": 0.5} if name == "nesterov" else {"lr": 0.1}
    if name == "momentum":
        hp["momentum"] = 0.5
    ours = d2lmini.train_2d(update_fn, init_fn, hp, f_seed, steps=30, verbose=False)
    theirs = d2lmini.train_2d(opt.TWINS[name], None, hp, f_seed, steps=30, verbose=False)
    assert max(abs(a - b) for p, q in zip(ours, theirs) for a, b in zip(p, q)) < 1e-12
    assert ours[-1] != ours[0]


def test_train_2d_stops_on_divergence() -> None:
    with pytest.raises(d2lmini.DivergenceError, match=r"step \d+ with lr=1e\+200"):
        d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {"lr": 1e200}, f_seed, steps=50, verbose=False)


def test_from_scratch_and_concise_runs_share_everything_but_the_optimizer() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=50)
    hp = {"lr": 0.05, "momentum": 0.9}
    ours = d2lmini.train_ch11(opt.momentum, opt.init_momentum_states, hp, data_iter, feature_dim, num_epochs=2,
                              plot=False)
    theirs = d2lmini.train_concise_ch11(torch.optim.SGD, hp, data_iter, num_epochs=2, plot=False)
    assert ours.epochs == theirs.epochs
    assert ours.losses[0] == theirs.losses[0]  # same initialization
    for p, q in zip(ours.params, theirs.params):  # float32: equal up to rounding of a few ulps
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert ours.losses[0] > 0.45 and ours.losses[-1] < 0.27  # from ≈ var(y)/2 to near the least-squares fit


def test_loss_records_are_at_d2ls_checkpoints_and_epoch_ends() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=10)
    result = d2lmini.train_ch11(opt.sgd, opt.init_sgd_states, {"lr": 0.01}, data_iter, feature_dim, num_epochs=1,
                                plot=False)
    assert result.epochs[0] == 0.0 and result.epochs[-1] == 1.0
    assert result.epochs[1:] == pytest.approx([k * 200 / 1500 for k in range(1, 8)] + [1.0])


def test_training_that_diverges_says_where_and_with_which_lr() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=10)
    with pytest.raises(d2lmini.DivergenceError, match=r"at step \d+ \(epoch [0-9.]+\) with lr=100"):
        d2lmini.train_ch11(opt.sgd, opt.init_sgd_states, {"lr": 100.0}, data_iter, feature_dim, plot=False)


def test_states_may_be_given_as_a_list() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=100)
    w, b = torch.zeros(feature_dim, 1), torch.zeros(1)
    states = opt.init_adam_states([w, b])
    d2lmini.train_ch11(opt.adam, states, {"lr": 0.01}, data_iter, feature_dim, num_epochs=1, plot=False)
    assert [s["step"] for s in states] == [15, 15]


def test_training_arguments_are_checked() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=100)
    with pytest.raises(ValueError, match="feature_dim is 3"):
        d2lmini.train_ch11(opt.sgd, opt.init_sgd_states, {}, data_iter, 3, plot=False)
    with pytest.raises(ValueError, match="num_epochs must be a positive integer"):
        d2lmini.train_ch11(opt.sgd, opt.init_sgd_states, {}, data_iter, feature_dim, num_epochs=0, plot=False)
    with pytest.raises(TypeError, match="torch.optim class"):
        d2lmini.train_concise_ch11(opt.sgd, {}, data_iter, plot=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DataLoader over a TensorDataset"):
        d2lmini.train_concise_ch11(torch.optim.SGD, {}, [(torch.zeros(1, 5), torch.zeros(1))], plot=False)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {}, f_seed, steps=0)


def test_more_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        d2lmini.load_array((torch.zeros(10, 5), torch.zeros(9)), batch_size=2)
    with pytest.raises(TypeError, match="tuple of tensors"):
        d2lmini.load_array(([1, 2], [3, 4]), batch_size=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="f must be a function"):
        d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {}, "x**2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start must be a pair"):
        d2lmini.train_2d(opt.sgd, opt.init_sgd_states, {}, f_seed, start=(1.0, 2.0, 3.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance must be"):
        d2lmini.check_equivalence(opt.init_sgd_states, opt.sgd, torch.optim.SGD, {}, tolerance=-1.0)
    with pytest.raises(TypeError, match="twin must be a torch.optim class"):
        d2lmini.check_equivalence(opt.init_sgd_states, opt.sgd, opt.sgd, {})  # type: ignore[arg-type]


def test_plot_helpers_check_their_input() -> None:
    with pytest.raises(ValueError, match="trajectories is empty"):
        d2lmini.plot_trajectories(f_seed, {})
    with pytest.raises(ValueError, match="pairs"):
        d2lmini.show_trace_2d(f_seed, [(1.0, 2.0, 3.0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="results is empty"):
        d2lmini.plot_losses([])


def test_try_gpu_falls_back_to_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert d2lmini.try_gpu().type == expected
    assert d2lmini.try_gpu(99).type == "cpu"
