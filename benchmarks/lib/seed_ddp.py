"""The seed MLP (784-128-10, SGD with momentum) under DDP on this job's ranks, with one fixed
synthetic batch per rank: what the benchmarks that time a step against a cost added to it run."""
import numpy


def seed_mlp_ddp(batch):
    """(model, optimizer, inputs, labels) on one thread, the world started, seeded as every rank."""
    import distgrad as dg
    import distgrad.distributed as dist
    import distgrad.nn as nn
    import distgrad.optim as optim
    from .common import single_thread

    single_thread()
    dist.init()
    dg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                                       nn.Linear(128, 10)))
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(dist.get_rank())
    inputs = dg.from_numpy(rng.standard_normal((batch, 1, 28, 28)).astype(numpy.float32))
    labels = dg.from_numpy(rng.integers(0, 10, batch))
    return model, optimizer, inputs, labels


def timed_steps(model, optimizer, inputs, labels, count, after_step=None):
    """Seconds per training step over ``count`` steps after a barrier (``after_step(i)`` runs
    after step i, inside the timing)."""
    import time

    import distgrad.distributed as dist
    import distgrad.nn as nn

    dist.barrier()
    started = time.perf_counter()
    for i in range(count):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
        if after_step is not None:
            after_step(i)
    return (time.perf_counter() - started) / count
