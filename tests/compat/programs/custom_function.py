"""The custom autograd Function tutorial: y = a + b P3(c + d x) with a hand-written
Legendre polynomial Function (forward/backward with ctx.save_for_backward), fitted to sin(x)
with manual gradient descent."""
import argparse
import math

import torch


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = (5x^3 - 3x) / 2, with its derivative written by hand."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    dtype = torch.float
    device = torch.device("cpu")
    x = torch.linspace(-math.pi, math.pi, 500, device=device, dtype=dtype)
    y = torch.sin(x)

    # weights chosen so the iteration converges, as in the tutorial
    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)
    if args.init:
        state = torch.load(args.init)
        with torch.no_grad():
            for name, t in zip("abcd", (a, b, c, d)):
                t.copy_(state[name])

    learning_rate = 5e-6
    for t in range(args.steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % 10 == 9:
            print(t, "loss", f"{loss.item():.6f}")
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    if args.steps:
        print(f"Result: y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")
    if args.save_model:
        torch.save({"a": a.detach(), "b": b.detach(), "c": c.detach(), "d": d.detach()}, args.save_model)


if __name__ == "__main__":
    main()
