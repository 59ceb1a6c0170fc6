"""torch.nn.utils.weight_norm (the older form): ``weight = g * v / ||v||`` recomputed by a
forward pre-hook from the parameters ``weight_g`` and ``weight_v``.

Also the arithmetic the parametrization form (``parametrizations.weight_norm``) shares with it.
"""
import warnings

from ..parameter import Parameter

__all__ = ["WeightNorm", "remove_weight_norm", "weight_norm"]


def check_dim(function, module, name, dim):
    """``dim`` as a non-negative index into ``module.<name>``; None and -1 (PyTorch reads -1
    as None) mean the whole tensor, kept as -1."""
    if dim is None or dim == -1:
        return -1
    ndim = getattr(module, name).ndim
    if not -ndim <= dim < ndim:
        raise IndexError(f"{function}: dim={dim} is out of range for '{name}' of {type(module).__name__}, which has "
                         f"{ndim} dimensions (expected a dim in [{-ndim}, {ndim - 1}], or None for the whole tensor)")
    return dim % ndim


def norm_except_dim(v, dim):
    """torch.norm_except_dim(v, 2, dim): the 2-norm over every dimension but ``dim``, which keeps
    its size while the others become 1; ``dim=-1`` gives the norm of the whole tensor (0-d)."""
    if dim == -1:
        return v.norm(2)
    moved = v if dim == 0 else v.transpose(0, dim)
    norms = moved.reshape(moved.shape[0], -1).norm(2, dim=1)
    shape = [1] * v.ndim
    shape[dim] = v.shape[dim]
    return norms.reshape(shape)


def weight_from_g_v(g, v, dim):
    """torch._weight_norm(v, g, dim): v rescaled to the norm g along ``dim``."""
    return v * (g / norm_except_dim(v, dim))


def find_pre_hook(module, hook_type, name):
    """The forward pre-hook entry of ``hook_type`` for tensor ``name``, or None."""
    for entry in module._forward_pre_hooks:
        hook = entry[0]
        if isinstance(hook, hook_type) and hook.name == name:
            return entry
    return None


def remove_pre_hook_form(module, hook_type, name, what):
    """Undo a hook-form normalization (``what``: its function's name): the hook folds its
    current weight back into a plain parameter, then leaves the module."""
    entry = find_pre_hook(module, hook_type, name)
    if entry is None:
        raise ValueError(f"{what} of '{name}' not found in {module}")
    entry[0].remove(module)
    module._forward_pre_hooks.remove(entry)
    return module


class WeightNorm:
    """The forward pre-hook: sets ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        return weight_from_g_v(getattr(module, self.name + "_g"), getattr(module, self.name + "_v"), self.dim)

    @staticmethod
    def apply(module, name, dim):
        warnings.warn("`distgrad.nn.utils.weight_norm` is deprecated in favor of "
                      "`distgrad.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        if find_pre_hook(module, WeightNorm, name) is not None:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if module._parameters.get(name) is None:
            raise AttributeError(f"weight_norm: {type(module).__name__} has no parameter named '{name}'")
        fn = WeightNorm(name, check_dim("weight_norm", module, name, dim))
        weight = module._parameters.pop(name)
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Replace ``module.<name>`` by ``<name>_g * <name>_v / ||<name>_v||`` (norm over every
    dimension but ``dim``; ``dim=None`` for the whole tensor), recomputed before each forward."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Fold ``weight_norm`` back into a plain parameter holding the current weight."""
    return remove_pre_hook_form(module, WeightNorm, name, "weight_norm")
