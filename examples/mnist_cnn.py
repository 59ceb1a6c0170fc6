"""A small CNN with BatchNorm and Dropout on MNIST: Adam, a cosine schedule and gradient
clipping, data-parallel.

    python examples/mnist_cnn.py
    distgrad-run -n 2 examples/mnist_cnn.py
    distgrad-run -n 2 examples/mnist_cnn.py --sync-bn   # BatchNorm statistics over both ranks
"""
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.utils.metrics import RunningAverage
from distgrad.utils.progress import ProgressBar

import _common


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    p = _common.parser(__doc__.splitlines()[0], epochs=4, batch_size=64, lr=2e-3)
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm")
    p.add_argument("--sync-bn", action="store_true",
                   help="BatchNorm statistics over every rank's batch (nn.SyncBatchNorm)")
    args = p.parse_args()
    device = _common.setup(args)
    trainloader, testloader, sampler = _common.mnist_loaders(args, device)

    net = ConvNet().to(device)
    if args.sync_bn:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    model = dist.DistributedDataParallel(net)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = min(len(trainloader), args.max_steps or len(trainloader))
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    ckpt = _common.checkpointer(args)
    first_epoch, step = _common.resume(args, ckpt, model, optimizer, scheduler, sampler)
    report = _common.Report("mnist_cnn", args)
    observer = _common.Observer("mnist_cnn", args, optimizer)

    for epoch in range(first_epoch, args.epochs + 1):
        sampler.set_epoch(epoch)
        dist.check_epoch(trainloader)  # all ranks on the same epoch, same number of batches
        started = _common.time.perf_counter()
        stats = RunningAverage()
        with ProgressBar(total=len(sampler), desc=f"epoch {epoch}") as bar:
            for i, (inputs, labels) in enumerate(trainloader):
                optimizer.zero_grad()
                loss = criterion(model(inputs), labels)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                optimizer.step()
                scheduler.step()
                step += 1
                stats.update(len(labels), loss=loss.item())
                bar.update(len(labels), loss=loss.item(), lr=scheduler.get_last_lr()[0])
                observer.step(len(labels), loss.item())
                if args.max_steps and i + 1 >= args.max_steps:
                    break
        train, test = stats.compute(), _common.evaluate(model, testloader)
        report.add(epoch, train, test, _common.time.perf_counter() - started)
        observer.epoch(epoch, train_loss=train["loss"], test_loss=test["loss"], test_accuracy=test["accuracy"])
        if ckpt and ckpt.due(epoch):
            ckpt.save(epoch, step, model, optimizer, scheduler, sampler)
    observer.close()
    report.save()


if __name__ == "__main__":
    main()
