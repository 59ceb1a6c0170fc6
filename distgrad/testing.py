"""``distgrad.testing.assert_close``: torch.testing.assert_close's checks, default tolerances and
messages, for distgrad tensors, NumPy arrays, Python numbers and (nested) sequences and mappings
of them. Tensors on a GPU are compared on the host."""
import collections.abc
import numbers

import numpy

from .backend import move
from .tensor import Size
from .tensor_base import TensorBase

# PyTorch's default (rtol, atol) per dtype; any other dtype (integers, bool) is compared exactly.
_DEFAULT_TOLERANCES = {
    numpy.dtype(numpy.float16): (1e-3, 1e-5),
    numpy.dtype(numpy.float32): (1.3e-6, 1e-5),
    numpy.dtype(numpy.float64): (1e-7, 1e-7),
    numpy.dtype(numpy.complex64): (1.3e-6, 1e-5),
    numpy.dtype(numpy.complex128): (1e-7, 1e-7),
}
_PYTHON_NUMBER_DTYPES = {bool: numpy.dtype(bool), int: numpy.dtype(numpy.int64),
                         float: numpy.dtype(numpy.float64), complex: numpy.dtype(numpy.complex128)}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise and PyTorch's message for it."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind, self.message = kind, message


def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=False, check_device=True,
                 check_dtype=True, msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` are close:
    ``|actual - expected| <= atol + rtol * |expected|`` element by element, with PyTorch's
    default tolerances for the dtype when neither rtol nor atol is given. ``msg`` (a string, or a
    function of the generated message) replaces the message."""
    if (rtol is None) != (atol is None):
        raise ValueError("Both 'rtol' and 'atol' must be either specified or omitted, "
                         f"but got no {'rtol' if rtol is None else 'atol'}.")
    options = dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device,
                   check_dtype=check_dtype)
    try:
        _compare(actual, expected, (), options)
    except _Mismatch as failure:
        message = failure.message
        if failure.kind is AssertionError and msg is not None:
            message = msg(message) if callable(msg) else msg
        raise failure.kind(message) from None


def _compare(actual, expected, path, options):
    """Dispatch on the kind of the pair, adding the failing item's place to a message."""
    try:
        if _is_tensor_like(actual) or _is_tensor_like(expected):
            return _compare_tensors(actual, expected, options)
        if _is_number(actual) and _is_number(expected):
            return _compare_numbers(actual, expected, options)
        if _is_sequence(actual) and _is_sequence(expected):
            return _compare_sequences(actual, expected, path, options)
        if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
            return _compare_mappings(actual, expected, path, options)
        _no_pair(actual, expected)
    except _Mismatch as failure:
        if path and failure.kind is AssertionError and "\n\nThe failure occurred for item" not in failure.message:
            place = "".join(f"[{key!r}]" for key in path)
            failure.message += f"\n\nThe failure occurred for item {place}"
        raise


def _no_pair(actual, expected):
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} "
                               f"and {type(expected)}.")


def _is_tensor_like(value):
    return isinstance(value, (TensorBase, numpy.ndarray))


def _is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, numpy.ndarray)


def _is_sequence(value):
    return isinstance(value, collections.abc.Sequence) and not isinstance(value, (str, bytes))


def _compare_sequences(actual, expected, path, options):
    if len(actual) != len(expected):
        raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
    for index, (a, e) in enumerate(zip(actual, expected)):
        _compare(a, e, path + (index,), options)


def _compare_mappings(actual, expected, path, options):
    if set(actual) != set(expected):
        missing = sorted(set(expected) - set(actual), key=repr)
        additional = sorted(set(actual) - set(expected), key=repr)
        raise _Mismatch(AssertionError, "The keys of the mappings do not match:\n"
                                        f"Missing keys in the actual mapping: {missing}\n"
                                        f"Additional keys in the actual mapping: {additional}")
    for key in actual:
        _compare(actual[key], expected[key], path + (key,), options)


# ----------------------------------------------------------------- numbers
def _compare_numbers(actual, expected, options):
    if isinstance(actual, bool) and isinstance(expected, bool):
        if actual is not expected:
            raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}")
        return
    if options["check_dtype"] and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    rtol, atol = _tolerances(options, _number_dtype(actual), _number_dtype(expected))
    if _numbers_close(actual, expected, rtol, atol, options["equal_nan"]):
        return
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    raise _Mismatch(AssertionError, _mismatch_message("Scalars", f"Expected {expected} but got {actual}.",
                                                      abs_diff, None, atol, rel_diff, None, rtol))


def _number_dtype(value):
    return next((dtype for kind, dtype in _PYTHON_NUMBER_DTYPES.items() if isinstance(value, kind)),
                numpy.dtype(numpy.float64))


def _numbers_close(actual, expected, rtol, atol, equal_nan):
    return bool(numpy.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ----------------------------------------------------------------- tensors
def _host_array(value):
    array = value.array if isinstance(value, TensorBase) else value
    return numpy.asarray(move(array, "cpu"))


def _compare_tensors(actual, expected, options):
    if isinstance(actual, TensorBase) != isinstance(expected, TensorBase) or not (
            _is_tensor_like(actual) and _is_tensor_like(expected)):
        _no_pair(actual, expected)
    _check_attribute("shape", Size(actual.shape), Size(expected.shape))
    if options["check_device"] and isinstance(actual, TensorBase):
        _check_attribute("device", actual.device, expected.device)
    if options["check_dtype"]:
        _check_attribute("dtype", actual.dtype, expected.dtype)
    a, e = _host_array(actual), _host_array(expected)
    rtol, atol = _tolerances(options, a.dtype, e.dtype)
    common = numpy.result_type(a, e)
    a, e = a.astype(common, copy=False), e.astype(common, copy=False)
    matches = numpy.isclose(a, e, rtol=rtol, atol=atol, equal_nan=options["equal_nan"])
    if matches.all():
        return
    if a.ndim == 0:
        _compare_numbers(a.item(), e.item(), dict(options, rtol=rtol, atol=atol, check_dtype=False))
    raise _Mismatch(AssertionError, _tensor_mismatch_message(a, e, matches, rtol, atol))


def _check_attribute(name, actual, expected):
    if actual != expected:
        raise _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {actual} != {expected}.")


def _tolerances(options, *dtypes):
    """The given tolerances, else the largest of the dtypes' defaults (as PyTorch)."""
    if options["rtol"] is not None:
        return options["rtol"], options["atol"]
    defaults = [_DEFAULT_TOLERANCES.get(numpy.dtype(dtype), (0.0, 0.0)) for dtype in dtypes]
    return max(rtol for rtol, _ in defaults), max(atol for _, atol in defaults)


def _tensor_mismatch_message(actual, expected, matches, rtol, atol):
    """PyTorch's: how many elements mismatch, and the greatest differences among them (integers
    and booleans in int64, relative differences of integers in float32, as PyTorch computes them)."""
    total, mismatched = matches.size, int((~matches).sum())
    extra = f"Mismatched elements: {mismatched} / {total} ({mismatched / total:.1%})"
    a, e, matched = actual.reshape(-1), expected.reshape(-1), matches.reshape(-1)
    exact = a.dtype.kind not in "fc"
    if exact:
        a, e = a.astype(numpy.int64), e.astype(numpy.int64)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        abs_diff = numpy.abs(a - e)
        abs_diff[matched] = 0
        rel_diff = (abs_diff.astype(numpy.float32) / numpy.abs(e).astype(numpy.float32) if exact
                    else abs_diff / numpy.abs(e))
    rel_diff[matched] = 0
    worst_abs, worst_rel = int(numpy.argmax(abs_diff)), int(numpy.argmax(rel_diff))
    return _mismatch_message("Tensor-likes", extra,
                             abs_diff[worst_abs].item(), numpy.unravel_index(worst_abs, matches.shape), atol,
                             rel_diff[worst_rel].item(), numpy.unravel_index(worst_rel, matches.shape), rtol)


def _mismatch_message(identifier, extra, abs_diff, abs_index, atol, rel_diff, rel_index, rtol):
    exact = rtol == 0 and atol == 0
    lines = [f"{identifier} are not {'equal' if exact else 'close'}!", "", extra]
    for kind, diff, index, tolerance in (("absolute", abs_diff, abs_index, atol),
                                         ("relative", rel_diff, rel_index, rtol)):
        line = (f"{kind.title()} difference: {diff}" if index is None else
                f"Greatest {kind} difference: {diff} at index {tuple(int(i) for i in index)}")
        lines.append(line if exact else f"{line} (up to {tolerance} allowed)")
    return "\n".join(lines)
