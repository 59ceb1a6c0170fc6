"""Running a job to the end: exit code passthrough, --timeout, and Ctrl-C / SIGTERM.

The job starts in a session of its own, so the terminal's Ctrl-C reaches only the launcher,
which forwards it to mpiexec (Hydra and Open MPI both stop every rank on SIGINT or SIGTERM).
If the job has not ended ``grace`` seconds later, or on a second Ctrl-C, every process of
the job is killed. Hydra starts each proxy and rank in a session of its own, so "every
process" means the whole process tree below the launcher's child, not just its group.
A SIGKILLed launcher cannot do any of this: the kernel then kills the job (parent_death.py).
"""
import os
import signal
import subprocess
import sys
import threading
import time

from .parent_death import die_with_parent

TIMEOUT_EXIT = 124          # what timeout(1) returns, so scripts can tell the two apart
# After a rank is known lost, mpiexec ends by itself within a fraction of a second when it can
# reach every host; when it cannot, it may wait forever: this long, then its tree is killed.
LOST_RANK_WAIT = 1.0


def _children_by_parent():
    """{ppid: [pid, ...]} from /proc (Linux); empty elsewhere."""
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        table.setdefault(int(fields[1]), []).append(int(entry))
    return table


def process_tree(root):
    """``root`` and all its descendants, parents first."""
    table = _children_by_parent()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(table.get(pid, ()))
    return tree


def kill_tree(root):
    # Stop everything first so nobody forks while we walk, then kill.
    pids = process_tree(root)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
    _kill_group(root)  # anything left in the job's own session


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _say(message):
    print(f"distgrad-run: {message}", file=sys.stderr, flush=True)


def _forward(pipe, stream, on_line, failed):
    """Copy the job's output to ``stream`` line by line, showing each line to ``on_line``;
    once it answers True (the job has failed), say so in ``failed``."""
    raw = getattr(stream, "buffer", None)  # None: a text-only stream (a test's capture)
    for line in iter(pipe.readline, b""):
        text = line.decode(errors="replace")
        if raw is not None:
            raw.write(line)
        else:
            stream.write(text)
        stream.flush()
        if on_line(text):
            failed.append(True)
    pipe.close()


def run_supervised(cmd, env=None, timeout=None, grace=5.0, poll=0.1, on_line=None, outcome=None):
    """Run ``cmd`` and return its exit code (128 + N when a signal N ended it). With
    ``on_line``, the job's output passes through this process, each line also given to it
    (the elastic launcher reads there which rank was lost); once it answers True, the job
    has LOST_RANK_WAIT seconds (at most ``grace``) to end by itself before it is killed. ``outcome["stopped"]`` says whether the launcher ended the job
    (a signal, --timeout), not the job itself."""
    received, failed = [], []
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE) if on_line else {}

    def on_signal(signum, frame):
        received.append(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    try:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=die_with_parent(), **pipes)
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    readers = [threading.Thread(target=_forward, args=(pipe, stream, on_line, failed), daemon=True)
               for pipe, stream in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr)) if pipe]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    forced_code = None      # set when the launcher, not the job, decided how it ends
    kill_at = None
    try:
        while True:
            try:
                code = proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if received and forced_code is None:
                signum = received[-1]
                _say(f"got {signal.Signals(signum).name}, stopping all ranks "
                     f"(again to kill them at once)")
                forced_code, kill_at = 128 + signum, now + grace
                del received[:]
                proc.send_signal(signum)
            elif received:
                kill_at = now  # a second signal: no more waiting
            if timeout is not None and forced_code is None and now - started >= timeout:
                _say(f"timeout: the job ran longer than {timeout:g} s (--timeout); "
                     "stopping all ranks")
                forced_code, kill_at = TIMEOUT_EXIT, now + grace
                proc.send_signal(signal.SIGTERM)
            if failed and kill_at is None:
                kill_at = now + min(grace, LOST_RANK_WAIT)
            if kill_at is not None and now >= kill_at:
                _say(f"ranks still running {grace:g} s after " + (
                     "being told to stop" if forced_code is not None else "a rank was lost") + "; killing them")
                kill_tree(proc.pid)
                kill_at = float("inf")
    finally:
        if proc.poll() is None:  # an error in the loop itself: leave nothing behind
            kill_tree(proc.pid)
            proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for reader in readers:
            reader.join(timeout=grace)  # the last lines, unless a leftover rank holds the pipe
    if outcome is not None:
        outcome["stopped"] = forced_code is not None
    if forced_code is not None:
        _kill_group(proc.pid)  # anything of the job's own session that outlived mpiexec
        return forced_code
    return 128 - code if code < 0 else code
