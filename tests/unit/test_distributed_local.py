"""distgrad.distributed in a world of one: no MPI, no hooks, same results as without it."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim


@pytest.fixture(autouse=True)
def world_of_one():
    if dist.is_initialized() and dist.get_world_size() != 1:
        pytest.fail("these tests are for a single process, not under mpiexec")
    yield


def mlp(seed=0):
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def batch(seed=1, n=8):
    rng = np.random.default_rng(seed)
    return dg.from_numpy(rng.standard_normal((n, 6)).astype(np.float32)), dg.from_numpy(rng.integers(0, 3, n))


def grads(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_ddp_installs_nothing_and_matches_the_plain_model():
    plain, wrapped_module = mlp(), mlp()
    ddp = dist.DistributedDataParallel(wrapped_module)
    assert ddp.reducer is None
    assert all(not p._post_hooks for p in wrapped_module.parameters())
    criterion = nn.CrossEntropyLoss()
    x, y = batch()
    criterion(plain(x), y).backward()
    out = ddp(x)
    criterion(out, y).backward()
    np.testing.assert_array_equal(out.detach().numpy(), plain(x).detach().numpy())
    for a, b in zip(grads(plain), grads(wrapped_module)):
        np.testing.assert_array_equal(a, b)
    with ddp.no_sync():  # nothing to switch off, but it must work
        criterion(ddp(x), y).backward()
    with ddp.join(throw_on_early_termination=True):  # nobody to wait for: a plain loop
        criterion(ddp(x), y).backward()


def test_ddp_names_have_no_module_prefix_and_load_prefixed_checkpoints():
    ddp = dist.DistributedDataParallel(mlp())
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(ddp.state_dict()) == names
    assert [n for n, _ in ddp.named_parameters()] == names
    assert len(list(ddp.parameters())) == 4
    assert ddp.module is ddp.get_submodule("module")
    other = mlp(seed=5)
    ddp.load_state_dict({"module." + k: v for k, v in other.state_dict().items()})
    for a, b in zip(ddp.module.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    ddp.eval()
    assert not ddp.module[0].training


def test_ddp_refuses_what_it_cannot_wrap():
    with pytest.raises(TypeError, match=r"\[rank 0/1 .*\] DistributedDataParallel: expected a distgrad.nn.Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be positive"):
        dist.DistributedDataParallel(mlp(), bucket_cap_mb=0)
    with pytest.raises(TypeError, match="group must be None or what new_group returned"):
        dist.DistributedDataParallel(mlp(), process_group=object())
    with pytest.raises(ValueError, match=r"\[rank 0/1 .*\] DistributedDataParallel: unknown compression 'zip'"):
        dist.DistributedDataParallel(mlp(), compression="zip")
    with pytest.raises(TypeError, match=r"\[rank 0/1 .*\] DistributedOptimizer: compression must have"):
        dist.DistributedOptimizer(optim.SGD(mlp().parameters(), lr=0.1), compression=object())


def test_distributed_optimizer_is_the_wrapped_optimizer_in_a_world_of_one():
    plain_model, dist_model = mlp(), mlp()
    plain = optim.SGD(plain_model.parameters(), lr=0.1, momentum=0.9)
    wrapped = dist.DistributedOptimizer(optim.SGD(dist_model.parameters(), lr=0.1, momentum=0.9),
                                        named_parameters=dist_model.named_parameters())
    assert isinstance(wrapped, optim.SGD) and isinstance(wrapped, optim.Optimizer)
    assert all(not p._post_hooks for p in dist_model.parameters())
    scheduler = optim.lr_scheduler.StepLR(wrapped, step_size=1, gamma=0.5)
    plain_scheduler = optim.lr_scheduler.StepLR(plain, step_size=1, gamma=0.5)
    criterion = nn.CrossEntropyLoss()
    for step in range(3):
        x, y = batch(seed=step)
        for model, opt, sched in ((plain_model, plain, plain_scheduler), (dist_model, wrapped, scheduler)):
            opt.zero_grad()
            criterion(model(x), y).backward()
            opt.step()
            sched.step()
    for a, b in zip(plain_model.parameters(), dist_model.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert wrapped.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)
    wrapped.synchronize()
    assert list(wrapped.state_dict()["state"]) == [0, 1, 2, 3]


def test_broadcasts_leave_a_world_of_one_unchanged():
    model = mlp()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    dist.broadcast_parameters(model, src=0)
    dist.broadcast_parameters(model.state_dict(), src=0)
    dist.broadcast_parameters(list(model.named_parameters()), src=0)
    for a, b in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, b.detach().numpy())
    opt = optim.SGD(model.parameters(), lr=0.1)
    dist.broadcast_optimizer_state(opt, src=0)
    with pytest.raises(ValueError, match=r"\[rank 0/1 .*\] broadcast_parameters: src=1 is not a rank"):
        dist.broadcast_parameters(model, src=1)


def test_tensor_collectives_in_a_world_of_one():
    t = dg.tensor([[1.0, 2.0], [3.0, 4.0]]).T  # not contiguous
    version = t._version[0]
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    np.testing.assert_array_equal(t.numpy(), [[1.0, 3.0], [2.0, 4.0]])
    assert t._version[0] == version + 1
    work = dist.all_reduce(t, op="mean", async_op=True)
    assert work.is_completed() and work.wait() is None
    gathered = dist.all_gather(dg.tensor([1, 2]))
    assert len(gathered) == 1 and gathered[0].tolist() == [1, 2]
    out = [dg.zeros(2, dtype=dg.int64)]
    dist.all_gather(out, dg.tensor([5, 6]))
    assert out[0].tolist() == [5, 6]
    assert dist.reduce_scatter(dg.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    block = dg.zeros(2)
    dist.reduce_scatter(block, [dg.tensor([3.0, 4.0])])
    assert block.tolist() == [3.0, 4.0]
    assert dist.iall_gather(dg.tensor([7])).wait()[0].tolist() == [7]
    assert dist.broadcast_object({"k": 1}) == {"k": 1}
    assert dist.all_gather_object("x") == ["x"]
    objects = [None]
    dist.all_gather_object(objects, 3)
    assert objects == [3]


def test_rooted_collectives_in_a_world_of_one_and_no_messages_to_oneself():
    t = dg.tensor([1.0, 2.0])
    dist.reduce(t, dst=0, op="mean")
    assert t.tolist() == [1.0, 2.0]
    out = [dg.zeros(2)]
    dist.gather(dg.tensor([3.0, 4.0]), out, dst=0)
    assert out[0].tolist() == [3.0, 4.0]
    mine = dg.zeros(2)
    dist.scatter(mine, [dg.tensor([5.0, 6.0])], src=0)
    assert mine.tolist() == [5.0, 6.0]
    objects = [None]
    dist.gather_object("x", objects)
    assert objects == ["x"]
    with pytest.raises(ValueError, match=r"\[rank 0/1 .*send: dst=0 is this rank"):
        dist.send(t, dst=0)
    with pytest.raises(ValueError, match="scatter_list"):
        dist.scatter(mine, None, src=0)


def test_tensor_collective_errors_name_the_rank():
    with pytest.raises(ValueError, match=r"\[rank 0/1 .*\] all_reduce: unknown reduce op 'prod'"):
        dist.all_reduce(dg.ones(2), op="prod")
    with pytest.raises(ValueError, match=r"broadcast: src=3 is not a rank of this world \(0 to 0\)"):
        dist.broadcast(dg.ones(2), src=3)
    with pytest.raises(TypeError, match=r"\[rank 0/1 .*\] all_reduce: expected a distgrad Tensor, got ndarray"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(RuntimeError, match="tensor_list has 2 tensors but the world has 1 ranks"):
        dist.all_gather([dg.ones(2), dg.ones(2)], dg.ones(2))
    with pytest.raises(RuntimeError, match="needs a floating point array"):
        dist.all_reduce(dg.tensor([1, 2]), op="mean")
    with pytest.raises(TypeError, match=r"\[rank 0/1 .*\] all_reduce: group must be None or what new_group"):
        dist.all_reduce(dg.ones(2), group=object())
    solo = dist.new_group([0])  # a world of one's only group is the world
    t = dg.ones(2)
    dist.all_reduce(t, group=solo)
    assert t.tolist() == [1.0, 1.0] and dist.get_rank(solo) == 0 and dist.get_world_size(solo) == 1
    with pytest.raises(ValueError, match="new_group: ranks must be a non-empty list of ranks of this world"):
        dist.new_group([1])


def test_init_twice_with_another_backend_is_refused():
    dist.init()
    assert dist.init("local") is dist.communicator()
    with pytest.raises(RuntimeError, match="already initialized with backend 'local'"):
        dist.init("mpi")
