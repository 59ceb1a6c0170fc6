"""ParameterList and ParameterDict: parameters held in a list or a dict, registered under
their position ("0", "1", ...) or key, so ``parameters()`` and ``state_dict()`` see them."""
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _as_parameter(value):
    """A plain Tensor becomes a Parameter (sharing its memory), as PyTorch's containers do."""
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _describe(value):
    if not isinstance(value, Tensor):
        return f"Object of type: {type(value).__name__}"
    size = "x".join(str(s) for s in value.shape)
    device = "" if value.device.type == "cpu" else f" ({value.device})"
    kind = "Parameter containing: " if isinstance(value, Parameter) else "Tensor "
    return f"{kind}[{value.dtype} of size {size}{device}]"


class ParameterList(Module):
    """A list of parameters; tensors appended are wrapped in Parameter."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _index(self, idx):
        idx = int(idx)
        if not -self._size <= idx < self._size:
            raise IndexError(f"index {idx} is out of range for ParameterList of length {self._size}")
        return idx % self._size

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(self._size)[idx]])
        return getattr(self, str(self._index(idx)))

    def __setitem__(self, idx, value):
        setattr(self, str(self._index(idx)), _as_parameter(value))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList.extend should be called with an iterable, got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(f"  ({i}): {_describe(value)}"  # indented one step more, as PyTorch prints
                         for i, value in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called")


class ParameterDict(Module):
    """A dict of parameters, in insertion order; tensors stored are wrapped in Parameter."""

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}  # insertion-ordered key set: a key may be any string, not just attribute names
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        return list(self._keys)

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        for key in list(self._keys):
            del self[key]

    def copy(self):
        return ParameterDict(self.items())

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for entry in items:
            if not hasattr(entry, "__len__") or len(entry) != 2:
                raise ValueError(f"ParameterDict.update: expected (key, value) pairs, got {entry!r}")
            self[entry[0]] = entry[1]

    def extra_repr(self):
        return "\n".join(f"  ({k}): {_describe(v)}" for k, v in self.items())

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called")
