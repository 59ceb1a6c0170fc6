"""use_deterministic_algorithms(True) on a GPU: the ops whose CuPy path adds with atomics (in
an order that varies from run to run) raise, naming the op, or warn with warn_only=True, as
PyTorch's nondeterministic CUDA ops do; without the flag they run."""
import pytest

import distgrad as dg
from gpu_support import GPU_ONLY

pytestmark = GPU_ONLY


@pytest.fixture
def deterministic():
    yield dg.use_deterministic_algorithms
    dg.use_deterministic_algorithms(False)


def embedding_backward():
    weight = dg.randn(5, 3, device="cuda", requires_grad=True)
    dg.nn.functional.embedding(dg.tensor([1, 1, 2], device="cuda"), weight).sum().backward()
    return weight.grad


def test_atomic_adds_raise_under_deterministic_algorithms(deterministic):
    assert embedding_backward() is not None
    deterministic(True)
    with pytest.raises(RuntimeError, match="scatter_add on CUDA .*embedding"):
        embedding_backward()
    with pytest.raises(RuntimeError, match="bincount with weights on CUDA"):
        dg.bincount(dg.tensor([0, 1, 1], device="cuda"), weights=dg.ones(3, device="cuda"))
    deterministic(True, warn_only=True)
    with pytest.warns(UserWarning, match="scatter_add on CUDA"):
        assert embedding_backward() is not None
