"""The job dies with its launcher, even when the launcher is SIGKILLed (a scheduler's time
limit, the OOM killer), which no signal handler of the launcher can see.

The kernel does it: mpiexec is started with PR_SET_PDEATHSIG = SIGKILL (Linux prctl), so it
is killed the moment the launcher exits, however it exits. Hydra's proxies then lose their
connection to mpiexec and kill their ranks (measured: nothing of the job left 2 s after
mpiexec was killed; RELIABILITY.md). Elsewhere (no prctl) nothing is set and the launcher's
own signal handling is all there is.
"""
import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


def die_with_parent():
    """A ``preexec_fn`` for subprocess.Popen (None where the kernel cannot do it): the child
    gets SIGKILL when the process that started it ends."""
    prctl = _prctl()  # looked up here, in the parent: the child only calls it
    if prctl is None:
        return None
    parent = os.getpid()

    def in_child():
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request was made
            os.kill(os.getpid(), signal.SIGKILL)
    return in_child
