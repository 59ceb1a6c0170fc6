"""What elastic mode costs an undisturbed run: examples/mnist_mlp.py (the seed MLP, batch 64
per rank, SGD with momentum) on 2 ranks under distgrad-run, with --elastic (a commit every 10
steps and at each epoch's end, the sampler's progress recorded every step) and without.

    python -m benchmarks.elastic_overhead [--rounds 5] [--epochs 2]

Runs alternate plain and elastic (which goes first alternates too), so a load that comes and
goes on a shared machine falls on both. A run's time per step is its report's total_seconds
(training, the test evaluation and the epoch-end commits, after start-up) over its steps. The
overhead is the median over rounds of elastic/plain - 1. Target (issue 15): at most 3%. Writes
results/elastic_overhead.json. Needs MNIST ($DISTGRAD_DATA or --data-dir).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

from benchmarks.lib.common import ROOT, write_results
from benchmarks.lib.launchers import one_thread_env

RANKS, BATCH, TRAIN_SAMPLES = 2, 64, 60000


def run_once(elastic, epochs, data_dir, output):
    cmd = [sys.executable, "-m", "distgrad.run", "-n", str(RANKS), *(["--max-restarts", "1"] if elastic else []),
           os.path.join(ROOT, "examples", "mnist_mlp.py"), "--epochs", str(epochs), "--output", output,
           *(["--elastic"] if elastic else []), *(["--data-dir", data_dir] if data_dir else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=one_thread_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    with open(os.path.join(output, "mnist_mlp.json")) as f:
        report = json.load(f)
    steps = epochs * math.ceil(TRAIN_SAMPLES / RANKS / BATCH)
    return report["total_seconds"] / steps, report["final_test_accuracy"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    plain, elastic, ratios = [], [], []
    with tempfile.TemporaryDirectory() as output:
        for r in range(args.rounds):
            times = {}
            for mode in ((False, True) if r % 2 == 0 else (True, False)):
                times[mode], _ = run_once(mode, args.epochs, args.data_dir, output)
            plain.append(times[False])
            elastic.append(times[True])
            ratios.append(times[True] / times[False])
            print(f"round {r + 1}: plain {1e3 * times[False]:.3f} ms/step, elastic {1e3 * times[True]:.3f} ms/step "
                  f"({100 * (ratios[-1] - 1):+.1f}%)", flush=True)
    overhead = statistics.median(ratios) - 1
    payload = {"ranks": RANKS, "batch_per_rank": BATCH, "epochs": args.epochs, "rounds": args.rounds,
               "plain_step_seconds": plain, "elastic_step_seconds": elastic,
               "median_plain_step_seconds": statistics.median(plain),
               "median_elastic_step_seconds": statistics.median(elastic), "overhead": overhead,
               "load_average_at_end": os.getloadavg()[0]}
    print(f"elastic mode (a commit every 10 steps) on an undisturbed run: {100 * overhead:+.1f}% per step "
          f"(median of {args.rounds} interleaved rounds; target <= 3%)")
    print("results in", write_results("elastic_overhead", payload))


if __name__ == "__main__":
    main()
