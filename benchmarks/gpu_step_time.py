"""One training step on the GPU: distgrad on CuPy against PyTorch CUDA, for the seed MLP at
batch 4096 and 512, the small CNN of step_time.py, the GPT of gpt_step.py (2 blocks, width 128,
4 heads, vocabulary 96, batch 8 x 64, AdamW) and a larger one (6 blocks, width 512, 8 heads,
batch 32 x 256: a size at which a GPU is busy), and the LSTM word LM of lstm_lm.py
(vocabulary 10,000, 2 layers of 256, batch 20 x 35, clipping, SGD).

    python -m benchmarks.gpu_step_time                 # a table; after each model, a JSON line of all so far
    python -m benchmarks.gpu_step_time --cases mlp cnn # some of them

Data sit on the GPU already (no host-to-device copies in the step). Each figure is the median
over interleaved rounds (distgrad and PyTorch alternate) of one round's mean step time, a
round being ``steps`` steps between two device synchronizations timed with perf_counter,
after warm-up steps (kernel compilation, cuBLAS handles, memory pools). Both run full
float32 (TF32 off in PyTorch, as CuPy's cuBLAS calls use none). Target: distgrad within
1.2x of PyTorch's step time for the MLP and the CNN; the GPT and LSTM figures are reported.
"""
import argparse
import importlib
import json
import statistics
import sys
import time
import traceback

from .lib.networks import cnn_layers, mlp_data, mlp_layers

# name: (model, batch, the GPT's configuration or None)
GPT_SMALL = dict(n_layer=2, n_embd=128, n_head=4, vocab_size=96, block_size=64)
GPT_LARGE = dict(n_layer=6, n_embd=512, n_head=8, vocab_size=96, block_size=256)
CASES = {"mlp_4096": ("mlp", 4096, None), "mlp_512": ("mlp", 512, None), "cnn_256": ("cnn", 256, None),
         "gpt": ("gpt", 8, GPT_SMALL), "lstm_lm": ("lstm_lm", 20, None), "gpt_large": ("gpt", 32, GPT_LARGE)}
TARGET_RATIO = 1.2
TARGETED = ("mlp", "cnn")  # the models the 1.2x target is set for


def framework(name):
    fw = importlib.import_module(name)
    if name == "torch":
        fw.backends.cuda.matmul.allow_tf32 = False
        fw.backends.cudnn.allow_tf32 = False
    return fw


def classifier_step(fw, model_name, batch):
    """The seed MLP or the small CNN, SGD with momentum, cross-entropy."""
    import numpy as np
    nn = importlib.import_module(fw.__name__ + ".nn")
    fw.manual_seed(0)
    model = (mlp_layers if model_name == "mlp" else cnn_layers)(nn).cuda()
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    x, y = mlp_data(batch, np.random.default_rng(0))
    inputs, labels = fw.from_numpy(x).cuda(), fw.from_numpy(y).cuda()

    def step():
        opt.zero_grad()
        criterion(model(inputs), labels).backward()
        opt.step()
    return step


def gpt_step(fw, batch, config):
    """examples/char_gpt.py's GPT (gpt_step.py's model) on random tokens, AdamW, no dropout."""
    import numpy as np
    from .gpt_step import gpt_class
    F = importlib.import_module(fw.__name__ + ".nn.functional")
    fw.manual_seed(0)
    model = gpt_class(fw)(config["vocab_size"], config["block_size"], config["n_layer"], config["n_embd"],
                          config["n_head"], dropout=0.0).cuda()
    opt = fw.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    tokens = np.random.default_rng(0).integers(0, config["vocab_size"], (batch, config["block_size"] + 1))
    x, y = (fw.from_numpy(t.copy()).cuda() for t in (tokens[:, :-1], tokens[:, 1:]))

    def step():
        opt.zero_grad()
        logits = model(x)
        F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1)).backward()
        opt.step()
    return step


def build_step(fw_name, case):
    """(step, synchronize) of framework ``fw_name`` for ``case``, everything on the GPU."""
    model_name, batch, config = CASES[case]
    fw = framework(fw_name)
    if model_name == "gpt":
        step = gpt_step(fw, batch, config)
    elif model_name == "lstm_lm":
        from .lstm_lm import build
        step = build(fw_name, device="cuda")
    else:
        step = classifier_step(fw, model_name, batch)
    return step, fw.cuda.synchronize


def round_ms(step, sync, steps):
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps * 1e3


def measure(names, case, rounds, budget_s, warmup):
    """Median ms per step of each framework, rounds interleaved with the order alternating."""
    steps = {name: build_step(name, case) for name in names}
    counts = {}
    for name, (step, sync) in steps.items():
        for _ in range(warmup):
            step()
        once = round_ms(step, sync, 3)
        counts[name] = max(3, int(budget_s * 1e3 / max(once, 1e-3)))
    times = {name: [] for name in steps}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            step, sync = steps[name]
            times[name].append(round_ms(step, sync, counts[name]))
    return {name: {"median_ms": statistics.median(t), "best_ms": min(t), "steps_per_round": counts[name],
                   "rounds": rounds} for name, t in times.items()}


def frameworks():
    names, torch_reason = ["distgrad"], None
    try:
        import torch
        if torch.cuda.is_available():
            names.append("torch")
        else:
            torch_reason = "torch %s sees no CUDA device" % torch.__version__
    except ImportError:
        torch_reason = "torch is not installed"
    return names, torch_reason


def row_for(case, result):
    model_name, batch, config = CASES[case]
    row = {"case": case, "model": model_name, "batch": batch, "distgrad_ms": result["distgrad"]["median_ms"],
           "detail": result}
    if config is not None:
        row["config"] = config
    if "torch" in result:
        row["torch_ms"] = result["torch"]["median_ms"]
        row["distgrad_over_torch"] = row["distgrad_ms"] / row["torch_ms"]
        if model_name in TARGETED:
            row["target_met"] = row["distgrad_over_torch"] <= TARGET_RATIO
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per timed round")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    import distgrad
    if not distgrad.cuda.is_available():
        sys.exit("gpu_step_time: no NVIDIA GPU with CuPy here")
    names, torch_reason = frameworks()
    rows, failed = [], {}
    for case in args.cases:
        begin = time.monotonic()
        try:
            row = row_for(case, measure(names, case, args.rounds, args.budget, args.warmup))
        except Exception as exc:  # one model failing on the GPU leaves the others' figures
            failed[case] = "%s: %s" % (type(exc).__name__, exc)
            traceback.print_exc()
            print("%-9s FAILED: %s" % (case, failed[case]), flush=True)
        else:
            rows.append(row)
            print("%-9s batch %5d: distgrad %8.3f ms  torch %8s ms  ratio %s  (%.0f s)" % (
                case, row["batch"], row["distgrad_ms"], "%.3f" % row["torch_ms"] if "torch_ms" in row else "-",
                "%.2f" % row["distgrad_over_torch"] if "torch_ms" in row else "-", time.monotonic() - begin),
                flush=True)
        # every case so far, so that a run stopped at its time limit keeps what it measured
        print(json.dumps({"rows": rows, "failed": failed, "torch_skipped": torch_reason, "target_ratio": TARGET_RATIO,
                          "device": distgrad.cuda.get_device_name(), "tf32": False}), flush=True)
    if torch_reason:
        print("PyTorch not measured:", torch_reason)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
