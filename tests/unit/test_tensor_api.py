"""The Tensor API is declared in tensor.py, and the layers under it make Tensors only."""
import copy
import inspect
import pathlib
import re

import distgrad as dg
from distgrad import nn
from distgrad.tensor import Tensor
from distgrad.tensor_base import TensorBase

TENSOR_SOURCE = pathlib.Path(inspect.getfile(Tensor)).read_text()


def test_every_public_method_is_declared_in_tensor_py():
    data_slots = set(TensorBase.__slots__)  # array, grad, grad_fn, name, requires_grad
    public = [name for name in dir(Tensor) if not name.startswith("_") and name not in data_slots]
    missing = [name for name in public if not re.search(rf"^    def {name}\(", TENSOR_SOURCE, re.M)]
    assert not missing, f"public Tensor attributes not declared with def in tensor.py: {missing}"


def test_methods_take_the_functions_arguments():
    x = dg.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.sum(1, keepdim=True).shape == (2, 1)
    assert x.clamp(max=0.0).tolist() == [[0.0, -2.0], [0.0, 0.0]]
    assert x.reshape(4).shape == (4,) and x.reshape((1, 4)).shape == (1, 4)
    assert x.std(dim=0, correction=0).shape == (2,)
    assert (x.mT == x.transpose(0, 1)).all()
    assert (2 - x).tolist() == [[1.0, 4.0], [-1.0, -2.0]]


def test_results_of_ops_on_parameters_are_plain_tensors():
    p = nn.Parameter(dg.ones(2))
    assert type(p * 2) is Tensor and type(p.sum()) is Tensor and type(p.argmax()) is Tensor
    (p * p).sum().backward()
    assert type(p.grad) is Tensor
    assert type(copy.deepcopy(p)) is nn.Parameter
