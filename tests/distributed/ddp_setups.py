"""Models, data and training loops shared by the distributed tests.

The identity of data parallelism: N ranks with batch b each end with the parameters of one
process with batch N*b. Every rank computes that single-process reference itself, from the
same global data, and compares. BatchNorm normalizes each rank's own batch (as PyTorch's DDP
does without SyncBatchNorm), so for the CNN the reference runs its N*b batch as N chunks
of b through the model and averages their losses: exactly the function DDP differentiates.
"""
import hashlib

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim

LR, MOMENTUM = 0.05, 0.9


def mlp():
    """The seed program's model: 784-128-10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


MODELS = {"mlp": (mlp, (1, 28, 28)), "cnn": (small_cnn, (1, 8, 8))}


def global_data(model_name, steps, global_batch, seed=7):
    """The same data on every rank: ``steps`` batches of ``global_batch`` samples."""
    shape = MODELS[model_name][1]
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, global_batch) + shape).astype(np.float32)
    ys = rng.integers(0, 10, (steps, global_batch))
    return xs, ys


def shard(array, rank, size):
    """Rank ``rank``'s contiguous share of a batch."""
    per_rank = len(array) // size
    return array[rank * per_rank:(rank + 1) * per_rank]


def build(model_name, seed):
    dg.manual_seed(seed)
    return MODELS[model_name][0]()


def loss_of(model, x, y, chunks=1):
    """Mean cross-entropy, the batch run as ``chunks`` equal pieces (see the module doc)."""
    criterion = nn.CrossEntropyLoss()
    losses = [criterion(model(dg.from_numpy(cx)), dg.from_numpy(cy))
              for cx, cy in zip(np.split(x, chunks), np.split(y, chunks))]
    return sum(losses[1:], losses[0]) / chunks


def train_reference(model_name, xs, ys, size, micro_batches=1):
    """One process, the whole global batch per step (rank 0's initial parameters)."""
    model = build(model_name, seed=100)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    chunks = size if model_name == "cnn" else 1
    for x, y in zip(xs, ys):
        opt.zero_grad()
        for mx, my in zip(np.split(x, micro_batches), np.split(y, micro_batches)):
            loss_of(model, mx, my, chunks).backward()
        opt.step()
    return model


def train_distributed(model_name, xs, ys, mode="ddp", micro_batches=1, **kwargs):
    """Each rank on its shard of every global batch. Every rank starts from different
    parameters: wrapping must give them rank 0's. Modes: "ddp" (DistributedDataParallel,
    ``kwargs`` passed on; with micro_batches > 1 all but the last run under no_sync), "ddp_sync_flag"
    (the same with require_backward_grad_sync set False for all but the last),
    "optimizer" (DistributedOptimizer; micro_batches become backward_passes_per_step)."""
    rank, size = dist.get_rank(), dist.get_world_size()
    model = build(model_name, seed=100 + rank)
    if mode in ("ddp", "ddp_sync_flag"):
        net = dist.DistributedDataParallel(model, **kwargs)
        opt = optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    else:
        dist.broadcast_parameters(model.state_dict(), src=0)
        net = model
        opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM),
                                        named_parameters=model.named_parameters(),
                                        backward_passes_per_step=micro_batches, **kwargs)
    for x, y in zip(xs, ys):
        x, y = shard(x, rank, size), shard(y, rank, size)
        opt.zero_grad()
        pieces = list(zip(np.split(x, micro_batches), np.split(y, micro_batches)))
        for i, (mx, my) in enumerate(pieces):
            last = i == len(pieces) - 1
            if mode == "ddp" and not last:
                with net.no_sync():
                    loss_of(net, mx, my).backward()
            elif mode == "ddp_sync_flag":  # PyTorch's attribute, as programs set it per micro-step
                net.require_backward_grad_sync = last
                loss_of(net, mx, my).backward()
            else:
                loss_of(net, mx, my).backward()
        opt.step()
    return model, net, opt


def checksum(tensors):
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(np.ascontiguousarray(t.detach().numpy()).tobytes())
    return digest.hexdigest()


def same_on_all_ranks(value):
    gathered = dist.all_gather_object(value)
    return all(v == gathered[0] for v in gathered)


def max_difference(model, reference):
    return max(float(np.abs(a.detach().numpy() - b.detach().numpy()).max())
               for a, b in zip(model.parameters(), reference.parameters()))
