"""The seed program (an MLP written for PyTorch) runs unchanged on distgrad, learns, and
follows PyTorch's losses step for step from the same weights and data."""
import contextlib
import io
import re

import numpy as np
import pytest

import distgrad
import distgrad.nn
import distgrad.optim
from distgrad.data import DataLoader, TensorDataset

# The program exactly as written for PyTorch; only the three import lines differ.
SEED_PROGRAM = """
import distgrad as torch
import distgrad.nn as nn
import distgrad.optim as optim

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
net = Net(); criterion = nn.CrossEntropyLoss(); optimizer = optim.SGD(net.parameters(), lr=0.01)
for epoch in range(10):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels = data
        optimizer.zero_grad(); outputs = net(inputs); loss = criterion(outputs, labels)
        loss.backward(); optimizer.step(); running_loss += loss.item()
    print('Epoch: %d, Loss: %.3f' % (epoch + 1, running_loss / len(trainloader)))
"""


def learnable_images(n, seed=0, signal=1.0):
    """MNIST-shaped (n, 1, 28, 28) float32 images: a fixed random prototype per class (scaled
    by ``signal``) plus unit noise, so a model can learn the labels."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((10, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    images = signal * prototypes[labels] + rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    return images, labels.astype(np.int64)


def test_seed_program_runs_unchanged_and_learns():
    distgrad.manual_seed(0)
    images, labels = learnable_images(512)
    trainloader = DataLoader(TensorDataset(distgrad.from_numpy(images), distgrad.from_numpy(labels)),
                             batch_size=64, shuffle=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(SEED_PROGRAM, "seed_program.py", "exec"), {"trainloader": trainloader, "__name__": "__main__"})
    losses = [float(v) for v in re.findall(r"Epoch: \d+, Loss: ([0-9.]+)", out.getvalue())]
    assert len(losses) == 10, out.getvalue()
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(b <= a + 1e-3 for a, b in zip(losses, losses[1:])), losses


def test_seed_program_works_with_a_plain_list_of_batches():
    images, labels = learnable_images(128, seed=1)
    trainloader = [(distgrad.from_numpy(images[i:i + 32]), distgrad.from_numpy(labels[i:i + 32]))
                   for i in range(0, 128, 32)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(SEED_PROGRAM, "seed_program.py", "exec"), {"trainloader": trainloader})
    assert out.getvalue().count("Epoch:") == 10


# ----------------------------------------------------------------- against PyTorch
def seed_net(nn, flatten, relu):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(relu(self.fc1(flatten(x, 1))))
    return Net()


def train_losses(lib, net, optimizer, batches):
    criterion = lib.nn.CrossEntropyLoss()
    losses = []
    for inputs, labels in batches:
        optimizer.zero_grad()
        loss = criterion(net(lib.from_numpy(inputs)), lib.from_numpy(labels))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.01, momentum=0.9)), ("Adam", dict(lr=1e-3)),
                                         ("AdamW", dict(lr=1e-3))])
def test_seed_mlp_losses_match_torch_for_100_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t_net = seed_net(torch.nn, torch.flatten, torch.relu)
    d_net = seed_net(distgrad.nn, distgrad.flatten, distgrad.relu)
    d_net.load_state_dict({k: v.detach().numpy().copy() for k, v in t_net.state_dict().items()})
    # A signal weak enough that the loss stays well above zero (where float32 rounding of a
    # tiny cross-entropy would dominate the relative difference).
    images, labels = learnable_images(100 * 32, seed=2, signal=0.15)
    batches = [(images[i:i + 32], labels[i:i + 32]) for i in range(0, len(images), 32)]
    t_losses = train_losses(torch, t_net, getattr(torch.optim, name)(t_net.parameters(), **kwargs), batches)
    d_losses = train_losses(distgrad, d_net, getattr(distgrad.optim, name)(d_net.parameters(), **kwargs), batches)
    assert t_losses[-10:].mean() < 0.3 * t_losses[:10].mean()  # a run that learns, not a flat line
    np.testing.assert_allclose(d_losses, t_losses, rtol=1e-4)
    for key, value in t_net.state_dict().items():
        np.testing.assert_allclose(d_net.state_dict()[key].numpy(), value.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=key)
