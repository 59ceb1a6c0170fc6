"""Which parameters share a gradient bucket: a pure function, so tests can pin it down.

Backward produces gradients roughly in reverse registration order (the last layer first),
so buckets are filled in that order and launched in that order: the first bucket holds the
last parameters. Where a model uses its layers in another order than it registers them,
DDP rebuilds its buckets once, in the order the first backward actually produced. It is kept small (about 1 MB, or the cap if that is smaller) so
communication starts early; later buckets hold up to ``bucket_cap_bytes``. A bucket is one flat buffer, so it holds one dtype on one
device: each (dtype, device) group gets buckets of its own.
"""
MB = 1024 * 1024
DEFAULT_BUCKET_CAP_BYTES = 25 * MB
FIRST_BUCKET_CAP_BYTES = 1 * MB


def assign_buckets(sizes, keys=None, bucket_cap_bytes=DEFAULT_BUCKET_CAP_BYTES,
                   first_bucket_cap_bytes=FIRST_BUCKET_CAP_BYTES, order=None):
    """Group parameters into buckets.

    ``sizes[i]`` is parameter i's size in bytes, ``keys[i]`` its group, e.g. (dtype, device);
    ``i`` counts in registration order. ``order``: the indices in the order their gradients
    are expected (default: reverse registration; DDP passes the order it saw in its first
    backward). Returns the buckets in launch order, each a list of parameter indices in that
    order. A bucket never holds more than its cap, except a single parameter larger than the
    cap, which gets a bucket of its own.
    """
    if bucket_cap_bytes <= 0 or first_bucket_cap_bytes <= 0:
        raise ValueError(f"bucket caps must be positive, got bucket_cap_bytes={bucket_cap_bytes} "
                         f"and first_bucket_cap_bytes={first_bucket_cap_bytes}")
    first_bucket_cap_bytes = min(first_bucket_cap_bytes, bucket_cap_bytes)
    if keys is None:
        keys = [None] * len(sizes)
    if len(keys) != len(sizes):
        raise ValueError(f"assign_buckets: {len(sizes)} sizes but {len(keys)} keys")
    order = list(reversed(range(len(sizes)))) if order is None else [int(i) for i in order]
    if sorted(order) != list(range(len(sizes))):
        raise ValueError(f"assign_buckets: order must list each of the {len(sizes)} parameters once, got {order}")
    position = {i: k for k, i in enumerate(order)}
    done = []
    open_buckets = {}  # key -> [indices, bytes, cap]
    seen_keys = set()  # groups whose first bucket is already made
    for i in order:
        key, size = keys[i], sizes[i]
        bucket = open_buckets.get(key)
        if bucket is None:
            cap = bucket_cap_bytes if key in seen_keys else first_bucket_cap_bytes
            seen_keys.add(key)
            bucket = open_buckets[key] = [[], 0, cap]
        elif bucket[0] and bucket[1] + size > bucket[2]:
            done.append(bucket[0])
            bucket = open_buckets[key] = [[], 0, bucket_cap_bytes]
        bucket[0].append(i)
        bucket[1] += size
        if bucket[1] >= bucket[2]:
            done.append(bucket[0])
            del open_buckets[key]
    done.extend(b[0] for b in open_buckets.values())
    # Launch order: a bucket goes before another if its first gradient is expected earlier.
    return sorted(done, key=lambda bucket: position[bucket[0]])
