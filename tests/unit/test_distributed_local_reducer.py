"""The gradient reducer's bookkeeping, driven in one process by a recording communicator:
launch order, overlap with backward, gradients as bucket views, accumulation, unused
parameters, compression. (Its arithmetic across ranks is tested under mpiexec.)"""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.autograd import engine
from distgrad.world.comm.base import Work
from distgrad.world.comm.local import LocalCommunicator
from distgrad.distributed.compression import Compression
from distgrad.distributed.reducer import Reducer


class RecordingComm(LocalCommunicator):
    """A world of one that records each all-reduce: size, element, and whether backward
    was still running when it started."""

    def __init__(self):
        super().__init__()
        self.launched = []

    def _start_allreduce(self, array, op, element):
        if array.dtype != np.uint8:  # not the used-parameter flags of find_unused_parameters
            self.launched.append((array.size, element, engine.current_backward() is not None))
        else:
            self.flags = array.copy()
        return Work.completed()


class TwoLayers(nn.Module):
    """Registered a then b, but applied b then a: gradients arrive in registration order,
    the opposite of what the buckets expect."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 5)  # weight 20, bias 5
        self.b = nn.Linear(3, 4)  # weight 12, bias 4

    def forward(self, x):
        return self.a(self.b(x))


def make(cap_bytes=1, **kwargs):
    dg.manual_seed(0)
    model = TwoLayers()
    named = list(model.named_parameters())
    comm = RecordingComm()
    reducer = Reducer([p for _, p in named], [n for n, _ in named], comm, bucket_cap_bytes=cap_bytes, **kwargs)
    reducer.install_hooks()
    return model, reducer, comm


def inputs(seed=0):
    return dg.from_numpy(np.random.default_rng(seed).standard_normal((6, 3)).astype(np.float32))


def reference_grads(seed=0, passes=1):
    dg.manual_seed(0)
    model = TwoLayers()
    for i in range(passes):
        model(inputs(seed + i)).sum().backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_buckets_launch_in_order_during_backward_even_when_gradients_come_out_of_order():
    model, reducer, comm = make()
    assert reducer.bucket_indices == [[3], [2], [1], [0]]  # b.bias, b.weight, a.bias, a.weight
    model(inputs()).sum().backward()
    # each bucket's gradients and one element more: its count of slots left without a gradient
    assert [size for size, _, _ in comm.launched] == [4 + 1, 12 + 1, 5 + 1, 20 + 1]
    # a's gradients were ready first but had to wait for b's buckets; all went out during backward
    assert all(during for _, _, during in comm.launched)
    for p, ref in zip(model.parameters(), reference_grads()):
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-6)


def test_without_overlap_everything_starts_at_the_end():
    model, reducer, comm = make(overlap=False)
    model(inputs()).sum().backward()
    assert [size for size, _, _ in comm.launched] == [4 + 1, 12 + 1, 5 + 1, 20 + 1]
    assert len(comm.launched) == 4


def test_grads_are_views_of_the_bucket_buffers():
    model, reducer, _ = make(cap_bytes=1 << 20)
    model(inputs()).sum().backward()
    flat = reducer.buckets[0].flat
    assert len(reducer.buckets) == 1
    for p in model.parameters():
        assert np.shares_memory(p.grad.numpy(), flat)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_accumulating_over_steps_without_and_with_zeroing(set_to_none):
    model, reducer, _ = make(cap_bytes=64)
    model(inputs(0)).sum().backward()
    model(inputs(1)).sum().backward()  # no zero_grad: the two passes add up
    for p, ref in zip(model.parameters(), reference_grads(0, passes=2)):
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-5)
    model.zero_grad(set_to_none=set_to_none)
    model(inputs(2)).sum().backward()
    for p, ref in zip(model.parameters(), reference_grads(2)):
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-5)


def test_no_sync_passes_accumulate_locally_and_the_next_pass_reduces_their_sum():
    model, reducer, comm = make()
    reducer.sync = False
    model(inputs(0)).sum().backward()
    assert comm.launched == []
    reducer.sync = True
    model(inputs(1)).sum().backward()
    assert len(comm.launched) == 4
    for p, ref in zip(model.parameters(), reference_grads(0, passes=2)):
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-5)


def test_passes_per_sync_reduce_once_when_finished_by_the_owner():
    model, reducer, comm = make(passes_per_sync=2, finish_at_backward_end=False)
    model(inputs(0)).sum().backward()
    assert comm.launched == []
    model(inputs(1)).sum().backward()
    assert len(comm.launched) == 4  # started during the second pass
    reducer.finish()
    for p, ref in zip(model.parameters(), reference_grads(0, passes=2)):
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=1e-5)
    model(inputs(2)).sum().backward()
    model(inputs(3)).sum().backward()
    with pytest.raises(RuntimeError, match=r"\[rank 0/1 .*\] DistributedDataParallel: parameter 'a.weight' "
                                           "received a gradient after its share"):
        model(inputs(4)).sum().backward()  # a pass too many before finish()


@pytest.mark.parametrize("find_unused", [False, True])
def test_a_parameter_without_gradient_is_reduced_as_zeros_and_reported_once(find_unused, capsys):
    model, reducer, comm = make(find_unused_parameters=find_unused)
    x = inputs()
    for _ in range(2):
        model.zero_grad()
        model.b(x).sum().backward()  # a.* get no gradient
        err = capsys.readouterr().err
        assert len(comm.launched) % 4 == 0
    assert model.b.weight.grad is not None
    # Nobody used them: .grad stays None, as in PyTorch (with or without find_unused_parameters).
    assert model.a.weight.grad is None and model.a.bias.grad is None
    assert comm.flags.tolist() == [0, 0, 1, 1]
    assert err == ""  # the second step says nothing: reported once
    model2, reducer2, _ = make(find_unused_parameters=find_unused)
    model2.b(x).sum().backward()
    err = capsys.readouterr().err
    assert "got no gradient on this rank: a.weight, a.bias" in err
    assert ("find_unused_parameters=True if this is expected" in err) != find_unused


def test_find_unused_parameters_marks_parameters_outside_the_graph_at_once():
    model, reducer, comm = make(find_unused_parameters=True)
    x = inputs()
    out = model.b(x)
    reducer.expect_gradients_from(out)
    assert sorted(reducer._unreachable) == [0, 1]  # a.weight, a.bias
    out.sum().backward()
    assert len(comm.launched) == 4


def test_find_unused_parameters_follows_the_graph_as_recorded_not_later_in_place_history():
    model, reducer, comm = make(find_unused_parameters=True)
    hidden = model.b(inputs())
    out = hidden + 1  # recorded before hidden's history changes below
    hidden.add_(model.a.bias.sum())  # a.bias now in hidden's history, but not in out's
    reducer.expect_gradients_from(out)
    assert sorted(reducer._unreachable) == [0, 1]  # a.weight, a.bias
    out.sum().backward()
    assert model.a.bias.grad is None and model.b.weight.grad is not None


def test_compressed_buckets_go_out_compressed_and_come_back_float32():
    model, reducer, comm = make(compression=Compression.bf16)
    model(inputs()).sum().backward()
    assert {element for _, element, _ in comm.launched} == {"bfloat16"}
    for p, ref in zip(model.parameters(), reference_grads()):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad.numpy(), ref, rtol=2 ** -8, atol=1e-6)


def test_removed_hooks_stop_the_reducer():
    model, reducer, comm = make()
    reducer.remove_hooks()
    model(inputs()).sum().backward()
    assert comm.launched == []


def test_a_second_reducer_on_the_same_parameters_takes_over(capsys):
    model, first, first_comm = make()
    named = list(model.named_parameters())
    second_comm = RecordingComm()
    second = Reducer([p for _, p in named], [n for n, _ in named], second_comm, bucket_cap_bytes=1 << 20,
                     owner="DistributedOptimizer")
    second.install_hooks()
    assert "already synchronized by an earlier DistributedDataParallel" in capsys.readouterr().err
    model(inputs()).sum().backward()
    assert first_comm.launched == [] and len(second_comm.launched) == 1
