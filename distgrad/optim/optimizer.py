"""Optimizer: parameter groups, per-parameter state, and the step loop shared by all rules.

A rule is a function ``update(param, grad, state, group, scratch)`` over raw arrays: it
changes ``param`` (and the Tensors in ``state``) in place and uses ``scratch`` (a Scratch:
arrays shaped like ``param``, shared across parameters and steps) for its temporaries, so
a step allocates nothing once the state exists. A fused multi-tensor kernel can replace the
per-parameter loop without touching anything else.
"""
import warnings
from collections import defaultdict

from ..backend import get_array_module, move
from ..function import enable_grad
from ..tensor import Tensor
from ._host_memory import keep_host_memory_once


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Scratch:
    """An update rule's temporaries for one parameter, each an array shaped like it."""

    __slots__ = ("grad", "tmp", "denom")

    def __init__(self, grad, tmp, denom):
        self.grad = grad    # the effective gradient (weight decay, maximize): _arrays.effective_grad
        self.tmp = tmp      # the product inside one _arrays step (add_scaled_, lerp_, ...)
        self.denom = denom  # the adaptive rules' per-element divisor (Adam, RMSprop, Adagrad)


class Workspace:
    """Scratch arrays for the update rules: ``get(param)`` gives the parameter's Scratch. Its
    arrays are views of one flat buffer per (field, dtype, array type), as large as the
    largest parameter, so scratch costs a few copies of the largest parameter, not of the
    model, and nothing is allocated once every parameter has been seen."""

    def __init__(self):
        self._flat = {}
        self._scratch = {}  # param -> (its array when the views were made, its Scratch)

    def get(self, param):
        array = param.array
        made = self._scratch.get(param)
        if made is None or made[0] is not array:  # new, or moved / re-typed by Module.to()
            made = self._scratch[param] = (array, self._make(array))
        return made[1]

    def _make(self, like):
        views = []
        for slot in range(len(Scratch.__slots__)):
            key = (slot, like.dtype, type(like))
            flat = self._flat.get(key)
            if flat is None or flat.size < like.size:
                flat = self._flat[key] = get_array_module(like).empty(max(like.size, 1), dtype=like.dtype)
                if slot == 0:
                    self._scratch.clear()  # views of the smaller buffer would keep it alive; remade lazily
            views.append(flat[:like.size].reshape(like.shape))
        return Scratch(*views)


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``; subclasses set ``_update`` (the rule) and
    may override ``_init_state(param, state, group)`` to create state before the first update."""

    _update = None

    def __init__(self, params, defaults):
        keep_host_memory_once()  # training starts: keep freed host memory for the next step
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        self._work = Workspace()
        if isinstance(params, (Tensor, set)):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts in a fixed order (a list, not a set), but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets changes between runs; use a list instead")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others); "
                                 "optimize the leaves it came from")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this "
                          "will cause an error", stacklevel=3)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ----------------------------------------------------------------- the hot path
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self.state[p]
                if not state:
                    self._init_state(p, state, group)
                self._update(p.array, grad.array, state, group, self._work.get(p))
                p._bump_version()  # graphs that saved the old value must not use it
        return loss

    def _init_state(self, param, state, group):
        """Create the state ``param`` needs before its first update (nothing by default)."""

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.array.fill(0)

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self):
        """PyTorch's layout: ``state`` keyed by parameter index (counted across groups in
        order) and ``param_groups`` whose ``params`` are those indices."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict's parameter group {i} has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
        by_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            by_index.update(zip((int(i) for i in saved["params"]), group["params"]))
        state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            param = by_index.get(int(key))
            if param is None:
                raise KeyError(f"loaded optimizer state refers to parameter index {key}, which is not in any "
                               "parameter group")
            state[param] = {name: _state_value(param, name, value) for name, value in values.items()}
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            new_group = {k: v for k, v in saved.items() if k != "params"}
            for k, v in group.items():
                new_group.setdefault(k, v)
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        self.state, self.param_groups = state, new_groups

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _state_value(param, name, value):
    """A loaded state entry as this optimizer keeps it: arrays as fresh Tensors on the
    parameter's device (floating ones in its dtype); the step count as a Python number."""
    if name == "step":
        return int(round(float(value.item() if hasattr(value, "item") else value)))
    if isinstance(value, Tensor) or (hasattr(value, "__array__") and not isinstance(value, (int, float))):
        array = value.array if isinstance(value, Tensor) else value
        array = move(array, param.device)
        if array.dtype.kind == "f":
            array = array.astype(param.array.dtype, copy=False)
        return Tensor._wrap(array.copy())
    return value
