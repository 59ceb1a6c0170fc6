"""TensorBase: what the layers under the Tensor class know of a tensor.

Tensor (tensor.py) adds the public API to it, and its methods call the ops; so Function,
the ops and the backward engine sit below Tensor and never import it. They work with the
tensors they are given: ``isinstance(x, TensorBase)`` recognises a tensor, and
``x._wrap(array, requires_grad=False, grad_fn=None)`` makes a new Tensor (never a subclass
such as Parameter) from an array the library computed.
"""


class TensorBase:
    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "_version", "_hooks",
                 "_post_hooks", "name", "__weakref__")

    # The ViewRecord of a view (autograd/views.py); TensorView holds it in a slot.
    _view = None

    # Make NumPy defer to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_priority__ = 1000

    def _init(self, array, requires_grad, grad_fn):
        self.array = array
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = grad_fn
        self._version = [0]  # shared with views; bumped by in-place ops
        self._hooks = None
        self._post_hooks = None
        self.name = None
