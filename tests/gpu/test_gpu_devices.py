"""Data moves between devices only when asked: a CPU tensor meeting a GPU tensor is an error
naming both devices; .to()/.cpu()/.cuda(), Module.to and distgrad.load(map_location=...) move
data, and gradients flow back across a move."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.nn.functional as F
from gpu_support import GPU_ONLY, host

pytestmark = GPU_ONLY

A = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
MIXED = [
    ("add", lambda c, g: c + g),
    ("mul_reversed", lambda c, g: g * c),
    ("matmul", lambda c, g: g @ c.T),
    ("linear", lambda c, g: F.linear(g, c)),
    ("where", lambda c, g: dg.where(c > 0, g, g)),
    ("cat", lambda c, g: dg.cat([g, c])),
    ("stack", lambda c, g: dg.stack([c, g])),
    ("maximum", lambda c, g: dg.maximum(g, c)),
    ("mse_loss", lambda c, g: F.mse_loss(g, c)),
    ("cross_entropy_target_on_cpu", lambda c, g: F.cross_entropy(g, dg.tensor([0, 1, 3]))),
    ("in_place_add", lambda c, g: g.add_(c)),
]


@pytest.mark.parametrize("name,fn", MIXED, ids=[n for n, _ in MIXED])
def test_cpu_tensor_meeting_a_gpu_tensor_is_an_error_naming_both_devices(name, fn):
    c, g = dg.tensor(A), dg.tensor(A, device="cuda")
    with pytest.raises((RuntimeError, TypeError)) as err:
        fn(c, g)
    text = str(err.value)
    assert "cpu" in text and "cuda" in text, f"{name}: the error does not name both devices: {text}"


def test_moves_keep_values_dtype_and_return_the_tensor_itself_when_already_there():
    t = dg.tensor(A)
    g = t.to("cuda")
    assert g.is_cuda and str(g.device) == "cuda:0" and g.dtype == t.dtype
    np.testing.assert_array_equal(host(g), A)
    assert g.cuda() is g and g.to("cuda:0") is g and t.cpu() is t
    back = g.cpu()
    assert not back.is_cuda and isinstance(back.numpy(), np.ndarray)
    np.testing.assert_array_equal(back.numpy(), A)
    both = t.to("cuda", dg.float64)
    assert both.is_cuda and both.dtype == np.float64
    assert t.cuda(0).is_cuda and t.to(device=dg.device("cuda", 0)).is_cuda
    assert g.to(t).device == t.device  # to(other): that tensor's device and dtype


def test_gpu_tensors_refuse_implicit_numpy_conversion_but_give_items_and_lists():
    g = dg.tensor(A, device="cuda")
    with pytest.raises(TypeError, match="cuda"):
        g.numpy()
    assert g[1, 2].item() == pytest.approx(float(A[1, 2]))
    assert g.tolist() == A.tolist()
    assert "device='cuda:0'" in repr(g)


def test_creation_functions_put_data_on_the_requested_device():
    made = [dg.zeros(2, 3, device="cuda"), dg.ones(4, device="cuda"), dg.full((2,), 3.0, device="cuda"),
            dg.arange(5, device="cuda"), dg.randn(3, device="cuda"), dg.rand(3, device="cuda"),
            dg.tensor([1, 2], device="cuda"), dg.empty(2, device="cuda"),
            dg.zeros_like(dg.tensor(A, device="cuda")), dg.randint(0, 5, (3,), device="cuda")]
    assert all(t.is_cuda for t in made), [str(t.device) for t in made]


def test_gradient_flows_back_across_a_move():
    x = dg.tensor(A, requires_grad=True)
    y = (x.cuda() * 3).sum()
    y.backward()
    assert not x.grad.is_cuda
    np.testing.assert_array_equal(x.grad.numpy(), np.full_like(A, 3))
    xg = dg.tensor(A, device="cuda", requires_grad=True)
    (xg.cpu() ** 2).sum().backward()
    assert xg.grad.is_cuda
    np.testing.assert_allclose(host(xg.grad), 2 * A, rtol=1e-6)


def test_module_to_moves_parameters_buffers_and_keeps_the_objects():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    params = list(net.parameters())
    assert net.to("cuda") is net and list(net.parameters()) == params
    assert all(p.is_cuda for p in net.parameters()) and all(b.is_cuda for b in net.buffers())
    out = net(dg.tensor(A, device="cuda"))
    assert out.is_cuda
    net.cpu()
    assert not any(p.is_cuda for p in net.parameters())


@pytest.mark.parametrize("saved_on,map_location,loaded_on", [
    ("cuda", None, "cuda"),
    ("cuda", "cpu", "cpu"),
    ("cuda", {"cuda:0": "cpu"}, "cpu"),
    ("cuda", lambda storage, location: "cpu", "cpu"),
    ("cpu", "cuda", "cuda"),
    ("cpu", "cuda:0", "cuda"),
    ("cpu", dg.device("cuda"), "cuda"),
    ("cpu", None, "cpu"),
])
def test_load_places_tensors_where_map_location_says(tmp_path, saved_on, map_location, loaded_on):
    path = tmp_path / "ckpt.pt"
    net = nn.Linear(4, 3).to(saved_on)
    dg.save({"model": net.state_dict(), "t": dg.tensor(A, device=saved_on)}, path)
    back = dg.load(path, map_location=map_location)
    for value in [back["t"], *back["model"].values()]:
        assert value.is_cuda == (loaded_on == "cuda"), f"{map_location!r}: tensor on {value.device}"
    np.testing.assert_array_equal(host(back["t"]), A)
    restored = nn.Linear(4, 3).to(loaded_on)
    restored.load_state_dict(back["model"])
    np.testing.assert_array_equal(host(restored.weight), host(net.weight))
