"""examples/char_gpt.py's run under PyTorch, for the README's comparison: the same model
(benchmarks.gpt_step.gpt_class), text, split, global batch (ranks x per-rank batch, here in one
process), AdamW, clipping, steps and validation loss per character.

    python -m benchmarks.torch_char_gpt                      # the example's defaults on 2 ranks
    python -m benchmarks.torch_char_gpt --epochs 1 --steps-per-epoch 20
"""
import argparse
import math
import time

import numpy as np

from distgrad.data.datasets import CharBlocks, TinyShakespeare

from .gpt_step import gpt_class


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps-per-epoch", type=int, default=250)
    p.add_argument("--batch-size", type=int, default=64, help="the example's 2 ranks x 32")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    return p.parse_args()


def main():
    import torch  # optional dependency: only this reference needs it
    import torch.nn.functional as F

    args = arguments()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    text = TinyShakespeare(args.data_dir, download=True)
    train = CharBlocks(text.train_data, args.block_size, stride=1)
    val = CharBlocks(text.val_data, args.block_size)
    model = gpt_class(torch)(text.vocab_size, args.block_size, args.n_layer, args.n_embd, args.n_head, args.dropout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    order = np.random.default_rng(args.seed)

    def loss_of(inputs, targets):
        logits = model(torch.from_numpy(inputs.numpy()))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), torch.from_numpy(targets.numpy()).view(-1))

    for epoch in range(1, args.epochs + 1):
        started, seen = time.perf_counter(), order.permutation(len(train))
        model.train()
        for i in range(args.steps_per_epoch):
            optimizer.zero_grad()
            loss = loss_of(*train.get_batch(seen[i * args.batch_size:(i + 1) * args.batch_size]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            total = sum(loss_of(*val.get_batch(range(s, min(s + 64, len(val))))).item() * min(64, len(val) - s)
                        for s in range(0, len(val), 64))
        val_loss = total / len(val)
        print(f"epoch {epoch}: train loss {loss.item():.4f}, validation loss {val_loss:.4f} per character "
              f"(perplexity {math.exp(val_loss):.2f}) ({time.perf_counter() - started:.1f} s)", flush=True)
    print(f"PyTorch {torch.__version__}: final validation loss {val_loss:.4f} per character")


if __name__ == "__main__":
    main()
