"""Parameter: a Tensor that a Module registers as learnable (requires_grad by default)."""
import numpy

from ..tensor import Tensor


class Parameter(Tensor):
    """``Parameter(tensor)`` shares the tensor's array (no copy), as torch.nn.Parameter does."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            array = numpy.empty(0, dtype=numpy.float32)
        elif isinstance(data, Tensor):
            array = data.array
        else:
            array = Tensor(data).array
        self._init(array, False, None)
        if isinstance(data, Tensor):
            self._version = data._version  # same memory, same version counter
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """``self.x = nn.Buffer(t, persistent=True)`` in a Module registers ``t`` as a buffer (as
    ``register_buffer`` does); the module keeps a plain Tensor sharing t's memory."""

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent=True):
        array = numpy.empty(0, dtype=numpy.float32) if data is None else (
            data.array if isinstance(data, Tensor) else Tensor(data).array)
        self._init(array, False, None)
        self.persistent = persistent
        if isinstance(data, Tensor):
            self._version = data._version
            if data.requires_grad:
                self.requires_grad_(True)

    def as_tensor(self):
        """The plain Tensor a Module registers: same memory, same version counter."""
        t = Tensor._wrap(self.array, requires_grad=self.requires_grad)
        t._version = self._version
        return t
