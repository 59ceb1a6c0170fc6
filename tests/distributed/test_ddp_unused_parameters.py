"""A parameter no rank produced a gradient for (unused in forward, or frozen after wrapping)
keeps .grad None under DistributedDataParallel, as in PyTorch and as in one process, so
weight decay and momentum leave it alone; one that only some ranks used is averaged with the
others' zeros. Both with and without find_unused_parameters."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(3, 2)
        self.branch = nn.Linear(3, 2)

    def forward(self, x, use_branch):
        out = self.trunk(x)
        return out + self.branch(x) if use_branch else out


def train(find_unused, use_branch, freeze=False, steps=3):
    """The branch's weight after ``steps`` of SGD with momentum and weight decay, and its
    .grad after each step."""
    dg.manual_seed(0)
    model = Branches()
    ddp = dist.DistributedDataParallel(model, find_unused_parameters=find_unused)
    if freeze:  # after wrapping: the reducer still lists it
        model.branch.weight.requires_grad_(False)
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    grads = []
    for _ in range(steps):
        opt.zero_grad()
        ddp(dg.ones(1, 3), use_branch).sum().backward()
        grad = model.branch.weight.grad
        grads.append(None if grad is None else grad.numpy().copy())
        opt.step()
    return model.branch.weight.detach().numpy(), grads


@pytest.mark.parametrize("find_unused", [False, True])
@pytest.mark.parametrize("case", ["unused everywhere", "frozen after wrapping"])
def test_a_parameter_without_gradient_on_every_rank_keeps_grad_none_and_its_value(find_unused, case):
    dg.manual_seed(0)
    initial = Branches().branch.weight.detach().numpy().copy()
    weight, grads = train(find_unused, use_branch=case != "unused everywhere",
                          freeze=case == "frozen after wrapping")
    assert grads == [None] * len(grads)
    np.testing.assert_array_equal(weight, initial)  # no weight decay, no momentum


@pytest.mark.parametrize("find_unused", [False, True])
def test_a_parameter_used_on_some_ranks_is_averaged_with_zeros(find_unused):
    rank, size = dist.get_rank(), dist.get_world_size()
    _, grads = train(find_unused, use_branch=rank == 0)
    for grad in grads:  # d(sum of outputs)/d(weight) = 1 on rank 0, no gradient elsewhere
        np.testing.assert_allclose(grad, np.full((2, 3), 1 / size), rtol=1e-6)
