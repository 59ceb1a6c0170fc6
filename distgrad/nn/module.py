"""Module: the base class of every layer and model, with PyTorch's registration rules.

Assigning a Parameter or a Module to an attribute registers it (in assignment order), so
``parameters()``, ``state_dict()`` and ``to()`` find it. The three registries are plain
dicts in ``__dict__``; attribute reads of registered names fall through to ``__getattr__``.
"""
from collections import OrderedDict, namedtuple

import numpy

from ..backend import device as Device, move
from ..tensor import Tensor, _RemovableHandle
from .backward_hooks import BackwardHooks
from .parameter import Buffer, Parameter


_EXTRA_STATE = "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class Module:
    training = True  # overwritten per instance by __init__ and train()
    # Backward and state-dict hooks are rare: empty class defaults until a module registers
    # one, which keeps modules made before these existed (pickled ones) working.
    _backward_hooks = ()
    _backward_pre_hooks = ()
    _state_dict_pre_hooks = ()
    _state_dict_hooks = ()
    _load_state_dict_pre_hooks = ()
    _load_state_dict_post_hooks = ()

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ "
                            "takes none; pass them to your own __init__ instead")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", [])
        setattr_(self, "_forward_hooks", [])

    # ----------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook, with_kwargs in list(self._forward_pre_hooks):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hooks = BackwardHooks(self) if self._backward_hooks or self._backward_pre_hooks else None
        if backward_hooks is not None:
            args = backward_hooks.setup_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_hooks):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output if backward_hooks is None else backward_hooks.setup_outputs(output)

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` runs before forward; a returned value replaces the args."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args, output)`` runs after forward; a returned value replaces the output."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs once the gradients with respect to the
        module's tensor arguments are computed; a returned tuple replaces grad_input."""
        return self._add_backward_hook("_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs once the gradients with respect to the module's
        outputs are computed, before they flow into it; a returned tuple replaces grad_output."""
        return self._add_backward_hook("_backward_pre_hooks", hook, prepend)

    def register_backward_hook(self, hook):
        raise NotImplementedError("register_backward_hook is deprecated in PyTorch and not built here; "
                                  "use register_full_backward_hook")

    def _add_backward_hook(self, registry, hook, prepend):
        hooks = self.__dict__.get(registry)
        if hooks is None:  # the first one: an own list in place of the class's empty default
            hooks = []
            object.__setattr__(self, registry, hooks)
        hooks.insert(0, hook) if prepend else hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    @staticmethod
    def _add_hook(hooks, hook, prepend, with_kwargs):
        entry = (hook, with_kwargs)
        hooks.insert(0, entry) if prepend else hooks.append(entry)
        return _RemovableHandle(hooks, entry)

    # ----------------------------------------------------------------- registration
    def _check_initialised(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")

    @staticmethod
    def _check_name(name, kind, owner):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f'{kind} name can\'t contain "." and can\'t be empty, got {name!r}')
        if hasattr(owner, name) and name not in owner._parameters and name not in owner._buffers \
                and name not in owner._modules:
            raise KeyError(f"attribute '{name}' already exists on {type(owner).__name__}")

    def register_parameter(self, name, param):
        self._check_initialised("parameters")
        self._check_name(name, "parameter", self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(distgrad.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"cannot assign non-leaf Tensor to parameter '{name}': compute it in "
                             "forward() instead, or wrap a detached copy in nn.Parameter")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is state but not a parameter (BatchNorm's running mean, say);
        ``persistent=False`` keeps it out of ``state_dict``."""
        self._check_initialised("buffers")
        self._check_name(name, "buffer", self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(Tensor or None required)")
        if isinstance(tensor, Buffer):
            tensor = tensor.as_tensor()
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        self._check_initialised("child modules")
        self._check_name(name, "module", self)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_initialised("parameters")
            self._forget(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(distgrad.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Buffer):
            self._check_initialised("buffers")
            self._forget(name)
            self.register_buffer(name, value, value.persistent)
        elif isinstance(value, Module):
            self._check_initialised("child modules")
            self._forget(name)
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(distgrad.nn.Module or None expected)")
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Drop ``name`` from every registry, before it is registered as something else."""
        d = self.__dict__
        d.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            d[registry].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}': "
                                 f"{type(self).__name__}.__init__ must call super().__init__() first")
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = d.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                del entries[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, depth first, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) in registration order; shared parameters appear once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target):
        module = self
        for item in target.split(".") if target else []:
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no submodule '{item}' (looking up '{target}')")
            module = module._modules[item]
        return module

    def set_submodule(self, target, module, strict=False):
        """Replace (or, unless ``strict``, add) the submodule at dotted path ``target``."""
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and name not in parent._modules:
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent.add_module(name, module)

    def get_parameter(self, target):
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        return self._get_member(target, "_buffers", "buffer")

    def _get_member(self, target, registry, kind):
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module.__dict__[registry]:
            raise AttributeError(f"{type(module).__name__} has no {kind} '{name}' (looking up '{target}')")
        return module.__dict__[registry][name]

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode is expected to be a bool, got {type(mode).__name__}")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)  # through the method, so subclasses that override train() see it
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.array.fill(0)

    # ----------------------------------------------------------------- devices and dtypes
    def _apply_to_arrays(self, convert):
        """Replace every parameter's and buffer's array by ``convert(tensor, array)``, keeping
        the same Parameter and buffer objects (so optimizers and hooks still refer to them)."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is None:
                    continue
                param.array = convert(param, param.array)
                if param.grad is not None:
                    param.grad.array = convert(param, param.grad.array)
            for buf in module._buffers.values():
                if buf is not None:
                    buf.array = convert(buf, buf.array)
        return self

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: in place.
        Only floating-point tensors change dtype (integer buffers keep theirs)."""
        device, dtype = _parse_to(args, kwargs)

        def convert(tensor, array):
            if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
                array = array.astype(dtype)
            return array if device is None else move(array, device)
        return self._apply_to_arrays(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        if device is None:
            return self.to("cuda")
        return self.to(Device(device) if not isinstance(device, int) else Device("cuda", device))

    def float(self):
        return self.to(numpy.dtype("float32"))

    def double(self):
        return self.to(numpy.dtype("float64"))

    def half(self):
        return self.to(numpy.dtype("float16"))

    def type(self, dst_type):
        return self.to(dst_type)

    def to_empty(self, *, device=None, recurse=True):
        """Move to ``device``; PyTorch leaves the values uninitialized, here they are kept."""
        return self.to(device) if device is not None else self

    def share_memory(self):
        """Nothing to do: ranks are processes of one MPI job and share no tensors (a no-op
        kept so that scripts calling it run)."""
        return self

    def compile(self, *args, **kwargs):
        """As distgrad.compile: nothing is compiled; the module runs eagerly."""

    # ----------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters, persistent buffers and extra state by dotted name; the tensors share
        memory with the module (detached unless ``keep_vars``). State-dict hooks run as in
        PyTorch: pre-hooks before a module's entries, post-hooks after its children's."""
        if destination is None:
            destination = OrderedDict()
        for hook in self._state_dict_pre_hooks:
            hook(self, prefix, keep_vars)
        self._own_entries(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks:
            replaced = hook(self, destination, prefix, {})
            if replaced is not None:
                destination = replaced
        return destination

    def _own_entries(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def _all_entries(self):
        """Every module's own entries by dotted name, without running state-dict hooks."""
        entries, owners = OrderedDict(), {}
        for name, module in self.named_modules(remove_duplicate=False):
            prefix = name + "." if name else ""
            module._own_entries(entries, prefix, keep_vars=True)
            owners.setdefault(prefix + _EXTRA_STATE, module)
        return entries, owners

    def get_extra_state(self):
        """Override (with set_extra_state) to save any picklable value in the state dict under
        ``<prefix>_extra_state``, as PyTorch's."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state):
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values into this module's tensors. Load pre-hooks run first (on a copy of
        ``state_dict``: they may rename keys, as for old checkpoints); then everything is
        checked before anything is copied, so a failed load leaves the module unchanged;
        post-hooks see the loaded module and the missing and unexpected keys (a strict load
        with keys missing fails before them, where PyTorch lets a post-hook clear them)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        state_dict = OrderedDict(state_dict)
        hook_missing, hook_unexpected, hook_errors = [], [], []
        for name, module in self.named_modules():
            for hook in module._load_state_dict_pre_hooks:
                hook(module, state_dict, name + "." if name else "", {}, strict, hook_missing, hook_unexpected,
                     hook_errors)
        own, extra_owners = self._all_entries()
        missing = hook_missing + [key for key in own if key not in state_dict]
        unexpected = hook_unexpected + [key for key in state_dict if key not in own]
        errors = list(hook_errors)
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        sources, extra = {}, {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            if not isinstance(target, Tensor):  # a module's extra state: any value, set as it is
                extra[key] = state_dict[key]
                continue
            source = _array_of(state_dict[key], key)
            if tuple(source.shape) != tuple(target.array.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(source.shape)} "
                              f"from checkpoint, the shape in current model is {tuple(target.array.shape)}.")
            if source.dtype.kind not in "biufc" or source.dtype.fields is not None:  # strings, dates, records
                errors.append(f"dtype mismatch for {key}: copying a param of dtype {source.dtype} from checkpoint "
                              f"into {target.array.dtype}; only numeric and bool values load.")
            sources[key] = source
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for key, source in sources.items():
            target = own[key]
            source = move(source, target.device)
            if assign:
                target.array = source.astype(target.array.dtype, copy=False)
            else:
                target.array[...] = source
            target._bump_version()
        for key, value in extra.items():
            extra_owners[key].set_extra_state(value)
        keys = _IncompatibleKeys(missing, unexpected)
        for module in self.modules():
            for hook in module._load_state_dict_post_hooks:
                hook(module, keys)
        return keys

    # ----------------------------------------------------------------- state-dict hooks
    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` before the module's entries are added."""
        return self._add_state_hook("_state_dict_pre_hooks", hook)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)``, which may edit ``state_dict``."""
        def must_return_none(*args):
            if hook(*args) is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return self._add_state_hook("_state_dict_hooks", must_return_none)

    def _register_state_dict_hook(self, hook):
        """The older form: the hook may also return a new state dict."""
        return self._add_state_hook("_state_dict_hooks", hook)

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before loading; it may edit ``state_dict``."""
        return self._add_state_hook("_load_state_dict_pre_hooks", hook)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        return self._add_state_hook("_load_state_dict_pre_hooks",
                                    hook if with_module else lambda module, *rest: hook(*rest))

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after loading; it may edit the key lists."""
        return self._add_state_hook("_load_state_dict_post_hooks", hook)

    def _add_state_hook(self, registry, hook):
        if not self.__dict__.get(registry):
            object.__setattr__(self, registry, [])
        hooks = self.__dict__[registry]
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    # ----------------------------------------------------------------- printing
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            body = _indent(repr(module), 2)
            lines.append(f"({name}): {body}")
        head = self._get_name() + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _indent(text, spaces):
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])


def _array_of(value, key):
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, numpy.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return value
    if isinstance(value, (int, float, bool, list, tuple)):
        return numpy.asarray(value)
    raise TypeError(f"load_state_dict: value for '{key}' is a {type(value).__name__}, expected a Tensor or array")


def _parse_to(args, kwargs):
    """The (device, dtype) a ``Module.to`` call asks for; either may be None."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, (Device, int)) or (isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda")):
            device = arg
        else:
            dtype = arg
    if dtype is not None:
        dtype = numpy.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
    return (None if device is None else Device(device)), dtype
