"""Host memory accounting, named as ``torch.cuda``'s memory functions.

    distgrad.memory.enable()            # start counting (or: the first call below starts it)
    ...
    distgrad.memory.max_allocated()     # peak bytes since enable() or reset_peak()

Counting uses Python's tracemalloc, to which NumPy reports every array's data buffer (under
its own domain, ``numpy.lib.tracemalloc_domain``); the Python objects allocated meanwhile are
counted too, which is why ``stats()`` also gives the arrays' share alone. Nothing is counted,
and nothing costs anything, until the first call: tracemalloc slows every allocation down while
it runs (2-3x slower on a small MLP training step: python -m benchmarks.memory), so ``disable()``
stops it again.
Byte counts are relative to the moment counting started: arrays allocated before are not seen.
"""
import tracemalloc

import numpy

NUMPY_DOMAIN = numpy.lib.tracemalloc_domain
_started_here = False


def enable():
    """Start counting (no-op when tracemalloc already runs, started here or by the user)."""
    global _started_here
    if not tracemalloc.is_tracing():
        tracemalloc.start(1)  # one frame per allocation: the cheapest tracemalloc can be
        _started_here = True


def disable():
    """Stop counting, if counting was started here; the counts are lost."""
    global _started_here
    if _started_here and tracemalloc.is_tracing():
        tracemalloc.stop()
    _started_here = False


def is_enabled():
    return tracemalloc.is_tracing()


def memory_allocated(device=None):
    """Bytes allocated now (since counting started), arrays and Python objects."""
    enable()
    return tracemalloc.get_traced_memory()[0]


def max_memory_allocated(device=None):
    """The most bytes allocated at once since counting started or the last reset_peak()."""
    enable()
    return tracemalloc.get_traced_memory()[1]


def reset_peak_memory_stats(device=None):
    """Start the peak over from what is allocated now."""
    enable()
    tracemalloc.reset_peak()


def array_bytes():
    """Bytes held by NumPy arrays allocated since counting started. Takes a snapshot of every
    live allocation: milliseconds, not for a per-step loop."""
    enable()
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, NUMPY_DOMAIN)])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def memory_stats(device=None):
    """The counts as a dict with torch.cuda.memory_stats' key names."""
    current, peak = tracemalloc.get_traced_memory() if is_enabled() else (0, 0)
    return {"allocated_bytes.all.current": current, "allocated_bytes.all.peak": peak,
            "numpy_bytes.all.current": array_bytes() if is_enabled() else 0,
            "tracing": is_enabled()}


# The short names (distgrad.memory.stats() reads better than distgrad.memory.memory_stats()).
stats = memory_stats
max_allocated = max_memory_allocated
reset_peak = reset_peak_memory_stats
