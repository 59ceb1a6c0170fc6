"""torch.nn.utils.parametrizations: weight_norm and spectral_norm as parametrizations
(``module.parametrizations.weight.original0``/``original1`` = g/v, or ``original`` plus the
power-iteration vectors ``parametrizations.weight.0._u``/``_v``), state_dict keys as PyTorch's."""
from ...tensor import Tensor
from ..module import Module
from ..functional import normalize
from . import parametrize
from .spectral_norm import (check_dim as check_spectral_dim, check_power_iterations, default_dim, normalize_into,
                            random_unit_vector, reshape_weight_to_matrix, sigma_of)
from .weight_norm import check_dim as check_weight_dim, norm_except_dim, weight_from_g_v

__all__ = ["spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_from_g_v(weight_g, weight_v, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """``module.<name>`` becomes ``g * v / ||v||`` (norm over every dimension but ``dim``;
    ``dim=None`` for the whole tensor), with g = ``original0`` and v = ``original1``."""
    _check_has_tensor("weight_norm", module, name)
    dim = check_weight_dim("weight_norm", module, name, dim)
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def take_old_keys(state_dict, prefix, *_):
        """A checkpoint of the hook form (``<name>_g``, ``<name>_v``) loads into this one."""
        g, v = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g in state_dict and v in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v)

    module._register_load_state_dict_pre_hook(take_old_keys)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        check_power_iterations(n_power_iterations)
        self.dim = check_spectral_dim("spectral_norm", weight, "weight", dim)
        self.eps = eps
        if weight.ndim > 1:  # a vector is only normalized: no power iteration
            self.n_power_iterations = n_power_iterations
            height, width = reshape_weight_to_matrix(weight, self.dim).shape
            self.register_buffer("_u", random_unit_vector(weight, height, eps))
            self.register_buffer("_v", random_unit_vector(weight, width, eps))
            self._power_method(reshape_weight_to_matrix(weight, self.dim), 15)

    def _power_method(self, weight_mat, n_power_iterations):
        for _ in range(n_power_iterations):
            normalize_into(self._u, weight_mat.detach() @ self._v, self.eps)
            normalize_into(self._v, weight_mat.detach().t() @ self._u, self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = reshape_weight_to_matrix(weight, self.dim)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        return weight / sigma_of(weight_mat, self._u.clone(), self._v.clone())

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """``module.<name>`` becomes ``original / sigma``, sigma its largest singular value estimated
    by ``n_power_iterations`` power-iteration steps each training-mode access (none in eval)."""
    weight = _check_has_tensor("spectral_norm", module, name)
    parametrization = _SpectralNorm(weight, n_power_iterations, default_dim(module, dim), eps)
    parametrize.register_parametrization(module, name, parametrization)
    return module


def _check_has_tensor(function, module, name):
    tensor = getattr(module, name, None)
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{function}: module '{type(module).__name__}' has no parameter or buffer with name "
                         f"'{name}'")
    return tensor
