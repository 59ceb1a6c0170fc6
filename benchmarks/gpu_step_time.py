"""One training step on the GPU (forward, backward, SGD with momentum): distgrad on CuPy
against PyTorch CUDA, the seed MLP at batch 4096 and the small CNN of step_time.py.

    python -m benchmarks.gpu_step_time            # prints a table; the last line is the JSON

Data sit on the GPU already (no host-to-device copies in the step). Each figure is the median
over interleaved rounds (distgrad and PyTorch alternate) of one round's mean step time, a
round being ``steps`` steps between two device synchronizations timed with perf_counter,
after warm-up steps (kernel compilation, cuBLAS handles, memory pools). Both run full
float32 (TF32 off in PyTorch, as CuPy's cuBLAS calls use none). Target: distgrad within
1.2x of PyTorch's step time.
"""
import argparse
import json
import statistics
import sys
import time

from .lib.networks import cnn_layers, mlp_data, mlp_layers

CASES = (("mlp", 4096), ("mlp", 512), ("cnn", 256))
TARGET_RATIO = 1.2


def torch_step(model_name, batch, x, y):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = (mlp_layers if model_name == "mlp" else cnn_layers)(torch.nn).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()
    inputs, labels = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()

    def step():
        opt.zero_grad()
        criterion(model(inputs), labels).backward()
        opt.step()
    return step, torch.cuda.synchronize


def distgrad_step(model_name, batch, x, y):
    import distgrad
    distgrad.manual_seed(0)
    model = (mlp_layers if model_name == "mlp" else cnn_layers)(distgrad.nn).cuda()
    opt = distgrad.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = distgrad.nn.CrossEntropyLoss()
    inputs, labels = distgrad.tensor(x, device="cuda"), distgrad.tensor(y, device="cuda")

    def step():
        opt.zero_grad()
        criterion(model(inputs), labels).backward()
        opt.step()
    return step, distgrad.cuda.synchronize


def round_ms(step, sync, steps):
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps * 1e3


def measure(makers, model_name, batch, rounds, budget_s, warmup):
    """Median ms per step of each framework, rounds interleaved with the order alternating."""
    import numpy as np
    x, y = mlp_data(batch, np.random.default_rng(0))
    steps = {name: make(model_name, batch, x, y) for name, make in makers.items()}
    counts = {}
    for name, (step, sync) in steps.items():
        for _ in range(warmup):
            step()
        once = round_ms(step, sync, 3)
        counts[name] = max(3, int(budget_s * 1e3 / max(once, 1e-3)))
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            step, sync = steps[name]
            times[name].append(round_ms(step, sync, counts[name]))
    return {name: {"median_ms": statistics.median(t), "best_ms": min(t), "steps_per_round": counts[name],
                   "rounds": rounds} for name, t in times.items()}


def frameworks():
    makers, torch_reason = {"distgrad": distgrad_step}, None
    try:
        import torch
        if torch.cuda.is_available():
            makers["torch"] = torch_step
        else:
            torch_reason = "torch %s sees no CUDA device" % torch.__version__
    except ImportError:
        torch_reason = "torch is not installed"
    return makers, torch_reason


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.25, help="seconds per timed round")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    import distgrad
    if not distgrad.cuda.is_available():
        sys.exit("gpu_step_time: no NVIDIA GPU with CuPy here")
    makers, torch_reason = frameworks()
    rows = []
    for model_name, batch in CASES:
        result = measure(makers, model_name, batch, args.rounds, args.budget, args.warmup)
        row = {"model": model_name, "batch": batch, "distgrad_ms": result["distgrad"]["median_ms"],
               "detail": result}
        if "torch" in result:
            row["torch_ms"] = result["torch"]["median_ms"]
            row["distgrad_over_torch"] = row["distgrad_ms"] / row["torch_ms"]
            row["target_met"] = row["distgrad_over_torch"] <= TARGET_RATIO
        rows.append(row)
        print("%-4s batch %5d: distgrad %8.3f ms  torch %8s ms  ratio %s" % (
            model_name, batch, row["distgrad_ms"], "%.3f" % row["torch_ms"] if "torch_ms" in row else "-",
            "%.2f" % row["distgrad_over_torch"] if "torch_ms" in row else "-"), flush=True)
    if torch_reason:
        print("PyTorch not measured:", torch_reason)
    print(json.dumps({"rows": rows, "torch_skipped": torch_reason, "target_ratio": TARGET_RATIO,
                      "device": distgrad.cuda.get_device_name(), "tf32": False}))


if __name__ == "__main__":
    main()
