"""What a timeline adds to a profile: forward and backward passes, collectives (each from its start to its completion, with
its bytes and DDP bucket, and the time blocked waiting for it), optimizer steps, data loading,
checkpoint writes and stall reports. Each is timed by swapping a method for a timed one while
the timeline records and putting the plain one back after, as ops are (hooks.py): the code
that does the work carries no timing, and costs nothing more when no timeline records.
"""
from time import perf_counter_ns

from . import hooks
from ..autograd.engine import current_backward

_plain = {}  # (owner, attribute) -> the plain method, while a timeline records
_backward_calls = [None, 0]  # [the backward pass, all-reduces started in it so far]


def _timed_collective(name, plain):
    def timed(comm, array, *args, **kwargs):
        recorder = hooks._recorder
        if recorder is None:
            return plain(comm, array, *args, **kwargs)
        start = perf_counter_ns()
        work = plain(comm, array, *args, **kwargs)
        facts = {"bytes": int(array.nbytes)}
        if name == "all_reduce":
            facts["op"] = args[0] if args else kwargs.get("op", "sum")
            running = current_backward()
            if running is not None:  # DDP starts its buckets in order during backward: the bucket's id
                if running is not _backward_calls[0]:
                    _backward_calls[:] = [running, 0]
                facts["bucket"] = _backward_calls[1]
                _backward_calls[1] += 1
        work.then(lambda _: recorder.span(name, "communication", start, perf_counter_ns(), facts))
        return work
    return timed


def _timed_wait(plain):
    def timed(work):
        recorder = hooks._recorder
        if recorder is None or work._done:  # not is_completed(): one more MPI test a wait, when on
            return plain(work)
        start = perf_counter_ns()
        try:
            return plain(work)
        finally:
            recorder.span("wait", "communication wait", start, perf_counter_ns(),
                          {"what": str(work.what)} if work.what else None)
    return timed


def _timed_call(name, category, plain):
    """``plain`` as one range named ``name`` on the caller's thread row."""
    def timed(*args, **kwargs):
        recorder = hooks._recorder
        if recorder is None:
            return plain(*args, **kwargs)
        start = recorder.begin()
        try:
            return plain(*args, **kwargs)
        finally:
            recorder.end(name, category, start)
    return timed


def _timed_forward(plain):
    """Module.__call__ whose outermost call (a model's forward, not each layer's) is a range."""
    inside = [False]

    def timed(module, *args, **kwargs):
        recorder = hooks._recorder
        if recorder is None or inside[0]:
            return plain(module, *args, **kwargs)
        inside[0] = True
        start = recorder.begin()
        try:
            return plain(module, *args, **kwargs)
        finally:
            inside[0] = False
            recorder.end("forward", "forward", start)
    return timed


def _timed_batches(plain):
    """DataLoader.__iter__ whose every batch is a "DataLoader.__next__" range."""
    def timed(loader):
        batches = iter(plain(loader))
        while True:
            recorder = hooks._recorder
            start = recorder.begin() if recorder is not None else 0
            try:
                batch = next(batches)
            except StopIteration:
                if recorder is not None:
                    recorder.end("DataLoader.__next__", "data", start)
                return
            if recorder is not None:
                recorder.end("DataLoader.__next__", "data", start)
            yield batch
    return timed


def _timed_stall_report(plain):
    def timed(waiter, seq, what, elapsed):
        report = plain(waiter, seq, what, elapsed)
        recorder = hooks._recorder
        if recorder is not None:  # a mark where the warning was raised; the wait span shows the stall
            now = perf_counter_ns()
            recorder.span("stall", "stalls", now, now, {"report": report})
        return report
    return timed


def _optimizer_classes():
    from ..optim.optimizer import Optimizer
    found, todo = [], [Optimizer]
    while todo:
        cls = todo.pop()
        if "step" in cls.__dict__:
            found.append(cls)
        todo += cls.__subclasses__()
    return found


def _targets():
    """(owner, attribute, timed version of the plain one) for everything a timeline times."""
    import distgrad
    from ..data.dataloader import DataLoader
    from ..nn.module import Module
    from ..tensor import Tensor
    from ..utils import checkpoint
    from ..world.comm.base import Communicator, Work
    from ..world.comm.waiting import Waiter
    targets = [(Communicator, method, lambda plain, name=name: _timed_collective(name, plain))
               for method, name in (("iallreduce", "all_reduce"), ("ibroadcast", "broadcast"),
                                    ("iallgather", "all_gather"), ("ireduce_scatter", "reduce_scatter"))]
    targets += [(Work, "wait", _timed_wait), (DataLoader, "__iter__", _timed_batches),
                (Waiter, "stall_report", _timed_stall_report),
                (checkpoint, "save", lambda plain: _timed_call("checkpoint write", "checkpoint", plain)),
                (distgrad, "_save", lambda plain: _timed_call("checkpoint write", "checkpoint", plain))]
    targets += [(Module, "__call__", _timed_forward),
                (Tensor, "backward", lambda plain: _timed_call("backward", "backward", plain))]
    targets += [(cls, "step", lambda plain: _timed_call("optimizer.step", "optimizer", plain))
                for cls in _optimizer_classes()]
    return targets


def install():
    if _plain:
        return
    for owner, attribute, timed in _targets():
        plain = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        _plain[owner, attribute] = plain
        setattr(owner, attribute, timed(plain))


def uninstall():
    while _plain:
        (owner, attribute), plain = _plain.popitem()
        setattr(owner, attribute, plain)
