"""A character-level GPT (minGPT's layout) on tiny Shakespeare, data-parallel.

    python examples/char_gpt.py                              # one process
    distgrad-run -n 2 examples/char_gpt.py --epochs 4        # two ranks, batch 32 each

An epoch is --steps-per-epoch steps on random windows of the training text (the first 90%);
after each, the loss per character on the held-out last 10%, averaged over all ranks. At the
end rank 0 prints a sample generated from a newline. The text is read from --data-dir (the
file or its folder), $DISTGRAD_TEXT, ../shared/datasets/tinyshakespeare, the cache, or
downloaded (see distgrad.data.datasets.TinyShakespeare).
"""
import math

import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.nn.functional as F
import distgrad.optim as optim
from distgrad.data import DataLoader, DistributedSampler, Subset
from distgrad.data.datasets import CharBlocks, TinyShakespeare
from distgrad.utils.metrics import RunningAverage
from distgrad.utils.progress import ProgressBar

import _common


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_embd, n_head, dropout):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx):
        positions = torch.arange(idx.size(1), device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(positions))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, idx, new_tokens, temperature=1.0):
        """Continue ``idx`` (B, T) by sampling one character at a time."""
        for _ in range(new_tokens):
            logits = self(idx[:, -self.block_size:])[:, -1, :] / temperature
            cdf = F.softmax(logits, dim=-1).cumsum(-1)
            u = torch.rand(idx.size(0), 1, device=idx.device)
            nxt = (cdf < u).sum(-1, keepdim=True).clamp(max=logits.size(-1) - 1)  # inverse-CDF draw
            idx = torch.cat([idx, nxt], dim=1)
        return idx


def loss_of(model, inputs, targets):
    logits = model(inputs)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


@torch.no_grad()
def evaluate(model, loader, max_batches):
    """Validation loss per character over every rank's share, averaged across ranks."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)  # (loss sum, characters)
    for i, (inputs, targets) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        total += torch.tensor([loss_of(model, inputs, targets).item() * targets.numel(), targets.numel()],
                              dtype=torch.float64)
    dist.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=4, batch_size=32, lr=1e-3)
    p.add_argument("--steps-per-epoch", type=int, default=250)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-batches", type=int, default=0, help="validation batches of 64 windows per rank "
                                                                  "(0: the whole validation text)")
    p.add_argument("--sample-chars", type=int, default=300)
    args = p.parse_args()
    device = _common.setup(args)

    text = TinyShakespeare(args.data_dir, download=True)
    train = CharBlocks(text.train_data, args.block_size, stride=1)  # every offset is a window
    val = CharBlocks(text.val_data, args.block_size)
    sampler = DistributedSampler(train, shuffle=True, seed=args.seed)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler, device=device)
    val_loader = DataLoader(Subset(val, range(dist.get_rank(), len(val), dist.get_world_size())),
                            batch_size=64, device=device)

    model = GPT(text.vocab_size, args.block_size, args.n_layer, args.n_embd, args.n_head, args.dropout)
    net = dist.DistributedDataParallel(model.to(device))
    optimizer = optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.1)
    ckpt = _common.checkpointer(args)
    first_epoch, step = _common.resume(args, ckpt, net, optimizer, sampler=sampler)
    steps = min(args.steps_per_epoch, args.max_steps or args.steps_per_epoch)
    report = _common.LanguageModelReport("char_gpt", args, "character", vocab_size=text.vocab_size,
                                         parameters=sum(p.numel() for p in model.parameters()),
                                         uniform_loss=math.log(text.vocab_size))
    observer = _common.Observer("char_gpt", args, optimizer)

    for epoch in range(first_epoch, args.epochs + 1):
        sampler.set_epoch(epoch)  # a fresh random order each epoch; an epoch uses its first `steps` batches
        started = _common.time.perf_counter()
        stats = RunningAverage()
        with ProgressBar(total=steps * args.batch_size, desc=f"epoch {epoch}") as bar:
            for i, (inputs, targets) in enumerate(loader):
                optimizer.zero_grad()
                loss = loss_of(net, inputs, targets)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                step += 1
                stats.update(targets.numel(), loss=loss.item())
                bar.update(len(targets), loss=loss.item())
                observer.step(targets.numel(), loss.item())
                if i + 1 >= steps:
                    break
        val_loss = evaluate(net, val_loader, args.eval_batches)
        report.add(epoch, stats.compute()["loss"], val_loss, _common.time.perf_counter() - started)
        observer.epoch(epoch, train_loss=stats.compute()["loss"], val_loss=val_loss)
        if ckpt and ckpt.due(epoch):
            ckpt.save(epoch, step, net, optimizer, sampler=sampler)

    if dist.get_rank() == 0 and args.sample_chars:
        model.eval()
        start = torch.tensor(text.encode("\n"), device=device).view(1, 1)
        sample = text.decode(model.generate(start, args.sample_chars)[0, 1:].tolist())
        report.facts["sample"] = sample
        print(f"--- sample ({args.sample_chars} characters) ---\n{sample}\n---", flush=True)
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
