"""Do all ranks hold the same model? Checked when DDP or DistributedOptimizer wraps it, on
every rank, so a mismatch (a different layer size, a missing layer, another registration
order) stops the job at once with the difference named, instead of reducing mismatched
buffers or hanging."""
import hashlib


def model_fingerprint(named_parameters, named_buffers=()):
    """What must agree across ranks, as plain tuples: kind, name, shape, dtype, requires_grad."""
    fp = [("parameter", name, tuple(p.shape), str(p.dtype), bool(p.requires_grad))
          for name, p in named_parameters]
    fp += [("buffer", name, tuple(b.shape), str(b.dtype), False) for name, b in named_buffers]
    return fp


def check_same_model(comm, fingerprint, owner):
    """Raise on every rank, naming the difference, unless all ranks' fingerprints agree."""
    digest = hashlib.sha256(repr(fingerprint).encode()).hexdigest()
    digests = comm.allgather_object(digest)
    if all(d == digests[0] for d in digests):
        return
    message = describe_model_mismatch(comm.allgather_object(fingerprint))
    raise comm.error(f"{owner}: the model differs between ranks: {message}. Every rank must build the "
                     "same model (same layers and sizes, registered in the same order) before wrapping it")


def describe_model_mismatch(fingerprints, limit=5):
    """A description of how each rank's fingerprint differs from rank 0's (None if none does)."""
    reference = fingerprints[0]
    parts = []
    for rank, fp in enumerate(fingerprints[1:], 1):
        if fp != reference:
            parts.extend(_differences(reference, fp, rank)[:limit])
    return "; ".join(parts) if parts else None


def _differences(reference, other, rank):
    ours = {(e[0], e[1]): e for e in reference}
    theirs = {(e[0], e[1]): e for e in other}
    found = []
    for key, entry in ours.items():
        if key not in theirs:
            found.append(f"rank {rank} has no {key[0]} '{key[1]}' (rank 0 has one of shape {entry[2]})")
            continue
        mine, their = entry, theirs[key]
        for field, position in (("shape", 2), ("dtype", 3), ("requires_grad", 4)):
            if mine[position] != their[position]:
                found.append(f"{key[0]} '{key[1]}' has {field} {mine[position]} on rank 0 but "
                             f"{their[position]} on rank {rank}")
    for key, entry in theirs.items():
        if key not in ours:
            found.append(f"rank {rank} has an extra {key[0]} '{key[1]}' of shape {entry[2]} that rank 0 lacks")
    if not found:  # the same entries in another order
        position = next(i for i, (a, b) in enumerate(zip(reference, other)) if a != b)
        found.append(f"rank {rank} registers its tensors in another order: entry {position} is "
                     f"'{other[position][1]}' there but '{reference[position][1]}' on rank 0")
    return found
