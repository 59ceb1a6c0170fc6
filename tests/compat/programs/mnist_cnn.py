"""A small convolutional network on MNIST digits, in the style of the classic MNIST example."""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset


class MNISTSubset(Dataset):
    """The first `limit` digits of an IDX file pair, normalized as usual."""

    def __init__(self, root, limit, start=0):
        with gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        with gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz")) as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        images = images[start:start + limit].astype(np.float32) / 255.0
        self.images = (images - 0.1307) / 0.3081
        self.labels = labels[start:start + limit].astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return torch.from_numpy(self.images[idx]), int(self.labels[idx])


class Net(nn.Module):
    def __init__(self, dropout=0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, device, loader, optimizer, step):
    model.train()
    for data, target in loader:
        if step >= args.steps:
            break
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        step += 1
        if step % args.log_interval == 0:
            print(f"step {step} loss {loss.item():.6f}")
    return step


def test(model, device, loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1, keepdim=True).eq(target.view_as(output.argmax(dim=1, keepdim=True))).sum().item()
    test_loss /= len(loader.dataset)
    print(f"test loss {test_loss:.6f}, accuracy {correct}/{len(loader.dataset)}")


def main():
    parser = argparse.ArgumentParser(description="MNIST CNN")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR", "../data/mnist"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=2)
    parser.add_argument("--init", default=None, help="start from this state_dict")
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = DataLoader(MNISTSubset(args.data_dir, 256), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(MNISTSubset(args.data_dir, 128, start=1000), batch_size=64)

    model = Net(args.dropout).to(device)
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location=device))
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    step = 0
    while step < args.steps:
        step = train(args, model, device, train_loader, optimizer, step)
        scheduler.step()
    if args.steps:
        test(model, device, test_loader)
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
