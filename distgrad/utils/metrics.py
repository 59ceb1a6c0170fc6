"""Metrics averaged across ranks, so what rank 0 prints describes the whole job."""
import numpy

from ..world.state import communicator


class RunningAverage:
    """Sums of named metrics weighted by sample counts, reduced across ranks on demand."""

    def __init__(self):
        self.totals = {}
        self.count = 0

    def update(self, n=1, **values):
        for name, value in values.items():
            self.totals[name] = self.totals.get(name, 0.0) + float(value) * n
        self.count += n

    def compute(self):
        """Means over every sample seen on every rank (a collective: call on all ranks)."""
        names = sorted(self.totals)
        sums = reduce_sum([self.totals[n] for n in names] + [self.count])
        count = sums[-1]
        return {name: (sums[i] / count if count else float("nan")) for i, name in enumerate(names)}


def reduce_sum(values):
    """Element-wise sum of a list of numbers over all ranks (float64)."""
    sums = numpy.asarray(values, dtype=numpy.float64)
    comm = communicator()
    if comm.size > 1:
        comm.allreduce(sums, "sum")
    return sums.tolist()
