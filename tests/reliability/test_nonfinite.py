"""Non-finite loss or gradients (distgrad/utils/nonfinite.py): skip the step on every rank
together, or stop naming the step. With 2 ranks, only rank 1 produces an inf."""
import re

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.utils.nonfinite import check_finite, step_if_finite
from jobs import run_job


@pytest.mark.timeout(120)
def test_an_inf_on_one_rank_skips_that_step_on_every_rank(tmp_path, mpiexec):
    job = run_job(mpiexec, "--epochs", 2, "--fault", "inf", "--fault-rank", 1, "--fault-step", 5,
                  "--nonfinite", "skip", "--final", tmp_path / "final")
    assert job.returncode == 0, job.output
    assert sorted(job.lines(r"skipped step")) == ["[train rank 0] skipped step 5", "[train rank 1] skipped step 5"]
    assert sorted(job.lines(r"done:")) == [
        "[train rank 0] done: 16 steps, 1 skipped, finite parameters: True",
        "[train rank 1] done: 16 steps, 1 skipped, finite parameters: True"]
    warning = job.lines(r"WARNING: step 5: ")
    assert len(warning) == 1 and re.match(r"\[rank 0/2 \S+\] ", warning[0])  # said once, by rank 0
    assert "non-finite gradients after the all-reduce in 0.weight (nan)" in warning[0]
    assert "non-finite loss on rank 1; the step is skipped on every rank" in warning[0]
    replicas = [np.load(tmp_path / f"final.rank{r}.npy") for r in range(2)]
    np.testing.assert_array_equal(replicas[0], replicas[1])


@pytest.mark.timeout(120)
def test_an_inf_on_one_rank_stops_the_job_with_the_step_number(tmp_path, mpiexec):
    job = run_job(mpiexec, "--epochs", 2, "--fault", "inf", "--fault-rank", 1, "--fault-step", 5,
                  "--nonfinite", "raise")
    assert job.returncode != 0
    stops = job.lines(r"^\[rank \d/2 \S+\] FloatingPointError: .* step 5: non-finite gradients")
    assert stops, job.output
    assert all("non-finite loss on rank 1; stopping (policy 'raise')" in line for line in stops)
    assert "done:" not in job.output


# -- the helpers in one process -------------------------------------------------------------
def model_with_gradients(poison=None):
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model(dg.ones(2, 3)).sum().backward()
    if poison is not None:
        model[2].weight.grad.array[0, 1] = poison
    return model


def test_finite_gradients_pass():
    assert check_finite(model_with_gradients(), "raise") is True


def test_skip_drops_the_gradients_and_raise_names_step_and_parameter():
    model = model_with_gradients(float("nan"))
    with pytest.raises(FloatingPointError, match=re.escape(
            "step 7: non-finite gradients after the all-reduce in 2.weight (nan); stopping (policy 'raise')")):
        check_finite(model, "raise", step=7)
    assert check_finite(model, None) is False
    assert model[2].weight.grad is not None  # policy None only tells
    assert check_finite(model, "skip") is False
    assert all(p.grad is None for p in model.parameters())


def test_a_non_finite_loss_counts_even_with_finite_gradients():
    model = model_with_gradients()
    with pytest.raises(FloatingPointError, match=r"non-finite loss on rank 0"):
        check_finite(model, "raise", loss=dg.tensor(float("inf")))


def test_large_finite_float16_gradients_are_not_mistaken_for_overflow():
    g = dg.full((1000,), 60000.0, dtype=dg.float16)  # their sum overflows float16, each is finite
    p = nn.Parameter(dg.zeros(1000, dtype=dg.float16))
    p.grad = g
    assert check_finite([p], "raise") is True
    p.grad.array[3] = np.inf
    assert check_finite([p], None) is False


@pytest.mark.parametrize("distributed", [False, True])
def test_step_if_finite_steps_only_on_finite_gradients(distributed):
    model = model_with_gradients()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    if distributed:  # a world of one here; the same calls as with many ranks
        optimizer = dist.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    before = model[2].weight.detach().numpy().copy()
    assert step_if_finite(optimizer, "skip", model=model) is True
    assert not np.array_equal(model[2].weight.detach().numpy(), before)
    model(dg.ones(2, 3)).sum().backward()
    model[0].bias.grad.array[1] = -np.inf
    after_first = model[2].weight.detach().numpy().copy()
    with pytest.raises(FloatingPointError, match=r"step 2: non-finite gradients .* in 0\.bias \(inf\)"):
        step_if_finite(optimizer, "raise", step=2, model=model)
    assert step_if_finite(optimizer, "skip", step=2) is False
    np.testing.assert_array_equal(model[2].weight.detach().numpy(), after_first)


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="check_finite: policy must be 'skip', 'raise' or None, got 'ignore'"):
        check_finite(model_with_gradients(), "ignore")
