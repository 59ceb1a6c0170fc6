"""A training step on the GPU reads nothing back from the device: each device->host read (a
float() of a loss, an index check, a test on a device value) stalls the launch queue until the
device has caught up. Counted by the NumPy-backed CuPy's observer (fake_cupy/cupy), so these
run with test_gpu_path_on_fake_cupy.py; the checks that must read values (target and index
ranges, binary_cross_entropy's probabilities) run on a GPU only under DISTGRAD_DEBUG=1."""
import numpy as np
import pytest

import distgrad as dg
from benchmarks.gpu_launches import StepCounter
from benchmarks.lib.networks import cnn_layers, mlp_data, mlp_layers
from distgrad.errors import OpIndexError
from distgrad.function import Function
from gpu_support import GPU_ONLY

cupy = pytest.importorskip("cupy")
pytestmark = GPU_ONLY + [pytest.mark.skipif(not hasattr(cupy, "observer"),
                                            reason="syncs are counted by the NumPy-backed CuPy of fake_cupy/")]

OPTIMIZERS = {"sgd_momentum": lambda params: dg.optim.SGD(params, lr=0.01, momentum=0.9),
              "adam": lambda params: dg.optim.Adam(params, lr=1e-3)}


def training_step(layers, optimizer, read_loss=False):
    dg.manual_seed(0)
    model = layers(dg.nn).cuda()
    opt = OPTIMIZERS[optimizer](model.parameters())
    x, y = mlp_data(16, np.random.default_rng(0))
    inputs, labels = dg.from_numpy(x).cuda(), dg.from_numpy(y).cuda()
    criterion = dg.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        opt.step()
        if read_loss:
            float(loss)
    return step


def counted(step):
    """The counter after one step, past a warm-up step (the optimizer's state is made in the first)."""
    step()
    counter = StepCounter(Function)
    cupy.observer = counter
    try:
        step()
    finally:
        cupy.observer = None
    return counter


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("layers", [mlp_layers, cnn_layers], ids=["mlp", "cnn"])
def test_a_training_step_reads_nothing_back_from_the_device(layers, optimizer):
    counter = counted(training_step(layers, optimizer))
    assert not counter.syncs, "device->host reads in the step:\n" + "\n".join(
        "%d x %s" % (n, where) for where, n in counter.syncs.items())
    assert sum(counter.launches.values()) > 10  # the step did run on the device


LOSSES = {
    "cross_entropy": lambda F, x, classes, p: F.cross_entropy(x, classes),
    "nll_loss": lambda F, x, classes, p: F.nll_loss(F.log_softmax(x, dim=1), classes),
    "binary_cross_entropy": lambda F, x, classes, p: F.binary_cross_entropy(dg.sigmoid(x), p),
    "bce_with_logits": lambda F, x, classes, p: F.binary_cross_entropy_with_logits(x, p),
    "mse_loss": lambda F, x, classes, p: F.mse_loss(x, p),
}


@pytest.mark.parametrize("loss", list(LOSSES))
def test_a_loss_and_its_backward_read_nothing_back(loss):
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((8, 5)).astype(np.float32), device="cuda", requires_grad=True)
    classes = dg.tensor(rng.integers(0, 5, 8), device="cuda")
    p = dg.tensor(rng.random((8, 5)).astype(np.float32), device="cuda")
    counter = counted(lambda: LOSSES[loss](dg.nn.functional, x, classes, p).backward())
    assert not counter.syncs, "device->host reads:\n" + "\n".join(counter.syncs)


def test_the_counter_sees_a_read_of_the_loss():
    counter = counted(training_step(mlp_layers, "sgd_momentum", read_loss=True))
    [(where, n)] = counter.syncs.items()
    assert n == 1 and "test_gpu_step_syncs.py" in where and "float(loss)" in where, where


def test_value_checks_run_on_the_gpu_under_debug(monkeypatch):
    logits = dg.zeros((2, 3), device="cuda")
    out_of_range = dg.tensor([0, 3], device="cuda")
    monkeypatch.setenv("DISTGRAD_DEBUG", "1")
    with pytest.raises(OpIndexError, match="out of bounds"):
        dg.nn.functional.cross_entropy(logits, out_of_range)
    with pytest.raises(OpIndexError, match="out of range"):
        dg.nn.functional.embedding(out_of_range, dg.zeros((3, 4), device="cuda"))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        dg.nn.functional.binary_cross_entropy(logits + 2, dg.zeros((2, 3), device="cuda"))


BAD_INDEX = {  # an out-of-range class or row next to good ones and an ignored target
    "cross_entropy": lambda F, x, t: F.cross_entropy(x, t),
    "cross_entropy_weighted": lambda F, x, t: F.cross_entropy(x, t, weight=dg.ones(5, device="cuda")),
    "cross_entropy_none": lambda F, x, t: F.cross_entropy(x, t, reduction="none").sum(),
    "nll_loss": lambda F, x, t: F.nll_loss(F.log_softmax(x, dim=1), t),
    "embedding": lambda F, x, t: (F.embedding(t * (t != -100), x) ** 2).sum(),  # rows; -100 taken as 0
}


@pytest.mark.parametrize("bad", [5, -3, 99])
@pytest.mark.parametrize("op", list(BAD_INDEX))
def test_an_unchecked_bad_index_makes_the_loss_and_gradient_nan_not_wrong(op, bad):
    # Without DISTGRAD_DEBUG the GPU reads no index back; a bad one must still show, as NaN.
    x = dg.tensor(np.random.default_rng(1).standard_normal((5, 5)).astype(np.float32), device="cuda",
                  requires_grad=True)
    good = dg.tensor([0, 4, -100, 2, 1], device="cuda")
    fine = BAD_INDEX[op](dg.nn.functional, x, good)
    fine.backward()
    assert np.isfinite(float(fine)) and np.isfinite(x.grad.cpu().numpy()).all()
    x.grad = None
    t = good.clone()
    t[3] = bad
    counter = StepCounter(Function)
    cupy.observer = counter
    try:
        loss = BAD_INDEX[op](dg.nn.functional, x, t)
        loss.backward()
    finally:
        cupy.observer = None
    assert not counter.syncs
    assert np.isnan(float(loss)) and np.isnan(x.grad.cpu().numpy()).all(), op


@pytest.mark.parametrize("bad", ["input above 1", "input below 0", "input nan", "target above 1"])
def test_an_unchecked_bce_value_outside_0_1_makes_the_loss_and_gradient_nan(bad):
    x = dg.tensor([0.2, 0.5, 0.7], device="cuda", requires_grad=True)
    t = dg.tensor([0.0, 1.0, 1.0], device="cuda")
    loss = dg.nn.functional.binary_cross_entropy(x, t)
    loss.backward()
    assert np.isfinite(float(loss)) and np.isfinite(x.grad.cpu().numpy()).all()
    value = {"input above 1": 1.5, "input below 0": -0.5, "input nan": float("nan"), "target above 1": 1.5}[bad]
    x = dg.tensor([0.2, value if bad.startswith("input") else 0.5, 0.7], device="cuda", requires_grad=True)
    t = dg.tensor([0.0, value if bad.startswith("target") else 1.0, 1.0], device="cuda")
    counter = StepCounter(Function)
    cupy.observer = counter
    try:
        loss = dg.nn.functional.binary_cross_entropy(x, t)
        loss.backward()
    finally:
        cupy.observer = None
    assert not counter.syncs
    assert np.isnan(float(loss)) and np.isnan(x.grad.cpu().numpy()).all()
