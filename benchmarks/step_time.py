"""One training step (forward, backward, SGD with momentum) of the seed MLP and a small CNN.

distgrad beside a hand-written NumPy step (MLP) and PyTorch eager (when installed), at batch
32, 128 and 512, one thread, measured in the same run; each framework runs in its own
process so peak memory (RSS) is per framework.

    python -m benchmarks.step_time            # prints a table, writes results/step_time.json
    python -m benchmarks.step_time --no-save  # the table only
    python -m benchmarks.step_time --rounds 1 # one process per framework (quicker, noisier)
"""
import argparse
import json

from .lib import children
from .lib.common import best_ms, peak_rss_mb, single_thread, write_results
from .lib.networks import cnn_layers, mlp_data, mlp_layers

BATCHES = (32, 128, 512)
FRAMEWORKS = ("distgrad", "numpy", "matmul_only", "torch")


def framework_step(lib, model_name, batch):
    """A step function for distgrad or torch: the two share the PyTorch API."""
    import numpy as np
    if lib == "torch":
        import torch as fw
        fw.set_num_threads(1)
    else:
        import distgrad as fw
    import importlib
    nn = importlib.import_module(fw.__name__ + ".nn")
    optim = importlib.import_module(fw.__name__ + ".optim")
    fw.manual_seed(0)
    model = (mlp_layers if model_name == "mlp" else cnn_layers)(nn)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    x, y = mlp_data(batch, np.random.default_rng(0))
    inputs, labels = fw.from_numpy(x), fw.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        opt.step()
    return step


def numpy_mlp_step(batch, products_only=False):
    """The seed MLP written by hand in NumPy: the floor for an engine's overhead."""
    import numpy as np
    rng = np.random.default_rng(0)
    x, y = mlp_data(batch, rng)
    x = x.reshape(batch, -1)
    w1 = rng.standard_normal((128, 784)).astype(np.float32) * 0.03
    b1 = np.zeros(128, np.float32)
    w2 = rng.standard_normal((10, 128)).astype(np.float32) * 0.08
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    bufs = [np.zeros_like(p) for p in params]
    rows = np.arange(batch)

    def products():
        h = x @ w1.T
        out = h @ w2.T
        g_w2 = out.T @ h
        g_h = out @ w2
        g_w1 = g_h.T @ x
        return g_w1, g_w2

    def step():
        h = x @ w1.T + b1
        a = np.maximum(h, 0)
        z = a @ w2.T + b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        p /= batch
        g_w2 = p.T @ a
        g_b2 = p.sum(axis=0)
        g_a = p @ w2
        g_a *= h > 0
        g_w1 = g_a.T @ x
        g_b1 = g_a.sum(axis=0)
        for param, buf, grad in zip(params, bufs, (g_w1, g_b1, g_w2, g_b2)):
            buf *= 0.9
            buf += grad
            param -= 0.01 * buf
    return products if products_only else step


def child(framework):
    single_thread()
    results = {}
    for model_name in ("mlp", "cnn"):
        for batch in BATCHES:
            if framework in ("numpy", "matmul_only"):
                if model_name != "mlp":
                    continue
                fn = numpy_mlp_step(batch, products_only=framework == "matmul_only")
            else:
                fn = framework_step(framework, model_name, batch)
            results[f"{model_name}/{batch}"] = best_ms(fn, repeat=5, min_time=0.3 if model_name == "mlp" else 0.6)
    results["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(results))


def run_child(framework):
    return children.run_child("benchmarks.step_time", framework)


def measure_interleaved(rounds):
    """Every framework's child ``rounds`` times, in alternating order, keeping each step's best
    round: another program on the machine only ever adds time, and a slow phase of a shared
    machine then hits every framework alike instead of whichever happened to run in it."""
    best = {}
    for r in range(rounds):
        for fw in (FRAMEWORKS if r % 2 == 0 else FRAMEWORKS[::-1]):
            res = run_child(fw)
            if res is None:  # torch not installed
                best[fw] = None
                continue
            previous = best.get(fw)
            best[fw] = res if previous is None else {
                key: (max if key == "peak_rss_mb" else min)(previous[key], value) for key, value in res.items()}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=FRAMEWORKS)
    parser.add_argument("--no-save", action="store_true", help="print the table only, leave results/ alone")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each framework, interleaved")
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    measured = measure_interleaved(args.rounds)
    rows = []
    for model_name in ("mlp", "cnn"):
        for batch in BATCHES:
            key = f"{model_name}/{batch}"
            row = {"model": model_name, "batch": batch}
            for fw, res in measured.items():
                if res and key in res:
                    row[f"{fw}_ms"] = round(res[key], 4)
            dg = row["distgrad_ms"]
            if "torch_ms" in row:
                row["distgrad_over_torch"] = round(dg / row["torch_ms"], 3)
            if "numpy_ms" in row:
                row["distgrad_over_numpy"] = round(dg / row["numpy_ms"], 3)
            if "matmul_only_ms" in row:
                row["distgrad_over_matmuls"] = round(dg / row["matmul_only_ms"], 3)
            rows.append(row)
    rss = {fw: round(res["peak_rss_mb"], 1) for fw, res in measured.items() if res}
    print(f"{'model':5} {'batch':>5} {'distgrad ms':>11} {'numpy ms':>9} {'matmuls ms':>10} "
          f"{'torch ms':>9} {'dg/torch':>8} {'dg/matmuls':>10}")
    for r in rows:
        print(f"{r['model']:5} {r['batch']:5d} {r['distgrad_ms']:11.3f} {r.get('numpy_ms', float('nan')):9.3f} "
              f"{r.get('matmul_only_ms', float('nan')):10.3f} {r.get('torch_ms', float('nan')):9.3f} "
              f"{r.get('distgrad_over_torch', float('nan')):8.3f} {r.get('distgrad_over_matmuls', float('nan')):10.3f}")
    print("peak RSS per process (MB):", rss)
    if not args.no_save:
        path = write_results("step_time", {"rows": rows, "peak_rss_mb": rss, "threads": 1, "rounds": args.rounds,
                                           "method": "per step: best of 5 timed runs in a process, and of "
                                                     "the interleaved rounds of processes"})
        print("wrote", path)


if __name__ == "__main__":
    main()
