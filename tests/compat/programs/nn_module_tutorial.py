"""'Learning PyTorch with examples': a third-order polynomial as an nn.Module and the same fit
with nn.Sequential and nn.Flatten, trained with optim.SGD on MSELoss(reduction='sum')."""
import argparse
import math

import torch


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    x = torch.linspace(-math.pi, math.pi, 200)
    y = torch.sin(x)
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = Polynomial3()
    seq = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    if args.init:
        state = torch.load(args.init)
        model.load_state_dict(state["poly"])
        seq.load_state_dict(state["seq"])

    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    seq_optimizer = torch.optim.SGD(seq.parameters(), lr=1e-6, momentum=0.9)
    for t in range(args.steps):
        loss = criterion(model(x), y)
        seq_loss = criterion(seq(xx), y)
        if t % 5 == 4:
            print(f"{t} loss {loss.item():.6f} seq loss {seq_loss.item():.6f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seq_optimizer.zero_grad(set_to_none=True)
        seq_loss.backward()
        seq_optimizer.step()
    if args.steps:
        print(f"Result: {model.string()}")
        linear_layer = seq[0]
        print(f"Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x "
              f"+ {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3")
    if args.save_model:
        torch.save({"poly": model.state_dict(), "seq": seq.state_dict()}, args.save_model)


if __name__ == "__main__":
    main()
