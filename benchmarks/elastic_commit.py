"""What elastic mode costs: a commit of the seed MLP's state (784-128-10, SGD with momentum,
an ElasticSampler) against the time of a training step (batch 64), and a restore.

    python -m benchmarks.elastic_commit

Target (issue 15): a commit every 10 steps costs at most 5% of those steps' time. One
process, one thread; medians of repeated runs. Writes results/elastic_commit.json.
"""
import statistics
import time

import numpy

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from benchmarks.lib.common import single_thread, write_results
from distgrad.data import TensorDataset
from distgrad.distributed.elastic import ElasticSampler, State

EVERY, BATCH = 10, 64


def seed_mlp():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, optimizer


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    single_thread()
    model, optimizer = seed_mlp()
    rng = numpy.random.default_rng(0)
    inputs = dg.from_numpy(rng.standard_normal((BATCH, 1, 28, 28)).astype(numpy.float32))
    labels = dg.from_numpy(rng.integers(0, 10, BATCH))
    sampler = ElasticSampler(TensorDataset(dg.zeros(60000)), num_replicas=1, rank=0)
    state = State(model, optimizer, sampler=sampler, epoch=1, step=0)

    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    for _ in range(20):  # warm-up: the momentum buffers exist, so a commit holds them
        step()
    step_s = timed(step, 300)
    commit_s = timed(state.commit, 100)
    restore_s = timed(state.restore, 20)
    share = commit_s / (EVERY * step_s)
    payload = {"step_seconds": step_s, "commit_seconds": commit_s, "restore_seconds": restore_s,
               "commit_every": EVERY, "commit_share_of_steps": share}
    print(f"seed MLP, batch {BATCH}: step {1e3 * step_s:.2f} ms, commit {1e3 * commit_s:.2f} ms, restore "
          f"{1e3 * restore_s:.2f} ms; a commit every {EVERY} steps costs {100 * share:.1f}% of their time")
    print("results in", write_results("elastic_commit", payload))


if __name__ == "__main__":
    main()
