"""A word-level language model: embedding, multi-layer LSTM and a decoder tied to the
embedding, trained with truncated backpropagation through time on a text file."""
import argparse
import math
import os

import torch
import torch.nn as nn


class Dictionary(object):
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]


def tokenize(path, dictionary, max_lines):
    ids = []
    with open(path, "r", encoding="utf8") as f:
        for i, line in enumerate(f):
            if i == max_lines:
                break
            for word in line.split() + ["<eos>"]:
                ids.append(dictionary.add_word(word))
    return torch.tensor(ids, dtype=torch.int64)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super(RNNModel, self).__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # tied weights: nhid == ninp
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output))
        return nn.functional.log_softmax(decoded.view(-1, decoded.size(-1)), dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    """Detach hidden states from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def main():
    parser = argparse.ArgumentParser(description="LSTM word language model")
    parser.add_argument("--data", default="./data/wikitext-2/train.txt")
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--emsize", type=int, default=32)
    parser.add_argument("--nlayers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--bptt", type=int, default=12)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    dictionary = Dictionary()
    train_data = batchify(tokenize(args.data, dictionary, args.lines), args.batch_size).to(device)
    ntokens = len(dictionary.idx2word)
    model = RNNModel(ntokens, args.emsize, args.emsize, args.nlayers, args.dropout).to(device)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    criterion = nn.NLLLoss()

    model.train()
    hidden = model.init_hidden(args.batch_size)
    step, total_loss = 0, 0.0
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        if step == args.steps:
            break
        data, targets = get_batch(train_data, i, args.bptt)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-args.lr)
        total_loss += loss.item()
        step += 1
        print(f"| batch {batch:3d} | loss {loss.item():.6f} | ppl {math.exp(loss.item()):10.4f}")
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
