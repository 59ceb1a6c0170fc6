"""One error form for ops: OpError subclasses carry the op's name and stay the built-in
error type they were, and Function.apply names the op only in the array library's errors."""
import numpy as np
import pytest

import distgrad as dg
from distgrad.errors import OpError, OpIndexError, OpRuntimeError, OpValueError
from distgrad.function import named_error


def test_own_errors_carry_the_op_and_their_builtin_type():
    with pytest.raises(ValueError, match=r"^conv2d: stride \(0, 1\)") as info:
        dg.nn.functional.conv2d(dg.ones(1, 1, 3, 3), dg.ones(1, 1, 2, 2), stride=(0, 1))
    assert isinstance(info.value, OpValueError) and info.value.op == "conv2d"
    with pytest.raises(IndexError) as info:
        dg.ones(2, 3).sum(dim=5)
    assert isinstance(info.value, OpIndexError) and info.value.op == "sum"
    with pytest.raises(RuntimeError) as info:
        dg.ones(2, 3) @ dg.ones(2, 3)
    assert isinstance(info.value, OpRuntimeError) and str(info.value).startswith("matmul: ")


def test_named_error_wraps_only_foreign_errors():
    arrays = (np.ones((2, 3)), np.ones((4, 3)))
    own = OpValueError("add", "something specific")
    assert named_error("add", arrays, own) is own
    foreign = named_error("add", arrays, ValueError("operands could not be broadcast together"))
    assert type(foreign) is ValueError and not isinstance(foreign, OpError)
    assert str(foreign) == "add: inputs of shapes (2, 3) and (4, 3): operands could not be broadcast together"
    # a library message that merely looks like "name: ..." still gets the op and shapes
    looks_own = named_error("add", arrays, ValueError("matmul: Input operand 1 mismatch"))
    assert str(looks_own).startswith("add: inputs of shapes (2, 3) and (4, 3): matmul:")


def test_broadcast_failure_in_a_forward_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"^add: inputs of shapes \(2, 3\) and \(4, 3\): "):
        dg.ones(2, 3) + dg.ones(4, 3)
