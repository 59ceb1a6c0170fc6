"""Batch statistics over every rank's batch, for nn.SyncBatchNorm.

Forward: each rank's per-channel mean, variance and count are all-gathered and combined
(the parallel form of the variance: sum of n_r * (var_r + (mean_r - mean)^2) over N), one
collective of 2C + 1 numbers per rank, numerically as safe as the local two-pass statistics.
Backward: the two per-channel totals of the input's gradient (sum of g, sum of g * xhat) are
summed across ranks in one all-reduce. With DDP averaging the parameter gradients, N ranks of
batch b then train exactly as one process of batch N * b with plain BatchNorm. A rank's batch
may hold one sample, or none (its count weighs its statistics out): only the total over the
ranks must exceed one value per channel, as in PyTorch.
"""
from .groups import group_communicator


class SyncedStatistics:
    def __init__(self, comm):
        self.comm = comm

    def combine(self, xp, mean, var, count):
        """(mean, biased variance, count) over all ranks, from this rank's."""
        c = mean.shape[0]
        local = xp.concatenate([mean, var, xp.full(1, count, dtype=mean.dtype)])
        rows = self.comm.allgather(local)  # (ranks, 2C + 1)
        means, variances, counts = rows[:, :c], rows[:, c:2 * c], rows[:, 2 * c:]
        total = counts.sum()
        if total <= 1:  # as PyTorch: only the count over all ranks must exceed 1 (every rank sees it)
            raise self.comm.error(f"SyncBatchNorm: expected more than 1 value per channel when training, got "
                                  f"{int(total)} over {self.comm.size} ranks (this rank: {count})", ValueError)
        overall = (counts * means).sum(axis=0) / total
        spread = (counts * (variances + (means - overall) ** 2)).sum(axis=0) / total
        return overall, spread, float(total)

    def sum(self, xp, *totals):
        """Each per-channel array summed over all ranks (packed into one all-reduce)."""
        packed = xp.concatenate(totals)
        self.comm.allreduce(packed, "sum")
        return xp.split(packed, len(totals))


def synced_statistics(group=None):
    """A SyncedStatistics over ``group`` (None: the world), or None for a group of one
    (plain batch norm)."""
    comm = group_communicator(group, "SyncBatchNorm")
    return SyncedStatistics(comm) if comm.size > 1 else None
