"""One ddp.py measurement under mpiexec: seed-MLP training steps per gradient-sync variant.

    mpiexec -n 2 python -m benchmarks.ddp_worker --batch 128 --modes local,ddp,flat

Every variant (mode) has its own model and optimizer in this process; their rounds are
interleaved (collective_timing.compare) so noise hits them alike. Rank 0 prints one JSON line.

Modes:
  local          no communication: each rank trains alone (the compute floor for N ranks)
  ddp            DistributedDataParallel, bucket_cap_mb=25
  ddp_b<MB>      DistributedDataParallel with that bucket_cap_mb (e.g. ddp_b0.25, ddp_b100)
  ddp_fp16       DistributedDataParallel with fp16 compression
  ddp_no_overlap DistributedDataParallel with overlap switched off (when DDP has the switch)
  dist_opt       DistributedOptimizer around SGD
  flat           backward, then one raw mpi4py Allreduce of all gradients in one flat buffer
  allreduce_only just that raw Allreduce (no model): the floor for gradient synchronization

Besides step times, "sync_ms" is the time a step spends synchronizing gradients, clocked where
it happens: in the reducer's gradient hooks and its finish() for DDP and DistributedOptimizer
(instance attributes wrapped here, distgrad untouched), in the after-backward function for
flat. Median over steps, averaged over ranks: the rank that arrives first waits for the other, as in
training.
"""
import argparse
import inspect
import json
import time

from .lib.collective_timing import MpiGroup, compare
from .lib.common import single_thread
from .lib.networks import gradient_count, training_step

OVERLAP_SWITCHES = ("overlap", "overlap_comm", "async_op")


class SyncClock:
    """Adds up the time spent in the functions it wraps, step by step of the step it counts."""

    def __init__(self):
        self.seconds, self.per_step = 0.0, []

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return timed

    def count(self, step):
        def counted():
            before = self.seconds
            step()
            self.per_step.append(self.seconds - before)
        return counted

    def clock_reducer(self, reducer):
        """Time the gradient hooks (copy into buckets, start all-reduces) and finish() (wait, set
        .grad). Both are looked up on the instance at call time, so wrapping them there works."""
        if reducer is not None and hasattr(reducer, "_on_gradient") and hasattr(reducer, "finish"):
            reducer._on_gradient = self.wrap(reducer._on_gradient)
            reducer.finish = self.wrap(reducer.finish)
            return True
        return False

    def ms_per_step(self):
        """Median over steps: a step that another program interrupted does not move it."""
        if not self.per_step:
            return None
        return sorted(self.per_step)[len(self.per_step) // 2] * 1e3


def fp16_compression(dist):
    """distgrad's fp16 compressor, wherever the distributed package exposes it."""
    for holder in ("Compression", "compression"):
        obj = getattr(dist, holder, None)
        for name in ("fp16", "FP16", "FP16Compressor", "fp16_compressor"):
            if obj is not None and hasattr(obj, name):
                return getattr(obj, name)
    return "fp16"


def overlap_switch(dist):
    """The name of DDP's keyword that turns communication/backward overlap off, if it has one."""
    params = inspect.signature(dist.DistributedDataParallel).parameters
    return next((name for name in OVERLAP_SWITCHES if name in params), None)


def flat_allreduce(comm, n):
    """After backward: all gradients into one buffer, one Allreduce, averages back into .grad."""
    import numpy as np
    from mpi4py import MPI
    state = {}

    def sync(model):
        grads = [p.grad.array for p in model.parameters()]
        if "buf" not in state:
            state["buf"] = np.empty(sum(g.size for g in grads), grads[0].dtype)
        buf = state["buf"]
        np.concatenate([g.reshape(-1) for g in grads], out=buf)
        comm.Allreduce(MPI.IN_PLACE, buf)
        buf /= n
        offset = 0
        for g in grads:
            g[...] = buf[offset:offset + g.size].reshape(g.shape)
            offset += g.size
    return sync


def build(mode, dist, batch, comm, clock):
    """The step function of one variant; ``clock`` times its gradient synchronization."""
    fw = _distgrad_modules()
    rank, n = comm.rank, comm.size
    if mode == "allreduce_only":
        import numpy as np
        from mpi4py import MPI
        _, model = training_step(*fw, 1, rank)
        buf = np.zeros(gradient_count(model), np.float32)
        return clock.count(clock.wrap(lambda: comm.Allreduce(MPI.IN_PLACE, buf)))
    kwargs = {}
    if mode == "alone":  # the one-process baseline inside this run: rank 0 steps, the others wait
        step = training_step(*fw, batch, rank)[0]
        return clock.count(step) if rank == 0 else (lambda: None)
    if mode == "local":
        return clock.count(training_step(*fw, batch, rank)[0])
    if mode == "barrier":  # lockstep with no data: what waiting for the slowest rank costs alone
        return clock.count(training_step(*fw, batch, rank, after_backward=clock.wrap(lambda _: comm.Barrier()))[0])
    if mode == "flat":
        return clock.count(training_step(*fw, batch, rank, after_backward=clock.wrap(flat_allreduce(comm, n)))[0])
    if mode == "dist_opt":
        step, _ = training_step(*fw, batch, rank, wrap_opt=lambda opt, model: dist.DistributedOptimizer(opt))
        clock.clock_reducer(getattr(step.optimizer, "_dist_reducer", None))
        return clock.count(step)
    if mode.startswith("ddp_b"):
        kwargs["bucket_cap_mb"] = float(mode[len("ddp_b"):])
    elif mode == "ddp_fp16":
        kwargs["compression"] = fp16_compression(dist)
    elif mode == "ddp_no_overlap":
        kwargs[overlap_switch(dist)] = False
    elif mode != "ddp":
        raise ValueError("unknown mode %r" % mode)
    step, model = training_step(*fw, batch, rank, wrap_model=lambda m: dist.DistributedDataParallel(m, **kwargs))
    clock.clock_reducer(getattr(model, "reducer", None))
    return clock.count(step)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, required=True, help="samples per rank per step")
    parser.add_argument("--modes", default="local,ddp")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.1, help="seconds per timed round")
    args = parser.parse_args()
    single_thread()
    import distgrad.distributed as dist
    dist.init()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    modes = [m for m in args.modes.split(",") if m]
    if "ddp_no_overlap" in modes and overlap_switch(dist) is None:
        modes.remove("ddp_no_overlap")
    clocks = {mode: SyncClock() for mode in modes}
    calls = {mode: build(mode, dist, args.batch, comm, clocks[mode]) for mode in modes}
    measured = compare(MpiGroup(comm), calls, args.rounds, args.budget, warmup=3)
    sync = {mode: comm.allreduce(clock.ms_per_step() or 0.0) / comm.size for mode, clock in clocks.items()
            if clock.seconds}
    if comm.rank == 0:
        out = {}
        for mode, m in measured.items():
            out[mode] = {"step_ms": m["seconds"] * 1e3, "median_step_ms": m["median_seconds"] * 1e3,
                         "iters": m["iters"], "rounds": m["rounds"]}
            if mode != "allreduce_only":
                out[mode]["samples_per_s"] = (1 if mode == "alone" else comm.size) * args.batch / m["seconds"]
            if mode in sync:
                out[mode]["sync_ms"] = sync[mode]
        _, model = training_step(*_distgrad_modules(), 1, 0)
        print(json.dumps({"framework": "distgrad", "ranks": comm.size, "batch": args.batch,
                          "gradient_elements": gradient_count(model), "modes": out}))


def _distgrad_modules():
    import distgrad as dg
    import distgrad.nn as nn
    import distgrad.optim as optim
    return dg, nn, optim


if __name__ == "__main__":
    main()
