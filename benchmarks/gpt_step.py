"""One training step of a small GPT (minGPT's layout) in distgrad beside PyTorch eager.

2 blocks of width 128 with 4 heads, vocabulary 96, batch 8 x 64 tokens, AdamW, no dropout:
examples/char_gpt.py's model (causal attention through F.scaled_dot_product_attention with
heads split by view + transpose, as minGPT writes it), run by PyTorch with its imports
changed. Both frameworks start from the same weights (torch's, copied) and data, on one
thread, in one process; rounds alternate between them and each keeps its best.

    python -m benchmarks.gpt_step              # prints the times, writes results/gpt_step.json
    python -m benchmarks.gpt_step --no-save
    python -m benchmarks.gpt_step --profile    # cProfile of distgrad's step, top functions
"""
import argparse
import importlib
import importlib.util
import os
import sys
import types

import numpy as np

from .lib.common import ROOT, best_ms, git_revision, single_thread, write_results

CONFIG = dict(n_layer=2, n_embd=128, n_head=4, vocab_size=96, block_size=64, batch=8)
EXAMPLE = os.path.join(ROOT, "examples", "char_gpt.py")
PORTED_IMPORTS = {"import distgrad as torch": "import torch", "import distgrad.nn as nn": "import torch.nn as nn",
                  "import distgrad.nn.functional as F": "import torch.nn.functional as F"}


def gpt_class(torch):
    """examples/char_gpt.py's GPT (minGPT's layout), for ``torch`` PyTorch or distgrad: for
    PyTorch, the example's framework imports are rewritten, which is all a port takes."""
    with open(EXAMPLE) as f:
        source = f.read()
    if torch.__name__ == "torch":
        for ours, theirs in PORTED_IMPORTS.items():
            if ours not in source:
                raise RuntimeError(f"{EXAMPLE} no longer says {ours!r}")
            source = source.replace(ours, theirs)
    if os.path.dirname(EXAMPLE) not in sys.path:
        sys.path.insert(0, os.path.dirname(EXAMPLE))  # the example imports its _common
    module = types.ModuleType(f"char_gpt_{torch.__name__}")
    exec(compile(source, EXAMPLE, "exec"), module.__dict__)  # definitions only: main() is guarded
    return module.GPT


def make_step(torch, state=None):
    """The step function and the model; ``state`` (name -> array) sets the weights."""
    F = importlib.import_module(torch.__name__ + ".nn.functional")
    c = CONFIG
    torch.manual_seed(0)
    model = gpt_class(torch)(c["vocab_size"], c["block_size"], c["n_layer"], c["n_embd"], c["n_head"], dropout=0.0)
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, c["vocab_size"], (c["batch"], c["block_size"] + 1))
    x, y = torch.from_numpy(tokens[:, :-1].copy()), torch.from_numpy(tokens[:, 1:].copy())

    def step():
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        optimizer.step()
        return loss
    return step, model


def both_steps():
    import torch
    import distgrad
    torch.set_num_threads(1)
    torch_step, torch_model = make_step(torch)
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    distgrad_step, _ = make_step(distgrad, state)
    first = (float(torch_step().item()), float(distgrad_step().item()))  # same weights: same first loss
    if abs(first[0] - first[1]) > 1e-4 * abs(first[0]):
        raise RuntimeError(f"first losses differ: torch {first[0]}, distgrad {first[1]}")
    return {"distgrad": distgrad_step, "torch": torch_step}, first


def measure(rounds):
    steps, first = both_steps()
    best = {}
    for r in range(rounds):
        for name in (("distgrad", "torch") if r % 2 == 0 else ("torch", "distgrad")):
            ms = best_ms(steps[name], repeat=3, min_time=0.5)
            best[name] = min(best.get(name, ms), ms)
    return best, first


def profile(n=40):
    import cProfile
    import pstats
    import distgrad
    step, _ = make_step(distgrad)
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per framework")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    single_thread()
    if args.profile:
        return profile()
    if importlib.util.find_spec("torch") is None:
        print("gpt_step: PyTorch is not installed, nothing to compare with")
        return None
    best, first = measure(args.rounds)
    ratio = best["distgrad"] / best["torch"]
    print(f"GPT step (2 blocks, width 128, 4 heads, vocab 96, batch 8 x 64, AdamW), one thread:\n"
          f"  distgrad {best['distgrad']:.1f} ms, PyTorch {best['torch']:.1f} ms: {ratio:.2f}x "
          f"(target <= 1.0x); first loss {first[1]:.4f} vs {first[0]:.4f}")
    if not args.no_save:
        path = write_results("gpt_step", {"config": CONFIG, "distgrad_ms": best["distgrad"],
                                          "torch_ms": best["torch"], "ratio": ratio, "target_ratio": 1.0,
                                          "rounds": args.rounds, "revision": git_revision()})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
