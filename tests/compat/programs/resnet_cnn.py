"""A ResNet-style CNN (basic blocks with BatchNorm and identity or 1x1 shortcuts) on MNIST
digits: SGD with momentum and weight decay, cosine schedule, label smoothing, train/eval
accuracy, checkpoint save and resume."""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, num_blocks=(1, 1), num_classes=10, width=8):
        super(ResNet, self).__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(1, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(2 * width, num_blocks[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(2 * width, num_classes)

    def _make_layer(self, planes, num_blocks, stride):
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = torch.flatten(self.avgpool(out), 1)
        return self.linear(out)


def load_digits(root, limit):
    with gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit, :, ::2, ::2]
    with gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    return TensorDataset(torch.tensor(x.astype(np.float32) / 255.0), torch.tensor(y.astype(np.int64)))


def evaluate(model, loader, criterion, device):
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            loss_sum += criterion(outputs, targets).item() * targets.size(0)
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
    return loss_sum / total, 100.0 * correct / total


def main():
    parser = argparse.ArgumentParser(description="ResNet on digits")
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--lr", default=0.05, type=float)
    parser.add_argument("--steps", default=100, type=int)
    parser.add_argument("--batch-size", default=32, type=int)
    parser.add_argument("--seed", default=0, type=int)
    parser.add_argument("--init", default=None)
    parser.add_argument("--resume-check", default=None, help="save a checkpoint here midway and resume from it")
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dataset = load_digits(args.data_dir, 320)
    train_set, val_set = Subset(dataset, range(256)), Subset(dataset, range(256, 320))
    trainloader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True)
    valloader = DataLoader(val_set, batch_size=64, shuffle=False)

    net = ResNet().to(device)
    if args.init:
        net.load_state_dict(torch.load(args.init))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.steps, 1))

    step = 0
    while step < args.steps:
        net.train()
        for inputs, targets in trainloader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            print(f"step {step} train loss {loss.item():.6f}")
            if args.resume_check and step == args.steps // 2:
                torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict()}, args.resume_check)
                checkpoint = torch.load(args.resume_check)
                net.load_state_dict(checkpoint["net"])
                optimizer.load_state_dict(checkpoint["optimizer"])
                scheduler.load_state_dict(checkpoint["scheduler"])
            if step == args.steps:
                break
    if args.steps:
        val_loss, acc = evaluate(net, valloader, criterion, device)
        print(f"val loss {val_loss:.6f} acc {acc:.2f}%")
    if args.save_model:
        torch.save(net.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
