"""Fit a damped oscillation's parameters with L-BFGS and the strong-Wolfe line search: full
batch, a closure that re-evaluates the loss, then an MLP regression polished the same way."""
import argparse

import numpy as np
import torch
import torch.nn as nn


class DampedOscillation(nn.Module):
    def __init__(self):
        super().__init__()
        self.amplitude = nn.Parameter(torch.tensor(1.0))
        self.decay = nn.Parameter(torch.tensor(0.1))
        self.frequency = nn.Parameter(torch.tensor(1.5))
        self.phase = nn.Parameter(torch.tensor(0.0))

    def forward(self, t):
        return self.amplitude * torch.exp(-self.decay * t) * torch.cos(self.frequency * t + self.phase)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    t_np = np.linspace(0, 10, 200)
    y_np = 2.0 * np.exp(-0.3 * t_np) * np.cos(1.7 * t_np + 0.4) + 0.02 * rng.standard_normal(t_np.shape)
    t = torch.tensor(t_np, dtype=torch.float64)
    y = torch.tensor(y_np, dtype=torch.float64)

    model = DampedOscillation().double()
    mlp = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    if args.init:
        state = torch.load(args.init)
        model.load_state_dict(state["model"])
        mlp.load_state_dict(state["mlp"])

    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=10, history_size=10,
                                  line_search_fn="strong_wolfe")
    loss_fn = nn.MSELoss()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(t), y)
        loss.backward()
        return loss

    for step in range(args.steps):
        loss = optimizer.step(closure)
        print(f"step {step} loss {loss.item():.10f}")

    mlp_optimizer = torch.optim.LBFGS(mlp.parameters(), lr=0.5, max_iter=5)
    x = t.unsqueeze(1) / 10

    def mlp_closure():
        mlp_optimizer.zero_grad()
        loss = loss_fn(mlp(x).squeeze(1), y)
        loss.backward()
        return loss

    for step in range(args.steps):
        loss = mlp_optimizer.step(mlp_closure)
        print(f"mlp step {step} loss {loss.item():.10f}")
    if args.steps:
        print("fitted", ", ".join(f"{name}={p.item():.4f}" for name, p in model.named_parameters()))
    if args.save_model:
        torch.save({"model": model.state_dict(), "mlp": mlp.state_dict()}, args.save_model)


if __name__ == "__main__":
    main()
