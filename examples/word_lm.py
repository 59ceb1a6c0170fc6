"""A word-level LSTM language model on tiny Shakespeare, data-parallel.

    python examples/word_lm.py                        # one process
    distgrad-run -n 2 examples/word_lm.py             # two ranks, 20 sequences each

The text is split into words and punctuation (one <eos> per line); words seen fewer than
--min-count times in the training text become <unk>. As in PyTorch's word-language-model
example, the token stream is cut into batch columns and trained with truncated BPTT (the
hidden state carries over between windows, detached), gradient clipping, and SGD whose
learning rate is divided by 4 whenever the validation loss stops improving. Each rank
trains on its own columns; the validation loss is averaged over every rank's columns.
"""
import collections
import math
import re

import numpy as np

import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.data.datasets import TinyShakespeare
from distgrad.utils.metrics import RunningAverage
from distgrad.utils.progress import ProgressBar

import _common

_TOKEN = re.compile(r"[A-Za-z']+|[^\sA-Za-z']")


class RNNModel(nn.Module):
    """Embedding, a multi-layer LSTM and a decoder to the vocabulary, with dropout between."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout, batch_first=True)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("--tied needs --emsize equal to --nhid")
            self.decoder.weight = self.encoder.weight
        self.nlayers, self.nhid = nlayers, nhid
        bound = 0.1
        nn.init.uniform_(self.encoder.weight, -bound, bound)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -bound, bound)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(tokens)), hidden)
        return self.decoder(self.drop(output)).reshape(-1, self.decoder.out_features), hidden

    def init_hidden(self, batch, device):
        zeros = torch.zeros(self.nlayers, batch, self.nhid, device=device)
        return zeros, zeros.clone()


def tokenize(text):
    """Words and punctuation marks, with <eos> at the end of every line."""
    return [token for line in text.splitlines() if line.strip() for token in _TOKEN.findall(line) + ["<eos>"]]


class Corpus:
    """The vocabulary of the training words and the train / validation token ids."""

    def __init__(self, text, val_fraction=0.1, min_count=3):
        tokens = tokenize(text)
        cut = len(tokens) - int(len(tokens) * val_fraction)
        counts = collections.Counter(tokens[:cut])
        kept = sorted((w for w, n in counts.items() if n >= min_count and w != "<eos>"), key=lambda w: (-counts[w], w))
        self.words = ["<unk>", "<eos>"] + kept
        ids = {w: i for i, w in enumerate(self.words)}
        encoded = np.fromiter((ids.get(t, 0) for t in tokens), dtype=np.int64, count=len(tokens))
        self.train, self.valid = encoded[:cut], encoded[cut:]


def batchify(ids, batch, device):
    """This rank's ``batch`` columns of the stream cut into world_size * batch columns: (length, batch)."""
    columns = batch * dist.get_world_size()
    length = len(ids) // columns
    data = ids[:length * columns].reshape(columns, length).T
    rank = dist.get_rank()
    return torch.from_numpy(np.ascontiguousarray(data[:, rank * batch:(rank + 1) * batch])).to(device)


def get_batch(source, i, bptt):
    """Inputs (batch, seq) and their next-token targets, flattened in the same order."""
    seq = min(bptt, len(source) - 1 - i)
    return source[i:i + seq].t(), source[i + 1:i + 1 + seq].t().reshape(-1)


def detached(hidden):
    return tuple(h.detach() for h in hidden)


@torch.no_grad()
def evaluate(model, source, bptt, device, max_steps=None):
    """Mean cross-entropy per token over every rank's validation columns (the first
    ``max_steps`` windows of them when given)."""
    model.eval()
    stats = RunningAverage()
    hidden = model.init_hidden(source.shape[1], device)
    for i in list(range(0, len(source) - 1, bptt))[:max_steps]:
        inputs, targets = get_batch(source, i, bptt)
        output, hidden = model(inputs, hidden)
        stats.update(len(targets), loss=nn.functional.cross_entropy(output, targets).item())
    model.train()
    return stats.compute()["loss"]


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=6, batch_size=20, lr=20.0)
    p.add_argument("--bptt", type=int, default=35, help="truncated-BPTT window (tokens)")
    p.add_argument("--emsize", type=int, default=256)
    p.add_argument("--nhid", type=int, default=256)
    p.add_argument("--nlayers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--clip", type=float, default=0.25)
    p.add_argument("--tied", action="store_true", help="share the embedding and decoder weights")
    p.add_argument("--min-count", type=int, default=3, help="rarer training words become <unk>")
    p.add_argument("--eval-batch-size", type=int, default=10, help="per rank")
    args = p.parse_args()
    device = _common.setup(args)
    corpus = Corpus(TinyShakespeare(args.data_dir, download=True).text, min_count=args.min_count)
    train_data = batchify(corpus.train, args.batch_size, device)
    val_data = batchify(corpus.valid, args.eval_batch_size, device)

    model = RNNModel(len(corpus.words), args.emsize, args.nhid, args.nlayers, args.dropout, args.tied).to(device)
    net = dist.DistributedDataParallel(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr)
    ckpt = _common.checkpointer(args)
    first_epoch, step = _common.resume(args, ckpt, net, optimizer)
    report = _common.LanguageModelReport("word_lm", args, "word", vocabulary=len(corpus.words),
                                         train_tokens=len(corpus.train), val_tokens=len(corpus.valid))
    best_val = math.inf
    observer = _common.Observer("word_lm", args, optimizer)
    windows = range(0, len(train_data) - 1, args.bptt)

    for epoch in range(first_epoch, args.epochs + 1):
        started = _common.time.perf_counter()
        stats = RunningAverage()
        hidden = model.init_hidden(args.batch_size, device)
        with ProgressBar(total=len(windows), desc=f"epoch {epoch}") as bar:
            for n, i in enumerate(windows):
                inputs, targets = get_batch(train_data, i, args.bptt)
                hidden = detached(hidden)  # truncated BPTT: no gradient into the previous window
                optimizer.zero_grad()
                output, hidden = net(inputs, hidden)
                loss = criterion(output, targets)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), args.clip)
                optimizer.step()
                step += 1
                stats.update(len(targets), loss=loss.item())
                bar.update(1, loss=loss.item())
                observer.step(targets.numel(), loss.item())
                if args.max_steps and n + 1 >= args.max_steps:
                    break
        val_loss = evaluate(model, val_data, args.bptt, device, args.max_steps)
        report.add(epoch, stats.compute()["loss"], val_loss, _common.time.perf_counter() - started,
                   lr=optimizer.param_groups[0]["lr"])
        observer.epoch(epoch, train_loss=stats.compute()["loss"], val_loss=val_loss)
        if val_loss < best_val:
            best_val = val_loss
        else:  # no better on held-out text: smaller steps (the same on every rank: the loss is averaged)
            for group in optimizer.param_groups:
                group["lr"] /= 4.0
        if ckpt and ckpt.due(epoch):
            ckpt.save(epoch, step, net, optimizer)
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
