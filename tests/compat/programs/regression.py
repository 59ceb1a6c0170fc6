"""Fit a polynomial with a single linear layer on its powers, as the regression example does:
random batches drawn each step and a hand-written SGD update."""
import argparse

import torch
import torch.nn.functional as F

POLY_DEGREE = 4


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x, w_target, b_target):
    return x.mm(w_target) + b_target.item()


def poly_desc(W, b):
    result = "y = "
    for i, w in enumerate(W):
        result += "{:+.2f} x^{} ".format(w, i + 1)
    result += "{:+.2f}".format(b[0])
    return result


def get_batch(w_target, b_target, batch_size=32):
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x, w_target, b_target)
    return x, y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    w_target = torch.randn(POLY_DEGREE, 1) * 5
    b_target = torch.randn(1) * 5

    fc = torch.nn.Linear(w_target.size(0), 1)
    if args.init:
        fc.load_state_dict(torch.load(args.init))

    for batch_idx in range(1, args.steps + 1):
        batch_x, batch_y = get_batch(w_target, b_target)
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        output.backward()
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
        print("step {} loss {:.6f}".format(batch_idx, loss))
        if loss < 1e-3:
            break
    if args.steps:
        print("==> Learned function:\t" + poly_desc(fc.weight.view(-1), fc.bias))
        print("==> Actual function:\t" + poly_desc(w_target.view(-1), b_target))
    if args.save_model:
        torch.save(fc.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
