"""What a timeline costs: the seed MLP (784-128-10, SGD with momentum) under DDP on 2 ranks,
batch 128 per rank, with the run timeline recording (what DISTGRAD_TIMELINE and
distgrad-run --timeline switch on: ops, collectives, bucket marks, optimizer steps) and without.

    python -m benchmarks.timeline_cost             # starts itself on 2 ranks
    python -m benchmarks.timeline_cost --picture   # README's results/timeline_2ranks.png instead

Rounds alternate off and on (which goes first alternates too), so a load that comes and goes on
a shared machine falls on both; each round times STEPS steps after a barrier. The cost is the
median over rounds of on/off - 1. Target (issue 17): at most 5%. Writes results/timeline_cost.json.
"""
import os
import statistics
import sys
import time

import numpy

ROUNDS, STEPS, BATCH = 30, 40, 128


def _rank_main():
    import distgrad.distributed as dist
    from distgrad.profiler.run_timeline import RunTimeline
    from benchmarks.lib.common import write_results
    from benchmarks.lib.seed_ddp import seed_mlp_ddp, timed_steps

    model, optimizer, inputs, labels = seed_mlp_ddp(BATCH)

    def steps():
        return timed_steps(model, optimizer, inputs, labels, STEPS)

    events_per_step = {False: [], True: []}

    def recorded(ops=False):
        run = RunTimeline(None, ops=ops).start()
        try:
            return steps()
        finally:
            run.discard()  # measured, never written
            events_per_step[ops].append(len(run.prof.events()) / STEPS)

    steps()  # warm-up: buckets rebuilt, momentum buffers made
    recorded()
    off, on, on_ops = [], [], []
    for round_ in range(ROUNDS):
        if round_ % 2:
            off.append(steps())
            on.append(recorded())
            on_ops.append(recorded(ops=True))
        else:
            on_ops.append(recorded(ops=True))
            on.append(recorded())
            off.append(steps())
    costs = [b / a - 1 for a, b in zip(off, on)]
    costs_ops = [b / a - 1 for a, b in zip(off, on_ops)]
    op_ns, span_ns = _recording_ns()
    if dist.get_rank() == 0:
        payload = {"ranks": dist.get_world_size(), "batch_per_rank": BATCH, "rounds": ROUNDS,
                   "steps_per_round": STEPS, "off_step_seconds_median": statistics.median(off),
                   "on_step_seconds_median": statistics.median(on), "cost_median": statistics.median(costs),
                   "off_step_seconds_best": min(off), "on_step_seconds_best": min(on),
                   "cost_of_best": min(on) / min(off) - 1,
                   "events_per_step": statistics.median(events_per_step[False]),
                   "with_ops": {"on_step_seconds_median": statistics.median(on_ops),
                                "cost_median": statistics.median(costs_ops), "cost_of_best": min(on_ops) / min(off) - 1,
                                "events_per_step": statistics.median(events_per_step[True])},
                   "ns_per_op_event": op_ns, "ns_per_span_event": span_ns}
        # The same cost accounted event by event: steady against a load that comes and goes.
        payload["cost_accounted"] = payload["events_per_step"] * max(op_ns, span_ns) * 1e-9 / min(off)
        print(f"seed MLP, 2 ranks x batch {BATCH}: step {1e3 * payload['off_step_seconds_median']:.3f} ms off, "
              f"{1e3 * payload['on_step_seconds_median']:.3f} ms with the timeline recording; cost "
              f"{100 * payload['cost_median']:.1f}% (median of {ROUNDS} paired rounds), "
              f"{100 * payload['cost_of_best']:.1f}% best against best")
        print(f"  {payload['events_per_step']:.0f} events a step, {span_ns:.0f} ns a collective's: "
              f"{100 * payload['cost_accounted']:.1f}% of the best step off, counted event by event")
        with_ops = payload["with_ops"]
        print(f"  with every op too (DISTGRAD_TIMELINE_OPS=1): {with_ops['events_per_step']:.0f} events a step, "
              f"{op_ns:.0f} ns an op's; cost {100 * with_ops['cost_median']:.1f}% (median), "
              f"{100 * with_ops['cost_of_best']:.1f}% best against best")
        print("results in", write_results("timeline_cost", payload))


def _recording_ns(calls=20000):
    """Nanoseconds recording adds to an op (timed apply, forward) and to a collective's span
    (its start, completion and facts), each the best of 5 runs of ``calls``."""
    import distgrad as dg
    from distgrad.profiler import profile
    from distgrad.profiler.patches import _timed_collective
    from distgrad.world.comm.base import Work

    x = dg.ones(4)
    array = numpy.ones(4, numpy.float32)
    collective = _timed_collective("all_reduce", lambda comm, a, op="sum": Work(lambda: True))

    def best(fn):
        times = []
        for _ in range(5):
            started = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter_ns() - started) / calls)
        return min(times)

    def reduce_and_wait():
        collective(None, array).wait()

    plain_op, plain_span = best(lambda: dg.relu(x)), best(reduce_and_wait)
    with profile():
        return best(lambda: dg.relu(x)) - plain_op, best(reduce_and_wait) - plain_span


def _picture():
    """README's picture: 3 steps of a 4-layer MLP (784-1024-1024-1024-10, batch 128 per rank)
    under DDP with 1 MB buckets, so each bucket's all-reduce starts while backward goes on."""
    import distgrad as dg
    import distgrad.distributed as dist
    import distgrad.nn as nn
    from distgrad.profiler import plot_timeline, record_function, timeline
    from benchmarks.lib.common import RESULTS, single_thread

    single_thread()
    dist.init()
    dg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
        nn.Linear(1024, 10)), bucket_cap_mb=1)
    optimizer = dg.optim.SGD(model.parameters(), lr=0.01)
    inputs, labels = dg.randn(BATCH, 784), dg.randint(0, 10, (BATCH,))

    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    for _ in range(3):  # warm-up: buckets rebuilt in arrival order
        step()
    trace = os.path.join(RESULTS, "timeline_2ranks.json")
    with timeline(trace):
        for n in range(3):
            with record_function(f"step {n}"):
                step()
    if dist.get_rank() == 0:
        png = plot_timeline(trace, os.path.join(RESULTS, "timeline_2ranks.png"),
                            "3 steps, 2 ranks: MLP 784-1024-1024-1024-10, batch 128 per rank, 1 MB buckets")
        os.remove(trace)
        print("picture in", png)


def main():
    from distgrad.utils.ranks import launched_rank_and_size
    if launched_rank_and_size() is not None:
        _picture() if "--picture" in sys.argv else _rank_main()
        return
    from benchmarks.lib.launchers import run_mpi
    sys.stdout.write(run_mpi(2, "benchmarks.timeline_cost", sys.argv[1:]))


if __name__ == "__main__":
    main()
