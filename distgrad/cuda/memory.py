"""GPU memory counts from CuPy's default memory pool, named as ``torch.cuda``'s.

``memory_allocated`` is what the pool has handed out, ``memory_reserved`` what it holds from
the driver. CuPy keeps no peak, so the first call installs a pool hook that records it.
Without a GPU every count is 0.
"""
from ..backend import cuda as _queries
from ..backend import cupy as _cupy

_peak = None  # the hook recording the peak, once installed


def _pool():
    return _cupy.get_default_memory_pool() if _queries.is_available() else None


def _watch_peak():
    """The peak-recording hook, installed (for the whole process) on first use."""
    global _peak
    if _peak is None and _pool() is not None:
        class PeakHook(_cupy.cuda.memory_hook.MemoryHook):
            name = "distgrad_peak"
            peak = 0

            def malloc_postprocess(self, **kwargs):
                self.peak = max(self.peak, _pool().used_bytes())

        _peak = PeakHook()
        _peak.peak = _pool().used_bytes()
        _peak.__enter__()
    return _peak


def memory_allocated(device=None):
    pool = _pool()
    _watch_peak()
    return 0 if pool is None else pool.used_bytes()


def memory_reserved(device=None):
    pool = _pool()
    return 0 if pool is None else pool.total_bytes()


def max_memory_allocated(device=None):
    hook = _watch_peak()
    return 0 if hook is None else max(hook.peak, _pool().used_bytes())


def reset_peak_memory_stats(device=None):
    hook = _watch_peak()
    if hook is not None:
        hook.peak = _pool().used_bytes()


def memory_stats(device=None):
    return {"allocated_bytes.all.current": memory_allocated(device),
            "allocated_bytes.all.peak": max_memory_allocated(device),
            "reserved_bytes.all.current": memory_reserved(device)}


stats = memory_stats
max_allocated = max_memory_allocated
reset_peak = reset_peak_memory_stats
