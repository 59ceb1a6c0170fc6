"""One training step of a 2-layer LSTM word-level language model, distgrad beside PyTorch eager.

Embedding (vocabulary 10,000, width 256), LSTM(256, 256, num_layers=2), Linear(256, 10,000);
batch 20 x 35 tokens, cross-entropy, clip_grad_norm_(0.25), SGD lr 20: the shape of PyTorch's
word-language-model example. Both frameworks start from the same weights and data, on one
thread, each in its own process, best of interleaved rounds. The same model with a vocabulary
of 100 ("lstm_core") is timed too: there the LSTM, not the decoder's GEMMs, makes the step.

    python -m benchmarks.lstm_lm            # prints the ratio, writes results/lstm_lm.json
    python -m benchmarks.lstm_lm --no-save  # print only
    python -m benchmarks.lstm_lm --profile  # cProfile of distgrad's step (top 25 by own time)
"""
import argparse
import json
import os

from .lib import children
from .lib.common import ROOT, best_ms, peak_rss_mb, single_thread, write_results

VOCAB, WIDTH, LAYERS, BATCH, BPTT = 10000, 256, 2, 20, 35
CONFIGS = {"lm": VOCAB, "lstm_core": 100}  # name: vocabulary
FRAMEWORKS = ("distgrad", "torch")
TARGET_RATIO = 1.5  # issue 12, item 8


def build(fw_name, vocab=VOCAB, device="cpu"):
    """The model, a step function and the framework, from weights and tokens drawn by NumPy;
    model and tokens on ``device`` (gpu_step_time.py runs it on "cuda")."""
    import importlib

    import numpy as np
    fw = importlib.import_module(fw_name)
    if fw_name == "torch":
        fw.set_num_threads(1)
    nn = importlib.import_module(fw_name + ".nn")
    optim = importlib.import_module(fw_name + ".optim")

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(vocab, WIDTH)
            self.rnn = nn.LSTM(WIDTH, WIDTH, LAYERS)
            self.decoder = nn.Linear(WIDTH, vocab)

        def forward(self, tokens, hidden):
            output, hidden = self.rnn(self.encoder(tokens), hidden)
            return self.decoder(output).reshape(-1, vocab), hidden

    model = LanguageModel()
    rng = np.random.default_rng(0)
    model.load_state_dict({name: fw.from_numpy(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32))
                           for name, p in model.state_dict().items()})
    model.to(device)
    tokens = fw.from_numpy(rng.integers(0, vocab, (BPTT + 1, BATCH))).to(device)
    inputs, targets = tokens[:-1], tokens[1:].reshape(-1)
    opt = optim.SGD(model.parameters(), lr=20.0)
    criterion = nn.CrossEntropyLoss()
    state = {"hidden": None}

    def step():
        opt.zero_grad()
        output, hidden = model(inputs, state["hidden"])
        state["hidden"] = tuple(h.detach() for h in hidden)  # truncated BPTT, as the example does
        loss = criterion(output, targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        return loss
    return step


def child(framework):
    single_thread()
    results = {}
    for name, vocab in CONFIGS.items():
        step = build(framework, vocab)
        first_loss = float(step().item())
        results[name] = {"step_ms": best_ms(step, repeat=5, min_time=1.0), "first_loss": first_loss}
    results["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(results))


def measure_interleaved(rounds):
    """Each framework's best step over ``rounds`` runs in alternating order: a busy phase of a
    shared machine then slows both alike."""
    best = {}
    for r in range(rounds):
        for fw in (FRAMEWORKS if r % 2 == 0 else FRAMEWORKS[::-1]):
            result = children.run_child("benchmarks.lstm_lm", fw)
            if result is None:
                best[fw] = None
                continue
            previous = best.get(fw)
            best[fw] = result if previous is None else {
                key: value if key == "peak_rss_mb" else dict(value, step_ms=min(previous[key]["step_ms"],
                                                                             value["step_ms"]))
                for key, value in result.items()}
    return best


def profile():
    import cProfile
    import pstats
    single_thread()
    step = build("distgrad")
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=FRAMEWORKS)
    parser.add_argument("--no-save", action="store_true", help="print only, leave results/ alone")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each framework, interleaved")
    parser.add_argument("--profile", action="store_true", help="cProfile distgrad's step instead")
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.profile:
        return profile()
    measured = measure_interleaved(args.rounds)
    ours, theirs = measured["distgrad"], measured.get("torch")
    print(f"2-layer LSTM LM (width {WIDTH}, batch {BATCH} x {BPTT}), one thread, best of {args.rounds} "
          "interleaved rounds:")
    ratios = {}
    for name, vocab in CONFIGS.items():
        line = f"  {name} (vocabulary {vocab}): distgrad {ours[name]['step_ms']:.1f} ms/step"
        if theirs is not None:
            ratios[name] = ours[name]["step_ms"] / theirs[name]["step_ms"]
            line += (f", PyTorch {theirs[name]['step_ms']:.1f} ms/step: {ratios[name]:.2f}x PyTorch; first-step "
                     f"loss {ours[name]['first_loss']:.4f} vs {theirs[name]['first_loss']:.4f}")
        print(line)
    if "lm" in ratios:
        print(f"  target: lm <= {TARGET_RATIO}x PyTorch: {'met' if ratios['lm'] <= TARGET_RATIO else 'NOT met'}")
    if not args.no_save:
        path = write_results("lstm_lm", {
            "model": {"vocab": VOCAB, "width": WIDTH, "layers": LAYERS, "batch": BATCH, "bptt": BPTT},
            "configs": CONFIGS, "rounds": args.rounds, "distgrad": ours, "torch": theirs,
            "ratio": ratios.get("lm"), "ratios": ratios, "target_ratio": TARGET_RATIO})
        print(f"  wrote {os.path.relpath(path, ROOT)}")

if __name__ == "__main__":
    main()
