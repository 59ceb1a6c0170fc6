"""Ranks that call different collectives, for test_collective_verification.py (2 ranks).

    mpiexec -n 2 python mismatched_calls.py CASE

Each rank catches what its call raises and prints ``rank R raised: <message>`` on one line,
then both run one more all-reduce (the slot exchanges stay paired after a mismatch) and print
``rank R done <value>``. Cases (rank 0's call against rank 1's):

  shapes        all_reduce of shape (4,) against (6,)
  gather        all_gather of shape (2, 3) against (3, 2)
  barrier       all_reduce against barrier
  sizes         all_reduce of 3 elements against 100,000 (a small against a large message)
  dtypes        broadcast of float32 (5,) against float64 (5,)
  uneven        DDP without join(): rank 1 has one batch less and all-reduces a metric while
                rank 0 reduces its gradient bucket; rank 0 prints "step 2 applied" if its
                optimizer took the step
  recv_larger   rank 0 sends 3 floats, rank 1 receives into a tensor of 5
  recv_smaller  rank 0 sends 5 floats, rank 1 receives into a tensor of 3
"""
import sys

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
from distgrad import optim


def uneven(rank):
    dg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Linear(4, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    batches = 2 if rank == 0 else 1
    for step in range(1, batches + 1):
        opt.zero_grad()
        model(dg.ones(2, 4) * (rank + step)).sum().backward()
        opt.step()
        print(f"rank {rank} step {step} applied", flush=True)
    metric = dg.tensor([5.0])
    dist.all_reduce(metric)
    print(f"rank {rank} metric {metric.item()}", flush=True)


def call(case, rank):
    if case == "shapes":
        dist.all_reduce(dg.ones(4 if rank == 0 else 6))
    elif case == "gather":
        dist.all_gather(dg.ones((2, 3) if rank == 0 else (3, 2)))
    elif case == "barrier":
        dist.all_reduce(dg.ones(3)) if rank == 0 else dist.barrier()
    elif case == "sizes":
        t = dg.ones(3 if rank == 0 else 100_000)
        dist.all_reduce(t)
        print(f"rank {rank} sum {t.sum().item()}", flush=True)
    elif case == "dtypes":
        dist.broadcast(dg.ones(5, dtype=dg.float32 if rank == 0 else dg.float64), src=0)
    elif case == "uneven":
        uneven(rank)
    elif case.startswith("recv_"):
        sent, room = (3, 5) if case == "recv_larger" else (5, 3)
        if rank == 0:
            dist.send(dg.ones(sent), dst=1)
        else:
            dist.recv(dg.zeros(room), src=0)
    else:
        raise SystemExit(f"unknown case {case}")


def main():
    case, rank = sys.argv[1], dist.get_rank()
    try:
        call(case, rank)
    except RuntimeError as exc:
        print(f"rank {rank} raised: {exc}", flush=True)
    after = dg.from_numpy(np.array([1.0]))
    if case in ("shapes", "gather", "barrier", "sizes", "dtypes"):  # one collective each: still paired
        dist.all_reduce(after)
    print(f"rank {rank} done {after.item()}", flush=True)


if __name__ == "__main__":
    main()
