"""The seed MLP (784-128-10) on MNIST, data-parallel.

    python examples/mnist_mlp.py                       # one process
    distgrad-run -n 2 examples/mnist_mlp.py            # two ranks, batch 64 each
    distgrad-run -n 2 --max-restarts 3 examples/mnist_mlp.py --elastic   # survives lost ranks
        [--keep-global-batch]   # then the ranks left accumulate the lost ranks' share of the batch
"""
import distgrad as torch
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.distributed.elastic import micro_steps, steps
from distgrad.utils.metrics import RunningAverage
from distgrad.utils.progress import ProgressBar

import _common


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = torch.relu(x)
        x = self.fc2(x)
        return x


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=10, batch_size=64, lr=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    _common.elastic_flags(p)
    args = p.parse_args()
    device = _common.setup(args)
    trainloader, testloader, sampler = _common.mnist_loaders(args, device)

    net = dist.DistributedDataParallel(Net().to(device))
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    ckpt = _common.checkpointer(args)
    first_epoch, step = _common.resume(args, ckpt, net, optimizer, sampler=sampler)
    elastic = _common.elastic(args, net, optimizer, sampler, first_epoch, step)
    if elastic:
        first_epoch, step = elastic.epoch, elastic.step
    per_step = sampler.micro_batches_per_step() if elastic else 1
    report = _common.Report("mnist_mlp", args)
    observer = _common.Observer("mnist_mlp", args, optimizer)

    for epoch in range(first_epoch, args.epochs + 1):
        sampler.set_epoch(epoch)
        dist.check_epoch(trainloader)  # all ranks on the same epoch, same number of batches
        started = _common.time.perf_counter()
        stats = RunningAverage()
        with ProgressBar(total=len(sampler), desc=f"epoch {epoch}") as bar:
            # One batch per step, or with --keep-global-batch as many as make up lost ranks' share.
            for i, batches in enumerate(steps(trainloader, per_step)):
                optimizer.zero_grad()
                for inputs, labels in micro_steps(net, batches):
                    outputs = net(inputs)
                    loss = criterion(outputs, labels)
                    (loss / len(batches)).backward()
                    stats.update(len(labels), loss=loss.item())
                    bar.update(len(labels), loss=loss.item())
                optimizer.step()
                step += 1
                samples = sum(len(labels) for _, labels in batches)
                observer.step(samples, loss.item())
                if elastic:
                    elastic.step_done(i, samples, step)
                if args.max_steps and i + 1 >= args.max_steps:
                    break
        train, test = stats.compute(), _common.evaluate(net, testloader)
        report.add(epoch, train, test, _common.time.perf_counter() - started)
        observer.epoch(epoch, train_loss=train["loss"], test_loss=test["loss"], test_accuracy=test["accuracy"])
        if ckpt and ckpt.due(epoch):
            ckpt.save(epoch, step, net, optimizer, sampler=sampler)
        if elastic:
            elastic.epoch_done(epoch)
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
