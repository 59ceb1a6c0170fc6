"""The networks every CPU and GPU benchmark trains, their random data, and one training step
written once for distgrad and PyTorch (they share the API)."""


def mlp_data(batch, rng):
    import numpy as np
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    return x, y


def cnn_layers(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def mlp_layers(nn):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def training_step(fw, nn, optim, batch, rank, wrap_model=None, wrap_opt=None, after_backward=None):
    """A seed-MLP step (zero_grad, forward, cross-entropy, backward, SGD momentum 0.9) for torch or
    distgrad (they share the API), on this rank's own random batch; returns (step, model)."""
    import numpy as np
    fw.manual_seed(0)
    model = mlp_layers(nn)
    if wrap_model is not None:
        model = wrap_model(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if wrap_opt is not None:
        opt = wrap_opt(opt, model)
    criterion = nn.CrossEntropyLoss()
    x, y = mlp_data(batch, np.random.default_rng(1000 + rank))
    inputs, labels = fw.from_numpy(x), fw.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        if after_backward is not None:
            after_backward(model)
        opt.step()
    step.optimizer = opt
    return step, model


def gradient_count(model):
    return sum(p.numel() for p in model.parameters())
