"""Broadcasting many arrays at once: packed by dtype and device into flat buffers of at most
``cap_bytes`` (buckets.py decides the packing), all broadcasts in flight together, so a
model with hundreds of tensors costs a few collectives, not hundreds."""
from ..backend import device_of, get_array_module
from .buckets import DEFAULT_BUCKET_CAP_BYTES, assign_buckets


def broadcast_arrays(comm, arrays, root=0, cap_bytes=DEFAULT_BUCKET_CAP_BYTES):
    """Overwrite every array with rank ``root``'s, in place."""
    arrays = list(arrays)
    if comm.size == 1 or not arrays:
        return
    groups = assign_buckets([a.nbytes for a in arrays], [(a.dtype.str, str(device_of(a))) for a in arrays],
                            cap_bytes, cap_bytes)
    started = []
    for group in groups:
        members = [arrays[i] for i in group]
        if len(members) == 1 and members[0].flags.c_contiguous:
            flat = members[0]  # broadcast straight into the array
        else:
            flat = get_array_module(members[0]).concatenate([a.reshape(-1) for a in members])
        started.append((members, flat, comm.ibroadcast(flat, root)))
    for members, flat, work in started:
        work.wait()
        if flat is not members[0] and comm.rank != root:
            offset = 0
            for a in members:
                a[...] = flat[offset:offset + a.size].reshape(a.shape)
                offset += a.size
