"""Keep freed host memory in the process for the next step's arrays (glibc only).

A training step allocates and frees the same large NumPy temporaries (activations, im2col
columns, gradients) every iteration. glibc's malloc gives blocks above its mmap threshold
back to the kernel on free and, with its default trim threshold, also returns the top of
the heap, so every step pays a page fault for each 4 KiB of each temporary again; in a
virtual machine that costs as much as the arithmetic (a 3 MB temporary: about 1 ms).
Serving every block from the heap (no mmap, whose threshold cannot exceed 32 MiB) and
raising the trim threshold keeps that memory mapped and reused, as a caching allocator
would. The resident size then stays near the peak of a step instead of dropping between
steps.

It is set when training starts (the first Optimizer is made), not at ``import distgrad``,
which changes nothing in the importing process. Set ``DISTGRAD_KEEP_HOST_MEMORY=0`` to leave
malloc's defaults alone.
"""
import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 1 << 30

_kept = None  # keep_host_memory()'s result once training has started


def keep_host_memory():
    """Turn off glibc's mmap for large blocks and raise its trim threshold; returns whether
    both were set."""
    if os.environ.get("DISTGRAD_KEEP_HOST_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, say): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def keep_host_memory_once():
    """``keep_host_memory()`` the first time; later calls (every Optimizer made) cost one check."""
    global _kept
    if _kept is None:
        _kept = keep_host_memory()
    return _kept
