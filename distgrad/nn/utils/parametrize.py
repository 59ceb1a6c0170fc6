"""torch.nn.utils.parametrize: a module attribute computed from stored tensors on every access.

``register_parametrization(module, "weight", p)`` moves the parameter to
``module.parametrizations.weight.original`` (or ``original0``, ``original1``, ... when
``p.right_inverse`` returns several tensors) and swaps the module's class for a subclass with a
``weight`` property returning ``p(original)``. The state_dict keys are PyTorch's, so
checkpoints load between the two; ``module.py`` needs no change.
"""
from collections.abc import Sequence
from contextlib import contextmanager
from copy import deepcopy

from ... import autograd
from ...tensor import Tensor
from ..containers import ModuleDict, ModuleList
from ..parameter import Parameter

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "type_before_parametrizations"]

_cache_depth = 0
_cache = {}  # (id(module), tensor_name) -> value, while a cached() context is open


@contextmanager
def cached():
    """Inside, each parametrized tensor is computed once (on its first access) and reused."""
    global _cache_depth, _cache
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache = {}


def _register_parameter_or_buffer(module, name, tensor):
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set_in_place(dest, src):
    """``dest.set_(src)``: dest takes src's memory, keeping its identity (optimizers hold it)."""
    dest.array = src.array
    dest._bump_version()


def _right_inverse(parametrizations, value, skip_missing):
    """Run the right inverses last to first; a parametrization without one is the identity
    when ``skip_missing`` (at registration), an error otherwise (on assignment)."""
    for parametrization in reversed(list(parametrizations)):
        inverse = getattr(parametrization, "right_inverse", None)
        if inverse is None:
            if skip_missing:
                continue
            raise RuntimeError(f"parametrization {type(parametrization).__name__} does not implement right_inverse.")
        try:
            value = inverse(value)
        except NotImplementedError:
            if not skip_missing:
                raise
    return value


class ParametrizationList(ModuleList):
    """``module.parametrizations[name]``: the parametrizations applied in order, and the tensor(s)
    they start from as ``original`` or ``original0``, ``original1``, ..."""

    def __init__(self, modules, original, unsafe=False):
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        with autograd.no_grad():
            new = _right_inverse(self, original, skip_missing=True)
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                             f"Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            self._store_single(original, new)
        else:
            self._store_sequence(original, new)
        if not unsafe:
            _check_same_kind(self(), original, "Registering a parametrization may not change the {what} of the "
                                               "tensor, unless `unsafe` flag is enabled.",
                             "unparametrized", "parametrized")

    def _store_single(self, original, new):
        if original.dtype != new.dtype:
            raise ValueError("When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                             f"original.dtype: {original.dtype}\nright_inverse(original).dtype: {new.dtype}")
        if original.device != new.device:
            raise ValueError("When `right_inverse` outputs one tensor, it may not change the device.\n"
                             f"original.device: {original.device}\nright_inverse(original).device: {new.device}")
        if new is not original:
            _set_in_place(original, new)
        _register_parameter_or_buffer(self, "original", original)

    def _store_sequence(self, original, tensors):
        for i, tensor in enumerate(tensors):
            if not isinstance(tensor, Tensor):
                raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                 f"Got element {i} of the sequence with type {type(tensor).__name__}.")
            if isinstance(original, Parameter):
                tensor = Parameter(tensor, original.requires_grad)
            else:
                tensor = tensor.detach().requires_grad_(original.requires_grad)
            _register_parameter_or_buffer(self, f"original{i}", tensor)

    def originals(self):
        if self.is_tensor:
            return [self.original]
        return [getattr(self, f"original{i}") for i in range(self.ntensors)]

    def right_inverse(self, value):
        """Store ``value``'s preimage in the originals (what ``module.weight = value`` does)."""
        with autograd.no_grad():
            value = _right_inverse(self, value, skip_missing=False)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                values = [value]
            else:
                if not isinstance(value, Sequence):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors. Got {type(value).__name__}.")
                if len(value) != self.ntensors:
                    raise ValueError(f"'right_inverse' must return a sequence of tensors of length {self.ntensors}. "
                                     f"Got a sequence of length {len(value)}.")
                values = value
            for i, (original, tensor) in enumerate(zip(self.originals(), values)):
                if original.dtype != tensor.dtype:
                    name = "original" if self.is_tensor else f"original{i}"
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype {tensor.dtype} "
                                     f"while `{name}` has dtype {original.dtype}")
                _set_in_place(original, tensor)

    def forward(self):
        parametrizations = list(self)
        x = parametrizations[0](*self.originals())
        for parametrization in parametrizations[1:]:
            x = parametrization(x)
        return x


def _check_same_kind(value, reference, message, value_label, reference_label):
    """A parametrization's output must keep the tensor's dtype and shape (unless unsafe)."""
    if not isinstance(value, Tensor):
        raise ValueError(f"A parametrization must return a tensor. Got {type(value).__name__}.")
    for what in ("dtype", "shape"):
        if getattr(value, what) != getattr(reference, what):
            raise ValueError(message.format(what=what) + f"\n{reference_label} {what}: {getattr(reference, what)}"
                                                         f"\n{value_label} {what}: {getattr(value, what)}")


def _parametrized_deepcopy(self, memo):
    replica = memo.get(id(self))
    if replica is not None:
        return replica
    replica = self.__new__(type(self))
    memo[id(self)] = replica
    replica.__dict__ = deepcopy(self.__dict__, memo)
    return replica


def _refuse_pickle(self):
    raise RuntimeError("Serialization of parametrized modules is only supported through state_dict(): "
                       "save module.state_dict() and load it into a module parametrized the same way")


def _inject_new_class(module):
    """Give this one module a class of its own, so properties added to it touch no other module."""
    cls = type(module)
    namespace = {"__getstate__": _refuse_pickle}
    if not hasattr(cls, "__deepcopy__"):
        namespace["__deepcopy__"] = _parametrized_deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), namespace)


def _inject_property(module, tensor_name):
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if not _cache_depth:
            return parametrization()
        key = (id(self), tensor_name)
        if _cache.get(key) is None:
            _cache[key] = parametrization()
        return _cache[key]

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(type(module), tensor_name, property(get_parametrized, set_original))


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Make ``module.<tensor_name>`` return ``parametrization(original)``; a second call on the
    same name chains the new parametrization after the existing ones."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            _check_appended(module, tensor_name, parametrization)
        parametrizations = module.parametrizations[tensor_name]
        parametrizations.append(parametrization)
        parametrizations.unsafe |= unsafe
    elif tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"register_parametrization: '{tensor_name}' of {type(module).__name__} is None")
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
                         f"with name '{tensor_name}'")
    return module


def _check_appended(module, tensor_name, parametrization):
    current = getattr(module, tensor_name)
    value = parametrization(current)
    _check_same_kind(value, current, "Registering a parametrization may not change the {what} of the tensor, "
                                     "unless the `unsafe` flag is enabled.",
                     f"parametrization(module.{tensor_name})", f"module.{tensor_name}")
    inverse = getattr(parametrization, "right_inverse", None)
    if inverse is None:
        return
    try:
        preimage = inverse(value)
    except NotImplementedError:
        return
    if not isinstance(preimage, Tensor):
        raise ValueError(f"parametrization.right_inverse must return a tensor. Got: {type(preimage).__name__}")
    _check_same_kind(preimage, current, "The tensor returned by parametrization.right_inverse must have the same "
                                        "{what} as module." + tensor_name + ", unless the `unsafe` flag is enabled.",
                     "returned", f"module.{tensor_name}")


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has any parametrization (or one on ``tensor_name``)."""
    parametrizations = getattr(module, "parametrizations", None)
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Turn ``module.<tensor_name>`` back into a plain parameter (or buffer): holding its current
    parametrized value when ``leave_parametrized``, else the stored original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with autograd.no_grad():
                _set_in_place(original, getattr(module, tensor_name))
    elif leave_parametrized:
        value = getattr(module, tensor_name)
        original = Parameter(value.detach()) if value.requires_grad else value.detach()
    else:
        raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                         "parametrized in terms of a sequence of tensors.")
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module):
    """The module's class as it was before any parametrization swapped it."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)
