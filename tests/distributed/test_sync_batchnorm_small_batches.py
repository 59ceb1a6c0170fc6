"""SyncBatchNorm with one sample, or none, on some ranks: as PyTorch, only the count over all
ranks must exceed one value per channel; the result is plain BatchNorm over the union of the
batches (compared with torch in float64)."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn

pytestmark = [pytest.mark.mpi(min_size=2), pytest.mark.timeout(60, method="thread")]


@pytest.mark.parametrize("sizes", ["one each", "none on rank 0"])
def test_batches_of_one_or_none_normalize_with_the_statistics_of_the_union(sizes):
    torch = pytest.importorskip("torch")
    rank, size = dist.get_rank(), dist.get_world_size()
    counts = [1] * size if sizes == "one each" else [0] + [2] * (size - 1)
    rng = np.random.default_rng(5)
    full = rng.standard_normal((sum(counts), 3))  # (N, C): one sample is one value per channel
    upstream = rng.standard_normal(full.shape)
    mine = slice(sum(counts[:rank]), sum(counts[:rank + 1]))

    reference = torch.nn.BatchNorm1d(3).double()
    x_all = torch.tensor(full, requires_grad=True)
    out_all = reference(x_all)
    (out_all * torch.tensor(upstream)).sum().backward()

    synced = nn.SyncBatchNorm(3, dtype=dg.float64)
    x = dg.from_numpy(full[mine].copy()).requires_grad_()
    out = synced(x)
    (out * dg.from_numpy(upstream[mine].copy())).sum().backward()

    np.testing.assert_allclose(out.detach().numpy(), out_all.detach().numpy()[mine], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), x_all.grad.numpy()[mine], rtol=1e-9, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(synced, name).numpy(), getattr(reference, name).detach().numpy(),
                                   rtol=1e-12, err_msg=name)
    summed = dist.communicator().allreduce(synced.weight.grad.numpy().copy(), "sum")  # DDP would sum them
    np.testing.assert_allclose(summed, reference.weight.grad.numpy(), rtol=1e-9)


def test_one_value_per_channel_over_all_ranks_is_refused_on_every_rank():
    rank = dist.get_rank()
    bn = nn.SyncBatchNorm(3)
    x = dg.ones(1 if rank == 0 else 0, 3)  # one sample in all
    with pytest.raises(ValueError, match=r"SyncBatchNorm: expected more than 1 value per channel when "
                                         rf"training, got 1 over {dist.get_world_size()} ranks"):
        bn(x)
    bn.eval()
    assert bn(dg.ones(1, 3)).shape == (1, 3)  # evaluation uses the running statistics: any batch
