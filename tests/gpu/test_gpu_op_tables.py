"""Every op of the tests/unit tables on device="cuda" gives the CPU's values and gradients
(float32 on both sides); outputs and gradients stay on the GPU."""
import importlib

import numpy as np
import pytest

import distgrad as dg
from gpu_support import GPU_ONLY, assert_matches_cpu, to_gpu, upstream_like
from test_ops_common import DG, dg_inputs, outputs

pytestmark = GPU_ONLY

TABLES = ("test_ops_activation", "test_ops_conv_pool", "test_ops_dropout_embedding", "test_ops_elementwise",
          "test_ops_indexing", "test_ops_linalg", "test_ops_loss", "test_ops_normalization",
          "test_ops_reduction", "test_ops_shape")
# dropout draws its mask from the GPU's own generator, so it cannot equal the CPU's: it is
# checked on its own terms below
RANDOM = {"dropout"}
CASES = [case for table in TABLES for case in importlib.import_module(table).CASES if case.name not in RANDOM]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_on_gpu_matches_cpu(case):
    cpu = dg_inputs(case.arrays(0), "float32")
    gpu = to_gpu(cpu)
    want, got = outputs(case.fn(DG, *cpu)), outputs(case.fn(DG, *gpu))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_matches_cpu(g, w, f"{case.name} output {i}")
    pairs = [(g, w) for g, w in zip(got, want) if w.requires_grad]
    if not pairs:
        return
    seeds = upstream_like([w for _, w in pairs], seed=1)
    dg.autograd.backward([w for _, w in pairs], [dg.tensor(s) for s in seeds])
    dg.autograd.backward([g for g, _ in pairs], [dg.tensor(s, device="cuda") for s in seeds])
    for i, (tc, tg) in enumerate(zip(cpu, gpu)):
        if tc.requires_grad and tc.grad is not None:
            assert tg.grad is not None, f"{case.name}: input {i} got a gradient on the CPU but none on the GPU"
            assert_matches_cpu(tg.grad, tc.grad, f"{case.name} gradient of input {i}")


def test_dropout_on_gpu_scales_kept_values_and_routes_the_gradient_through_the_mask():
    x = dg.ones(200, 300, device="cuda", requires_grad=True)
    p = 0.3
    y = dg.nn.functional.dropout(x, p)
    y.sum().backward()
    kept = y.detach().cpu().numpy() != 0
    assert y.is_cuda and x.grad.is_cuda
    assert abs(1 - kept.mean() - p) < 0.01  # 60,000 draws: the dropped share is p to within 1%
    np.testing.assert_allclose(y.detach().cpu().numpy()[kept], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(x.grad.cpu().numpy(), y.detach().cpu().numpy())


def test_dropout_on_gpu_follows_manual_seed():
    masks = []
    for _ in range(2):
        dg.manual_seed(5)
        masks.append(dg.nn.functional.dropout(dg.ones(1000, device="cuda"), 0.5).cpu().numpy())
    np.testing.assert_array_equal(masks[0], masks[1])
