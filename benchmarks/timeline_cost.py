"""What a timeline costs: the seed MLP (784-128-10, SGD with momentum) under DDP on 2 ranks,
batch 128 per rank, with the run timeline recording (what DISTGRAD_TIMELINE and
distgrad-run --timeline switch on: ops, collectives, bucket marks, optimizer steps) and without.

    python -m benchmarks.timeline_cost          # starts itself on 2 ranks

Rounds alternate off and on (which goes first alternates too), so a load that comes and goes on
a shared machine falls on both; each round times STEPS steps after a barrier. The cost is the
median over rounds of on/off - 1. Target (issue 17): at most 5%. Writes results/timeline_cost.json.
"""
import statistics
import sys
import time

import numpy

ROUNDS, STEPS, BATCH = 30, 40, 128


def _rank_main():
    import distgrad as dg
    import distgrad.distributed as dist
    import distgrad.nn as nn
    import distgrad.optim as optim
    from distgrad.profiler.run_timeline import RunTimeline
    from benchmarks.lib.common import single_thread, write_results

    single_thread()
    dist.init()
    dg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                                       nn.Linear(128, 10)))
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(dist.get_rank())
    inputs = dg.from_numpy(rng.standard_normal((BATCH, 1, 28, 28)).astype(numpy.float32))
    labels = dg.from_numpy(rng.integers(0, 10, BATCH))

    def steps():
        dist.barrier()
        started = time.perf_counter()
        for _ in range(STEPS):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), labels).backward()
            optimizer.step()
        return (time.perf_counter() - started) / STEPS

    def recorded():
        run = RunTimeline(None).start()
        try:
            return steps()
        finally:
            run.discard()  # measured, never written

    steps()  # warm-up: buckets rebuilt, momentum buffers made
    recorded()
    off, on = [], []
    for round_ in range(ROUNDS):
        if round_ % 2:
            off.append(steps())
            on.append(recorded())
        else:
            on.append(recorded())
            off.append(steps())
    costs = [b / a - 1 for a, b in zip(off, on)]
    if dist.get_rank() == 0:
        payload = {"ranks": dist.get_world_size(), "batch_per_rank": BATCH, "rounds": ROUNDS,
                   "steps_per_round": STEPS, "off_step_seconds_median": statistics.median(off),
                   "on_step_seconds_median": statistics.median(on), "cost_median": statistics.median(costs),
                   "off_step_seconds_best": min(off), "on_step_seconds_best": min(on),
                   "cost_of_best": min(on) / min(off) - 1}
        print(f"seed MLP, 2 ranks x batch {BATCH}: step {1e3 * payload['off_step_seconds_median']:.3f} ms off, "
              f"{1e3 * payload['on_step_seconds_median']:.3f} ms with the timeline recording; cost "
              f"{100 * payload['cost_median']:.1f}% (median of {ROUNDS} paired rounds), "
              f"{100 * payload['cost_of_best']:.1f}% best against best")
        print("results in", write_results("timeline_cost", payload))


def main():
    from distgrad.utils.ranks import launched_rank_and_size
    if launched_rank_and_size() is not None:
        _rank_main()
        return
    from benchmarks.lib.launchers import run_mpi
    sys.stdout.write(run_mpi(2, "benchmarks.timeline_cost"))


if __name__ == "__main__":
    main()
