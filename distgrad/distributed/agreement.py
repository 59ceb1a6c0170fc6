"""Do all ranks agree on the epoch ahead? Checked at its start, so a disagreement stops the
job with both sides named instead of hanging at its end.

A rank with one batch more than the others runs one more backward, whose all-reduce the
others never join: they have moved on to evaluation or a checkpoint, and the job hangs (or
pairs mismatched collectives). The same happens when ranks run different epochs (a rank
that resumed from another checkpoint) or a different dataset. One all-gather of two
integers per rank at the start of each epoch catches all of it::

    for epoch in range(first, last + 1):
        sampler.set_epoch(epoch)
        check_epoch(loader)    # collective: every rank, every epoch; the epoch is the sampler's
        for inputs, labels in loader: ...

The model itself is compared when DistributedDataParallel wraps it (model_check.py).
"""
import numpy

from ..world.state import communicator


def check_epoch(loader, epoch=None):
    """Raise on every rank, naming each rank's epoch and batch count, unless all agree.
    ``loader``: anything with ``len()`` (a DataLoader, a sampler); ``epoch`` defaults to
    the loader's sampler's ``epoch``."""
    comm = communicator()
    if epoch is None:
        epoch = getattr(getattr(loader, "sampler", loader), "epoch", -1)
    try:
        batches = len(loader)
    except TypeError:
        raise comm.error(f"check_epoch: {type(loader).__name__} has no length; pass a DataLoader or "
                         "a sampler", TypeError) from None
    if comm.size == 1:
        return
    rows = comm.allgather(numpy.array([int(epoch), int(batches)], numpy.int64))
    epochs, counts = rows[:, 0].tolist(), rows[:, 1].tolist()
    if len(set(epochs)) == 1 and len(set(counts)) == 1:
        return
    table = "; ".join(f"rank {r}: epoch {e}, {n} batches" for r, (e, n) in enumerate(zip(epochs, counts)))
    if len(set(epochs)) > 1:
        hint = ("every rank must run the same epoch: call sampler.set_epoch(epoch) with the same "
                "epoch everywhere, and resume every rank from the same checkpoint")
    else:
        hint = ("every rank must get the same number of batches, or the ranks with more wait forever "
                "in an all-reduce the others never join: use DistributedSampler (it gives every rank an "
                "equal share) over the same dataset, with the same batch size and drop_last, on every rank")
    raise comm.error(f"check_epoch: the ranks disagree on the epoch ahead ({table}); {hint}")
