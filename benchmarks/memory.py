"""Memory: what activation checkpointing saves, and what counting memory costs.

    python -m benchmarks.memory

1. Peak host memory of forward + backward of a 16-block residual MLP (x + W2 gelu(W1 x),
   width 256, 4x inside, batch 256, float32), counted by distgrad.memory, with and without
   checkpoint_sequential (16 segments, and 4), gradients already allocated so only
   activations and backward temporaries count.
2. The step time of a small MLP training step with distgrad.memory counting and without
   (tracemalloc slows every allocation while it runs).
Prints a table; writes results/memory.json.
"""
import time

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


def main():
    peaks = checkpoint_peaks()
    plain = peaks["plain"]["peak_mb"]
    print("16-block residual MLP, width 256, batch 256: peak memory of forward + backward")
    for name, p in peaks.items():
        print(f"  {name:26s} {p['peak_mb']:8.2f} MB  ({plain / p['peak_mb']:.1f}x less)  {p['seconds'] * 1e3:7.1f} ms")
    cost = counting_cost()
    print(f"small MLP step: {cost['step_ms_off']:.3f} ms without counting, {cost['step_ms_on']:.3f} ms with "
          f"({cost['slowdown']:.2f}x)")
    write_results("memory", {"checkpoint": peaks, "counting_cost": cost})


if __name__ == "__main__":
    main()
