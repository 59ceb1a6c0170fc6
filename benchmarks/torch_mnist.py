"""The seed MLP (784-128-10) trained on MNIST by PyTorch, as the reference for the accuracy
table in README.md: the same data (read through distgrad's MNIST reader), the same model,
batch size, optimizer and number of epochs as ``examples/mnist_mlp.py`` in one process.

    python -m benchmarks.torch_mnist                          # SGD lr 0.01 momentum 0.9, batch 64
    python -m benchmarks.torch_mnist --momentum 0             # the seed's plain SGD
    python -m benchmarks.torch_mnist --batch-size 128

MNIST is read from --data-dir, else $DISTGRAD_DATA. Needs PyTorch (the optional comparison
dependency); runs on one thread, as the distgrad figures it is compared with.
"""
import argparse
import time

import numpy as np

from distgrad.data.datasets import MNIST

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $DISTGRAD_DATA)")
    return p.parse_args()


def load(data_dir, train):
    images, labels = MNIST(data_dir, train=train).arrays(normalize=(MNIST_MEAN, MNIST_STD))
    return np.ascontiguousarray(images), np.asarray(labels)


def main():
    import torch  # optional dependency: only this reference needs it
    import torch.nn as nn

    args = arguments()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    generator = np.random.default_rng(args.seed)
    train_x, train_y = (torch.from_numpy(a) for a in load(args.data_dir, train=True))
    test_x, test_y = (torch.from_numpy(a) for a in load(args.data_dir, train=False))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.from_numpy(generator.permutation(len(train_y)))
        for i in range(0, len(order), args.batch_size):
            batch = order[i:i + args.batch_size]
            optimizer.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
        print(f"epoch {epoch}: test accuracy {100 * accuracy:.2f}% ({time.perf_counter() - start:.1f} s)",
              flush=True)
    print(f"PyTorch {torch.__version__}: final test accuracy {100 * accuracy:.2f}% "
          f"(batch {args.batch_size}, lr {args.lr}, momentum {args.momentum}, {args.epochs} epochs)")


if __name__ == "__main__":
    main()
