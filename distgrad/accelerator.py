"""PyTorch's ``torch.accelerator``: the machine's accelerator, answered through distgrad.cuda
(CUDA through CuPy is the only one distgrad drives). On a machine without one, as PyTorch:
``is_available()`` False, ``device_count()`` 0, ``current_accelerator()`` None."""
from . import cuda as _cuda
from .backend import device as _device


def is_available():
    return _cuda.is_available()


def device_count():
    return _cuda.device_count()


def current_accelerator(check_available=False):
    """``device("cuda")`` when a GPU is usable, else None."""
    return _device("cuda") if _cuda.is_available() else None


def current_device_index():
    """The current GPU's index; -1 without one (PyTorch answers -1 too)."""
    index = _cuda.current_device()
    return -1 if index is None else index


current_device_idx = current_device_index


def set_device_index(device):
    _cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None):
    _cuda.synchronize()


__all__ = ["current_accelerator", "current_device_idx", "current_device_index", "device_count",
           "is_available", "set_device_idx", "set_device_index", "synchronize"]
