"""A small data-parallel training job with faults on demand, for the reliability tests.

    mpiexec -n 2 python train.py --epochs 4 --checkpoint-dir D [--resume] [--final F]
        [--fault KIND --fault-rank R --fault-step S] [--nonfinite skip|raise] [--log-dir L]

A 16-32-4 MLP, SGD with momentum, synthetic data (fixed seed), DistributedSampler, a
checkpoint at the end of every epoch. Deterministic: a resumed run ends with exactly the
parameters of one that never stopped. ``--final F`` writes every rank's parameters to
``F.rank<r>.npy`` (replicas must agree). Faults, on rank R at global step S (1-based):

  kill, stop        SIGKILL / SIGSTOP this rank (a crash; a frozen or unreachable host)
  backward          raise inside backward (a gradient hook)
  collective        raise inside an all-reduce (the communicator fails, as MPI can)
  loader            raise inside the data loader (the dataset fails to produce a batch)
  checkpoint        the checkpoint write fails half-way (disk full) at the end of epoch S
                    (only rank 0 writes: use --fault-rank 0)
  inf               this rank's inputs become inf: its loss and gradients are not finite
  busy              sleep S/2 seconds then busy-loop (pure Python) S/2 seconds, with --busy S
  uneven            this rank's dataset is longer, so it has more batches than the others
  epoch             this rank runs the next epoch's shuffle (disagrees on the epoch)

``--log-dir L`` sends this rank's stderr and stdout to L/rank<r>.log and writes its pid to
L/pid.<r> (for jobs whose output may not make it back, such as across a cut link).
``--resources F`` records RSS, open file descriptors and threads per rank to F.rank<r>.json.
"""
import argparse
import errno
import hashlib
import json
import os
import signal
import threading
import time

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--epochs", type=int, default=4)
ARGS.add_argument("--samples", type=int, default=256)
ARGS.add_argument("--batch", type=int, default=16)
ARGS.add_argument("--checkpoint-dir")
ARGS.add_argument("--keep", type=int, default=2)
ARGS.add_argument("--resume", action="store_true")
ARGS.add_argument("--final")
ARGS.add_argument("--fault")
ARGS.add_argument("--fault-rank", type=int, default=1)
ARGS.add_argument("--fault-step", type=int, default=3)
ARGS.add_argument("--busy", type=float, default=20.0)
ARGS.add_argument("--nonfinite", choices=("skip", "raise"))
ARGS.add_argument("--log-dir")
ARGS.add_argument("--resources")
ARGS.add_argument("--sample-every", type=int, default=100)
args = ARGS.parse_args()

RANK = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
if args.log_dir:  # before anything prints, MPI included
    log = os.open(os.path.join(args.log_dir, f"rank{RANK}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    with open(os.path.join(args.log_dir, f"pid.{RANK}"), "w") as f:
        f.write(str(os.getpid()))

import numpy as np  # noqa: E402

import distgrad as dg  # noqa: E402
import distgrad.distributed as dist  # noqa: E402
import distgrad.nn as nn  # noqa: E402
import distgrad.optim as optim  # noqa: E402
from distgrad import serialization  # noqa: E402
from distgrad.data import DataLoader, DistributedSampler, TensorDataset  # noqa: E402
from distgrad.distributed.agreement import check_epoch  # noqa: E402
from distgrad.utils.checkpoint import Checkpointer  # noqa: E402
from distgrad.utils.nonfinite import step_if_finite  # noqa: E402

dist.init()
rank, size = dist.get_rank(), dist.get_world_size()
mine = args.fault is not None and rank == args.fault_rank


def say(text):
    """One line, in one write: lines of different ranks never interleave in mpiexec's output."""
    os.write(1, f"[train rank {rank}] {text}\n".encode())


class FlakyData(TensorDataset):
    """Fails to produce a batch on demand."""
    fail = False

    def get_batch(self, indices):
        if self.fail:
            raise OSError(errno.EIO, "simulated read error while loading a batch")
        return super().get_batch(indices)


def dataset():
    rng = np.random.default_rng(0)
    n = args.samples + (args.batch * size if args.fault == "uneven" and mine else 0)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    y = rng.integers(0, 4, n)
    return FlakyData(dg.from_numpy(x), dg.from_numpy(y))


def fail_checkpoint_writes():
    """Disk full half-way through the archive (rank 0 writes checkpoints)."""
    write = serialization._HashingWriter.write
    written = [0]

    def full(self, data):
        written[0] += len(data)
        if written[0] > 2000:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return write(self, data)
    serialization._HashingWriter.write = full


def fail_allreduces(comm):
    def broken(array, op, element):
        raise RuntimeError(f"{comm.prefix} simulated network failure inside all_reduce of {array.shape}")
    comm._start_allreduce = broken


def raise_in_backward(grad):
    raise ValueError(f"simulated failure inside backward on rank {rank}")


def busy(seconds):
    say(f"busy for {seconds:g} s (sleeping, then a pure-Python loop)")
    time.sleep(seconds / 2)
    end, spins = time.monotonic() + seconds / 2, 0
    while time.monotonic() < end:
        spins += 1
    say("no longer busy")


def digest():
    """A fingerprint of this replica's parameters: equal on every rank when they agree."""
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16]


def resources():
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"rss": rss, "fds": len(os.listdir("/proc/self/fd")), "threads": threading.active_count()}


dg.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
ddp = dist.DistributedDataParallel(model)
optimizer = optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
data = dataset()
sampler = DistributedSampler(data, shuffle=True, seed=1)
loader = DataLoader(data, batch_size=args.batch, sampler=sampler)
ckpt = Checkpointer(args.checkpoint_dir, keep=args.keep) if args.checkpoint_dir else None
first_epoch, step = 1, 0
if args.resume and ckpt:
    state = ckpt.load(ddp, optimizer, sampler=sampler)
    if state is not None:
        first_epoch, step = state["epoch"] + 1, state["step"]
        say(f"resumed after epoch {state['epoch']} (step {step})")

def fault_due(kind, now):
    """Whether fault ``kind`` fires on this rank at ``now`` (a step, or an epoch for
    checkpoint faults); says so, with the time, when it does."""
    if not (mine and args.fault == kind and now == args.fault_step):
        return False
    say(f"fault {kind} at {'epoch' if kind == 'checkpoint' else 'step'} {now} (t={time.time():.3f})")
    return True


samples, skipped = [], 0
for epoch in range(first_epoch, args.epochs + 1):
    sampler.set_epoch(epoch + (1 if mine and args.fault == "epoch" else 0))
    check_epoch(loader)  # the epoch its sampler was set to, and its number of batches
    batches = iter(loader)
    while True:
        data.fail = fault_due("loader", step + 1)
        batch = next(batches, None)
        if batch is None:
            break
        inputs, labels = batch
        step += 1
        if fault_due("kill", step) or fault_due("stop", step):
            os.kill(os.getpid(), signal.SIGKILL if args.fault == "kill" else signal.SIGSTOP)
        if fault_due("inf", step):
            inputs = inputs * float("inf")
        if fault_due("busy", step):
            busy(args.busy)
        if fault_due("collective", step):
            fail_allreduces(dist.communicator())
        optimizer.zero_grad()
        outputs = ddp(inputs)
        if fault_due("backward", step):
            outputs.register_hook(raise_in_backward)
        loss = nn.functional.cross_entropy(outputs, labels)
        loss.backward()
        if args.nonfinite:
            if not step_if_finite(optimizer, args.nonfinite, loss=loss, step=step, model=model):
                skipped += 1
                say(f"skipped step {step}")
        else:
            optimizer.step()
        if args.resources and step % args.sample_every == 0:
            samples.append(dict(step=step, **resources()))
    say(f"epoch {epoch} digest {digest()}")
    if fault_due("checkpoint", epoch):
        fail_checkpoint_writes()
    if ckpt:
        ckpt.save(epoch, step, ddp, optimizer, sampler=sampler)

if args.final:
    flat = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    np.save(f"{args.final}.rank{rank}.npy", flat)
if args.resources:
    end = resources()  # before opening the report, which is one more file descriptor
    with open(f"{args.resources}.rank{rank}.json", "w") as f:
        json.dump({"samples": samples, "end": end}, f)
say(f"done: {step} steps, {skipped} skipped, finite parameters: "
    f"{all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())}")
