"""The identity of data parallelism: N ranks with batch b each end with the parameters of one
process with batch N*b, after 20 steps of SGD with momentum; and the replicas stay
bit-identical across ranks."""
import pytest

import distgrad as dg
import distgrad.distributed as dist
from ddp_setups import (checksum, global_data, loss_of, max_difference, same_on_all_ranks, train_distributed,
                        train_reference)

STEPS, PER_RANK = 20, 8
FLOAT32 = 5e-6  # float32 rounding: sums in another order, over 20 steps with momentum

CASES = {
    # name: (training arguments, tolerance)
    "ddp": (dict(mode="ddp"), FLOAT32),
    "ddp_many_buckets": (dict(mode="ddp", bucket_cap_mb=0.004), FLOAT32),
    "ddp_no_overlap": (dict(mode="ddp", overlap=False), FLOAT32),
    "ddp_no_sync_2_micro_batches": (dict(mode="ddp", micro_batches=2), FLOAT32),
    "ddp_sync_flag_2_micro_batches": (dict(mode="ddp_sync_flag", micro_batches=2), FLOAT32),
    "optimizer": (dict(mode="optimizer"), FLOAT32),
    "optimizer_2_passes_per_step": (dict(mode="optimizer", micro_batches=2), FLOAT32),
    "ddp_fp16": (dict(mode="ddp", compression=dist.Compression.fp16), 5e-3),
    "ddp_bf16": (dict(mode="ddp", compression=dist.Compression.bf16), 5e-2),
}


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
@pytest.mark.parametrize("case", list(CASES))
def test_n_ranks_of_batch_b_equal_one_process_of_batch_n_times_b(model_name, case):
    kwargs, tolerance = CASES[case]
    size = dist.get_world_size()
    xs, ys = global_data(model_name, STEPS, PER_RANK * size)
    reference = train_reference(model_name, xs, ys, size, kwargs.get("micro_batches", 1))
    model, _, _ = train_distributed(model_name, xs, ys, **kwargs)
    difference = max_difference(model, reference)
    assert difference <= tolerance, f"rank {dist.get_rank()}: max |difference| {difference:.3g}"
    assert same_on_all_ranks(checksum(model.parameters())), "replicas are no longer bit-identical"


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_buffers_come_from_rank_0_before_each_forward():
    xs, ys = global_data("cnn", 3, PER_RANK * dist.get_world_size())
    model, net, _ = train_distributed("cnn", xs, ys)
    # after training each rank's BatchNorm statistics saw its own last batch ...
    buffers = list(model.buffers())
    assert not same_on_all_ranks(checksum(buffers[:2]))
    net.eval()  # ... an eval forward with grad enabled takes rank 0's and leaves them as they are
    net(dg.from_numpy(xs[0][:2]))
    assert same_on_all_ranks(checksum(buffers))


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_require_backward_grad_sync_false_keeps_gradients_local_until_set_again():
    xs, ys = global_data("mlp", 1, PER_RANK * dist.get_world_size())
    model, net, _ = train_distributed("mlp", xs, ys)
    x, y = xs[0][:2] + dist.get_rank(), ys[0][:2]  # each rank its own batch
    net.zero_grad()
    assert net.require_backward_grad_sync
    net.require_backward_grad_sync = False
    loss_of(net, x, y).backward()
    assert not same_on_all_ranks(checksum(p.grad for p in model.parameters()))  # not reduced
    net.require_backward_grad_sync = True
    loss_of(net, x, y).backward()
    assert same_on_all_ranks(checksum(p.grad for p in model.parameters()))  # everything accumulated, reduced
