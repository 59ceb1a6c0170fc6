"""distgrad.autocast against torch.autocast on the CPU with float16 (distgrad has no bfloat16):
each op's output dtype and value, the gradients' dtypes, nesting, and a short mixed-precision
training run with GradScaler."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as dnn
import distgrad.nn.functional as dF
import distgrad.optim as doptim
from distgrad.amp import GradScaler, autocast

torch = pytest.importorskip("torch")
import torch.nn.functional as tF  # noqa: E402

rng = np.random.default_rng(3)
ARRAYS = {
    "x": rng.standard_normal((4, 8)).astype(np.float32),
    "w": rng.standard_normal((6, 8)).astype(np.float32),
    "b": rng.standard_normal(6).astype(np.float32),
    "img": rng.standard_normal((2, 3, 6, 6)).astype(np.float32),
    "kernel": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
    "seq": rng.standard_normal((2, 3, 7)).astype(np.float32),
    "q": rng.standard_normal((2, 2, 5, 8)).astype(np.float32),
    "x64": rng.standard_normal((4, 8)),
    "h": rng.standard_normal((4, 8)).astype(np.float16),
}
TARGET = np.array([0, 3, 5, 1])

# op name -> f(framework, functional, tensors); both frameworks run the same expression
OPS = {
    "linear": lambda m, F, t: F.linear(t["x"], t["w"], t["b"]),
    "matmul": lambda m, F, t: t["x"] @ t["w"].T,
    "mm": lambda m, F, t: m.mm(t["x"], t["w"].T),
    "addmm": lambda m, F, t: m.addmm(t["b"], t["x"], t["w"].T),
    "bmm": lambda m, F, t: m.bmm(t["q"][0], t["q"][1].transpose(1, 2)),
    "conv2d": lambda m, F, t: F.conv2d(t["img"], t["kernel"], padding=1),
    "conv1d": lambda m, F, t: F.conv1d(t["seq"], t["kernel"][:, :, 0]),
    "conv_transpose2d": lambda m, F, t: F.conv_transpose2d(t["img"], t["kernel"].transpose(0, 1)),
    "conv_transpose1d": lambda m, F, t: F.conv_transpose1d(t["seq"], t["kernel"][:, :, 0].transpose(0, 1)),
    "sdpa": lambda m, F, t: F.scaled_dot_product_attention(t["q"], t["q"], t["q"], is_causal=True),
    "linear_float64": lambda m, F, t: F.linear(t["x64"], t["x64"]),  # float64 is never cast
    "dot": lambda m, F, t: m.dot(t["x"][0], t["x"][1]),  # not on the list
    "softmax": lambda m, F, t: F.softmax(t["h"], dim=-1),  # CPU: as it comes
    "log_softmax": lambda m, F, t: F.log_softmax(t["x"], dim=-1),
    "layer_norm": lambda m, F, t: F.layer_norm(t["h"], (8,), t["x"][0], t["x"][1]),
    "cross_entropy": lambda m, F, t: F.cross_entropy(t["h"], m.from_numpy(TARGET)),
    "nll_loss": lambda m, F, t: F.nll_loss(F.log_softmax(t["h"], dim=-1), m.from_numpy(TARGET)),
    "mse_loss": lambda m, F, t: F.mse_loss(F.linear(t["x"], t["w"]), t["x"][:, :6]),
    "l1_loss": lambda m, F, t: F.l1_loss(t["h"], t["h"] * 0.5),
    "smooth_l1_loss": lambda m, F, t: F.smooth_l1_loss(t["h"], t["h"] * 0.5),
    "huber_loss": lambda m, F, t: F.huber_loss(t["h"], t["h"] * 0.5),
    "kl_div": lambda m, F, t: F.kl_div(F.log_softmax(t["h"], dim=-1), F.softmax(t["h"], dim=-1),
                                       reduction="batchmean"),
    "binary_cross_entropy": lambda m, F, t: F.binary_cross_entropy(m.sigmoid(t["h"]), m.sigmoid(t["h"] * 2)),
    "binary_cross_entropy_with_logits": lambda m, F, t: F.binary_cross_entropy_with_logits(
        t["h"], m.sigmoid(t["h"])),
    "triplet_margin_loss": lambda m, F, t: F.triplet_margin_loss(t["h"], t["h"] * 0.5, t["h"] * 0.25),
    "poisson_nll_loss": lambda m, F, t: F.poisson_nll_loss(t["h"], m.sigmoid(t["h"])),
    "hinge_embedding_loss": lambda m, F, t: F.hinge_embedding_loss(t["h"], m.sign(t["h"])),
    "soft_margin_loss": lambda m, F, t: F.soft_margin_loss(t["h"], m.sign(t["h"])),
    "multi_margin_loss": lambda m, F, t: F.multi_margin_loss(t["h"], m.from_numpy(TARGET)),
    "add_mixed": lambda m, F, t: t["h"] + t["x"],  # promotes to the widest
    "cat_mixed": lambda m, F, t: m.cat([t["h"], t["x"]]),
    "stack_mixed": lambda m, F, t: m.stack([t["h"], t["x"]]),
}


def tensors(framework, requires_grad=False):
    return {k: framework.tensor(v, requires_grad=requires_grad) for k, v in ARRAYS.items()}


@pytest.mark.parametrize("op", sorted(OPS))
def test_output_dtype_and_value_follow_torch_cpu_autocast(op):
    with torch.autocast("cpu", dtype=torch.float16):
        expected = OPS[op](torch, tF, tensors(torch))
    with dg.autocast("cpu", dtype=dg.float16):
        got = OPS[op](dg, dF, tensors(dg))
    assert str(got.dtype) == str(expected.dtype).replace("torch.", "")
    tol = 1e-6 if got.dtype == dg.float64 else 1e-2
    np.testing.assert_allclose(got.detach().numpy().astype(np.float64), expected.detach().double().numpy(),
                               rtol=tol, atol=tol)


def test_gradients_come_back_in_each_inputs_dtype():
    ours, theirs = tensors(dg, requires_grad=True), tensors(torch, requires_grad=True)
    for framework, F, t in ((dg, dF, ours), (torch, tF, theirs)):
        with framework.autocast("cpu", dtype=framework.float16):
            out = F.conv2d(t["img"], t["kernel"]).sum() + F.linear(t["x"], t["w"], t["b"]).float().sum()
        out.backward()
    for name in ("img", "kernel", "x", "w", "b"):
        assert ours[name].grad.dtype == dg.float32
        np.testing.assert_allclose(ours[name].grad.numpy(), theirs[name].grad.numpy(), rtol=1e-2, atol=1e-2)


def test_nesting_decorator_and_queries():
    x, w = dg.randn(2, 4), dg.randn(3, 4)
    assert not dg.is_autocast_enabled("cpu")
    with autocast("cpu", dtype=dg.float16):
        assert dg.is_autocast_enabled("cpu") and dg.get_autocast_dtype("cpu") == dg.float16
        with dg.autocast("cpu", enabled=False):
            assert dF.linear(x, w).dtype == dg.float32 and not dg.is_autocast_enabled("cpu")
        assert dF.linear(x, w).dtype == dg.float16

    @dg.autocast("cpu", dtype=dg.float16)
    def product(a, b):
        return a @ b.T

    assert product(x, w).dtype == dg.float16 and (x @ w.T).dtype == dg.float32
    with pytest.raises(KeyError):
        with dg.autocast("cpu", dtype=dg.float16):
            raise KeyError("left through an exception")
    assert not dg.is_autocast_enabled("cpu") and dF.linear(x, w).dtype == dg.float32
    with dg.autocast("cuda", dtype=dg.float16, enabled=dg.cuda.is_available()):
        assert dF.linear(x, w).dtype == dg.float32  # CUDA autocast leaves CPU tensors alone


def test_bfloat16_and_other_dtypes_are_refused_clearly():
    with pytest.raises(RuntimeError, match="bfloat16.*dtype=distgrad.float16"):
        dg.autocast("cpu")  # PyTorch's CPU default is bfloat16
    with pytest.raises(RuntimeError, match="must be float16"):
        dg.autocast("cpu", dtype=dg.float64)
    with pytest.raises(RuntimeError, match="device_type"):
        dg.autocast("tpu", dtype=dg.float16)
    dg.autocast("cpu", enabled=False)  # a disabled one needs no supported dtype


def test_a_mixed_precision_training_run_tracks_torchs_loss():
    torch.manual_seed(1)
    reference = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    ours = dnn.Sequential(dnn.Linear(10, 32), dnn.ReLU(), dnn.Linear(32, 4))
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in reference.state_dict().items()})
    data = np.random.default_rng(2).standard_normal((30, 16, 10)).astype(np.float32)
    labels = (data @ np.random.default_rng(4).standard_normal((10, 4))).argmax(-1)  # learnable
    losses = {}
    for framework, net, optimizer, scaler in (
            (torch, reference, torch.optim.Adam(reference.parameters(), lr=0.01), torch.amp.GradScaler("cpu")),
            (dg, ours, doptim.Adam(ours.parameters(), lr=0.01), GradScaler("cpu"))):
        F = tF if framework is torch else dF
        losses[framework.__name__] = []
        for x, y in zip(data, labels):
            optimizer.zero_grad()
            with framework.autocast("cpu", dtype=framework.float16):
                loss = F.cross_entropy(net(framework.from_numpy(x)), framework.from_numpy(y))
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses[framework.__name__].append(loss.item())
        assert all(p.dtype == framework.float32 for p in net.parameters())
    ours, theirs = np.array(losses["distgrad"]), np.array(losses["torch"])
    assert theirs[-5:].mean() < 0.9 * theirs[:5].mean()  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-2, atol=1e-2)
