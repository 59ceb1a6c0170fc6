"""An elastic training job for the reliability tests, run under distgrad-run --max-restarts.

    distgrad-run -n 2 --max-restarts 3 elastic_train.py --log-dir L [--kill ATTEMPT:RANK:STEP ...]

A 16-32-4 MLP on synthetic data, SGD with momentum and a StepLR schedule, an ElasticSampler,
an elastic.State committed every --commit-every steps and at the end of each epoch.
``--kill A:R:S`` SIGKILLs rank R at global step S in attempt A (DISTGRAD_RESTART_COUNT);
``--raise A:R:S`` makes it raise there instead (the rank fails, its host stays);
``--kill-in-restore A:R`` SIGKILLs rank R of attempt A inside State.restore(), after the ranks
agreed on the snapshot and before it arrives.
``--keep-global-batch``: after ranks are lost, each rank accumulates several batches per step
(ElasticSampler(keep_global_batch=True), elastic.steps and micro_steps).
``--mnist DIR``: the seed MLP (784-128-10) on MNIST's 60,000 training images instead (no LR
decay unless --gamma), rank 0 printing the test accuracy at the end.
Every rank appends ``epoch step index...`` per step to L/samples.a<attempt>.r<rank>, so a
test can check that each sample of each epoch was trained on exactly once across restarts.
"""
import argparse
import os
import signal
import time

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.data import DataLoader, TensorDataset
from distgrad.distributed.elastic import ElasticSampler, State, micro_steps, steps

ARGS = argparse.ArgumentParser()
ARGS.add_argument("--epochs", type=int, default=3)
ARGS.add_argument("--samples", type=int, default=384)
ARGS.add_argument("--batch", type=int, default=8)
ARGS.add_argument("--commit-every", type=int, default=4)
ARGS.add_argument("--log-dir", required=True)
ARGS.add_argument("--keep-global-batch", action="store_true")
ARGS.add_argument("--mnist", metavar="DIR", default=None)
ARGS.add_argument("--lr", type=float, default=0.05)
ARGS.add_argument("--gamma", type=float, default=None, help="StepLR's every 10 steps (default 0.9; 1 with --mnist)")
ARGS.add_argument("--step-seconds", type=float, default=0.0, help="sleep this long in every step (slower jobs)")
ARGS.add_argument("--kill", action="append", default=[], metavar="ATTEMPT:RANK:STEP")
ARGS.add_argument("--raise", dest="raise_", action="append", default=[], metavar="ATTEMPT:RANK:STEP")
ARGS.add_argument("--kill-in-restore", action="append", default=[], metavar="ATTEMPT:RANK")
args = ARGS.parse_args()

attempt = int(os.environ.get("DISTGRAD_RESTART_COUNT", "0"))
dist.init()
rank, size = dist.get_rank(), dist.get_world_size()


def faults(specs):
    """The steps at which this rank of this attempt fails."""
    return {int(s) for a, r, s in (spec.split(":") for spec in specs) if int(a) == attempt and int(r) == rank}


kill_at, raise_at = faults(args.kill), faults(args.raise_)


def say(text):
    os.write(1, f"[elastic rank {rank}] {text}\n".encode())


def mnist(train):
    """Normalized images (N, 784) and labels, as examples/mnist_mlp.py sees them."""
    from distgrad.data.datasets import MNIST
    found = MNIST(args.mnist, train=train)
    return ((found.data.numpy().reshape(len(found), -1).astype(np.float32) / 255 - 0.1307) / 0.3081,
            found.targets.numpy())


if args.mnist:
    (x, y), sizes = mnist(True), (784, 128, 10)
else:
    rng = np.random.default_rng(0)
    x, y, sizes = rng.standard_normal((args.samples, 16)).astype(np.float32), rng.integers(0, 4, args.samples), (16, 32, 4)
data = TensorDataset(dg.from_numpy(x), dg.from_numpy(y), dg.from_numpy(np.arange(len(y))))
dg.manual_seed(0)
model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
ddp = dist.DistributedDataParallel(model)
optimizer = optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)
gamma = args.gamma if args.gamma is not None else (1.0 if args.mnist else 0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=gamma)
sampler = ElasticSampler(data, shuffle=True, seed=1, keep_global_batch=args.keep_global_batch)
loader = DataLoader(data, batch_size=args.batch, sampler=sampler)
state = State(ddp, optimizer, scheduler, sampler, epoch=1, step=0)
if f"{attempt}:{rank}" in args.kill_in_restore:
    import distgrad.distributed.elastic.state as state_module

    def dying_broadcast(*_, **__):
        say(f"fault kill in restore (t={time.time():.3f})")
        os.kill(os.getpid(), signal.SIGKILL)

    state_module.broadcast_object = dying_broadcast  # restore's step that sends the snapshot
state.restore()
per_step = sampler.micro_batches_per_step()
say(f"attempt {attempt}: {size} rank(s), from epoch {state.epoch} step {state.step} (t={time.time():.3f}), "
    f"{per_step} batch(es) per step")

log = open(os.path.join(args.log_dir, f"samples.a{attempt}.r{rank}"), "a", buffering=1)
first = True
for epoch in range(state.epoch, args.epochs + 1):
    state.epoch = epoch
    sampler.set_epoch(epoch)
    for i, batches in enumerate(steps(loader, per_step)):
        step = state.step + 1
        if step in kill_at:
            say(f"fault kill at step {step} (t={time.time():.3f})")
            os.kill(os.getpid(), signal.SIGKILL)
        if step in raise_at:
            say(f"fault raise at step {step} (t={time.time():.3f})")
            raise RuntimeError(f"simulated failure at step {step}")
        if first:
            say(f"training at step {step} (t={time.time():.3f})")
            first = False
        time.sleep(args.step_seconds)
        optimizer.zero_grad()
        for inputs, labels, _ in micro_steps(ddp, batches):
            (nn.functional.cross_entropy(ddp(inputs), labels) / len(batches)).backward()
        optimizer.step()
        scheduler.step()
        indices = [k for *_, index in batches for k in index.numpy().tolist()]
        log.write(f"{epoch} {step} {' '.join(map(str, indices))}\n")
        sampler.record_batch(i, len(indices))
        state.step = step
        if step % args.commit_every == 0:
            state.commit()
    state.epoch = epoch + 1
    sampler.set_epoch(epoch + 1)
    state.commit()
say(f"done: epoch {args.epochs}, step {state.step}, lr {optimizer.param_groups[0]['lr']:.6g}")
if args.mnist and rank == 0:
    test_x, test_y = mnist(False)
    with dg.no_grad():
        predicted = model(dg.from_numpy(test_x)).argmax(1).numpy()
    say(f"test accuracy {100 * (predicted == test_y).mean():.2f}%")
