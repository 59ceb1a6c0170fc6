"""Array modules and devices: NumPy on the CPU, CuPy on NVIDIA GPUs.

Every op is written once against ``xp``, the array module of its inputs, so the CPU and
GPU paths share all of their lines. CuPy is optional: without it (or without a GPU)
``cuda.is_available()`` is simply False.
"""
import numpy

try:  # CuPy is an optional dependency (extra "gpu").
    import cupy
except Exception:  # ImportError, or a CUDA runtime that fails to load
    cupy = None


def get_array_module(array):
    """numpy for NumPy arrays (and scalars), cupy for CuPy arrays."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return numpy


def is_gpu_array(array):
    return cupy is not None and isinstance(array, cupy.ndarray)


class device:
    """A place for tensors: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        elif isinstance(spec, int):
            spec, index = "cuda", spec
        spec = str(spec)
        if ":" in spec:
            spec, _, idx = spec.partition(":")
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise ValueError(f"unknown device type {spec!r}: expected 'cpu' or 'cuda[:index]'")
        if spec == "cpu":
            index = None
        self.type = spec
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        if self.type != other.type:
            return False
        # "cuda" without an index means the current device; treat it as a wildcard.
        return self.index is None or other.index is None or self.index == other.index

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"


CPU = device("cpu")


def device_of(array):
    if is_gpu_array(array):
        return device("cuda", array.device.id)
    return CPU


def module_for(dev):
    """The array module that holds data on ``dev``; a clear error when CUDA is missing."""
    dev = device(dev) if dev is not None else CPU
    if dev.type == "cpu":
        return numpy
    if not cuda.is_available():
        raise RuntimeError(f"device {dev} requested but CUDA is not available "
                           "(install the 'gpu' extra, CuPy, on a machine with an NVIDIA GPU)")
    return cupy


def move(array, dev):
    """Return ``array`` on ``dev`` (a copy only when it actually moves)."""
    dev = device(dev)
    if dev.type == "cpu":
        return cupy.asnumpy(array) if is_gpu_array(array) else array
    xp = module_for(dev)
    index = dev.index if dev.index is not None else xp.cuda.Device().id
    if is_gpu_array(array) and array.device.id == index:
        return array
    with xp.cuda.Device(index):
        return xp.asarray(array)


class _Cuda:
    """``distgrad.cuda``: availability queries that never raise."""

    @staticmethod
    def is_available():
        if cupy is None:
            return False
        try:
            return cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:
            return False

    @staticmethod
    def device_count():
        return cupy.cuda.runtime.getDeviceCount() if _Cuda.is_available() else 0

    @staticmethod
    def current_device():
        return cupy.cuda.Device().id if _Cuda.is_available() else None

    @staticmethod
    def set_device(index):
        if _Cuda.is_available():
            cupy.cuda.Device(device(index).index or 0).use()

    @staticmethod
    def synchronize():
        if _Cuda.is_available():
            cupy.cuda.get_current_stream().synchronize()


cuda = _Cuda()
