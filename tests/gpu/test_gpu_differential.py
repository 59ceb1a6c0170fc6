"""Every op of the differential table (tests/unit/differential_ops.py: the trig, sort/topk,
cumsum, tril, conv1d/transposed, pooling, norm, interpolate, pad, pixel shuffle, embedding
bag and activation ops among them) on device="cuda" against the same op on the CPU: a few
drawn cases each (shapes with 0-d and empty ones, transposed views, every dtype the table
draws, NaN/inf values), equal outcomes (both raise, or equal dtypes, shapes, values and
gradients), results and gradients on the GPU."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import distgrad as dg
import distgrad.nn.functional as dg_F
from gpu_support import GPU_ONLY

pytestmark = GPU_ONLY

import test_differential_torch as differential  # noqa: E402  (skips without torch: it holds the drawing harness)

EXAMPLES = 2
# random draws: the GPU's generator is not the CPU's (dropout is checked in test_gpu_op_tables);
# tensor(ndarray) and tensor(numpy scalar) read their input with .numpy(), which a GPU tensor refuses
LEFT_OUT = ("dropout", "rrelu", "bernoulli", "multinomial", "rand", "tensor(")
OPS = sorted(name for name in differential.OPS if not any(w in name for w in LEFT_OUT))
# casting NaN or an infinity to an integer is undefined in C and CUDA alike (PyTorch's too)
CASTS = ("Tensor.long", "Tensor.to(dtype)")


class OnDevice(differential.Framework):
    """distgrad with every input made on ``device`` (the harness builds inputs with from_numpy)."""

    def __init__(self, device):
        super().__init__(dg, dg_F)
        self.device = device

    def from_numpy(self, array):
        return dg.tensor(np.array(array, copy=True), device=self.device)


CPU, GPU = OnDevice("cpu"), OnDevice("cuda")


RUNNING_ON = {"device": "cpu"}


def to_host(t):
    """The harness's reader of outputs and gradients: each must be on the device the op ran on."""
    assert t.device.type == RUNNING_ON["device"], f"a result on {t.device}, not on {RUNNING_ON['device']}"
    return np.array(t.detach().cpu().numpy(), copy=True)


def run_on(framework, case):
    RUNNING_ON["device"] = framework.device
    return differential.run(framework, case)


def differences(case, cpu, gpu):
    """What the GPU's outcome of ``case`` does differently from the CPU's ([] when nothing)."""
    if (cpu.error is None) != (gpu.error is None):
        who, error = ("CPU", cpu.error) if cpu.error is not None else ("GPU", gpu.error)
        return [f"only the {who} raises {type(error).__name__}: {error}"]
    if cpu.error is not None:
        same = type(cpu.error) is type(gpu.error)
        return [] if same else [f"CPU raises {type(cpu.error).__name__}, GPU {type(gpu.error).__name__}"]
    found = []
    for k, (c, g) in enumerate(zip(cpu.outputs, gpu.outputs)):
        if isinstance(c, tuple) and (c[:2] != g[:2] or not differential._close(c[2], g[2], dtype_of(case, c[0]))):
            found.append(f"output {k}: CPU {c[:2]} {c[2].tolist()}, GPU {g[:2]} {g[2].tolist()}")
        elif not isinstance(c, tuple) and not (c == g or c != c and g != g):
            found.append(f"output {k}: CPU {c!r}, GPU {g!r}")
    if (cpu.backward_error is None) != (gpu.backward_error is None):
        found.append(f"backward raises on one device only: CPU {cpu.backward_error!r}, GPU {gpu.backward_error!r}")
    for i, (c, g) in enumerate(zip(cpu.grads or [], gpu.grads or [])):
        if (c is None) != (g is None) or c is not None and not differential._close(
                c, g, dtype_of(case, case.arrays[i].dtype.name)):
            found.append(f"gradient of input {i}: CPU {c if c is None else c.tolist()}, "
                         f"GPU {g if g is None else g.tolist()}")
    return found


def dtype_of(case, name):
    """Comparison tolerance: float32's when anything is float32 (the GPU sums in another order)."""
    return differential._least_precise(case, name)


@pytest.mark.parametrize("name", OPS)
def test_op_on_gpu_matches_cpu(name, monkeypatch):
    monkeypatch.setattr(differential, "_numpy", to_host)  # the harness's reader, for GPU tensors too
    op = differential.OPS[name]

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        case = differential.draw_case(data, op)
        if name in CASTS and (case.has_nan() or case.has_inf()):
            return
        cpu, gpu = run_on(CPU, case), run_on(GPU, case)
        found = differences(case, cpu, gpu)
        assert not found, f"{case}\n" + "\n".join(found)

    check()
