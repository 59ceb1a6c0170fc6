"""Predict the next values of noisy sine waves with a two-layer LSTM (batch_first), trained
on windows of the series with Adam and a cosine learning-rate schedule."""
import argparse

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def make_waves(n_series=48, length=60, seed=2):
    rng = np.random.default_rng(seed)
    t = np.arange(length + 1)
    phase = rng.uniform(0, 2 * np.pi, size=(n_series, 1))
    period = rng.uniform(15, 25, size=(n_series, 1))
    series = np.sin(2 * np.pi * t / period + phase) + 0.05 * rng.standard_normal((n_series, length + 1))
    series = series.astype(np.float32)
    return series[:, :-1, None], series[:, 1:, None]   # inputs, next-step targets


class Forecaster(nn.Module):
    def __init__(self, hidden=24, layers=2, dropout=0.0):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state

    @torch.no_grad()
    def forecast(self, history, future):
        out, state = self(history)
        value = out[:, -1:]
        predictions = []
        for _ in range(future):
            predictions.append(value)
            value, state = self(value, state)
        return torch.cat(predictions, dim=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    inputs, targets = make_waves()
    dataset = TensorDataset(torch.tensor(inputs), torch.tensor(targets))
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True)
    model = Forecaster(dropout=args.dropout)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.steps, 1))

    step = 0
    while step < args.steps:
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            pred, _ = model(x)
            loss = criterion(pred, y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            print(f"step {step:3d} loss {loss.item():.6f} lr {scheduler.get_last_lr()[0]:.5f}")
            if step == args.steps:
                break
    if args.steps:
        model.eval()
        x, y = dataset[:4]
        future = model.forecast(x[:, :40], 20)
        print(f"forecast loss {criterion(future, y[:, 39:59]).item():.6f}")
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
