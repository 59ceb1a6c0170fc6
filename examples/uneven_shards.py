"""Uneven data across ranks with DistributedDataParallel.join(): every rank trains on a shard
of its own size (as when each rank reads its own files), and the ranks that run out first
keep taking part in the others' steps instead of hanging them (the seed MLP on MNIST).

    distgrad-run -n 2 examples/uneven_shards.py
"""
import time

import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.data import DataLoader, Subset
from distgrad.utils.metrics import RunningAverage

import _common
from mnist_mlp import Net


def uneven_shard(dataset, rank, size):
    """Rank r's contiguous share, weighted r + 1: rank 0 gets the fewest samples."""
    weights = [r + 1 for r in range(size)]
    bounds = [len(dataset) * sum(weights[:r]) // sum(weights) for r in range(size + 1)]
    return Subset(dataset, range(bounds[rank], bounds[rank + 1]))


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=3, batch_size=64, lr=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    args = p.parse_args()
    device = _common.setup(args)
    train, test = _common.load_datasets(args)
    rank, size = dist.get_rank(), dist.get_world_size()
    trainloader = DataLoader(uneven_shard(train, rank, size), batch_size=args.batch_size, shuffle=True,
                             device=device)
    testloader = _common.test_loader(test, device)
    # --max-steps (smoke tests) keeps the shards uneven: rank r stops 5 r steps later.
    steps = len(trainloader) if args.max_steps is None else min(len(trainloader), args.max_steps + 5 * rank)
    _common.log.info("batches an epoch, rank by rank: %s; ranks that finish first join the others' steps",
                     dist.all_gather_object(steps))

    model = dist.DistributedDataParallel(Net().to(device))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    report = _common.Report("uneven_shards", args)
    observer = _common.Observer("uneven_shards", args, optimizer)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        stats = RunningAverage()
        with model.join():
            for i, (inputs, labels) in enumerate(trainloader):
                if i == steps:
                    break
                optimizer.zero_grad()
                loss = criterion(model(inputs), labels)
                loss.backward()
                optimizer.step()
                stats.update(len(labels), loss=loss.item())
                observer.step(len(labels), loss.item())
        train, test = stats.compute(), _common.evaluate(model, testloader)
        report.add(epoch, train, test, time.perf_counter() - started)
        observer.epoch(epoch, train_loss=train["loss"], test_loss=test["loss"], test_accuracy=test["accuracy"])
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
