"""Memory: what activation checkpointing saves, and what counting memory costs.

    python -m benchmarks.memory

1. Peak host memory of forward + backward of a 16-block residual MLP (x + W2 gelu(W1 x),
   width 256, 4x inside, batch 256, float32), counted by distgrad.memory, with and without
   checkpoint_sequential (16 segments, and 4), gradients already allocated so only
   activations and backward temporaries count.
2. The step time of a small MLP training step with distgrad.memory counting and without
   (tracemalloc slows every allocation while it runs).
3. Under mpiexec (``mpiexec -n 2 python -m benchmarks.memory --ranks``): per rank, a small GPT
   (examples/char_gpt.py's, width 256, 4 blocks, 4 heads, 64 tokens x 8, vocabulary 96) with
   Adam under plain DDP, DDP + ZeroRedundancyOptimizer (ZeRO-1) and
   DDP(gradient_as_shards=True) + ZeroRedundancyOptimizer (ZeRO-2; also with 2 MB buckets,
   whose other ranks' shares are freed as each is reduced): optimizer state bytes,
   gradient bytes held between steps, peak host memory from the model's creation through 3
   steps, and the best step time of 5 rounds taken in turn.
Prints a table; writes results/memory.json (memory_n2.json ... for --ranks).
"""
import argparse
import time

import numpy as np

from benchmarks.lib.common import best_ms, single_thread, write_results

single_thread()

import distgrad  # noqa: E402
import distgrad.nn as nn  # noqa: E402
from distgrad import memory  # noqa: E402
from distgrad.utils.checkpoint import checkpoint_sequential  # noqa: E402


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        return x + self.down(nn.functional.gelu(self.up(x)))


def checkpoint_peaks(width=256, batch=256, blocks=16):
    distgrad.manual_seed(0)
    model = nn.Sequential(*[Block(width) for _ in range(blocks)])
    x = distgrad.randn(batch, width)
    runs = {"plain": model,
            "checkpoint, 16 segments": lambda t: checkpoint_sequential(model, 16, t, use_reentrant=False),
            "checkpoint, 4 segments": lambda t: checkpoint_sequential(model, 4, t, use_reentrant=False)}
    memory.enable()
    model(x).sum().backward()  # every .grad allocated once
    peaks = {}
    for name, run in runs.items():
        model.zero_grad(set_to_none=False)
        memory.reset_peak()
        start = memory.memory_allocated()
        t0 = time.perf_counter()
        run(x).sum().backward()
        peaks[name] = {"peak_mb": (memory.max_allocated() - start) / 2**20,
                       "seconds": time.perf_counter() - t0}
    memory.disable()
    return peaks


def counting_cost():
    distgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = distgrad.optim.Adam(model.parameters())
    x, y = distgrad.randn(32, 64), distgrad.randint(0, 10, (32,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    off = best_ms(step)
    memory.enable()
    on = best_ms(step)
    memory.disable()
    return {"step_ms_off": off, "step_ms_on": on, "slowdown": on / off}


def gpt_setup(kind, steps=3):
    """``kind``: "ddp", "zero1", "zero2" or "zero2_2mb". This rank's step function, its optimizer state
    bytes, its gradient bytes after a step and its peak MB over creating the model and taking
    ``steps`` steps."""
    import distgrad.distributed as dist
    import distgrad.optim as optim
    from distgrad.distributed.optim import ZeroRedundancyOptimizer

    from benchmarks.gpt_step import gpt_class
    memory.enable()
    memory.reset_peak()
    start = memory.memory_allocated()
    distgrad.manual_seed(0)
    model = dist.DistributedDataParallel(gpt_class(distgrad)(96, 64, 4, 256, 4, dropout=0.0),
                                         gradient_as_shards=kind.startswith("zero2"),
                                         bucket_cap_mb=2 if kind == "zero2_2mb" else 25)
    opt = (optim.Adam(model.parameters(), lr=3e-4) if kind == "ddp"
           else ZeroRedundancyOptimizer(model.parameters(), optimizer_class=optim.Adam, lr=3e-4))
    tokens = np.random.default_rng(dist.get_rank()).integers(0, 96, (8, 65))
    x, y = distgrad.from_numpy(tokens[:, :-1].copy()), distgrad.from_numpy(tokens[:, 1:].copy())

    def step():
        opt.zero_grad()
        logits = model(x)
        nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1)).backward()
        opt.step()

    for _ in range(steps):
        step()
    peak = (memory.max_allocated() - start) / 2**20
    state = sum(v.array.nbytes for s in opt.state.values() for v in s.values() if isinstance(v, distgrad.Tensor))
    grads = sum(p.grad.array.nbytes for p in model.parameters() if p.grad is not None)
    memory.disable()
    return step, state, grads, peak


def ranks_main(rounds=5):
    import distgrad.distributed as dist
    setups = {kind: gpt_setup(kind) for kind in ("ddp", "zero1", "zero2", "zero2_2mb")}
    best = {name: float("inf") for name in setups}
    for _ in range(rounds):  # interleaved, best kept: the machine's drift hits both alike
        for name, (step, _, _, _) in setups.items():
            dist.barrier()
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], 1e3 * (time.perf_counter() - t0))
    rows = {name: dist.communicator().allgather_object({"state_mb": state / 2**20, "grad_mb": grads / 2**20,
                                                         "peak_mb": peak, "step_ms": best[name]})
            for name, (_, state, grads, peak) in setups.items()}
    if dist.get_rank() == 0:
        n = dist.get_world_size()
        print(f"GPT width 256, 4 blocks, Adam, {n} ranks: per rank optimizer state / gradients / peak host memory / "
              "step time")
        for name, per_rank in rows.items():
            cells = "  ".join(f"r{r}: {c['state_mb']:5.2f} / {c['grad_mb']:5.2f} / {c['peak_mb']:6.1f} MB / "
                              f"{c['step_ms']:6.1f} ms"
                              for r, c in enumerate(per_rank))
            print(f"  {name:9s} {cells}")
        write_results(f"memory_n{n}", rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", action="store_true", help="DDP vs ZeRO-1 and ZeRO-2 per rank (run under mpiexec)")
    if parser.parse_args().ranks:
        return ranks_main()
    peaks = checkpoint_peaks()
    plain = peaks["plain"]["peak_mb"]
    print("16-block residual MLP, width 256, batch 256: peak memory of forward + backward")
    for name, p in peaks.items():
        print(f"  {name:26s} {p['peak_mb']:8.2f} MB  ({plain / p['peak_mb']:.1f}x smaller)  {p['seconds'] * 1e3:7.1f} ms")
    cost = counting_cost()
    print(f"small MLP step: {cost['step_ms_off']:.3f} ms without counting, {cost['step_ms_on']:.3f} ms with "
          f"({cost['slowdown']:.2f}x)")
    write_results("memory", {"checkpoint": peaks, "counting_cost": cost})


if __name__ == "__main__":
    main()
