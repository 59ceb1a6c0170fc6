"""Gradient accumulation with no_sync: several micro-batches per optimizer step, one
all-reduce per step (the seed MLP on MNIST).

    distgrad-run -n 2 examples/grad_accumulation.py --accumulate 4
"""
import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.utils.metrics import RunningAverage
from distgrad.utils.progress import ProgressBar

import _common
from mnist_mlp import Net


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=3, batch_size=32, lr=0.01)
    p.add_argument("--accumulate", type=int, default=4, help="micro-batches per optimizer step")
    p.add_argument("--momentum", type=float, default=0.9)
    args = p.parse_args()
    device = _common.setup(args)
    trainloader, testloader, sampler = _common.mnist_loaders(args, device)

    model = dist.DistributedDataParallel(Net().to(device))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    _common.log.info("%d micro-batches of %d per step: effective global batch %d", args.accumulate,
                     args.batch_size, args.accumulate * args.batch_size * dist.get_world_size())
    report = _common.Report("grad_accumulation", args)
    observer = _common.Observer("grad_accumulation", args, optimizer)

    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        dist.check_epoch(trainloader)  # all ranks on the same epoch, same number of batches
        started = _common.time.perf_counter()
        stats = RunningAverage()
        with ProgressBar(total=len(sampler), desc=f"epoch {epoch}") as bar:
            optimizer.zero_grad()
            for i, (inputs, labels) in enumerate(trainloader):
                last_micro_batch = (i + 1) % args.accumulate == 0
                # Inside no_sync gradients only accumulate locally; the backward of the last
                # micro-batch all-reduces everything accumulated so far.
                with (torch.enable_grad() if last_micro_batch else model.no_sync()):
                    loss = criterion(model(inputs), labels) / args.accumulate
                    loss.backward()
                if last_micro_batch:
                    optimizer.step()
                    optimizer.zero_grad()
                    observer.step(len(labels) * args.accumulate, loss.item() * args.accumulate)
                stats.update(len(labels), loss=loss.item() * args.accumulate)
                bar.update(len(labels), loss=loss.item() * args.accumulate)
                if args.max_steps and i + 1 >= args.max_steps:
                    break
        train, test = stats.compute(), _common.evaluate(model, testloader)
        report.add(epoch, train, test, _common.time.perf_counter() - started)
        observer.epoch(epoch, train_loss=train["loss"], test_loss=test["loss"], test_accuracy=test["accuracy"])
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
